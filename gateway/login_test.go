package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// rawLogin signs in through the gateway and returns the raw answer.
func (c *client) rawLogin(user, password string) response {
	c.g.t.Helper()
	return c.page("POST", "/login", url.Values{"username": {user}, "password": {password}})
}

// assertNothingOfTheConsole fails if any of the console's answer reached the client.
func assertNothingOfTheConsole(t *testing.T, r response) {
	t.Helper()
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "console_") || strings.HasPrefix(line, sessionCookie+"=e") {
			t.Errorf("console or session cookie leaked before the second factor: %s", line)
		}
	}
	if loc := r.Header.Get("Location"); loc == "/dashboard" {
		t.Errorf("the console's Location leaked: %s", loc)
	}
}

func TestLoginHeldUntilTheSecondFactor(t *testing.T) {
	g := newGateway(t, loginFor("alice"))

	// First login: nothing bound, so the held login goes through binding.
	c := g.client()
	r := c.rawLogin("alice", "alice-password")
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("protected login: %d %q", r.StatusCode, loc)
	}
	assertNothingOfTheConsole(t, r)
	if c.cookie(loginCookie) == "" {
		t.Fatal("no login cookie binds the challenge to this browser")
	}
	page := c.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="bind-qr"`) {
		t.Fatalf("nothing bound: the binding page is expected: %s", page.Body)
	}
	secret := decodeSecret(t, match(t, secretRE, page.Body))
	bound := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)},
		"code1": {nextCode(secret, -1)}, "code2": {challengeCode(secret, time.Now())}})
	assertReleased(t, g, bound, "alice")

	// Second login: the TOTP form, a wrong code first.
	c2 := g.client()
	r = c2.rawLogin("alice", "alice-password")
	assertNothingOfTheConsole(t, r)
	loc = r.Header.Get("Location")
	page = c2.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="challenge-form"`) || !strings.Contains(page.Body, "Confirm your sign-in") {
		t.Fatalf("challenge page expected: %s", page.Body)
	}
	csrf := match(t, csrfRE, page.Body)
	wrong := c2.submit(loc, url.Values{"csrf": {csrf}, "code": {"000000"}})
	if wrong.Posted != http.StatusSeeOther || !strings.Contains(wrong.Body, "4 attempts left") {
		t.Fatalf("wrong code: %d %s", wrong.Posted, wrong.Body)
	}
	assertNothingOfTheConsole(t, wrong)
	if c2.cookie("console_session") != "" {
		t.Fatal("console session cookie after a wrong code")
	}
	ok := c2.page("POST", loc, url.Values{"csrf": {csrf}, "code": {nextCode(secret, 1)}})
	sess := assertReleased(t, g, ok, "alice")
	if !slices.Contains(sess.AMR, "otp") || time.Since(sess.AuthTime) > time.Minute {
		t.Fatalf("session amr %v auth_time %v: want the second factor's", sess.AMR, sess.AuthTime)
	}
	// The login's second factor is recent: a protected operation passes without another.
	if d := c2.api("DELETE", "/api/instances/i-1001", nil); d.StatusCode != http.StatusOK {
		t.Fatalf("operation right after a two-factor login: %d %s", d.StatusCode, d.Body)
	}
	// The held answer was released once: answering again finds nothing.
	if again := c2.submit(loc, url.Values{"csrf": {csrf}, "code": {nextCode(secret, 1)}}); again.Posted != http.StatusSeeOther || !strings.Contains(again.Body, "already confirmed") {
		t.Fatalf("second answer: %d %s", again.Posted, again.Body)
	}
}

