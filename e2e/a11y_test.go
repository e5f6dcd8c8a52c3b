package e2e

// Accessibility of every gateway page, reached through the UI as the journeys do,
// checked at a desktop and a phone width (see a11y_helpers_test.go), with a picture
// of each in screenshots/. A finding fails the test with the page, the rule and the
// elements, and the journey goes on to the next page.

import (
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/internal/totptest"
	"github.com/caddy-stepup/stepup/locale"
)

// inEveryLanguage walks the pages in each language the gateway speaks, with a
// browser that asks for it: axe and the computed checks run on every page in both,
// and the pictures are taken in both.
func inEveryLanguage(t *testing.T, walk func(p *page)) {
	requireAxe(t)
	for _, l := range locale.All() {
		t.Run(l.Code(), func(t *testing.T) { walk(newPageIn(t, l)) })
	}
}

// a11yExpectError checks that the page shows an error (an element of class "error"
// or with role="alert"), after what.
func (p *page) a11yExpectError(what string) {
	p.t.Helper()
	if ok, err := p.evaluateBool(`!!document.querySelector(".error, [role=alert]")`); err != nil || !ok {
		p.fail("%s: want an error on the page (%v)", what, err)
	}
}

// a11yBindPhoneAndApp binds the journeys' phone on the binding page of a delete's
// challenge, then an authenticator app from the settings page (the phone's binding
// counts as a recent second factor), and returns the app. The browser is left on the
// settings page.
func (p *page) a11yBindPhoneAndApp() *totptest.App {
	p.t.Helper()
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	code := p.startPhoneBinding()
	p.fill("phone-code", code)
	p.expectAt(p.click("phone-confirm"), 200, "/instances/i-1001/delete")
	app := p.bindFromSettings()
	if !p.has("phone-status") || !p.has("phone-change") {
		p.fail("the settings page does not show the bound phone")
	}
	return app
}

// TestA11yBindingPages: carol's pages before she binds. Settings with nothing bound;
// the binding page of a challenge (QR code and phone form), with a refused number,
// and with the phone's code form.
func TestA11yBindingPages(t *testing.T) {
	inEveryLanguage(t, func(p *page) {
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

		// A national number is refused with an error on the page (whichever its id, and
		// whether or not the page redirects after the post).
		p.fill("phone-number", "07700 900123")
		p.click("phone-send")
		p.a11yExpectError("a national number")
		if p.has("phone-code") {
			p.fail("a national number: the binding page asks for a code although none was sent")
		}
		p.a11yAudit("bind-phone-error")

		p.startPhoneBinding()
		p.a11yAudit("bind-phone-code")
	})
}

// TestA11yChallengePages: carol binds a phone and an app; her settings page then, and
// in a later session the challenge page (the app's form and "Send a code"), after a
// wrong code, and with the SMS code form.
func TestA11yChallengePages(t *testing.T) {
	inEveryLanguage(t, func(p *page) {
		p.signIn("carol")
		app := p.a11yBindPhoneAndApp()
		p.a11yAudit("settings-app-and-phone")

		// A new session has no recent second factor: the next delete is challenged.
		p.open("/dashboard")
		p.signOut()
		p.signIn("carol")
		p.expectChallengePage(p.open("/instances/i-1002/delete"))
		p.expectFreshChallenge("carol")
		if !p.has("challenge-form") || !p.has("sms-send") || p.has("sms-code") {
			p.fail("the challenge should offer the app's code and a button to send one by SMS")
		}
		p.a11yAudit("challenge")

		// A wrong code: the challenge again, with an error (whichever its id, and whether
		// or not the page redirects after the post).
		p.fill("code", app.Wrong())
		p.click("challenge-submit")
		if got := p.location().Path; !strings.HasPrefix(got, "/.stepup/challenge/") {
			p.fail("after a wrong code the browser shows %s, want the challenge", got)
		}
		p.a11yExpectError("a wrong code")
		p.a11yAudit("challenge-wrong-code")

		p.sendSMSCode()
		p.a11yAudit("challenge-sms-code")

		// Too many wrong codes end the check; a new one for the same delete, and wrong
		// codes on it, lock the second factor.
		for range 4 {
			p.fill("code", app.Wrong())
			p.click("challenge-submit")
		}
		if !p.has("ended-restart") {
			p.fail("after five wrong codes the page does not offer a new check")
		}
		p.a11yAudit("challenge-ended")
		p.expectChallengePage(p.click("ended-restart"))
		p.a11yAudit("challenge-lock-warning")
		for range 5 {
			if !p.has("challenge-form") {
				break
			}
			p.fill("code", app.Wrong())
			p.click("challenge-submit")
		}
		p.expectChallengePage(p.open("/instances/i-1003/delete"))
		if !p.has("challenge-locked") {
			p.fail("after ten wrong codes the challenge does not say the second factor is locked")
		}
		p.a11yAudit("challenge-locked")
	})
}

// TestA11yLoginPages: bob's login is protected: the binding page at sign-in, his
// settings (login protection required of him), and, signed in again, the sign-in
// challenge.
func TestA11yLoginPages(t *testing.T) {
	inEveryLanguage(t, func(p *page) {
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

		p.open("/dashboard")
		p.signOut()
		resp, _ = p.submitLogin("bob")
		p.expectChallengePage(resp)
		p.expectLoginHeld()
		p.expectFreshChallenge("bob")
		if !p.has("challenge-form") {
			p.fail("bob has an app bound: expected the challenge form")
		}
		p.a11yAudit("login-challenge")
	})
}

// TestA11yAdministratorPages: bob is an administrator: the list of users, a user's
// page, and the refusal on root (a message page).
func TestA11yAdministratorPages(t *testing.T) {
	inEveryLanguage(t, func(p *page) {
		resp, _ := p.submitLogin("bob")
		p.expectChallengePage(resp)
		app, _ := p.bindingPage()
		p.expectSignedIn(p.bind(app), "bob")

		p.expectAt(p.click("nav-security"), 200, "/.stepup/")
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
	})
}

// TestA11yMessagePages: the message page of a challenge that does not exist (or has
// expired).
func TestA11yMessagePages(t *testing.T) {
	inEveryLanguage(t, func(p *page) {
		p.signIn("carol")
		resp := p.open("/.stepup/challenge/doesnotexist")
		if resp.Status < 400 || !p.has("message-title") {
			p.fail("an unknown challenge: status %d, want an error with the message page", resp.Status)
		}
		p.a11yAudit("message-unknown-challenge")
	})
}

// TestA11yRecoveryPages: carol's recovery codes, shown once and then gone; a
// challenge with "Lost your device?" open; her settings after using a code.
func TestA11yRecoveryPages(t *testing.T) {
	inEveryLanguage(t, func(p *page) {
		p.signIn("carol")
		p.bindFromSettings()
		p.click("recovery-create")
		codes := p.recoveryCodes()
		if len(codes) != 10 {
			p.fail("%d recovery codes shown", len(codes))
		}
		p.a11yAudit("recovery-codes")
		p.reload()
		p.a11yAudit("recovery-codes-gone")

		p.freshSignIn("carol")
		p.expectChallengePage(p.open("/instances/i-1001/delete"))
		p.useRecoveryCode("0000-0000-0000")
		p.a11yExpectError("a wrong recovery code")
		p.a11yAudit("challenge-recovery-code")
		p.useRecoveryCode(codes[0])
		p.expectAt(p.open("/.stepup/"), 200, "/.stepup/")
		p.a11yAudit("settings-after-recovery")
	})
}
