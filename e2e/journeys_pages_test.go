package e2e

// Journeys of the rough edges found walking the gateway's pages as a new user: changing
// a phone, the SMS code form that must stay, what each wrong code says, a held action
// that survives too many wrong codes, codes typed with a space, Back and Reload, an
// expired link, what is being confirmed and Cancel, and times in the user's own zone.

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/caddy-stepup/stepup/internal/totptest"
)

// A second phone for the journeys that change it (Ofcom's drama range, like the first).
const (
	newPhoneTyped  = "+44 20 7946 0456"
	newPhoneE164   = "+442079460456"
	newPhoneMasked = "+44 ••• ••• 0456"
)

// reload reloads the page, as the browser's Reload button does.
func (p *page) reload() {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		p.fail("reloading: %v", err)
	}
}

// back goes one page back in the browser's history.
func (p *page) back() {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.NavigateBack()); err != nil {
		p.fail("going back: %v", err)
	}
}

// spaced writes a six-digit code as authenticator apps show it: "123 456".
func spaced(code string) string { return code[:3] + " " + code[3:] }

// bindPhoneFromSettings sets up the journeys' phone from the settings page for a user
// who has nothing bound, and returns to the settings page.
func (p *page) bindPhoneFromSettings() {
	p.t.Helper()
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	p.expectChallengePage(p.click("phone-bind"))
	code := p.startPhoneBinding()
	p.fill("phone-code", code)
	p.expectAt(p.click("phone-confirm"), 200, "/.stepup/?saved=phone")
	if got := p.text("phone-status"); !strings.HasPrefix(got, demoPhoneMasked) {
		p.fail("phone status after setting it up: %q", got)
	}
}

// freshSignIn signs out and in again, so no recent second factor is left.
func (p *page) freshSignIn(user string) {
	p.t.Helper()
	p.open("/dashboard")
	p.signOut()
	p.signIn(user)
}

// TestBrowserChangePhone: "Change phone" changes the phone: after confirming with the
// current phone, the user enters the new number, gets a code there, and the settings
// show the new number. No loop back to the old one.
func TestBrowserChangePhone(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	p.bindPhoneFromSettings()
	p.freshSignIn("carol")
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")

	// A recent second factor first, with the current phone.
	p.expectChallengePage(p.click("phone-change"))
	code := p.sendSMSCode()
	p.fill("sms-code", code)
	p.expectChallengePage(p.click("sms-submit"))

	// Then straight to the new number.
	if !p.has("phone-number") {
		p.fail("after confirming, the page does not ask for the new number")
	}
	before := p.s.outbox.count()
	p.fill("phone-number", newPhoneTyped)
	p.expectChallengePage(p.click("phone-send"))
	msgs := p.s.outbox.messagesSince(before)
	if len(msgs) != 1 || msgs[0].To != newPhoneE164 {
		p.fail("the code for the new phone went to %+v, want one message to %s", msgs, newPhoneE164)
	}
	newCode, _ := p.s.outbox.lastCode(newPhoneE164)
	p.fill("phone-code", newCode)
	p.expectAt(p.click("phone-confirm"), 200, "/.stepup/?saved=phone")
	if got := p.text("phone-status"); !strings.HasPrefix(got, newPhoneMasked) {
		p.fail("phone status after changing it: %q, want %s", got, newPhoneMasked)
	}
}

// TestBrowserSMSCodeFieldStays: once a code is sent, its field stays: after a reload,
// after a wrong code, and after asking for another code too soon.
func TestBrowserSMSCodeFieldStays(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	p.bindPhoneFromSettings()
	p.freshSignIn("carol")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	code := p.sendSMSCode()

	p.reload()
	if !p.has("sms-code") {
		p.fail("the SMS code field is gone after a reload")
	}
	p.fill("sms-code", otherCode(code))
	p.expectChallengePage(p.click("sms-submit"))
	if !p.has("sms-code") || !strings.Contains(p.text("challenge-error"), "not right") {
		p.fail("after a wrong SMS code the field is gone or no error is shown")
	}
	p.expectChallengePage(p.click("sms-send"))
	if got := p.text("challenge-error"); !strings.Contains(got, "new code") {
		p.fail("asking for a new code too soon says %q", got)
	}
	if !p.has("sms-code") {
		p.fail("after asking for a new code too soon the field is gone")
	}
	p.fill("sms-code", code)
	p.expectAt(p.click("sms-submit"), 200, "/instances/i-1001/delete")
}

