package e2e

// Journeys of account safety: the console's session ends with the gateway's, and a
// sign-in from a browser that never passed a second factor asks for one.

import "testing"

// TestBrowserConsoleSessionFollowsSignOutEverywhere: carol is signed in on two
// devices; "Sign out everywhere" on one sends the other, which still holds the
// console's session cookie, to the console's login page.
func TestBrowserConsoleSessionFollowsSignOutEverywhere(t *testing.T) {
	first := newPage(t)
	second := first.newDevice()
	first.signIn("carol")
	second.signIn("carol")

	second.expectAt(second.click("nav-security"), 200, "/.stepup/")
	second.expectAt(second.click("signout-all"), 200, "/login")

	if first.cookie(consoleSessionCookie) == nil {
		first.fail("the first device should still hold the console's session cookie")
	}
	first.expectAt(first.open("/dashboard"), 200, "/login")
	if !first.has("login-form") {
		first.fail("the first device should see the console's login page")
	}
	// Signing in again works.
	first.signIn("carol")
}

// TestBrowserAnomalousSignIn: carol binds an authenticator app in her browser; her
// next sign-in there passes without a second factor, while a fresh browser profile is
// asked for one, and says why.
func TestBrowserAnomalousSignIn(t *testing.T) {
	known := newPage(t)
	known.signIn("carol")
	app := known.bindFromSettings()
	known.open("/dashboard")
	known.signOut()
	known.signIn("carol") // the dashboard, without a challenge

	fresh := known.newDevice()
	resp, hops := fresh.submitLogin("carol")
	fresh.expectChallengePage(resp)
	fresh.expectHeldLogin(fresh.redirectHop(hops))
	fresh.expectLoginHeld()
	if got := fresh.text("challenge-reason"); got != "This sign-in comes from a browser or network not seen for your account lately." {
		fresh.fail("the challenge does not say why it asks: %q", got)
	}
	code, err := app.Next(fresh.ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh.fill("code", code)
	fresh.expectSignedIn(fresh.click("challenge-submit"), "carol")

	// That browser is known now.
	fresh.signOut()
	fresh.signIn("carol")
}
