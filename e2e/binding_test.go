package e2e

// Binding an authenticator app: the binding page (its secret, as text and as a QR
// code), entering two consecutive codes, and binding from the settings page.

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"

	"github.com/caddy-stepup/stepup/internal/totptest"
)

// bindingPage checks the binding page the browser shows and returns the app that
// scanned it and the QR code's data: URL. The secret must be on the page, as an inline
// QR image and as text, and never in the URL.
func (p *page) bindingPage() (*totptest.App, string) {
	p.t.Helper()
	// A challenge's binding page offers every enabled method (the example enables a
	// phone too); binding from the settings page offers just the app.
	want := p.words("bind.totp.title")
	if p.has("phone-form") {
		want = p.words("bind.title")
	}
	if got := p.text("bind-title"); got != want {
		p.fail("binding page title %q, want %q", got, want)
	}
	src := p.attr("bind-qr", "src")
	if !strings.HasPrefix(src, "data:image/png;base64,") {
		p.fail("QR code src is not an inline PNG: %.60q", src)
	}
	secret := strings.ReplaceAll(p.text("bind-secret"), " ", "")
	if secret == "" {
		p.fail("no secret on the binding page")
	}
	if loc := p.location().String(); strings.Contains(strings.ToUpper(loc), secret) {
		p.fail("the binding page URL %s contains the secret", loc)
	}
	app, err := totptest.FromBase32(secret)
	if err != nil {
		p.fail("the binding page's secret is not a key an authenticator app takes: %v", err)
	}
	return app, src
}

// bind enters two consecutive codes on the binding page and submits it.
func (p *page) bind(a *totptest.App) *network.Response {
	p.t.Helper()
	code1, code2 := a.BindingCodes()
	p.fill("code1", code1)
	p.fill("code2", code2)
	return p.click("bind-submit")
}

// bindRecording is bind, also returning the responses of the navigation it starts
// (see clickRecording).
func (p *page) bindRecording(a *totptest.App) (*network.Response, []hop) {
	p.t.Helper()
	code1, code2 := a.BindingCodes()
	p.fill("code1", code1)
	p.fill("code2", code2)
	return p.clickRecording("bind-submit")
}

// bindFromSettings binds an authenticator app from the gateway's security settings
// page, as a signed-in user who has none, and returns the app.
func (p *page) bindFromSettings() *totptest.App {
	p.t.Helper()
	resp := p.click("nav-security")
	p.expectAt(resp, 200, "/.stepup/")
	if got := p.text("settings-title"); got != p.words("settings.title") {
		p.fail("settings title %q", got)
	}
	if got := p.text("totp-status"); got != p.words("settings.notSetUp") {
		p.fail("authenticator status before binding: %q", got)
	}
	p.expectChallengePage(p.click("bind-start"))
	a, _ := p.bindingPage()
	p.screenshot("bind")
	resp = p.bind(a)
	p.expectAt(resp, 200, "/.stepup/?saved=totp")
	if got, want := p.text("totp-status"), strings.Split(p.words("settings.totp.setUpOn", "When", ""), "。")[0]; !strings.HasPrefix(got, strings.TrimSuffix(want, ".")) {
		p.fail("authenticator status after binding: %q, want it to start with %q", got, want)
	}
	if !p.has("unbind-form") || p.has("bind-start") {
		p.fail("settings should offer unbinding, not binding, once bound")
	}
	return a
}

// decodeQR reads the QR code of a data: URL holding a PNG, as an authenticator app's
// camera would, and returns the text it holds.
func decodeQR(t *testing.T, dataURL string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dataURL, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("QR code data URL is not base64: %v", err)
	}
	text, err := totptest.ScanQR(b)
	if err != nil {
		t.Fatalf("the binding page's QR code: %v", err)
	}
	return text
}
