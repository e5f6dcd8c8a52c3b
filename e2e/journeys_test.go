package e2e

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
	code, err := app.nextCode(p.ctx)
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
	if uri, ok := decodeQR(t, qr); ok {
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
			p.fail("QR code holds %q, want an otpauth://totp/ URI", uri)
		}
		if got, want := u.Query().Get("secret"), p.text("bind-secret"); got != want {
			p.fail("QR code secret %q, the page shows %q", got, want)
		}
		if !strings.Contains(u.Path, "carol") {
			p.fail("QR code account %q does not name carol", u.Path)
		}
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
	if got := p.text("totp-status"); !strings.HasPrefix(got, "Bound on ") {
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

	code, err := app.nextCode(p.ctx)
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

// TestBrowserLogoutRevokes: signing out ends the gateway session and its step-up
// token on the server, not only in the browser: after signing in again the protected
// operation asks again, and the old cookies, put back, get nothing.
//
// alice, not bob: bob's login is protected, so his sign-in would pass a second
// factor and his operations would not be challenged.
func TestBrowserLogoutRevokes(t *testing.T) {
	p := newPage(t)
	p.signIn("alice")

	// Pass a challenge: alice has nothing bound, so binding is the challenge. It
	// sends her back to the confirmation page, whose post then goes through.
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	app, _ := p.bindingPage()
	resp := p.bind(app)
	p.expectAt(resp, 200, "/instances/i-1001/delete")
	resp = p.click("delete-i-1001")
	p.expectAt(resp, 200, "/instances?deleted=i-1001")

	// The step-up token works in this session.
	resp = p.open("/instances/i-1002/delete")
	p.expectAt(resp, 200, "/instances/i-1002/delete")
	resp = p.click("delete-i-1002")
	p.expectAt(resp, 200, "/instances?deleted=i-1002")
	oldSession, oldToken := p.cookie("stepup_session"), p.cookie("stepup_token")
	if oldSession == nil || oldToken == nil {
		t.Fatalf("expected the gateway's session and step-up cookies, got %+v and %+v", oldSession, oldToken)
	}

	p.signOut()
	if c := p.cookie("stepup_token"); c != nil {
		t.Fatalf("the step-up cookie survived signing out: %+v", c)
	}
	p.signIn("alice")

	// Challenged again, for a delete and for a payment; the payment form, held
	// while she answers, is replayed once she does.
	p.expectChallengePage(p.open("/instances/i-1003/delete"))
	if !p.has("challenge-form") {
		p.fail("expected the challenge form after signing in again")
	}
	resp = p.open("/billing")
	p.expectAt(resp, 200, "/billing")
	p.expectChallengePage(p.click("pay"))
	if !p.has("challenge-form") {
		p.fail("expected the challenge form for the payment")
	}
	code, err := app.nextCode(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	resp = p.click("challenge-submit")
	p.expectAt(resp, 200, "/billing?paid=1")
	if got := p.text("flash"); got != "Payment received" {
		p.fail("flash %q", got)
	}

	// The old cookies, put back (as by a thief who copied them), get nothing: the
	// session and its step-up token were revoked in the store at sign-out, so the
	// gateway sends the delete to sign in instead of letting it through.
	p.setCookie(oldSession)
	p.setCookie(oldToken)
	resp = p.open("/instances/i-1003/delete")
	p.expectAt(resp, 200, "/login")
	resp = p.open("/instances")
	p.expectAt(resp, 200, "/instances")
	if !p.has("instance-i-1003") || p.has("flash") {
		p.fail("i-1003 was deleted with revoked cookies")
	}
}

// TestBrowserLoginBindsThenSignsIn: bob has login protection and nothing bound. He
// signs in on the console's own login page; the gateway holds the console's answer
// (nothing of it reaches the browser) and shows the binding page; binding completes
// the login, and the console's answer is released as it was: a 303 to the dashboard
// with its cookies, plus the gateway's session cookie.
func TestBrowserLoginBindsThenSignsIn(t *testing.T) {
	p := newPage(t)
	resp, hops := p.submitLogin("bob")
	p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	if p.has("challenge-form") {
		p.fail("bob has nothing bound: expected the binding page, not the challenge form")
	}
	app, _ := p.bindingPage()
	p.screenshot("login-bind")
	p.expectLoginHeld()

	resp, hops = p.bindRecording(app)
	p.expectSignedIn(resp, "bob")
	p.expectReleasedLogin(p.redirectHop(hops))
	p.expectSignedInCookies()

	// Bound for next time, and the settings say his login is protected.
	resp = p.open("/.stepup/")
	p.expectAt(resp, 200, "/.stepup/")
	if got := p.text("totp-status"); !strings.HasPrefix(got, "Bound on ") {
		p.fail("authenticator status after binding at sign-in: %q", got)
	}
	if got := p.text("settings-login"); got != "on" {
		p.fail("settings show login protection %q, want on", got)
	}
}

// TestBrowserLoginWithTOTP: bob, with an app bound, signs in; the gateway holds the
// login on the sign-in challenge, refuses a wrong code (still nothing of the login in
// the browser) and with the right one releases it: he lands on the dashboard, and
// his two-factor login counts as a recent second factor, so a delete right after is
// not challenged.
func TestBrowserLoginWithTOTP(t *testing.T) {
	p := newPage(t)
	resp, _ := p.submitLogin("bob")
	p.expectChallengePage(resp)
	app, _ := p.bindingPage()
	p.expectSignedIn(p.bind(app), "bob")
	p.signOut()

	resp, hops := p.submitLogin("bob")
	challengePath := p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	if !p.has("challenge-form") {
		p.fail("bob has an app bound: expected the challenge form")
	}
	if got := p.text("challenge-title"); got != "Confirm your sign-in" {
		p.fail("sign-in challenge title %q", got)
	}
	if got := p.title(); !strings.HasPrefix(got, "Confirm your sign-in") {
		p.fail("sign-in challenge page title %q", got)
	}
	p.expectFreshChallenge("bob")
	p.expectLoginHeld()
	p.screenshot("login-challenge")

	// A wrong code: the same challenge again, saying so, and still no login.
	p.enterWrongCode(app, challengePath)
	p.expectLoginHeld()

	// The right code releases the console's answer.
	code, err := app.nextCode(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	resp, hops = p.clickRecording("challenge-submit")
	p.expectSignedIn(resp, "bob")
	p.expectReleasedLogin(p.redirectHop(hops))
	p.expectSignedInCookies()

	// A login that passed a second factor is a recent one: no challenge for a delete,
	// neither its confirmation page nor its form post.
	p.deleteWithoutChallenge("i-1001")
}

// TestBrowserSignOutEverywhere: alice is signed in on two devices and has passed a
// challenge on the first; "Sign out everywhere" on the second revokes every session
// and step-up token of hers, so the first device's next protected request is sent to
// sign in, although its step-up token was fresh.
func TestBrowserSignOutEverywhere(t *testing.T) {
	first := newPage(t)
	second := first.newDevice()

	first.signIn("alice")
	first.expectChallengePage(first.open("/instances/i-1001/delete"))
	app, _ := first.bindingPage()
	resp := first.bind(app)
	first.expectAt(resp, 200, "/instances/i-1001/delete")

	second.signIn("alice")
	resp = second.click("nav-security")
	second.expectAt(resp, 200, "/.stepup/")
	resp, hops := second.clickRecording("signout-all")
	if len(hops) == 0 || hops[0].Status != 303 || !slices.Equal(hops[0].header("Location"), []string{"/logout"}) {
		second.fail("signing out everywhere should answer 303 to the console's /logout; the browser saw %+v", hops)
	}
	second.expectAt(resp, 200, "/login")
	for _, name := range []string{gatewaySessionCookie, "stepup_token", consoleSessionCookie} {
		if c := second.cookie(name); c != nil {
			second.fail("after signing out everywhere this browser still has %s", name)
		}
	}

	// The first device still holds its cookies, but they are revoked: its delete
	// is sent to sign in, and so is its settings page.
	if first.cookie(gatewaySessionCookie) == nil || first.cookie("stepup_token") == nil {
		first.fail("the first device should still hold its (revoked) gateway cookies")
	}
	resp = first.click("delete-i-1001")
	first.expectAt(resp, 200, "/login")
	resp = first.open("/.stepup/")
	first.expectAt(resp, 200, "/login")

	// Signing in again works, with a new challenge for the delete.
	first.signIn("alice")
	first.expectChallengePage(first.open("/instances/i-1001/delete"))
	if !first.has("challenge-form") {
		first.fail("expected the challenge form (alice has an app bound)")
	}
	resp = first.open("/instances")
	first.expectAt(resp, 200, "/instances")
	if !first.has("instance-i-1001") {
		first.fail("i-1001 was deleted with revoked cookies")
	}
}

// TestBrowserOperationChallengeWithSMS: a user with nothing bound opens a protected
// page; the binding page offers a phone besides the authenticator app. A national
// number is refused with a hint at the international format; the international one
// gets a code by SMS, which binds the phone and passes the challenge. In a later
// session the challenge offers a code by SMS, sent only when the user asks for it; a
// wrong code is refused and the right one lets the operation through.
//
// carol, not bob: bob's login is protected, so his operations would not be
// challenged after he signs in.
func TestBrowserOperationChallengeWithSMS(t *testing.T) {
	p := newPage(t)
	relay := p.s.sms
	p.signIn("carol")

	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	if relay.count() != 0 {
		p.fail("the binding page sent an SMS on page load: %+v", relay.messagesSince(0))
	}
	p.bindingPage() // the authenticator app is offered, as before
	p.expectPhoneBindingOffered()
	p.screenshot("bind-with-phone")

	// A national number: the country is not known, so no code goes out, and the page
	// says how to enter it.
	p.fill("phone-number", "07700 900123")
	resp := p.click("phone-send")
	if resp.Status != 400 {
		p.fail("status after a national number: %d, want 400", resp.Status)
	}
	if got := p.text("bind-error"); !strings.Contains(got, "international format") || !strings.Contains(got, "+44 7700 900123") {
		p.fail("binding error %q does not explain the international format", got)
	}
	if p.has("phone-code") {
		p.fail("the binding page asks for a code although none was sent")
	}
	if relay.count() != 0 {
		p.fail("an SMS went out for a refused number: %+v", relay.messagesSince(0))
	}
	p.screenshot("bind-phone-national-number")

	// The international number: a code comes by SMS; entering it binds the phone and
	// passes the challenge, back to the confirmation page.
	code := p.startPhoneBinding()
	p.screenshot("bind-phone-code")
	p.fill("phone-code", code)
	resp = p.click("phone-confirm")
	p.expectAt(resp, 200, "/instances/i-1001/delete")
	if got := p.text("confirm-title"); got != "Delete instance i-1001?" {
		p.fail("confirmation title %q", got)
	}

	// A new session has no recent second factor: the next delete is challenged, and
	// the challenge offers the bound phone, without texting it on page load (each
	// message costs money and counts against the send limits).
	p.signOut()
	p.signIn("carol")
	sent := relay.count()
	challengePath := p.expectChallengePage(p.open("/instances/i-1002/delete"))
	p.expectSMSChallenge()
	if got := p.text("challenge-reason"); !strings.Contains(got, "instance changes") {
		p.fail("challenge reason %q does not name the rule", got)
	}
	if got := p.text("challenge-user"); got != "carol" {
		p.fail("challenge is for %q", got)
	}
	if n := relay.count(); n != sent {
		p.fail("the challenge page sent %d SMS on page load: %+v", n-sent, relay.messagesSince(sent))
	}
	p.screenshot("challenge-sms")

	code = p.sendSMSCode()
	p.screenshot("challenge-sms-sent")

	// A wrong code: the same challenge again, saying so, with the code form kept.
	p.fill("sms-code", otherCode(code))
	resp = p.click("sms-submit")
	if got := p.location().Path; got != challengePath {
		p.fail("after a wrong code the browser shows %s, want the challenge %s", got, challengePath)
	}
	if resp.Status != 401 {
		p.fail("status after a wrong code: %d, want 401", resp.Status)
	}
	if got := p.text("challenge-error"); !strings.Contains(got, "not right") {
		p.fail("challenge error %q does not say the code is not right", got)
	}
	if !p.has("sms-code") {
		p.fail("after a wrong code the challenge page no longer asks for the SMS code")
	}

	// The right code, still valid after the wrong guess: the delete goes through.
	p.fill("sms-code", code)
	resp = p.click("sms-submit")
	p.expectAt(resp, 200, "/instances/i-1002/delete")
	resp = p.click("delete-i-1002")
	p.expectAt(resp, 200, "/instances?deleted=i-1002")
	if got := p.text("flash"); got != "Instance i-1002 deleted" {
		p.fail("flash %q", got)
	}
	if n := relay.count(); n != sent+1 {
		p.fail("the challenge sent %d SMS, want 1: %+v", n-sent, relay.messagesSince(sent))
	}
}

// TestBrowserLoginWithSMS: bob (login protection) binds a phone when he first signs
// in, which releases his login; the next time he signs in, the held login asks for a
// code by SMS, and nothing of the login reaches the browser before he enters it.
func TestBrowserLoginWithSMS(t *testing.T) {
	p := newPage(t)
	relay := p.s.sms
	resp, hops := p.submitLogin("bob")
	p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	p.bindingPage()
	p.expectPhoneBindingOffered()
	p.expectLoginHeld()

	code := p.startPhoneBinding()
	p.expectLoginHeld()
	p.fill("phone-code", code)
	resp, hops = p.clickRecording("phone-confirm")
	p.expectSignedIn(resp, "bob")
	p.expectReleasedLogin(p.redirectHop(hops))
	p.expectSignedInCookies()
	p.signOut()

	sent := relay.count()
	resp, hops = p.submitLogin("bob")
	challengePath := p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	if got := p.text("challenge-title"); got != "Confirm your sign-in" {
		p.fail("sign-in challenge title %q", got)
	}
	if got := p.text("challenge-user"); got != "bob" {
		p.fail("challenge is for %q", got)
	}
	p.expectSMSChallenge()
	if n := relay.count(); n != sent {
		p.fail("the sign-in challenge sent %d SMS on page load: %+v", n-sent, relay.messagesSince(sent))
	}
	p.expectLoginHeld()
	p.screenshot("login-challenge-sms")

	code = p.sendSMSCode()
	if !strings.HasPrefix(p.location().Path, challengePath) {
		p.fail("sending the code left the challenge %s for %s", challengePath, p.location().Path)
	}
	p.expectLoginHeld()

	p.fill("sms-code", code)
	resp, hops = p.clickRecording("sms-submit")
	p.expectSignedIn(resp, "bob")
	p.expectReleasedLogin(p.redirectHop(hops))
	p.expectSignedInCookies()
	if n := relay.count(); n != sent+1 {
		p.fail("the sign-in sent %d SMS, want 1: %+v", n-sent, relay.messagesSince(sent))
	}
}

// TestBrowserSMSResendLimit: asking for a second code within the resend wait (a
// minute) sends nothing and says when to ask again; the code already sent still
// works.
func TestBrowserSMSResendLimit(t *testing.T) {
	p := newPage(t)
	relay := p.s.sms
	p.signIn("alice")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	code := p.startPhoneBinding()
	p.fill("phone-code", code)
	p.expectAt(p.click("phone-confirm"), 200, "/instances/i-1001/delete")
	p.signOut()
	p.signIn("alice")

	challengePath := p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.expectSMSChallenge()
	asked := time.Now()
	code = p.sendSMSCode()
	sent := relay.count()
	if got := p.text("sms-send"); got != "Send a new code" {
		p.fail("after a code was sent the button says %q, want \"Send a new code\"", got)
	}

	clicked := time.Now()
	resp, hops := p.clickRecording("sms-send")
	if resp.Status != 429 {
		p.fail("status of a resend within the wait: %d, want 429", resp.Status)
	}
	if n := relay.count(); n != sent {
		p.fail("a resend within the wait sent %d SMS: %+v", n-sent, relay.messagesSince(sent))
	}
	var retryAfter []string
	for _, h := range hops {
		if h.Status == 429 {
			retryAfter = h.header("Retry-After")
		}
	}
	if len(retryAfter) != 1 {
		p.fail("the refused resend has Retry-After %q, want one", retryAfter)
	}
	if secs, err := strconv.Atoi(retryAfter[0]); err != nil || secs < 1 || secs > 60 {
		p.fail("the refused resend has Retry-After %q, want the rest of the minute's wait in seconds", retryAfter[0])
	}

	// The error says when to ask again: a minute after the first send, as a clock time
	// (UTC, to the second) the user can read, in whole sentences.
	msg := p.text("challenge-error")
	m := regexp.MustCompile(`([0-9]{2}:[0-9]{2}:[0-9]{2}) UTC\.$`).FindStringSubmatch(msg)
	if m == nil {
		p.fail("resend error %q does not say when to ask again", msg)
	}
	at, err := time.Parse("15:04:05", m[1])
	if err != nil {
		p.fail("resend error %q: %v", msg, err)
	}
	now := clicked.UTC()
	retry := time.Date(now.Year(), now.Month(), now.Day(), at.Hour(), at.Minute(), at.Second(), 0, time.UTC)
	if retry.Before(now.Add(-12 * time.Hour)) { // past midnight
		retry = retry.Add(24 * time.Hour)
	}
	if earliest, latest := asked.Add(time.Minute-time.Second), clicked.Add(time.Minute); retry.Before(earliest) || retry.After(latest) {
		p.fail("resend error %q: want a retry time a minute after the first send, between %s and %s",
			msg, earliest.UTC().Format(time.TimeOnly), latest.UTC().Format(time.TimeOnly))
	}
	// Not fatal: the rest of the journey is worth running either way.
	if !regexp.MustCompile(`^[A-Z][^.]*[.!] You can ask for a code again at `).MatchString(msg) {
		t.Errorf("resend error %q is not worded as sentences (want \"A code was sent moments ago. You can ask ...\")", msg)
	}
	p.screenshot("challenge-sms-resend-limited")

	// The code already sent still works: the page, still this challenge's, still asks
	// for it.
	if got := p.location().Path; !strings.HasPrefix(got, challengePath) {
		p.fail("after a refused resend the browser shows %s, want the challenge %s", got, challengePath)
	}
	if !p.has("sms-code") {
		p.fail("after a refused resend the challenge page no longer asks for the code sent")
	}
	p.fill("sms-code", code)
	resp = p.click("sms-submit")
	p.expectAt(resp, 200, "/instances/i-1001/delete")
	if n := relay.count(); n != sent {
		p.fail("the challenge sent %d SMS after the first, want none: %+v", n-sent, relay.messagesSince(sent))
	}
}
