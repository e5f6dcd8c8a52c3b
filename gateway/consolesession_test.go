package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/internal/redistest"
	"github.com/caddy-stepup/stepup/policy"
)

// withConsoleSessions makes the console's sessions follow the gateway's.
func withConsoleSessions(t *testing.T, strict bool) func(*setup) {
	return func(s *setup) {
		s.opts.ConsoleSession = &ConsoleSessionOptions{Cookie: s.opts.Login.SuccessCookie, Strict: strict, Remember: 24 * time.Hour, Key: randomKey(t)}
	}
}

// consoleUser asks the console who the request's console cookie signs in: the name,
// or "" when the console sees a signed-out visitor.
func (c *client) consoleUser() string {
	c.g.t.Helper()
	r := c.api("GET", "/api/whoami", nil)
	if r.StatusCode != http.StatusOK {
		return ""
	}
	name, _ := r.json(c.g.t)["user"].(string)
	return name
}

// withCookies sends a request with exactly these Cookie header lines, as an attacker
// who copied cookies would; it returns whom the console sees.
func (g *testGateway) whoWith(cookieLines ...string) string {
	g.t.Helper()
	req, _ := http.NewRequest("GET", g.srv.URL+"/api/whoami", nil)
	req.Header["Cookie"] = cookieLines
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	b := make([]byte, 512)
	n, _ := resp.Body.Read(b)
	if i := strings.Index(string(b[:n]), `"user":"`); i >= 0 {
		rest := string(b[i+8 : n])
		return rest[:strings.IndexByte(rest, '"')]
	}
	return "?"
}

func (g *testGateway) signOutEverywhere(c *client) {
	g.t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	if r := c.page("POST", "/.stepup/signout-all", url.Values{"csrf": {match(g.t, csrfRE, settings.Body)}}); r.StatusCode != http.StatusSeeOther {
		g.t.Fatalf("sign out everywhere: %d", r.StatusCode)
	}
}

// TestConsoleSessionEndsWithTheGateway: after "sign out everywhere" in one browser, a
// second browser still holding the console's cookie is signed out of the console too.
func TestConsoleSessionEndsWithTheGateway(t *testing.T) {
	g := newGateway(t, withConsoleSessions(t, false))
	laptop, phone := g.client(), g.client()
	laptop.login("bob")
	phone.login("bob")
	if u := phone.consoleUser(); u != "bob" {
		t.Fatalf("before: the console sees %q in the second browser", u)
	}
	console := phone.cookie("console_session")

	g.signOutEverywhere(laptop)
	if u := phone.consoleUser(); u != "" {
		t.Fatalf("the second browser still uses the console as %q after sign out everywhere", u)
	}
	if p := phone.page("GET", "/dashboard", nil); p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/login" {
		t.Fatalf("the second browser is not sent to the console's login page: %d %q", p.StatusCode, p.Header.Get("Location"))
	}
	if u := g.whoWith("console_session=" + console); u != "" {
		t.Fatalf("the copied console cookie alone still signs in %q", u)
	}
	if g.events.count("console:removed") == 0 {
		t.Fatal("no removal counted")
	}

	// A new login in the same browser works as before.
	phone.login("bob")
	if u := phone.consoleUser(); u != "bob" {
		t.Fatalf("after logging in again the console sees %q", u)
	}
}

// TestConsoleSessionNeedsTheSameUsersGatewaySession: a console cookie the gateway
// released is usable only beside a live gateway session of its own user, however
// it is spelled.
func TestConsoleSessionNeedsTheSameUsersGatewaySession(t *testing.T) {
	g := newGateway(t, withConsoleSessions(t, false))
	bob, mallory := g.client(), g.client()
	bob.login("bob")
	mallory.login("carol")
	stolen := bob.cookie("console_session")
	carolSession := sessionCookie + "=" + mallory.cookie(sessionCookie)

	for _, line := range []string{
		"console_session=" + stolen,
		carolSession + "; console_session=" + stolen,
		carolSession + `; console_session="` + stolen + `"`,
		carolSession + "; Console_Session=" + stolen,
		carolSession + "; x=1, console_session=" + stolen,
		carolSession + "; console%5Fsession=" + stolen,
		carolSession + "; console_session=" + stolen + "; console_session=" + stolen,
	} {
		if u := g.whoWith(line); u != "" {
			t.Errorf("%q: the console signed in %q", line, u)
		}
	}
	// Bob's own two cookies are fine.
	if u := g.whoWith(sessionCookie+"="+bob.cookie(sessionCookie), "console_session="+stolen); u != "bob" {
		t.Fatalf("bob's own browser: the console sees %q", u)
	}
}

