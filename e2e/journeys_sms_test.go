package e2e

// Journeys with codes by SMS: binding a phone, operation and login challenges
// answered with a code by SMS, and the resend limit.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserOperationChallengeWithSMS: a user with nothing bound opens a protected
// page; the binding page offers a phone besides the authenticator app. A national
// number is refused with a hint at the international format; the international one
// gets a code by SMS, which binds the phone and passes the challenge. In a later
// session the challenge offers a code by SMS, sent only when the user asks for it; a
// wrong code is refused and the right one lets the operation through.
//
// carol, not bob: bob's login is protected, so his operations would not be
// challenged after he signs in.
func TestBrowserOperationChallengeWithSMS(t *testing.T) {
	p := newPage(t)
	outbox := p.s.outbox
	p.signIn("carol")

	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	if outbox.count() != 0 {
		p.fail("the binding page sent an SMS on page load: %+v", outbox.messagesSince(0))
	}
	p.bindingPage() // the authenticator app is offered, as before
	p.expectPhoneBindingOffered()
	p.screenshot("bind-with-phone")

	// A national number: the country is not known, so no code goes out, and the page
	// says how to enter it.
	p.fill("phone-number", "07700 900123")
	resp := p.click("phone-send")
	if resp.Status != 200 {
		p.fail("status after a national number: %d, want the set-up page again", resp.Status)
	}
	if got := p.text("challenge-error"); !strings.Contains(got, "international format") || !strings.Contains(got, "+44 20 7946 0123") {
		p.fail("binding error %q does not explain the international format", got)
	}
	if p.has("phone-code") {
		p.fail("the binding page asks for a code although none was sent")
	}
	if outbox.count() != 0 {
		p.fail("an SMS went out for a refused number: %+v", outbox.messagesSince(0))
	}
	p.screenshot("bind-phone-national-number")

	// The international number: a code comes by SMS; entering it binds the phone and
	// passes the challenge, back to the confirmation page.
	code := p.startPhoneBinding()
	p.screenshot("bind-phone-code")
	p.fill("phone-code", code)
	resp = p.click("phone-confirm")
	p.expectAt(resp, 200, "/instances/i-1001/delete")
	if got := p.text("confirm-title"); got != "Delete instance i-1001?" {
		p.fail("confirmation title %q", got)
	}

	// A new session has no recent second factor: the next delete is challenged, and
	// the challenge offers the bound phone, without texting it on page load (each
	// message costs money and counts against the send limits).
	p.signOut()
	p.signIn("carol")
	sent := outbox.count()
	challengePath := p.expectChallengePage(p.open("/instances/i-1002/delete"))
	p.expectSMSChallenge()
	if got := p.text("challenge-reason"); !strings.Contains(got, "instance changes") {
		p.fail("challenge reason %q does not name the rule", got)
	}
	if got := p.text("challenge-user"); got != "carol" {
		p.fail("challenge is for %q", got)
	}
	if n := outbox.count(); n != sent {
		p.fail("the challenge page sent %d SMS on page load: %+v", n-sent, outbox.messagesSince(sent))
	}
	p.screenshot("challenge-sms")

	code = p.sendSMSCode()
	p.screenshot("challenge-sms-sent")

	// A wrong code: the same challenge again, saying so, with the code form kept.
	p.fill("sms-code", otherCode(code))
	resp = p.click("sms-submit")
	if got := p.location().Path; got != challengePath {
		p.fail("after a wrong code the browser shows %s, want the challenge %s", got, challengePath)
	}
	if resp.Status != 200 {
		p.fail("status after a wrong code: %d, want the challenge page again", resp.Status)
	}
	if got := p.text("challenge-error"); !strings.Contains(got, "not right") {
		p.fail("challenge error %q does not say the code is not right", got)
	}
	if !p.has("sms-code") {
		p.fail("after a wrong code the challenge page no longer asks for the SMS code")
	}

	// The right code, still valid after the wrong guess: the delete goes through.
	p.fill("sms-code", code)
	resp = p.click("sms-submit")
	p.expectAt(resp, 200, "/instances/i-1002/delete")
	resp = p.click("delete-i-1002")
	p.expectAt(resp, 200, "/instances?deleted=i-1002")
	if got := p.text("flash"); got != "Instance i-1002 deleted" {
		p.fail("flash %q", got)
	}
	if n := outbox.count(); n != sent+1 {
		p.fail("the challenge sent %d SMS, want 1: %+v", n-sent, outbox.messagesSince(sent))
	}
}

