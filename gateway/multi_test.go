package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/internal/redistest"
)

// onSharedRedis runs test once on each shared Redis setup: one server, and the
// Cluster of three masters and three replicas, by URL.
func onSharedRedis(t *testing.T, test func(t *testing.T, redisURL string)) {
	for _, b := range []struct{ name, url string }{
		{"redis", "redis://" + redistest.Addr(t) + "/0"},
		{"cluster", redistest.ClusterURL(redistest.ClusterAddrs(t))},
	} {
		t.Run(b.name, func(t *testing.T) { test(t, b.url) })
	}
}

// twoInstances provisions two gateways on one real Redis (at redisURL), each with its own
// client and the same keys, the way two Caddy instances behind a load balancer would
// run.
func twoInstances(t *testing.T, redisURL string, changes ...func(*setup)) (*testGateway, *testGateway) {
	prefix := redistest.Prefix(t)
	keys := newKeys(t)
	console := democonsole.New()
	instance := func() *testGateway {
		return newGateway(t, append([]func(*setup){withRedisURL(t, redisURL, prefix), withKeys(keys), withConsole(console)}, changes...)...)
	}
	a, b := instance(), instance()
	if a.store == b.store {
		t.Fatal("the two instances share one store object; the test would prove nothing")
	}
	return a, b
}

// moveTo gives client c's gateway cookies to a client of gateway g (a load balancer
// sending the same browser to another instance).
func moveTo(c *client, g *testGateway) *client {
	other := g.client()
	var cookies []*http.Cookie
	for _, name := range []string{sessionCookie, tokenCookie, "console_session"} {
		if v := c.cookie(name); v != "" {
			cookies = append(cookies, &http.Cookie{Name: name, Value: v})
		}
	}
	other.jar.SetCookies(mustURL(g.srv.URL), cookies)
	return other
}

func TestInstancesShareSessionsAndRevocation(t *testing.T) {
	onSharedRedis(t, func(t *testing.T, redisURL string) {
		a, b := twoInstances(t, redisURL)
		onA := a.client()
		onA.login("alice")
		secret := onA.bindTOTP()
		first := onA.api("DELETE", "/api/instances/i-1001", nil).json(t)
		if v := onA.api("POST", first["verify_url"].(string), map[string]string{"code": nextCode(secret, 1)}); v.StatusCode != http.StatusOK {
			t.Fatalf("verify on A: %d %s", v.StatusCode, v.Body)
		}
		onB := moveTo(onA, b)
		for i := 0; i < 3; i++ { // warm B's cache of live answers
			if r := onB.api("DELETE", "/api/instances/i-100"+string(rune('1'+i)), nil); r.StatusCode != http.StatusOK {
				t.Fatalf("B must accept A's session and token: %d %s", r.StatusCode, r.Body)
			}
		}
		onA.page("GET", "/logout", nil)
		time.Sleep(50 * time.Millisecond) // the revocation is published; well under the cache's 1 s
		if r := onB.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("B still accepts the session A logged out: %d %s", r.StatusCode, r.Body)
		}
	})
}

func TestInstancesShareTheLockout(t *testing.T) {
	onSharedRedis(t, func(t *testing.T, redisURL string) {
		a, b := twoInstances(t, redisURL)
		onA := a.client()
		onA.login("alice")
		onA.bindTOTP()
		onB := moveTo(onA, b)
		// Nine wrong codes, spread over three challenges and both instances...
		for i, c := range []*client{onA, onB, onA} {
			ch := c.api("DELETE", "/api/instances/i-1001", nil).json(t)
			for j := 0; j < 3; j++ {
				if r := c.api("POST", ch["verify_url"].(string), map[string]string{"code": "000000"}); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong code %d/%d: %d %s", i, j, r.StatusCode, r.Body)
				}
			}
		}
		// ...and the tenth, on B, locks the user's second factor on both instances.
		for _, c := range []*client{onB, onA} {
			ch := c.api("DELETE", "/api/instances/i-1001", nil).json(t)
			r := c.api("POST", ch["verify_url"].(string), map[string]string{"code": "000000"})
			if r.StatusCode != http.StatusTooManyRequests || r.json(t)["error"] != "locked" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("after 10 failures: %d %s", r.StatusCode, r.Body)
			}
		}
	})
}

func TestInstancesShareSMSLimits(t *testing.T) {
	onSharedRedis(t, func(t *testing.T, redisURL string) {
		relay := &smsOutbox{}
		a, b := twoInstances(t, redisURL, withSMS(relay))
		onA := a.client()
		onA.login("alice")
		onA.bindPhone(relay)
		onB := moveTo(onA, b)
		loc := onA.page("GET", "/instances/i-1001/delete", nil).Header.Get("Location")
		page := onA.page("GET", loc, nil)
		csrf := match(t, csrfRE, page.Body)
		if r := onA.submit(loc+"/sms", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `id="sms-code"`) {
			t.Fatalf("send on A: %d", r.StatusCode)
		}
		sent := relay.count()
		if r := onB.submit(loc+"/sms", url.Values{"csrf": {csrf}}); !strings.Contains(r.Body, "ask for a new code") || relay.count() != sent {
			t.Fatalf("resend on B within 60 s: %d, relay +%d", r.StatusCode, relay.count()-sent)
		}
		// The code sent through A passes on B.
		ok := onB.page("POST", loc, url.Values{"csrf": {csrf}, "method": {"sms"}, "code": {relay.lastCode(t, phone)}})
		if ok.StatusCode != http.StatusSeeOther {
			t.Fatalf("A's code on B: %d %s", ok.StatusCode, ok.Body)
		}
	})
}