// TestConsoleSessionNamesReadLikeJava: a console that compares cookie names as Java's
// equalsIgnoreCase does reads "conſole_session" and "console_sessıon" as its session
// cookie; the gateway reads them so too, and a stolen cookie so spelled does not pass.
func TestConsoleSessionNamesReadLikeJava(t *testing.T) {
	demo := democonsole.New()
	javaLike := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, line := range r.Header["Cookie"] {
			pairs := strings.Split(line, ";")
			for j, pair := range pairs {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && policy.LowerCase(name) == "console_session" {
					pairs[j] = "console_session=" + value
				}
			}
			r.Header["Cookie"][i] = strings.Join(pairs, "; ")
		}
		demo.ServeHTTP(w, r)
	})
	g := newGateway(t, withConsoleSessions(t, false), withConsole(javaLike))
	bob, mallory := g.client(), g.client()
	bob.login("bob")
	mallory.login("carol")
	stolen := bob.cookie("console_session")
	carolSession := sessionCookie + "=" + mallory.cookie(sessionCookie)
	for _, name := range []string{"conſole_session", "console_sessıon", "CONSOLE_SESSİON"} {
		if u := g.whoWith(carolSession + "; " + name + "=" + stolen); u != "" {
			t.Errorf("%s: the console signed in %q", name, u)
		}
	}
	// The console does read such a spelling: bob's own browser, so spelled, is bob.
	if u := g.whoWith(sessionCookie+"="+bob.cookie(sessionCookie), "conſole_session="+stolen); u != "bob" {
		t.Fatalf("bob's own browser, the name spelled with ſ: the console sees %q", u)
	}
}

// TestConsoleSessionLogoutEndsIt: after logout, the console cookie (copied before)
// is refused with the gateway session it came with.
func TestConsoleSessionLogoutEndsIt(t *testing.T) {
	g := newGateway(t, withConsoleSessions(t, false))
	c := g.client()
	c.login("bob")
	both := []string{sessionCookie + "=" + c.cookie(sessionCookie), "console_session=" + c.cookie("console_session")}
	c.page("POST", "/logout", url.Values{})
	if u := g.whoWith(both...); u != "" {
		t.Fatalf("after logout the copied cookies still sign in %q", u)
	}
}

// TestConsoleSessionUnreleasedCookies: a console cookie from before the feature was
// turned on passes, unless strict, and is adopted by the live gateway session it
// comes with; one the console may read otherwise never passes.
func TestConsoleSessionUnreleasedCookies(t *testing.T) {
	console := democonsole.New()
	direct := httptest.NewServer(console) // the console before the gateway stood in front
	t.Cleanup(direct.Close)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		PostForm(direct.URL+"/login", url.Values{"username": {"bob"}, "password": {"bob-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var old string
	for _, c := range resp.Cookies() {
		if c.Name == "console_session" {
			old = c.Value
		}
	}
	if old == "" {
		t.Fatal("the console set no session cookie")
	}

	lenient := newGateway(t, withConsole(console), withConsoleSessions(t, false))
	if u := lenient.whoWith("console_session=" + old); u != "bob" {
		t.Fatalf("an older console cookie: the console sees %q, want bob (it passes unless strict)", u)
	}
	if u := lenient.whoWith(`console_session="` + old + `"`); u != "" {
		t.Fatalf("an older console cookie, quoted: the console sees %q; a spelling the gateway cannot read for sure must not pass", u)
	}
	// Beside a live gateway session, the older cookie is adopted: from now on it ends
	// with that session.
	bob := lenient.client()
	bob.login("bob")
	if u := lenient.whoWith(sessionCookie+"="+bob.cookie(sessionCookie), "console_session="+old); u != "bob" {
		t.Fatalf("an older console cookie beside bob's gateway session: the console sees %q", u)
	}
	if lenient.events.count("console:attached") != 1 {
		t.Fatalf("adopted %d cookies, want 1", lenient.events.count("console:attached"))
	}
	lenient.signOutEverywhere(bob)
	if u := lenient.whoWith("console_session=" + old); u != "" {
		t.Fatalf("the adopted console cookie outlived sign out everywhere: %q", u)
	}

	strict := newGateway(t, withConsole(console), withConsoleSessions(t, true))
	if u := strict.whoWith("console_session=" + old); u != "" {
		t.Fatalf("strict: an older console cookie still signs in %q", u)
	}
	c := strict.client()
	c.login("bob")
	if u := c.consoleUser(); u != "bob" {
		t.Fatalf("strict: a login through the gateway: the console sees %q", u)
	}
}

// TestConsoleSessionHeldLoginIsAttached: a login held for a second factor attaches the
// console's cookie when it is released (strict proves it: otherwise it would go).
func TestConsoleSessionHeldLoginIsAttached(t *testing.T) {
	g := newGateway(t, loginFor("alice"), withConsoleSessions(t, true))
	c := g.client()
	r := c.rawLogin("alice", "alice-password")
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("login not held: %d %q", r.StatusCode, loc)
	}
	page := c.page("GET", loc, nil)
	secret := decodeSecret(t, match(t, secretRE, page.Body))
	bound := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)},
		"code1": {nextCode(secret, -1)}, "code2": {challengeCode(secret, time.Now())}})
	if bound.StatusCode != http.StatusSeeOther || c.cookie("console_session") == "" {
		t.Fatalf("held login not released: %d %s", bound.StatusCode, bound.Body)
	}
	if u := c.consoleUser(); u != "alice" {
		t.Fatalf("after the released login the console sees %q", u)
	}
}

