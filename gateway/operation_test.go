package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// tokenCookieHeader presents a step-up token as a client without a cookie jar does.
func tokenCookieHeader(tok string) []string { return []string{"Cookie", tokenCookie + "=" + tok} }

func TestAPIChallengeVerifyRetry(t *testing.T) {
	g := newGateway(t, withTokenHeader)
	c := g.client()
	c.login("alice")
	secret := c.bindTOTP()

	first := c.api("DELETE", "/api/instances/i-1001", nil)
	if first.StatusCode != http.StatusUnauthorized {
		t.Fatalf("DELETE without a step-up token: %d %s", first.StatusCode, first.Body)
	}
	wa := first.Header.Get("WWW-Authenticate")
	for _, want := range []string{`Bearer error="insufficient_user_authentication"`, `error_description="`, `max_age="300"`} {
		if !strings.Contains(wa, want) {
			t.Errorf("WWW-Authenticate %q lacks %q", wa, want)
		}
	}
	body := first.json(t)
	id, _ := body["challenge_id"].(string)
	verify, _ := body["verify_url"].(string)
	if id == "" || verify != "/.stepup/api/challenges/"+id+"/verify" {
		t.Fatalf("challenge body: %v", body)
	}
	if m, _ := body["methods"].([]any); len(m) != 1 || m[0] != "totp" {
		t.Fatalf("methods on offer: %v", body["methods"])
	}

	wrong := c.api("POST", verify, map[string]string{"code": "000000"})
	if wrong.StatusCode != http.StatusUnauthorized || wrong.json(t)["error"] != "invalid_code" || wrong.json(t)["attempts_left"] != float64(4) {
		t.Fatalf("wrong code: %d %s", wrong.StatusCode, wrong.Body)
	}
	ok := c.api("POST", verify, map[string]string{"code": nextCode(secret, 1)})
	if ok.StatusCode != http.StatusOK {
		t.Fatalf("right code: %d %s", ok.StatusCode, ok.Body)
	}
	tok, _ := ok.json(t)["token"].(string)
	if tok == "" || c.cookie(tokenCookie) != tok || ok.json(t)["cookie"] != tokenCookie || ok.json(t)["header"] != DefaultTokenHeader {
		t.Fatalf("token not returned in body and cookie, or the answer does not say how to present it: %s", ok.Body)
	}

	// Retry with the cookie.
	if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"deleted":"i-1001"`) {
		t.Fatalf("retry with cookie: %d %s", r.StatusCode, r.Body)
	}
	// Retry with the header only (an API client that keeps no token cookie).
	apiOnly := g.client()
	apiOnly.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{
		{Name: sessionCookie, Value: c.cookie(sessionCookie)},
		{Name: "console_session", Value: c.cookie("console_session")},
	})
	if r := apiOnly.api("DELETE", "/api/instances/i-1002", nil, DefaultTokenHeader, tok); r.StatusCode != http.StatusOK {
		t.Fatalf("retry with X-Stepup-Token: %d %s", r.StatusCode, r.Body)
	}
	// The challenge was used: it cannot be answered twice.
	if again := c.api("POST", verify, map[string]string{"code": nextCode(secret, 1)}); again.StatusCode != http.StatusGone {
		t.Fatalf("second verify of a passed challenge: %d %s", again.StatusCode, again.Body)
	}
}

func TestTokenMustMatchUserSessionAndMaxAge(t *testing.T) {
	g := newGateway(t)
	alice := g.client()
	alice.login("alice")
	aliceSession, err := g.tokens.Parse(token.Session, alice.cookie(sessionCookie))
	if err != nil {
		t.Fatal(err)
	}
	bob := g.client()
	bob.login("bob")
	bobSession, _ := g.tokens.Parse(token.Session, bob.cookie(sessionCookie))
	aliceAgain := g.client()
	aliceAgain.login("alice")

	issue := func(user, session string, authTime time.Time) string {
		raw, _, err := g.tokens.Issue(t.Context(), token.StepUp, user, session, []string{"otp", "mfa"}, authTime)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	fresh := issue("alice", aliceSession.ID, time.Now())
	tests := []struct {
		name   string
		c      *client
		tok    string
		path   string
		status int
	}{
		{"fresh token of the same user and session", alice, fresh, "/api/instances/i-1001", http.StatusOK},
		{"token of another user", bob, fresh, "/api/instances/i-1002", http.StatusUnauthorized},
		{"token of another session of the same user", aliceAgain, fresh, "/api/instances/i-1002", http.StatusUnauthorized},
		{"token of bob's session, presented by alice", alice, issue("bob", bobSession.ID, time.Now()), "/api/instances/i-1002", http.StatusUnauthorized},
		{"second factor older than max_age 5m", alice, issue("alice", aliceSession.ID, time.Now().Add(-6*time.Minute)), "/api/instances/i-1002", http.StatusUnauthorized},
		{"3m old passes the 5m rule", alice, issue("alice", aliceSession.ID, time.Now().Add(-3*time.Minute)), "/api/instances/i-1002", http.StatusOK},
		{"3m old fails the 2m payments rule", alice, issue("alice", aliceSession.ID, time.Now().Add(-3*time.Minute)), "/api/billing/pay", http.StatusUnauthorized},
		{"a session cookie is not a step-up token", alice, alice.cookie(sessionCookie), "/api/billing/pay", http.StatusUnauthorized},
		{"garbage", alice, "eyJhbGciOiJub25lIn0.e30.", "/api/billing/pay", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "DELETE"
			if strings.HasPrefix(tt.path, "/api/billing") {
				method = "POST"
			}
			r := tt.c.api(method, tt.path, nil, tokenCookieHeader(tt.tok)...)
			if r.StatusCode != tt.status {
				t.Fatalf("%s %s: %d, want %d: %s", method, tt.path, r.StatusCode, tt.status, r.Body)
			}
		})
	}
}

func TestRevokedTokenAndLogout(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("alice")
	sess, _ := g.tokens.Parse(token.Session, c.cookie(sessionCookie))
	raw, claims, err := g.tokens.Issue(t.Context(), token.StepUp, "alice", sess.ID, []string{"otp"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := c.api("DELETE", "/api/instances/i-1001", nil, tokenCookieHeader(raw)...); r.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %d", r.StatusCode)
	}
	if err := g.store.Revoke(t.Context(), "alice", claims.ID); err != nil {
		t.Fatal(err)
	}
	if r := c.api("DELETE", "/api/instances/i-1002", nil, tokenCookieHeader(raw)...); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d %s", r.StatusCode, r.Body)
	}

	raw2, _, _ := g.tokens.Issue(t.Context(), token.StepUp, "alice", sess.ID, []string{"otp"}, time.Now())
	oldSession := c.cookie(sessionCookie)
	out := c.page("GET", "/logout", nil)
	if out.StatusCode != http.StatusSeeOther || c.cookie(sessionCookie) != "" || c.cookie(tokenCookie) != "" {
		t.Fatalf("logout: %d, cookies left: session %q token %q", out.StatusCode, c.cookie(sessionCookie), c.cookie(tokenCookie))
	}
	// The old cookies, replayed after logout, are dead: the session and its tokens were revoked.
	replay := g.client()
	replay.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: sessionCookie, Value: oldSession}})
	if r := replay.api("DELETE", "/api/instances/i-1002", nil, tokenCookieHeader(raw2)...); r.StatusCode != http.StatusUnauthorized || r.json(t)["error"] != "sign_in_required" {
		t.Fatalf("after logout: %d %s", r.StatusCode, r.Body)
	}
}

func TestBrowserChallengeRedirectsAndReturns(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("alice")
	secret := c.bindTOTP()

	r := c.page("GET", "/instances/i-1001/delete?from=list", nil)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("protected GET: %d %q", r.StatusCode, loc)
	}
	page := c.page("GET", loc, nil)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Body, `id="challenge-form"`) || !strings.Contains(page.Body, "instance changes") {
		t.Fatalf("challenge page: %d %s", page.StatusCode, page.Body)
	}
	csrf := match(t, csrfRE, page.Body)

	// Without the CSRF token, or from another site, the form is refused.
	if r := c.page("POST", loc, url.Values{"code": {nextCode(secret, 1)}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d", r.StatusCode)
	}
	cross := c.do("POST", loc, strings.NewReader(url.Values{"csrf": {csrf}, "code": {nextCode(secret, 1)}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site", "Accept", "text/html")
	if cross.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", cross.StatusCode)
	}

	wrong := c.submit(loc, url.Values{"csrf": {csrf}, "code": {"123456"}})
	if wrong.Posted != http.StatusSeeOther || !strings.Contains(wrong.Body, `id="challenge-error"`) || !strings.Contains(wrong.Body, "not right") {
		t.Fatalf("wrong code: %d %s", wrong.StatusCode, wrong.Body)
	}
	right := c.page("POST", loc, url.Values{"csrf": {csrf}, "code": {nextCode(secret, 1)}})
	if right.StatusCode != http.StatusSeeOther || right.Header.Get("Location") != "/instances/i-1001/delete?from=list" {
		t.Fatalf("right code: %d %q", right.StatusCode, right.Header.Get("Location"))
	}
	tc := cookieOf(right.Response, tokenCookie)
	if tc == nil || !tc.HttpOnly || tc.SameSite != http.SameSiteStrictMode || tc.Secure {
		t.Fatalf("token cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain-http loopback", tc)
	}
	if back := c.page("GET", "/instances/i-1001/delete?from=list", nil); back.StatusCode != http.StatusOK {
		t.Fatalf("back on the protected page: %d", back.StatusCode)
	}
}

func TestHeldFormIsReplayedAfterTheChallenge(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("carol") // nothing bound: the challenge page is the binding page
	r := c.page("POST", "/billing/pay", url.Values{"amount": {"10"}})
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.stepup/challenge/") {
		t.Fatalf("protected form post: %d %q %s", r.StatusCode, loc, r.Body)
	}
	if b := c.page("GET", "/billing", nil); strings.Contains(b.Body, "Payment received") {
		t.Fatal("the payment went through before the second factor")
	}
	page := c.page("GET", loc, nil)
	if !strings.Contains(page.Body, `id="bind-qr"`) || !strings.Contains(page.Body, `src="data:image/png;base64,`) {
		t.Fatalf("binding page expected: %s", page.Body)
	}
	secretText := match(t, secretRE, page.Body)
	if strings.Contains(loc, secretText) {
		t.Fatal("the secret is in the URL")
	}
	secret := decodeSecret(t, secretText)
	now := time.Now()
	done := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)},
		"code1": {nextCode(secret, -1)}, "code2": {challengeCode(secret, now)}})
	if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != "/billing?paid=1" {
		t.Fatalf("binding should replay the held payment: %d %q %s", done.StatusCode, done.Header.Get("Location"), done.Body)
	}
	if b := c.page("GET", "/billing?paid=1", nil); !strings.Contains(b.Body, "Payment received") {
		t.Fatalf("console did not get the payment: %s", b.Body)
	}
}

