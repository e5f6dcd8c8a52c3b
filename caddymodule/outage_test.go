package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
)

const (
	testSigningKey    = "Zq3X9vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP2"
	testEncryptionKey = "Hh8Jj2Kk4Ll6Mm8Nn0Pp2Qq4Rr6Ss8Tt0Uu2Vv4Ww6X"
)

func redisBlock(addr, prefix string) string {
	return strings.Replace(demoBlock, "stepup {", "stepup {\n\tstore redis redis://"+addr+"/0 "+prefix+
		"\n\tsigning_key "+testSigningKey+"\n\tencryption_key "+testEncryptionKey, 1)
}

// TestRedisOutageFailsClosed stops a real Redis under a signed-in user: protected
// routes and the login answer 503 and never reach the console; unprotected routes
// keep working; when Redis is back, so is everything.
func TestRedisOutageFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	g := newGateway(t, redisBlock(srv.Addr(), redistest.Prefix(t)))
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
	g := newGateway(t, demoBlock)
	c := g.client()
	c.login("alice")
	counting := &countingStore{Store: g.h.store}
	g.h.store = counting
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

// TestReloadsLeakNothing provisions and cleans up a Redis-backed config again and
// again, as config reloads do: the shared client, its connections and the store's
// revocation subscriber must all go away with the last config.
func TestReloadsLeakNothing(t *testing.T) {
	srv := redistest.Start(t) // private: its client count is ours alone
	block := redisBlock(srv.Addr(), redistest.Prefix(t))
	probe := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer probe.Close()
	clients := func() int {
		info, err := probe.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(info, "\n") // one line per connection, the probe's included
	}
	settle := func() int {
		n := runtime.NumGoroutine()
		for i := 0; i < 100; i++ {
			time.Sleep(20 * time.Millisecond)
			if m := runtime.NumGoroutine(); m == n {
				return n
			} else {
				n = m
			}
		}
		return n
	}
	before := settle()
	old := provisionUnmanaged(t, block)
	for i := 0; i < 5; i++ {
		next := provisionUnmanaged(t, block) // the new config comes up first...
		if next.store != old.store {
			t.Fatal("a reload made a second Redis store")
		}
		if err := old.Cleanup(); err != nil { // ...then the old one is cleaned up
			t.Fatal(err)
		}
		if err := old.Cleanup(); err != nil { // and a second Cleanup changes nothing
			t.Fatal(err)
		}
		old = next
	}
	if live, err := old.store.Live(t.Context(), "nobody", "x"); err != nil || live {
		t.Fatalf("the store died with an earlier config: %v %v", live, err)
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if after := settle(); after > before {
		t.Fatalf("goroutines: %d before, %d after the last config went away", before, after)
	}
	if n := clients(); n != 1 {
		t.Fatalf("%d connections to Redis after the last config went away, want only the probe's", n)
	}
}

// provisionUnmanaged is provision without the automatic Cleanup.
func provisionUnmanaged(t *testing.T, block string) *Handler {
	t.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}
