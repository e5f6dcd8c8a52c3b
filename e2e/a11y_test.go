package e2e

// Accessibility of every gateway page, reached through the UI as the journeys do,
// checked at a desktop and a phone width (see a11y_helpers_test.go), with a picture
// of each in screenshots/. A finding fails the test with the page, the rule and the
// elements, and the journey goes on to the next page.

import (
	"testing"
)

// TestA11yOperationPages: carol's pages around operations. Settings with nothing
// bound; the binding page of a challenge (QR code and phone form), with a refused
// number, and with the phone's code form; settings with an app and a phone bound;
// then, in a later session, the challenge page (app form and "Send a code"), after a
// wrong code, and with the SMS code form.
func TestA11yOperationPages(t *testing.T) {
	requireAxe(t)
	p := newPage(t)
	p.signIn("carol")
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	if !p.has("bind-start") || p.has("unbind-form") {
		p.fail("carol's settings should offer to bind an authenticator app")
	}
	p.a11yAudit("settings-nothing-bound")

	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.bindingPage()
	p.expectPhoneBindingOffered()
	p.a11yAudit("bind-app-or-phone")

	p.fill("phone-number", "07700 900123")
	if resp := p.click("phone-send"); resp.Status != 400 || !p.has("bind-error") {
		p.fail("a national number: status %d, want 400 with an error", resp.Status)
	}
	p.a11yAudit("bind-phone-error")

	code := p.startPhoneBinding()
	p.a11yAudit("bind-phone-code")
	p.fill("phone-code", code)
	p.expectAt(p.click("phone-confirm"), 200, "/instances/i-1001/delete")

	// The phone's binding counts as a recent second factor: the app binds from the
	// settings page without another challenge.
	app := p.bindFromSettings()
	if !p.has("phone-status") || !p.has("phone-change") {
		p.fail("the settings page does not show the bound phone")
	}
	p.a11yAudit("settings-app-and-phone")

	// A new session has no recent second factor: the next delete is challenged.
	p.open("/dashboard")
	p.signOut()
	p.signIn("carol")
	challengePath := p.expectChallengePage(p.open("/instances/i-1002/delete"))
	p.expectFreshChallenge("carol")
	if !p.has("challenge-form") || !p.has("sms-send") || p.has("sms-code") {
		p.fail("the challenge should offer the app's code and a button to send one by SMS")
	}
	p.a11yAudit("challenge")

	p.enterWrongCode(app, challengePath)
	p.a11yAudit("challenge-wrong-code")

	p.sendSMSCode()
	p.a11yAudit("challenge-sms-code")
}

// TestA11yLoginAndAdministratorPages: bob's pages. His login is protected: the
// binding page at sign-in; his settings (login protection required of him); the
// administrator's list of users and a user's page; a refusal (bob on root); and,
// signed in again, the sign-in challenge.
func TestA11yLoginAndAdministratorPages(t *testing.T) {
	requireAxe(t)
	p := newPage(t)
	resp, _ := p.submitLogin("bob")
	p.expectChallengePage(resp)
	app, _ := p.bindingPage()
	p.expectLoginHeld()
	p.a11yAudit("login-bind")
	p.expectSignedIn(p.bind(app), "bob")

	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	if !p.has("login-mandated") {
		p.fail("bob's settings do not say his login protection is required")
	}
	p.a11yAudit("settings-login-required")

	p.expectAt(p.click("admin-link"), 200, "/.stepup/admin/")
	if !p.has("admin-users") {
		p.fail("the administrator's list shows no user")
	}
	p.a11yAudit("admin-users")

	p.expectAt(p.open("/.stepup/admin/users/carol"), 200, "/.stepup/admin/users/carol")
	p.a11yAudit("admin-user")

	if resp := p.open("/.stepup/admin/users/alice"); resp.Status != 403 || !p.has("message-text") {
		p.fail("bob on root: status %d, want 403 with a message", resp.Status)
	}
	p.a11yAudit("message-forbidden")

	p.open("/dashboard")
	p.signOut()
	resp, _ = p.submitLogin("bob")
	p.expectChallengePage(resp)
	if got := p.text("challenge-title"); got != "Confirm your sign-in" {
		p.fail("sign-in challenge title %q", got)
	}
	p.expectFreshChallenge("bob")
	p.a11yAudit("login-challenge")
}

// TestA11yMessagePages: the message page of a challenge that does not exist (or has
// expired).
func TestA11yMessagePages(t *testing.T) {
	requireAxe(t)
	p := newPage(t)
	p.signIn("carol")
	resp := p.open("/.stepup/challenge/doesnotexist")
	if resp.Status < 400 || !p.has("message-title") {
		p.fail("an unknown challenge: status %d, want an error with the message page", resp.Status)
	}
	p.a11yAudit("message-unknown-challenge")
}