func TestSignInNeededForProtectedRoutes(t *testing.T) {
	g := newGateway(t)
	anon := g.client()
	if r := anon.page("GET", "/instances/i-1/delete", nil); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous browser: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := anon.api("DELETE", "/api/instances/i-1", nil); r.StatusCode != http.StatusUnauthorized || r.json(t)["error"] != "sign_in_required" {
		t.Fatalf("anonymous API: %d %s", r.StatusCode, r.Body)
	}
	// Unprotected routes pass untouched.
	if r := anon.page("GET", "/login", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d", r.StatusCode)
	}
}

func TestFailedLoginPassesThroughUntouched(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	r := c.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"wrong"}})
	if r.StatusCode != http.StatusUnauthorized || c.cookie(sessionCookie) != "" || !strings.Contains(r.Body, "login-error") {
		t.Fatalf("failed login: %d cookie %q", r.StatusCode, c.cookie(sessionCookie))
	}
	// JSON login, and the body reaches the console intact.
	j := c.api("POST", "/login", map[string]string{"username": "bob", "password": "bob-password"})
	if j.StatusCode != http.StatusOK || c.cookie(sessionCookie) == "" || c.cookie("console_session") == "" {
		t.Fatalf("JSON login: %d %s", j.StatusCode, j.Body)
	}
}