// rotatingConsole gives a new session cookie on /rotate, as consoles that renew
// sessions do, and ends the old one.
type rotatingConsole struct {
	mu       sync.Mutex
	sessions map[string]string
}

func (rc *rotatingConsole) newSession(w http.ResponseWriter, user string) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	rc.sessions[id] = user
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/", HttpOnly: true})
}

func (rc *rotatingConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.URL.Path == "/login" && r.Method == "POST" {
		r.ParseForm()
		rc.newSession(w, r.PostForm.Get("username"))
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	ck, err := r.Cookie("sid")
	user := ""
	if err == nil {
		user = rc.sessions[ck.Value]
	}
	if user == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/rotate" {
		delete(rc.sessions, ck.Value)
		rc.newSession(w, user)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"user":"` + user + `"}`))
}

// TestConsoleSessionFollowsRotation: when the console sets a new session cookie for a
// live gateway session, the new one is attached too, and ends with the session.
func TestConsoleSessionFollowsRotation(t *testing.T) {
	g := newGateway(t, withConsole(&rotatingConsole{sessions: map[string]string{}}), withLogin(func(l *LoginOptions) {
		l.SuccessCookie = "sid"
	}), withConsoleSessions(t, true))
	laptop, phone := g.client(), g.client()
	laptop.login("bob")
	phone.login("bob")
	before := phone.cookie("sid")
	if r := phone.api("GET", "/rotate", nil); r.StatusCode != http.StatusOK || phone.cookie("sid") == before {
		t.Fatalf("rotate: %d, cookie changed %v", r.StatusCode, phone.cookie("sid") != before)
	}
	if u := phone.consoleUser(); u != "bob" {
		t.Fatalf("strict, after the console renewed its cookie: the console sees %q", u)
	}
	if g.events.count("console:attached") != 1 {
		t.Fatalf("attached %d renewed cookies, want 1", g.events.count("console:attached"))
	}
	g.signOutEverywhere(laptop)
	if u := g.whoWith("sid=" + phone.cookie("sid")); u != "" {
		t.Fatalf("the renewed console cookie outlived sign out everywhere: %q", u)
	}
}

// TestConsoleSessionDuringAnOutage: while the store cannot answer, requests with a
// console cookie pass (unprotected pages stay available) and the failure is counted.
func TestConsoleSessionDuringAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	g := newGateway(t, withRedis(t, srv.Addr(), redistest.Prefix(t)), withConsoleSessions(t, false))
	c := g.client()
	c.login("bob")
	srv.Stop()
	if u := c.consoleUser(); u != "bob" {
		t.Fatalf("during the outage the console sees %q; unprotected pages must stay available", u)
	}
	if g.events.count("console:unchecked") == 0 {
		t.Fatal("the unchecked cookie was not counted")
	}
	if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a protected route during the outage: %d", r.StatusCode)
	}
}
