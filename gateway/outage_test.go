package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/internal/redistest"
	"github.com/caddy-stepup/stepup/store"
)

// TestRedisOutageFailsClosed stops a real Redis under a signed-in user: protected
// routes and the login answer 503 and never reach the console; unprotected routes
// keep working; when Redis is back, so is everything.
func TestRedisOutageFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	g := newGateway(t, withRedis(t, srv.Addr(), redistest.Prefix(t)))
	c := g.client()
	c.login("alice")
	c.bindTOTP()
	if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("before the outage: %d %s", r.StatusCode, r.Body)
	}

	srv.Stop()
	r := c.api("DELETE", "/api/instances/i-1001", nil)
	if r.StatusCode != http.StatusServiceUnavailable || r.json(t)["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("protected API during the outage: %d %s", r.StatusCode, r.Body)
	}
	if p := c.page("GET", "/instances/i-1001/delete", nil); p.StatusCode != http.StatusServiceUnavailable || !strings.Contains(p.Body, "temporarily unavailable") {
		t.Fatalf("protected page during the outage: %d %s", p.StatusCode, p.Body)
	}
	other := g.client()
	if l := other.page("POST", "/login", url.Values{"username": {"bob"}, "password": {"bob-password"}}); l.StatusCode != http.StatusServiceUnavailable || other.cookie("console_session") != "" {
		t.Fatalf("login during the outage must fail closed, not release the console's cookie: %d", l.StatusCode)
	}
	if d := c.page("GET", "/dashboard", nil); d.StatusCode != http.StatusOK || !strings.Contains(d.Body, "dashboard-title") {
		t.Fatalf("unprotected page during the outage: %d", d.StatusCode)
	}
	if a := c.api("GET", "/api/instances", nil); a.StatusCode != http.StatusOK {
		t.Fatalf("unprotected API during the outage: %d", a.StatusCode)
	}
	if list := c.api("GET", "/api/instances", nil); !strings.Contains(list.Body, "i-1001") {
		t.Fatalf("i-1001 was deleted during the outage: %s", list.Body)
	}

	srv.Restart()
	if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the outage (Redis restarted empty, so the session is gone or challenged): %d %s", r.StatusCode, r.Body)
	}
}

// TestUnprotectedRoutesNeverTouchTheStore counts store calls around requests that
// match no rule.
func TestUnprotectedRoutesNeverTouchTheStore(t *testing.T) {
	mem, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: mem}
	g := newGateway(t, withStore(counting))
	c := g.client()
	c.login("alice")
	counting.calls.Store(0)
	for _, p := range []string{"/dashboard", "/instances", "/billing", "/api/instances", "/instances/i-1/delete-not", "/static/app.js"} {
		c.page("GET", p, nil)
	}
	c.api("GET", "/api/instances", nil)
	c.api("POST", "/api/whoami", map[string]string{})
	if n := counting.calls.Load(); n != 0 {
		t.Fatalf("unprotected requests made %d store calls", n)
	}
	c.api("DELETE", "/api/instances/i-1", nil)
	if counting.calls.Load() == 0 {
		t.Fatal("the counter does not count: a protected request made no store call")
	}
}