// TestBrowserWrongCodeMessages: each wrong code says what it was and what is left
// ("1 attempt left", not "1 attempts left"); a reused code says so; after the last
// attempt the page says it was too many wrong codes and offers a new check for the
// same held payment, warning how close the lock is; the payment then goes through.
func TestBrowserWrongCodeMessages(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	app := p.bindFromSettings()
	p.freshSignIn("carol")
	// A right code, used once...
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	used, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", used)
	p.expectAt(p.click("challenge-submit"), 200, "/instances/i-1001/delete")
	// ...and again, for a payment held on a new check.
	p.freshSignIn("carol")
	p.expectAt(p.open("/billing"), 200, "/billing")
	challengePath := p.expectChallengePage(p.click("pay"))
	p.fill("code", used)
	p.click("challenge-submit")
	if got := p.text("challenge-error"); !strings.Contains(got, "already used") || !strings.Contains(got, "4 attempts left") {
		p.fail("a reused code says %q, want that it was already used, and 4 attempts left", got)
	}
	for _, want := range []string{"3 attempts left", "2 attempts left", "1 attempt left"} {
		p.fill("code", app.Wrong())
		p.click("challenge-submit")
		if got := p.text("challenge-error"); !strings.Contains(got, want) {
			p.fail("wrong code: %q, want %q", got, want)
		}
	}
	p.fill("code", app.Wrong())
	p.click("challenge-submit")
	if got := p.text("ended-reason"); !strings.Contains(got, "too many wrong codes") {
		p.fail("after the last attempt the page says %q", got)
	}
	p.expectChallengePage(p.click("ended-restart"))
	if p.location().Path == challengePath {
		p.fail("the new check has the ended one's address")
	}
	if got := p.text("challenge-warning"); !strings.Contains(got, "5 more wrong codes") || !strings.Contains(got, "lock") {
		p.fail("the new check does not warn of the lock: %q", got)
	}
	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	p.expectAt(p.click("challenge-submit"), 200, "/billing?paid=1")
}

// TestBrowserLockedBeforeTyping: a locked user sees the lock, with when it ends in
// their own words and what to do, before typing a code.
func TestBrowserLockedBeforeTyping(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	app := p.bindFromSettings()
	p.freshSignIn("carol")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	for range 5 {
		p.fill("code", app.Wrong())
		p.click("challenge-submit")
	}
	p.expectChallengePage(p.click("ended-restart"))
	for range 5 {
		if !p.has("challenge-form") {
			break
		}
		p.fill("code", app.Wrong())
		p.click("challenge-submit")
	}
	p.expectChallengePage(p.open("/instances/i-1002/delete"))
	if p.has("challenge-form") {
		p.fail("a locked user is asked for a code")
	}
	got := p.text("challenge-locked")
	if !strings.Contains(got, "locked") || !strings.Contains(got, "minutes") || !strings.Contains(got, "administrator") {
		p.fail("the lock message %q does not say for how long and what to do", got)
	}
}

