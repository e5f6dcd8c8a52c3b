package e2e

// Recovery codes: made on the settings page after a fresh code from the app, shown
// once; on a lost phone one passes a challenge once and not twice, and the user then
// sets up a new authenticator app, whose codes pass and the old app's do not.

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserRecoveryCodeThenNewApp(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	old := p.bindFromSettings()

	// Make the codes: setting up the app was a fresh second factor, so no check first
	// (the gateway's tests cover the check that comes when there is none).
	resp := p.click("recovery-create")
	if !strings.HasPrefix(p.location().Path, "/.stepup/recovery/") || resp.Status != 200 {
		p.fail("after making codes the browser shows %s (%d)", p.location(), resp.Status)
	}
	codes := p.recoveryCodes()
	if len(codes) != 10 {
		p.fail("%d recovery codes shown, want 10: %v", len(codes), codes)
	}
	p.reload()
	if !p.has("recovery-gone") || p.has("recovery-codes") {
		p.fail("the recovery codes show again after a reload")
	}

	// The phone is lost: a new sign-in, and a delete's challenge takes a code.
	p.freshSignIn("carol")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.useRecoveryCode(codes[0])
	if got := p.location().Path; got != "/instances/i-1001/delete" {
		p.fail("a recovery code did not pass the challenge: the browser shows %s", got)
	}

	// Not twice: another sign-in, the same code is refused and says so.
	p.freshSignIn("carol")
	path := p.expectChallengePage(p.open("/instances/i-1002/delete"))
	p.useRecoveryCode(codes[0])
	if got := p.location().Path; got != path {
		p.fail("a used recovery code passed: the browser shows %s", got)
	}
	if got, want := p.text("challenge-error"), p.words("error.recoveryUsed"); !strings.HasPrefix(got, want) {
		p.fail("a used code's error %q, want it to start %q", got, want)
	}

	// A second code passes; the settings page says to set up the new device, and it
	// is done with no further check.
	p.useRecoveryCode(codes[1])
	p.expectAt(p.open("/.stepup/"), 200, "/.stepup/")
	if !p.has("settings-recovery-warning") {
		p.fail("after a recovery code the settings page does not say to set up the new device")
	}
	if got := p.text("recovery-status"); !strings.HasPrefix(got, "8 codes left") {
		p.fail("recovery status %q, want 8 left", got)
	}
	p.expectChallengePage(p.click("totp-replace"))
	fresh, _ := p.bindingPage()
	p.expectAt(p.bind(fresh), 200, "/.stepup/?saved=totp")

	// The new app passes a challenge; the old one's codes no longer do.
	p.freshSignIn("carol")
	challengePath := p.expectChallengePage(p.open("/instances/i-1003/delete"))
	p.enterWrongCode(old, challengePath)
	code, err := fresh.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	p.expectAt(p.click("challenge-submit"), 200, "/instances/i-1003/delete")
}

// recoveryCodes reads the codes the page shows once.
func (p *page) recoveryCodes() []string {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes code")].map(c => c.textContent)`))
	if err != nil {
		p.fail("reading the recovery codes: %v", err)
	}
	return codes
}

// useRecoveryCode opens "Lost your device?" on a challenge page and types code.
func (p *page) useRecoveryCode(code string) {
	p.t.Helper()
	if !p.has("recovery") {
		p.fail("the challenge page offers no recovery code")
	}
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("recovery").open = true`)); err != nil {
		p.fail("opening the recovery code form: %v", err)
	}
	p.fill("recovery-code", code)
	p.click("recovery-submit")
}
