package e2e

// Journeys of operation protection: a sensitive operation in the console (a delete, a
// payment, an API call) asks for a recent second factor, from an authenticator app.

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestBrowserOperationChallengeWithTOTP is the main journey: a user binds an
// authenticator app on the gateway's settings page, and later a sensitive operation
// in the console asks for a code from it, refuses a wrong one and goes through with
// the right one.
func TestBrowserOperationChallengeWithTOTP(t *testing.T) {
	p := newPage(t)
	p.signIn("alice")

	app := p.bindFromSettings()

	// "Upon successful binding of virtual MFA, secondary authentication is
	// simultaneously completed" (the seed): binding passed a second-factor check, so
	// for the rule's max_age a delete, its confirmation page and its form post, goes
	// through without another one.
	resp := p.open("/instances/i-1003/delete")
	p.expectAt(resp, 200, "/instances/i-1003/delete")
	resp = p.click("delete-i-1003")
	p.expectAt(resp, 200, "/instances?deleted=i-1003")

	// A new session (the user comes back later) has no recent second factor.
	p.signOut()
	p.signIn("alice")

	// The rule covers every method: the console's confirmation page, a GET, is
	// challenged itself.
	challengePath := p.expectChallengePage(p.open("/instances/i-1001/delete"))
	if !p.has("challenge-form") {
		p.fail("expected the challenge form (alice has an app bound)")
	}
	if got := p.text("challenge-reason"); !strings.Contains(got, "instance changes") {
		p.fail("challenge reason %q does not name the rule", got)
	}
	p.expectFreshChallenge("alice")
	p.screenshot("challenge")

	// A wrong code: the same challenge again, saying so.
	p.enterWrongCode(app, challengePath)
	p.screenshot("challenge-wrong-code")

	// The right code: back to the confirmation page, whose form post then goes
	// through on the fresh step-up token, with no second challenge.
	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	resp = p.click("challenge-submit")
	p.expectAt(resp, 200, "/instances/i-1001/delete")
	if got := p.text("confirm-title"); got != "Delete instance i-1001?" {
		p.fail("confirmation title %q", got)
	}
	resp = p.click("delete-i-1001")
	p.expectAt(resp, 200, "/instances?deleted=i-1001")
	if got := p.text("flash"); got != "Instance i-1001 deleted" {
		p.fail("flash %q", got)
	}
	if p.has("instance-i-1001") {
		p.fail("i-1001 is still listed after its delete")
	}

	// The token is still fresh: the next delete goes straight through.
	p.deleteWithoutChallenge("i-1002")
}

// TestBrowserBindOnFirstChallenge: a user with nothing bound pays; the gateway holds
// the payment, shows the binding page instead of a challenge (the seed: "if using
// virtual MFA for secondary authentication without prior binding, the computer
// screen will also display a QR code for virtual MFA binding"), and once the app is
// bound replays the payment.
func TestBrowserBindOnFirstChallenge(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")

	resp := p.open("/billing")
	p.expectAt(resp, 200, "/billing")
	if got := p.text("balance"); got != "$128.40" {
		p.fail("balance before paying: %q", got)
	}
	p.expectChallengePage(p.click("pay"))
	if p.has("challenge-form") {
		p.fail("carol has nothing bound: expected the binding page, not the challenge form")
	}
	app, qr := p.bindingPage()
	p.screenshot("bind-on-first-challenge")

	// The QR code holds the same secret as the text, as an otpauth:// URI.
	uri := decodeQR(t, qr)
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		p.fail("QR code holds %q, want an otpauth://totp/ URI", uri)
	}
	if got, want := u.Query().Get("secret"), strings.ReplaceAll(p.text("bind-secret"), " ", ""); got != want {
		p.fail("QR code secret %q, the page shows %q", got, want)
	}
	if !strings.Contains(u.Path, "carol") {
		p.fail("QR code account %q does not name carol", u.Path)
	}

	resp = p.bind(app)
	p.expectAt(resp, 200, "/billing?paid=1")
	if got := p.text("flash"); got != "Payment received" {
		p.fail("flash %q", got)
	}
	if got := p.text("balance"); got != "$0.00" {
		p.fail("balance after paying: %q", got)
	}

	// Binding passed the challenge and issued a step-up token: a delete, a different
	// rule, goes straight to its confirmation page.
	if c := p.cookie("stepup_token"); c == nil || !c.HTTPOnly {
		p.fail("binding issued no HttpOnly step-up token cookie: %+v", c)
	}
	resp = p.open("/instances/i-1001/delete")
	p.expectAt(resp, 200, "/instances/i-1001/delete")

	// And the app is bound for next time.
	resp = p.open("/.stepup/")
	p.expectAt(resp, 200, "/.stepup/")
	if got := p.text("totp-status"); !strings.HasPrefix(got, "Set up on ") {
		p.fail("authenticator status after binding: %q", got)
	}
}

