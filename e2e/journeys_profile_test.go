package e2e

// Journeys with a user's own protection settings: turning login protection on (and
// binding first), turning operation protection off (after a step-up), a mandate the
// user cannot lower, and root's default of operation protection by SMS.

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBrowserTurnLoginProtectionOn: carol turns login protection on from the
// settings page; with nothing bound she binds first; after signing out, her next
// console login is held for the second factor.
func TestBrowserTurnLoginProtectionOn(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	if got := p.text("settings-login"); got != "off" {
		p.fail("carol's login protection starts %q, want off", got)
	}
	p.expectChallengePage(p.click("login-on"))
	app, _ := p.bindingPage()
	p.expectAt(p.bind(app), 200, "/.stepup/")
	if got := p.text("settings-login"); got != "on" {
		p.fail("login protection after turning it on and binding: %q", got)
	}
	p.open("/dashboard")
	p.signOut()

	resp, hops := p.submitLogin("carol")
	p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	p.expectLoginHeld()
	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	p.expectSignedIn(p.click("challenge-submit"), "carol")
}

// TestBrowserTurnOperationProtectionOff: carol, with an app bound, turns operation
// protection off; lowering it asks for a second factor first, then the change is
// saved, and a delete passes without a challenge.
func TestBrowserTurnOperationProtectionOff(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	app := p.bindFromSettings()
	// Binding left a fresh step-up token: forget it, as a later visit would have.
	p.open("/dashboard")
	p.signOut()
	p.signIn("carol")
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	p.expectChallengePage(p.click("operation-off"))
	if !strings.Contains(p.text("challenge-reason"), "two-factor settings") {
		p.fail("the challenge does not say what it confirms: %q", p.text("challenge-reason"))
	}
	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	p.expectAt(p.click("challenge-submit"), 200, "/.stepup/")
	p.expectAt(p.click("operation-off"), 200, "/.stepup/?saved=1")
	if got := p.text("settings-notice"); got != "Your settings are saved." {
		p.fail("notice after saving: %q", got)
	}
	if got := p.text("settings-operation"); got != "off" {
		p.fail("operation protection after turning it off: %q", got)
	}
	if !strings.HasPrefix(p.text("settings-changed"), "Last changed by carol") {
		p.fail("the settings page does not say who changed them: %q", p.text("settings-changed"))
	}
	p.open("/dashboard")
	p.signOut()
	p.signIn("carol")
	p.deleteWithoutChallenge("i-1002")
}

// TestBrowserMandateCannotBeLowered: the example requires login protection of bob;
// his settings page offers no way to turn it off, and the JSON API refuses it with a
// clear error.
func TestBrowserMandateCannotBeLowered(t *testing.T) {
	p := newPage(t)
	resp, _ := p.submitLogin("bob")
	p.expectChallengePage(resp)
	app, _ := p.bindingPage()
	p.expectSignedIn(p.bind(app), "bob")
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	if p.has("login-off") || !p.has("login-mandated") {
		p.fail("bob's mandated login protection can be turned off from the page")
	}
	p.allowPageScripts()
	res := p.fetch("POST", "/.stepup/api/settings", `{"login": {"on": false}}`)
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || res.Status != 403 || body.Error != "mandated" ||
		!strings.Contains(body.Description, "cannot be turned off") {
		p.fail("the API turning a mandate off: %d %s", res.Status, res.Body)
	}
	if got := p.fetch("GET", "/.stepup/api/settings", ""); !strings.Contains(got.Body, `"login":{"on":true`) {
		p.fail("bob's login protection after the refusal: %s", got.Body)
	}
}

// TestBrowserRootBindsAPhoneFirst: alice is root; her operation protection starts on
// with SMS first, so her first sensitive operation asks for a phone before offering
// the authenticator app.
func TestBrowserRootBindsAPhoneFirst(t *testing.T) {
	p := newPage(t)
	p.signIn("alice")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.expectPhoneBindingOffered()
	ok, err := p.evaluateBool(`(() => {
		const phone = document.getElementById("phone-form"), app = document.getElementById("bind-form");
		return !!phone && !!app && !!(phone.compareDocumentPosition(app) & Node.DOCUMENT_POSITION_FOLLOWING);
	})()`)
	if err != nil || !ok {
		p.fail("root's binding page should offer the phone before the app (%v)", err)
	}
	code := p.startPhoneBinding()
	p.fill("phone-code", code)
	p.expectAt(p.click("phone-confirm"), 200, "/instances/i-1001/delete")
}