// TestBrowserLoginWithSMS: bob (login protection) binds a phone when he first signs
// in, which releases his login; the next time he signs in, the held login asks for a
// code by SMS, and nothing of the login reaches the browser before he enters it.
func TestBrowserLoginWithSMS(t *testing.T) {
	p := newPage(t)
	outbox := p.s.outbox
	resp, hops := p.submitLogin("bob")
	p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	p.bindingPage()
	p.expectPhoneBindingOffered()
	p.expectLoginHeld()

	code := p.startPhoneBinding()
	p.expectLoginHeld()
	p.fill("phone-code", code)
	resp, hops = p.clickRecording("phone-confirm")
	p.expectSignedIn(resp, "bob")
	p.expectReleasedLogin(p.redirectHop(hops))
	p.expectSignedInCookies()
	p.signOut()

	sent := outbox.count()
	resp, hops = p.submitLogin("bob")
	challengePath := p.expectChallengePage(resp)
	p.expectHeldLogin(p.redirectHop(hops))
	if got := p.text("challenge-title"); got != "Confirm your sign-in" {
		p.fail("sign-in challenge title %q", got)
	}
	if got := p.text("challenge-user"); got != "bob" {
		p.fail("challenge is for %q", got)
	}
	p.expectSMSChallenge()
	if n := outbox.count(); n != sent {
		p.fail("the sign-in challenge sent %d SMS on page load: %+v", n-sent, outbox.messagesSince(sent))
	}
	p.expectLoginHeld()
	p.screenshot("login-challenge-sms")

	code = p.sendSMSCode()
	if !strings.HasPrefix(p.location().Path, challengePath) {
		p.fail("sending the code left the challenge %s for %s", challengePath, p.location().Path)
	}
	p.expectLoginHeld()

	p.fill("sms-code", code)
	resp, hops = p.clickRecording("sms-submit")
	p.expectSignedIn(resp, "bob")
	p.expectReleasedLogin(p.redirectHop(hops))
	p.expectSignedInCookies()
	if n := outbox.count(); n != sent+1 {
		p.fail("the sign-in sent %d SMS, want 1: %+v", n-sent, outbox.messagesSince(sent))
	}
}

// TestBrowserSMSResendLimit: asking for a second code within the resend wait (a
// minute) sends nothing and says when to ask again; the code already sent still
// works.
func TestBrowserSMSResendLimit(t *testing.T) {
	p := newPage(t)
	outbox := p.s.outbox
	p.signIn("alice")
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	code := p.startPhoneBinding()
	p.fill("phone-code", code)
	p.expectAt(p.click("phone-confirm"), 200, "/instances/i-1001/delete")
	p.signOut()
	p.signIn("alice")

	challengePath := p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.expectSMSChallenge()
	asked := time.Now()
	code = p.sendSMSCode()
	sent := outbox.count()
	if got := p.text("sms-send"); got != "Send a new code" {
		p.fail("after a code was sent the button says %q, want \"Send a new code\"", got)
	}

	clicked := time.Now()
	resp, hops := p.clickRecording("sms-send")
	if len(hops) == 0 || hops[0].Status != 303 || resp.Status != 200 {
		p.fail("a resend within the wait is answered with %+v, want a redirect back to the page (post/redirect/get)", hops)
	}
	if n := outbox.count(); n != sent {
		p.fail("a resend within the wait sent %d SMS: %+v", n-sent, outbox.messagesSince(sent))
	}

	// The error says when to ask again, in whole sentences: in how many seconds.
	msg := p.text("challenge-error")
	m := regexp.MustCompile(`^[A-Z][^.]*\. You can ask for a new code in ([0-9]+) seconds?\.$`).FindStringSubmatch(msg)
	if m == nil {
		p.fail("resend error %q does not say, in sentences, when to ask again", msg)
	}
	if secs, _ := strconv.Atoi(m[1]); secs < 1 || secs > 60 {
		p.fail("resend error %q: want the rest of the minute's wait", msg)
	}
	// The page says it too, as a time a minute after the first send.
	at, err := time.Parse(time.RFC3339, p.attr("sms-resend-at", "datetime"))
	if err != nil {
		p.fail("no machine-readable resend time: %v", err)
	}
	if earliest, latest := asked.Add(time.Minute-time.Second), clicked.Add(time.Minute); at.Before(earliest) || at.After(latest) {
		p.fail("resend time %s: want a minute after the first send, between %s and %s",
			at.UTC().Format(time.TimeOnly), earliest.UTC().Format(time.TimeOnly), latest.UTC().Format(time.TimeOnly))
	}
	p.screenshot("challenge-sms-resend-limited")

	// The code already sent still works: the page, still this challenge's, still asks
	// for it.
	if got := p.location().Path; !strings.HasPrefix(got, challengePath) {
		p.fail("after a refused resend the browser shows %s, want the challenge %s", got, challengePath)
	}
	if !p.has("sms-code") {
		p.fail("after a refused resend the challenge page no longer asks for the code sent")
	}
	p.fill("sms-code", code)
	resp = p.click("sms-submit")
	p.expectAt(resp, 200, "/instances/i-1001/delete")
	if n := outbox.count(); n != sent {
		p.fail("the challenge sent %d SMS after the first, want none: %+v", n-sent, outbox.messagesSince(sent))
	}
}
