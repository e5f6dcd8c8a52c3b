package e2e

// Journeys of the gateway's sessions: signing out, and signing out everywhere, revoke
// sessions and step-up tokens on the server, not only in the browser.

import (
	"slices"
	"testing"
)

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
	code, err := app.Next(p.ctx)
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
	// gateway sends the delete to sign in instead of letting it through. The console
	// session beside them is the revoked session's browser's, so it goes too.
	p.setCookie(oldSession)
	p.setCookie(oldToken)
	resp = p.open("/instances/i-1003/delete")
	p.expectAt(resp, 200, "/login")
	resp = p.open("/instances")
	p.expectAt(resp, 200, "/login")
	p.signIn("alice")
	resp = p.open("/instances")
	p.expectAt(resp, 200, "/instances")
	if !p.has("instance-i-1003") || p.has("flash") {
		p.fail("i-1003 was deleted with revoked cookies")
	}
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

	// A browser that never passed a second factor for alice: her sign-in asks for one.
	resp, _ = second.submitLogin("alice")
	second.expectChallengePage(resp)
	code, err := app.Next(second.ctx)
	if err != nil {
		t.Fatal(err)
	}
	second.fill("code", code)
	second.expectSignedIn(second.click("challenge-submit"), "alice")
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
