package e2e

// An administrator at work: bob turns carol's login protection on, resets her lost
// authenticator, and is refused on root; carol's settings page lists what he did.

import (
	"strings"
	"testing"
)

func TestBrowserAdministrator(t *testing.T) {
	bob := newPage(t)
	// bob's login is required to pass a second factor: he binds at the door, and his
	// login counts as a recent second factor for administrator actions.
	resp, _ := bob.submitLogin("bob")
	bob.expectChallengePage(resp)
	app, _ := bob.bindingPage()
	bob.expectSignedIn(bob.bind(app), "bob")
	bob.expectAt(bob.click("nav-security"), 200, "/.stepup/")
	bob.expectAt(bob.click("admin-link"), 200, "/.stepup/admin/")

	// Login protection for carol, who has never signed in: set up by name.
	bob.expectAt(bob.open("/.stepup/admin/users/carol"), 200, "/.stepup/admin/users/carol")
	bob.expectAt(bob.click("admin-login-on"), 200, "/.stepup/admin/users/carol?done=protection")
	if got := bob.text("admin-login"); got != "on" {
		bob.fail("carol's login protection after bob turned it on: %q", got)
	}

	// carol's next login binds, and lands signed in.
	carol := bob.newDevice()
	resp, _ = carol.submitLogin("carol")
	carol.expectChallengePage(resp)
	carolApp, _ := carol.bindingPage()
	carol.expectSignedIn(carol.bind(carolApp), "carol")

	// carol lost her phone: bob resets the authenticator; her next challenge binds.
	bob.open("/.stepup/admin/users/carol")
	bob.expectAt(bob.click("admin-reset-totp"), 200, "/.stepup/admin/users/carol?done=reset")
	if got := bob.text("admin-totp"); !strings.Contains(got, "not set up") {
		bob.fail("carol's authenticator after the reset: %q", got)
	}
	// The reset ended carol's gateway sessions (the lost device may be in other hands):
	// she signs in again, and her login, protected, binds the new device.
	resp = carol.open("/instances/i-1001/delete")
	carol.expectAt(resp, 200, "/login")
	resp, _ = carol.submitLogin("carol")
	carol.expectChallengePage(resp)
	if !carol.has("bind-qr") || carol.has("challenge-form") {
		carol.fail("after the reset carol's next challenge should bind")
	}
	carolApp, _ = carol.bindingPage()
	carol.expectSignedIn(carol.bind(carolApp), "carol")

	// bob on root: refused.
	resp = bob.open("/.stepup/admin/users/alice")
	if resp.Status != 403 || !strings.Contains(bob.text("message-text"), "root") {
		bob.fail("bob on alice: %d %q", resp.Status, bob.text("message-text"))
	}

	// carol's settings page lists both of bob's actions.
	carol.expectAt(carol.open("/.stepup/"), 200, "/.stepup/")
	events := carol.text("events")
	for _, want := range []string{"Code at sign-in turned on", "Authenticator app reset", "bob"} {
		if !strings.Contains(events, want) {
			carol.fail("carol's recent activity lacks %q: %q", want, events)
		}
	}
}