// assertReleased checks that r is the console's held login answer, exactly, plus the
// gateway session cookie, and returns the session's claims.
func assertReleased(t *testing.T, g *testGateway, r response, user string) token.Claims {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		t.Fatalf("released login: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	var names []string
	var session string
	for _, c := range r.Cookies() {
		names = append(names, c.Name)
		if c.Name == sessionCookie {
			session = c.Value
		}
	}
	for _, want := range []string{"console_session", "console_user", sessionCookie} {
		if !slices.Contains(names, want) {
			t.Fatalf("released login lacks cookie %s (has %v)", want, names)
		}
	}
	claims, err := g.tokens.Parse(token.Session, session)
	if err != nil || claims.User != user {
		t.Fatalf("session cookie: %+v %v", claims, err)
	}
	return claims
}

func TestLoginHeldForAPIClients(t *testing.T) {
	g := newGateway(t, loginFor("alice"))
	setup := g.client()
	setup.rawLogin("alice", "alice-password")
	loc := setup.page("GET", "/.stepup/", nil) // not signed in yet: no session
	if loc.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings before the second factor: %d", loc.StatusCode)
	}
	secret := bindDuringLogin(t, g, setup)

	c := g.client()
	r := c.api("POST", "/login", map[string]string{"username": "alice", "password": "alice-password"})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Fatalf("JSON login: %d %q %s", r.StatusCode, r.Header.Get("WWW-Authenticate"), r.Body)
	}
	assertNothingOfTheConsole(t, r)
	body := r.json(t)
	verify, _ := body["verify_url"].(string)
	if v := c.api("POST", verify, map[string]string{"code": "999999"}); v.StatusCode != http.StatusUnauthorized || c.cookie("console_session") != "" {
		t.Fatalf("wrong code over the API: %d", v.StatusCode)
	}
	v := c.api("POST", verify, map[string]string{"code": nextCode(secret, 1)})
	if v.StatusCode != http.StatusOK || strings.TrimSpace(v.Body) != `{"ok":true,"user":"alice"}` {
		t.Fatalf("verify should return the console's held answer: %d %s", v.StatusCode, v.Body)
	}
	if c.cookie("console_session") == "" || c.cookie(sessionCookie) == "" {
		t.Fatal("cookies of the held answer not released")
	}
}

// bindDuringLogin completes a pending login of c by binding an authenticator.
func bindDuringLogin(t *testing.T, g *testGateway, c *client) []byte {
	t.Helper()
	r := c.rawLogin("alice", "alice-password")
	loc := r.Header.Get("Location")
	page := c.page("GET", loc, nil)
	secret := decodeSecret(t, match(t, secretRE, page.Body))
	done := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)},
		"code1": {nextCode(secret, -1)}, "code2": {challengeCode(secret, time.Now())}})
	assertReleased(t, g, done, "alice")
	return secret
}

func TestHeldLoginNeverReleasedAfterFailure(t *testing.T) {
	g := newGateway(t, loginFor("alice"))
	secret := bindDuringLogin(t, g, g.client())

	// Five wrong codes end the challenge; the right one then cannot release it.
	c := g.client()
	loc := c.rawLogin("alice", "alice-password").Header.Get("Location")
	csrf := match(t, csrfRE, c.page("GET", loc, nil).Body)
	for i := 0; i < 5; i++ {
		c.page("POST", loc, url.Values{"csrf": {csrf}, "code": {"111111"}})
	}
	if r := c.submit(loc, url.Values{"csrf": {csrf}, "code": {nextCode(secret, 1)}}); !strings.Contains(r.Body, "too many wrong codes") || c.cookie("console_session") != "" {
		t.Fatalf("after 5 wrong codes: %d %s, console cookie %q", r.StatusCode, r.Body, c.cookie("console_session"))
	}
	id := strings.TrimPrefix(loc, "/.stepup/challenge/")
	if held, err := g.challenges.TakeHeld(t.Context(), challenge.Passed{Challenge: challenge.Challenge{ID: id}}); held != nil || err != nil {
		t.Fatalf("the held console answer outlived its ended challenge: %q %v", held, err)
	}

	// Another browser cannot answer this browser's login.
	victim := g.client()
	vloc := victim.rawLogin("alice", "alice-password").Header.Get("Location")
	thief := g.client()
	thief.rawLogin("alice", "wrong-password") // a failed login: no login cookie
	if r := thief.page("GET", vloc, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("a browser without the login cookie: %d", r.StatusCode)
	}
	other := g.client()
	other.rawLogin("alice", "alice-password") // its own pending login
	if r := other.page("GET", vloc, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("another pending login's cookie: %d", r.StatusCode)
	}
}

func TestHeldLoginExpires(t *testing.T) {
	g := newGateway(t, loginFor("alice"), withLimits(challenge.Limits{ChallengeTTL: time.Second}))
	secret := bindDuringLogin(t, g, g.client())
	c := g.client()
	loc := c.rawLogin("alice", "alice-password").Header.Get("Location")
	csrf := match(t, csrfRE, c.page("GET", loc, nil).Body)
	time.Sleep(1100 * time.Millisecond) // an abandoned challenge: its lifetime runs out
	if r := c.submit(loc, url.Values{"csrf": {csrf}, "code": {nextCode(secret, 1)}}); !strings.Contains(r.Body, "expired") || c.cookie("console_session") != "" {
		t.Fatalf("expired challenge released the login: %d %s", r.StatusCode, r.Body)
	}
}

