package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/policy"
)

// withRisk judges console logins with rules; the client's address is the test's
// X-Test-Client header (as Caddy's trusted_proxies would give it), else the peer's.
func withRisk(t *testing.T, rules policy.AnomalyRules) func(*setup) {
	return func(s *setup) {
		s.opts.Risk = &RiskOptions{Rules: rules, Failures: 3, DeviceLifetime: 30 * 24 * time.Hour, NetworkMemory: 30 * 24 * time.Hour, Key: randomKey(t)}
		s.opts.ClientIP = func(r *http.Request) string {
			if ip := r.Header.Get("X-Test-Client"); ip != "" {
				return ip
			}
			return peerIP(r)
		}
	}
}

// loginFrom logs user in from address ip and returns the answer.
func (c *client) loginFrom(user, ip string) response {
	c.g.t.Helper()
	return c.do("POST", "/login", strings.NewReader(url.Values{"username": {user}, "password": {user + "-password"}}.Encode()),
		"Accept", "text/html", "Content-Type", "application/x-www-form-urlencoded", "Origin", c.g.srv.URL, "X-Test-Client", ip)
}

func held(r response) bool {
	return r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/.stepup/challenge/")
}

func passed(r response) bool {
	return r.StatusCode == http.StatusSeeOther && r.Header.Get("Location") == "/dashboard"
}