func TestLoginWithoutUserFieldFailsClosed(t *testing.T) {
	g := newGateway(t, withLogin(func(l *LoginOptions) { l.UserField = "login_name" }))
	c := g.client()
	r := c.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if r.StatusCode != http.StatusBadRequest || c.cookie("console_session") != "" || c.cookie(sessionCookie) != "" {
		t.Fatalf("misconfigured user_field: %d, console cookie %q", r.StatusCode, c.cookie("console_session"))
	}
}

func TestLoginBodyOverLimit(t *testing.T) {
	g := newGateway(t, withLogin(func(l *LoginOptions) { l.MaxBody = 100 }))
	c := g.client()
	r := c.page("POST", "/login", url.Values{"username": {"alice"}, "password": {strings.Repeat("x", 200)}})
	if r.StatusCode != http.StatusRequestEntityTooLarge || c.cookie("console_session") != "" {
		t.Fatalf("oversized login body: %d", r.StatusCode)
	}
}

func TestIdentityHeader(t *testing.T) {
	g := newGateway(t, func(s *setup) {
		s.opts.IdentityHeader, s.opts.Login, s.opts.Logout = "X-Remote-User", nil, ""
		s.opts.Rules = policy.Rules{{Name: "/api/instances/*", Paths: []string{"/api/instances/*"}, Methods: []string{"DELETE"}, MaxAge: 5 * time.Minute}}
	})
	c := g.client()
	if r := c.api("DELETE", "/api/instances/i-1", nil); r.StatusCode != http.StatusUnauthorized || r.json(t)["error"] != "sign_in_required" {
		t.Fatalf("without the header: %d %s", r.StatusCode, r.Body)
	}
	r := c.api("DELETE", "/api/instances/i-1", nil, "X-Remote-User", "dave")
	if r.StatusCode != http.StatusUnauthorized || r.json(t)["error"] != "insufficient_user_authentication" {
		t.Fatalf("with the header: %d %s", r.StatusCode, r.Body)
	}
}

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestConsoleNeverSeesGatewayCredentials records what reaches the console.
func TestConsoleNeverSeesGatewayCredentials(t *testing.T) {
	var seen []http.Header
	console := democonsole.New()
	g := newGateway(t, withTokenHeader, withConsole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		console.ServeHTTP(w, r)
	})))
	c := g.client()
	c.login("alice")
	secret := c.bindTOTP()
	ch := c.api("DELETE", "/api/instances/i-1001", nil).json(t)
	tok := c.api("POST", ch["verify_url"].(string), map[string]string{"code": nextCode(secret, 1)}).json(t)["token"].(string)
	seen = nil
	c.api("DELETE", "/api/instances/i-1001", nil, DefaultTokenHeader, tok)
	c.page("GET", "/dashboard", nil)
	c.page("GET", "/logout", nil)
	if len(seen) != 3 {
		t.Fatalf("console saw %d requests, want 3", len(seen))
	}
	for _, h := range seen {
		for _, v := range append(h.Values("Cookie"), h.Values(DefaultTokenHeader)...) {
			if strings.Contains(v, "stepup_") || strings.Contains(v, tok) {
				t.Fatalf("the console saw a gateway credential: %q", v)
			}
		}
		if !strings.Contains(strings.Join(h.Values("Cookie"), ";"), "console_session=") {
			t.Fatalf("the console's own cookie was removed: %v", h.Values("Cookie"))
		}
	}
}