func TestHeldLoginResponseOverLimit(t *testing.T) {
	g := newGateway(t, loginFor("alice"), withLogin(func(l *LoginOptions) { l.MaxHeldResponse = 10 }))
	c := g.client()
	r := c.api("POST", "/login", map[string]string{"username": "alice", "password": "alice-password"})
	if r.StatusCode != http.StatusBadGateway || c.cookie("console_session") != "" {
		t.Fatalf("oversized held answer: %d", r.StatusCode)
	}
}

func TestUnprotectedLoginIsPassedThroughWithASession(t *testing.T) {
	g := newGateway(t, loginFor("alice"))
	c := g.client()
	r := c.rawLogin("bob", "bob-password")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" || c.cookie("console_session") == "" || c.cookie(sessionCookie) == "" {
		t.Fatalf("bob has no login protection: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestSignOutEverywhere(t *testing.T) {
	g := newGateway(t)
	laptop, phone := g.client(), g.client()
	laptop.login("bob")
	phone.login("bob")
	settings := laptop.page("GET", "/.stepup/", nil)
	r := laptop.page("POST", "/.stepup/signout-all", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/logout" {
		t.Fatalf("sign out everywhere: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if p := phone.api("DELETE", "/api/instances/i-1", nil); p.StatusCode != http.StatusUnauthorized || p.json(t)["error"] != "sign_in_required" {
		t.Fatalf("the other device's session survived: %d %s", p.StatusCode, p.Body)
	}
}

func TestMetricsCountDecisions(t *testing.T) {
	g := newGateway(t)
	before := g.events.count("decision:bind")
	c := g.client()
	c.login("carol")
	c.api("DELETE", "/api/instances/i-1", nil)
	if after := g.events.count("decision:bind"); after != before+1 {
		t.Fatalf("bind decisions %v -> %v", before, after)
	}
}

// TestDuplicateUserFieldFailsClosed: with "username=bob&username=alice" the gateway
// could start bob's session (no login protection) while a console that takes the last
// copy logs alice in. A login whose user field comes twice is refused before the
// console sees it.
func TestDuplicateUserFieldFailsClosed(t *testing.T) {
	g := newGateway(t, loginFor("alice"))
	c := g.client()
	r := c.do("POST", "/login", strings.NewReader("username=alice&password=alice-password&username=bob"),
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	if r.StatusCode != http.StatusBadRequest || c.cookie("console_session") != "" || c.cookie(sessionCookie) != "" {
		t.Fatalf("duplicated user field: %d, console cookie %q", r.StatusCode, c.cookie("console_session"))
	}
}

// whoamiConsole accepts any password and answers its "who am I" URL as whoami says.
func whoamiConsole(whoami func(w http.ResponseWriter, r *http.Request)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "console_session", Value: "s-" + r.FormValue("username"), Path: "/"})
		w.Header().Set("X-Console-User", r.FormValue("username"))
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /api/whoami", whoami)
	return mux
}

// whoamiSetup asks the console who signed in; alice has login protection.
func whoamiSetup(console http.Handler) func(*setup) {
	return func(s *setup) {
		s.console = console
		s.opts.Login = &LoginOptions{Path: "/login", Method: "POST", WhoAmIURI: "/api/whoami", WhoAmIField: "data.user",
			SuccessStatus: []int{303}, SuccessCookie: "console_session", MaxBody: 64 << 10, MaxHeldResponse: 64 << 10}
		s.opts.Rules = policy.Rules{{Name: "api", Paths: []string{"/api/*"}, MaxAge: 5 * time.Minute}}
		s.opts.Settings.Mandates = map[policy.Kind]policy.Audience{policy.Login: {Users: []string{"alice"}}}
	}
}

// The console is asked with only the cookies it just set, and its answer decides
// whose login it is; an answer without a name holds the login back.
func TestWhoAmIDecidesTheUser(t *testing.T) {
	var asked []*http.Request
	g := newGateway(t, whoamiSetup(whoamiConsole(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r)
		ck, err := r.Cookie("console_session")
		switch {
		case err != nil:
			w.WriteHeader(http.StatusUnauthorized)
		case ck.Value == "s-nobody":
			w.Write([]byte(`{"data":{}}`))
		case ck.Value == "s-redirect":
			http.Redirect(w, r, "/login", http.StatusFound)
		default:
			w.Write([]byte(`{"data":{"user":"` + strings.ToUpper(strings.TrimPrefix(ck.Value, "s-")) + `"}}`))
		}
	})))

	// The console says ALICE: alice's login is held (names are folded).
	c := g.client()
	r := c.do("POST", "/login", strings.NewReader("username=alice"), "Content-Type", "application/x-www-form-urlencoded",
		"Accept", "text/html", "Cookie", "other=1", "Authorization", "Bearer attacker")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/.stepup/challenge/") {
		t.Fatalf("alice's login: %d %v", r.StatusCode, r.Header)
	}
	assertNothingOfTheConsole(t, r)
	if len(asked) != 1 {
		t.Fatalf("console asked %d times", len(asked))
	}
	q := asked[0]
	if q.Method != "GET" || q.URL.Path != "/api/whoami" || q.Header.Get("Cookie") != "console_session=s-alice" || q.Header.Get("Authorization") != "" {
		t.Fatalf("whoami request: %s %s %v", q.Method, q.URL, q.Header)
	}

	// carol has no login protection: her login passes with a gateway session.
	c = g.client()
	r = c.do("POST", "/login", strings.NewReader("username=carol"), "Content-Type", "application/x-www-form-urlencoded")
	if r.StatusCode != http.StatusSeeOther || c.cookie(sessionCookie) == "" || c.cookie("console_session") != "s-carol" {
		t.Fatalf("carol's login: %d %v", r.StatusCode, r.Header)
	}

	// No name, or no 2xx: held back, nothing of the console's answer released.
	for _, who := range []string{"nobody", "redirect"} {
		c = g.client()
		r = c.do("POST", "/login", strings.NewReader("username="+who), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		if r.StatusCode != http.StatusBadGateway || c.cookie("console_session") != "" || c.cookie(sessionCookie) != "" {
			t.Fatalf("%s: %d %v", who, r.StatusCode, r.Header)
		}
	}
}

