package gateway

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestServedReportsEachRoute: every request is reported once, with the kind of route
// that served it, and the kinds' names are the metric labels.
func TestServedReportsEachRoute(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("alice") // login
	for _, r := range []struct{ method, path, kind string }{
		{"GET", "/instances", "unprotected"},
		{"GET", "/.stepup/", "pages"},
		{"DELETE", "/api/instances/i-1001", "protected"},
		{"DELETE", "/api/%69nstances/i-1001", "refused"}, // the console may read it as a protected path
		{"GET", "/logout", "logout"},
	} {
		before := g.events.count("served:" + r.kind)
		c.api(r.method, r.path, nil)
		if got := g.events.count("served:" + r.kind); got != before+1 {
			t.Errorf("%s %s: served:%s reported %d times", r.method, r.path, r.kind, got-before)
		}
	}
	if g.events.count("served:login") != 1 {
		t.Errorf("the login reported %d times", g.events.count("served:login"))
	}
	var names []string
	for _, k := range RouteKinds {
		names = append(names, k.String())
	}
	if want := []string{"unprotected", "pages", "login", "logout", "protected", "refused"}; !slices.Equal(names, want) {
		t.Errorf("route kinds %v, want %v", names, want)
	}
	if len(publicKinds) != len(RouteKinds) {
		t.Errorf("the router has %d kinds of route, %d are reported", len(publicKinds), len(RouteKinds))
	}
}

// TestServedExcludesTheConsole: the reported time is the gateway's own, without the
// console's, however many times the console is asked (a held login asks it twice
// with a whoami URL).
func TestServedExcludesTheConsole(t *testing.T) {
	const delay = 50 * time.Millisecond
	ev := &timingEvents{}
	timer := startTimer(consoleNext{http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(delay) })}, ev, time.Now())
	r, _ := http.NewRequest("GET", "/", nil)
	for range 2 {
		if err := timer.ServeHTTP(nil, r); err != nil {
			t.Fatal(err)
		}
	}
	timer.stop(protectedRoute)
	if ev.kind != RouteProtected || ev.own < 0 || ev.own >= delay {
		t.Fatalf("reported %v %v for two console calls of %v each", ev.kind, ev.own, delay)
	}
}

type timingEvents struct {
	NoEvents
	kind RouteKind
	own  time.Duration
}

func (e *timingEvents) Served(k RouteKind, own time.Duration) { e.kind, e.own = k, own }

// TestLockoutAndLimitEvents: a lockout is reported once, when it starts, and an SMS
// send refused by a limit is reported; answers carry their method.
func TestLockoutAndLimitEvents(t *testing.T) {
	relay := &smsOutbox{}
	g := newGateway(t, withSMS(relay), withLimits(limitsLockAfter(3)))
	c := g.client()
	c.login("alice")
	c.bindPhone(relay)
	first := c.api("DELETE", "/api/instances/i-1001", nil).json(t)
	id, verify := first["challenge_id"].(string), first["verify_url"].(string)
	c.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{})
	if r := c.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("resend at once: %d", r.StatusCode)
	}
	if n := g.events.count("sms:limited"); n != 1 {
		t.Errorf("sms:limited reported %d times", n)
	}
	for range 4 {
		c.api("POST", verify, map[string]string{"method": "sms", "code": "000000"})
	}
	if n := g.events.count("lockout"); n != 1 {
		t.Errorf("lockout reported %d times after 4 wrong codes with a lock after 3", n)
	}
	if n := g.events.count("verification:sms:invalid_code"); n != 2 {
		t.Errorf("verification:sms:invalid_code reported %d times", n)
	}
	if n := g.events.count("verification:sms:passed"); n != 1 { // the phone's binding
		t.Errorf("verification:sms:passed reported %d times", n)
	}
}