// TestChallengesPerUserAreCapped: an API client calling a protected route over and
// over without answering gets 429 once 30 challenges are open, not an unbounded store.
func TestChallengesPerUserAreCapped(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	c.login("alice")
	for i := 0; i < 30; i++ {
		if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("call %d: %d", i+1, r.StatusCode)
		}
	}
	r := c.api("DELETE", "/api/instances/i-1001", nil)
	if r.StatusCode != http.StatusTooManyRequests || r.json(t)["error"] != "too_many_challenges" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("31st call: %d %s", r.StatusCode, r.Body)
	}
}

// Without token_header, a token in X-Stepup-Token is not read (it would land in the
// access log), and the console still never sees it.
func TestTokenHeaderOffByDefault(t *testing.T) {
	var seen []http.Header
	console := democonsole.New()
	g := newGateway(t, withConsole(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		console.ServeHTTP(w, r)
	})))
	c := g.client()
	c.login("alice")
	sess, _ := g.tokens.Parse(token.Session, c.cookie(sessionCookie))
	raw, _, err := g.tokens.Issue(t.Context(), token.StepUp, "alice", sess.ID, []string{"otp"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := c.api("DELETE", "/api/instances/i-1001", nil, DefaultTokenHeader, raw); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token in X-Stepup-Token without token_header: %d", r.StatusCode)
	}
	if r := c.api("GET", "/api/instances", nil, DefaultTokenHeader, raw); r.StatusCode != http.StatusOK {
		t.Fatalf("unprotected: %d", r.StatusCode)
	}
	for _, h := range seen {
		if h.Get(DefaultTokenHeader) != "" {
			t.Fatal("the console saw X-Stepup-Token")
		}
	}
}
