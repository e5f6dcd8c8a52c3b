package e2e

// Journeys of login protection: the gateway holds the console's answer to a
// successful login until the second factor passes.

import (
	"strings"
	"testing"
)

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
	if got := p.text("totp-status"); !strings.HasPrefix(got, "Set up on ") {
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
	code, err := app.Next(p.ctx)
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