// TestBrowserCodesWithSpaces: codes typed as apps show them ("123 456") pass, on the
// binding page and on a challenge; the binding page opens the app on a phone and shows
// the key in groups.
func TestBrowserCodesWithSpaces(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	p.expectChallengePage(p.click("bind-start"))
	if href := p.attr("bind-otpauth", "href"); !strings.HasPrefix(href, "otpauth://totp/") {
		p.fail("no link that opens the authenticator app: %q", href)
	}
	key := p.text("bind-secret")
	if !regexp.MustCompile(`^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$`).MatchString(key) {
		p.fail("the key is not shown in groups of four: %q", key)
	}
	app, err := totptest.FromBase32(strings.ReplaceAll(key, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	code1, code2 := app.BindingCodes()
	p.fill("code1", spaced(code1))
	p.fill("code2", spaced(code2))
	p.expectAt(p.click("bind-submit"), 200, "/.stepup/?saved=totp")

	p.freshSignIn("carol")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", spaced(code))
	p.expectAt(p.click("challenge-submit"), 200, "/instances/i-1001/delete")
}

// TestBrowserBackAndReload: the gateway's own forms answer with a redirect, so a
// reload never sends a code again; Back after a confirmed code says it was confirmed
// and where to go on.
func TestBrowserBackAndReload(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	app := p.bindFromSettings()
	p.freshSignIn("carol")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.fill("code", app.Wrong())
	resp, hops := p.clickRecording("challenge-submit")
	if len(hops) == 0 || hops[0].Status != 303 {
		p.fail("a wrong code is answered with %+v, want a redirect (post/redirect/get)", hops)
	}
	p.expectChallengePage(resp)
	if !strings.Contains(p.text("challenge-error"), "4 attempts left") {
		p.fail("after a wrong code: %q", p.text("challenge-error"))
	}
	p.reload()
	if p.has("challenge-error") {
		p.fail("a reload shows the wrong code's error again")
	}
	p.fill("code", app.Wrong())
	p.click("challenge-submit")
	if got := p.text("challenge-error"); !strings.Contains(got, "3 attempts left") {
		p.fail("the reload sent the code again: %q", got)
	}

	code, err := app.Next(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.fill("code", code)
	p.expectAt(p.click("challenge-submit"), 200, "/instances/i-1001/delete")
	p.back()
	if got := p.text("ended-reason"); !strings.Contains(got, "already confirmed") {
		p.fail("Back after a confirmed code says %q", got)
	}
	if href := p.attr("ended-continue", "href"); href != "/instances/i-1001/delete" {
		p.fail("Back after a confirmed code offers %q to go on", href)
	}
}

// TestBrowserExpiredLinkGoesBack: a challenge that expired says so and leads back to
// the page the user was on, not to the dashboard.
func TestBrowserExpiredLinkGoesBack(t *testing.T) {
	t.Setenv("STEPUP_DEMO_CHALLENGE_LIFETIME", "3s")
	p := newPage(t)
	p.signIn("carol")
	p.expectAt(p.open("/instances"), 200, "/instances")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	time.Sleep(4 * time.Second) // the challenge's own lifetime, set above
	p.reload()
	if got := p.text("ended-reason"); !strings.Contains(got, "expired") {
		p.fail("an expired check says %q", got)
	}
	if href := p.attr("ended-continue", "href"); href != "/instances/i-1001/delete" {
		p.fail("an expired check leads to %q, want back to the page", href)
	}
}

// TestBrowserWhatIsConfirmedAndCancel: the challenge page says what it confirms (the
// rule, the operator's description, and the held request's method and path, from the
// request itself), and Cancel goes back where the user came from.
func TestBrowserWhatIsConfirmedAndCancel(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	p.bindFromSettings()
	p.freshSignIn("carol")
	p.expectAt(p.open("/billing"), 200, "/billing")
	p.expectChallengePage(p.click("pay"))
	if got := p.text("challenge-rule"); got != "payments" {
		p.fail("the challenge names the rule %q", got)
	}
	if got := p.text("challenge-description"); got == "" {
		p.fail("no description of the rule")
	}
	if got := p.text("challenge-request"); got != "POST /billing/pay" {
		p.fail("the held request is shown as %q", got)
	}
	p.expectAt(p.click("challenge-cancel"), 200, "/billing")
}

// TestBrowserTimesInTheUsersZone: times show as "in N minutes" and as a clock time in
// the browser's own time zone, with the exact UTC time at hand.
func TestBrowserTimesInTheUsersZone(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	ctx, cancel := p.step()
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	p.bindPhoneFromSettings()
	p.freshSignIn("carol")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.sendSMSCode()
	at := p.attr("sms-expires", "datetime")
	when, err := time.Parse(time.RFC3339, at)
	if err != nil {
		p.fail("the expiry has no machine-readable time: %q", at)
	}
	tokyo := time.FixedZone("JST", 9*3600)
	got := p.text("sms-expires")
	if want := when.In(tokyo).Format("15:04"); !strings.Contains(got, want) || !strings.Contains(got, "in 5 minutes") {
		p.fail("the expiry reads %q, want %q in the browser's zone and %q", got, want, "in 5 minutes")
	}
	if title := p.attr("sms-expires", "title"); !strings.Contains(title, "UTC") {
		p.fail("the exact UTC time is not at hand: title %q", title)
	}
}

// TestBrowserWording: the pages use the words people use ("set up", "confirm"), not
// the gateway's ("bind", "operation protection", "verify").
func TestBrowserWording(t *testing.T) {
	p := newPage(t)
	p.signIn("carol")
	check := func(where string) {
		p.t.Helper()
		body, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		for _, word := range []string{"bind", "Bind", "unbind", "operation protection", "Operation protection", "Verify"} {
			if strings.Contains(body, word) {
				p.fail("%s says %q", where, word)
			}
		}
	}
	p.expectAt(p.click("nav-security"), 200, "/.stepup/")
	check("the settings page")
	p.expectChallengePage(p.click("bind-start"))
	check("the set-up page")
	p.open("/.stepup/")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	check("a challenge for someone with nothing set up")
}