// boundUser signs bob in from ip in a new browser and binds an authenticator (which
// passes a second factor in it), then logs out; it returns the browser and the secret.
func boundUser(t *testing.T, g *testGateway, ip string) (*client, []byte) {
	t.Helper()
	c := g.client()
	if r := c.loginFrom("bob", ip); !passed(r) {
		t.Fatalf("first login (nothing bound: never held for risk): %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	secret := c.bindTOTP()
	if c.cookie(deviceCookie) == "" {
		t.Fatal("passing a second factor did not make the browser known")
	}
	c.page("POST", "/logout", url.Values{})
	return c, secret
}

// TestAnomalousLoginAsksForASecondFactor: a known browser passes a login without a
// second factor; a fresh browser is asked for one, and is known afterwards.
func TestAnomalousLoginAsksForASecondFactor(t *testing.T) {
	g := newGateway(t, withRisk(t, policy.DefaultAnomalyRules()))
	known, secret := boundUser(t, g, "198.51.100.7")

	if r := known.loginFrom("bob", "198.51.100.7"); !passed(r) {
		t.Fatalf("known browser, known network: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if g.events.count("risk:normal") != 1 {
		t.Fatalf("risk:normal = %d, want 1", g.events.count("risk:normal"))
	}

	fresh := g.client()
	r := fresh.loginFrom("bob", "198.51.100.7")
	if !held(r) {
		t.Fatalf("fresh browser: %d %q, want held for a second factor", r.StatusCode, r.Header.Get("Location"))
	}
	assertNothingOfTheConsole(t, r)
	if g.events.count("risk:challenged") != 1 || g.events.count("signal:new_device") != 1 {
		t.Fatalf("counted %v", g.events.counts)
	}
	loc := r.Header.Get("Location")
	page := fresh.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="challenge-form"`) || !strings.Contains(page.Body, "not seen for your account lately") {
		t.Fatalf("challenge page saying why expected: %s", page.Body)
	}
	ok := fresh.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "code": {nextCode(secret, 1)}})
	if !passed(ok) || fresh.cookie(deviceCookie) == "" {
		t.Fatalf("after the second factor: %d %q, device cookie %q", ok.StatusCode, ok.Header.Get("Location"), fresh.cookie(deviceCookie))
	}
	fresh.page("POST", "/logout", url.Values{})
	if r := fresh.loginFrom("bob", "198.51.100.7"); !passed(r) {
		t.Fatalf("the browser that passed is known now: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestDeviceCookieIsPerUserAndSigned: carol's device cookie says nothing of bob, and a
// forged one nothing of anybody.
func TestDeviceCookieIsPerUserAndSigned(t *testing.T) {
	g := newGateway(t, withRisk(t, policy.DefaultAnomalyRules()))
	known, _ := boundUser(t, g, "198.51.100.7")
	carols := g.client()
	carols.loginFrom("carol", "198.51.100.7")
	carols.bindTOTP()
	carols.page("POST", "/logout", url.Values{})
	if r := carols.loginFrom("bob", "198.51.100.7"); !held(r) {
		t.Fatalf("bob in carol's browser: %d, want held", r.StatusCode)
	}

	v := known.cookie(deviceCookie)
	forged := g.client()
	forged.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: deviceCookie, Value: v[:len(v)-2] + "AA", Path: "/"}})
	if r := forged.loginFrom("bob", "198.51.100.7"); !held(r) {
		t.Fatalf("forged device cookie: %d, want held", r.StatusCode)
	}
	copied := g.client()
	copied.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: deviceCookie, Value: v, Path: "/"}})
	if r := copied.loginFrom("bob", "198.51.100.7"); !passed(r) {
		t.Fatalf("a copied device cookie is the device (documented): %d", r.StatusCode)
	}
}

// TestNewNetworkWithRecentFailures: a new network alone is not enough with the
// default weights; with recent wrong codes it is. The same /24 is the same network.
func TestNewNetworkWithRecentFailures(t *testing.T) {
	g := newGateway(t, withRisk(t, policy.DefaultAnomalyRules()))
	c, _ := boundUser(t, g, "198.51.100.7")
	if r := c.loginFrom("bob", "203.0.113.9"); !passed(r) {
		t.Fatalf("known browser, new network: %d, want passed (score 1 < 2)", r.StatusCode)
	}
	// Three wrong codes on a protected operation.
	d := c.page("GET", "/instances/i-1001/delete", nil)
	loc := d.Header.Get("Location")
	page := c.page("GET", loc, nil)
	for range 3 {
		c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "code": {"000000"}})
	}
	c.page("POST", "/logout", url.Values{})
	if r := c.loginFrom("bob", "192.0.2.44"); !held(r) {
		t.Fatalf("known browser, new network, recent wrong codes: %d, want held", r.StatusCode)
	}
	// The network of the first login is known: only the failures count there.
	if r := c.loginFrom("bob", "198.51.100.200"); !passed(r) {
		t.Fatalf("same /24 as before, recent wrong codes: %d, want passed (score 1)", r.StatusCode)
	}
	if g.events.count("signal:recent_failures") < 2 || g.events.count("signal:new_network") < 2 {
		t.Fatalf("signals counted: %v", g.events.counts)
	}
}

// TestRiskGracePeriodOnlyLogs: during the rollout grace period an anomalous login
// passes, is counted as such, and teaches the gateway the browser.
func TestRiskGracePeriodOnlyLogs(t *testing.T) {
	rules := policy.DefaultAnomalyRules()
	rules.LogOnlyUntil = time.Now().Add(time.Hour)
	g := newGateway(t, withRisk(t, rules))
	boundUser(t, g, "198.51.100.7")
	fresh := g.client()
	if r := fresh.loginFrom("bob", "198.51.100.7"); !passed(r) {
		t.Fatalf("grace period: %d, want passed", r.StatusCode)
	}
	if g.events.count("risk:log_only") != 1 || fresh.cookie(deviceCookie) == "" {
		t.Fatalf("grace period: counted %v, device cookie %q", g.events.counts, fresh.cookie(deviceCookie))
	}
}

// TestRiskLeavesOthersAlone: nothing bound, login protection, or operation protection
// off: no assessment, no challenge from it.
func TestRiskLeavesOthersAlone(t *testing.T) {
	g := newGateway(t, withRisk(t, policy.DefaultAnomalyRules()), loginFor("alice"), withSettings(func(s *policy.Settings) {
		s.Defaults = map[policy.Kind]policy.Choice{policy.Operation: {On: true}}
	}))
	if r := g.client().loginFrom("bob", "198.51.100.7"); !passed(r) {
		t.Fatalf("nothing bound: %d, want passed (never made to bind by risk)", r.StatusCode)
	}
	if r := g.client().loginFrom("alice", "198.51.100.7"); !held(r) {
		t.Fatalf("login protection: %d, want held", r.StatusCode)
	}
	if n := g.events.count("risk:normal") + g.events.count("risk:challenged") + g.events.count("risk:log_only"); n != 0 {
		t.Fatalf("%d assessments of users risk cannot challenge", n)
	}
}