// TestBrowserAPIChallenge: a script in the signed-in page calls a protected API, gets
// an RFC 9470 step-up challenge, answers it through the gateway's JSON API and
// retries with the cookie it got.
//
// carol, not bob: bob's login is protected, and a login that passed a second factor
// is itself a recent one, so his API calls would not be challenged.
func TestBrowserAPIChallenge(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	app := p.bindFromSettings()
	// Binding completed a second-factor check for this session; a new session needs
	// a new one.
	p.expectAt(p.click("back"), 200, "/dashboard")
	p.signOut()
	p.signIn("carol")
	p.allowPageScripts()

	res := p.fetch("DELETE", "/api/instances/i-1002", "")
	if res.Status != 401 {
		t.Fatalf("DELETE without a second factor: status %d, want 401; body %s", res.Status, res.Body)
	}
	if !strings.Contains(res.WWWAuthenticate, `error="insufficient_user_authentication"`) ||
		!strings.Contains(res.WWWAuthenticate, `max_age="300"`) {
		t.Fatalf("WWW-Authenticate %q: want insufficient_user_authentication and max_age=\"300\" (the rule's 5m)", res.WWWAuthenticate)
	}
	var ch struct {
		Error     string   `json:"error"`
		VerifyURL string   `json:"verify_url"`
		Methods   []string `json:"methods"`
		MaxAge    int      `json:"max_age"`
	}
	if err := json.Unmarshal([]byte(res.Body), &ch); err != nil {
		t.Fatalf("challenge body is not JSON (%s): %v", res.ContentType, err)
	}
	if ch.Error != "insufficient_user_authentication" || !strings.HasPrefix(ch.VerifyURL, "/.stepup/api/challenges/") ||
		len(ch.Methods) != 1 || ch.Methods[0] != "totp" || ch.MaxAge != 300 {
		t.Fatalf("challenge body %s", res.Body)
	}

	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"code": code})
	res = p.fetch("POST", ch.VerifyURL, string(body))
	if res.Status != 200 {
		t.Fatalf("verify: status %d, want 200; body %s", res.Status, res.Body)
	}
	var tok struct {
		Token     string   `json:"token"`
		TokenType string   `json:"token_type"`
		Cookie    string   `json:"cookie"`
		Header    string   `json:"header"`
		ExpiresIn int      `json:"expires_in"`
		AMR       []string `json:"amr"`
	}
	if err := json.Unmarshal([]byte(res.Body), &tok); err != nil {
		t.Fatalf("verify body is not JSON: %v", err)
	}
	// The token goes in the cookie (which Caddy's access log redacts); the example
	// keeps no token header.
	if tok.Token == "" || tok.TokenType != "stepup" || tok.Cookie != "stepup_token" || tok.Header != "" || tok.ExpiresIn <= 0 {
		t.Fatalf("verify body %s", res.Body)
	}
	if c := p.cookie("stepup_token"); c == nil || !c.HTTPOnly {
		t.Fatalf("verify did not set the HttpOnly stepup_token cookie: %+v", c)
	}

	// The retry carries the cookie: the console deletes.
	res = p.fetch("DELETE", "/api/instances/i-1002", "")
	if res.Status != 200 || !strings.Contains(res.Body, `"deleted":"i-1002"`) {
		t.Fatalf("DELETE after the second factor: status %d, body %s", res.Status, res.Body)
	}
}