// A console that names the user in a response header: the header decides, and never
// reaches the browser.
func TestUserHeaderDecidesTheUser(t *testing.T) {
	g := newGateway(t, whoamiSetup(whoamiConsole(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })),
		withLogin(func(l *LoginOptions) { l.WhoAmIURI, l.WhoAmIField, l.UserHeader = "", "", "X-Console-User" }))
	c := g.client()
	r := c.do("POST", "/login", strings.NewReader("username=Alice"), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/.stepup/challenge/") || r.Header.Get("X-Console-User") != "" {
		t.Fatalf("alice's login: %d %v", r.StatusCode, r.Header)
	}
	r = c.do("POST", "/login", strings.NewReader("username=carol"), "Content-Type", "application/x-www-form-urlencoded")
	if r.StatusCode != http.StatusSeeOther || c.cookie(sessionCookie) == "" || r.Header.Get("X-Console-User") != "" {
		t.Fatalf("carol's login: %d %v", r.StatusCode, r.Header)
	}
}

// A login route whose path has a suffix (PHP, Struts) is the login on that path;
// the suffix-less reading only refuses spellings of a suffix-less login.
func TestLoginPathWithASuffix(t *testing.T) {
	demo := democonsole.New()
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login.php" {
			r.URL.Path = "/login"
		}
		demo.ServeHTTP(w, r)
	})
	g := newGateway(t, loginFor("alice"), withConsole(console), func(s *setup) { s.opts.Login.Path = "/login.php" })
	r := g.client().page("POST", "/login.php", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/.stepup/challenge/") {
		t.Fatalf("login at /login.php: %d %v", r.StatusCode, r.Header)
	}
	assertNothingOfTheConsole(t, r)

	plain := newGateway(t, loginFor("alice"))
	for _, target := range []string{"/login.json", "/login."} {
		r := plain.client().page("POST", target, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s with the login at /login: %d, want 400", target, r.StatusCode)
		}
	}
	if r := plain.client().page("GET", "/login.css", nil); r.StatusCode == http.StatusBadRequest {
		t.Error("GET /login.css refused: only the login's method is judged")
	}
	// A method-override signal makes any method the login's: so spelled, refused.
	for _, header := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		r := plain.client().do("GET", "/login.json", nil, header, "POST", "Accept", "text/html")
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /login.json with %s: POST: %d, want 400", header, r.StatusCode)
		}
	}
	if r := plain.client().do("GET", "/login.json?_method=POST", nil, "Accept", "text/html"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /login.json?_method=POST: %d, want 400", r.StatusCode)
	}
}
