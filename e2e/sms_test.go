package e2e

// SMS: the messages the gateway sends, read from the outbox of the example's
// development provider (sms log), and the phone's pages: binding a phone, and
// challenges answered with a code by SMS.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/sms"
)

// outbox is the test's view of the text messages the gateway sends. The example's
// SMS provider is "sms log", which appends every message to an outbox file, here one
// in the test's temporary directory (STEPUP_DEMO_OUTBOX): the gateway writes it
// before it answers the browser, so a page that says a code went out comes after its
// message. Reading it goes through sms.ReadOutbox, the demo console's own reader.
type outbox struct {
	t    *testing.T
	path string
}

// messages returns every message the gateway sent, oldest first. It fails the test on
// a line of the outbox that is not a message, or a message that is not what the gateway
// sends: an E.164 number, a text, the time it was written.
func (o *outbox) messages() []sms.OutboxMessage {
	o.t.Helper()
	msgs, err := sms.ReadOutbox(o.path, 0)
	if err != nil {
		o.t.Fatalf("reading the SMS outbox: %v", err)
	}
	slices.Reverse(msgs) // ReadOutbox gives the latest first
	raw, err := os.ReadFile(o.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		o.t.Fatalf("reading the SMS outbox: %v", err)
	}
	if lines := bytes.Count(raw, []byte("\n")); lines != len(msgs) {
		o.t.Fatalf("the SMS outbox has %d lines but %d messages:\n%s", lines, len(msgs), raw)
	}
	for _, m := range msgs {
		if !e164.MatchString(m.To) || strings.TrimSpace(m.Message) == "" || m.Time.IsZero() || m.Time.After(time.Now()) {
			o.t.Fatalf("SMS outbox message %+v: want an E.164 number, a text and the time it was sent", m)
		}
	}
	return msgs
}

// count returns how many messages the gateway has sent.
func (o *outbox) count() int {
	o.t.Helper()
	return len(o.messages())
}

// messagesSince returns the messages sent after the first n, in order.
func (o *outbox) messagesSince(n int) []sms.OutboxMessage {
	o.t.Helper()
	msgs := o.messages()
	return msgs[min(n, len(msgs)):]
}

// lastCode returns the code of the latest message sent to the E.164 number to and
// that message's lifetime ("5 minutes"), failing the test if there is none or it is
// not worded as a code message.
func (o *outbox) lastCode(to string) (code, lifetime string) {
	o.t.Helper()
	msgs := o.messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To != to {
			continue
		}
		m := smsCodeText.FindStringSubmatch(msgs[i].Message)
		if m == nil {
			m = smsCodeTextChinese.FindStringSubmatch(msgs[i].Message)
		}
		if m == nil {
			o.t.Fatalf("the latest SMS to %s is not a Demo Console code message: %q", to, msgs[i].Message)
		}
		return m[1], m[2]
	}
	o.t.Fatalf("no SMS was sent to %s; the outbox %s has %+v (does %s still write it with sms log {$%s}?)",
		to, o.path, msgs, exampleCaddyfile, envOutbox)
	return "", ""
}

// e164 is a phone number as the gateway sends it: +, a country code not starting with
// 0, 8 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// smsCodeText is a code message as the gateway words it: the issuer, the code, the
// code's lifetime. Groups: the code, the lifetime.
var smsCodeText = regexp.MustCompile(`^Demo Console verification code: ([0-9]{6})\. It expires in ([0-9]+ (?:minutes?|seconds?))\.`)

// smsCodeTextChinese is the same in Chinese, with the signature mainland carriers
// require first.
var smsCodeTextChinese = regexp.MustCompile(`^【Demo Console】验证码 ([0-9]{6})，用于[^，]+，([0-9]+ (?:分钟|秒))内有效`)

// The phone the journeys bind: a London number from Ofcom's range for drama, never a
// real subscriber's but a valid number (the gateway refuses the drama range of mobiles,
// 07700 900xxx, as numbers not in use), as the user types it, as the gateway sends to it
// (E.164), and masked as the pages show it.
const (
	demoPhoneTyped  = "+44 20 7946 0123"
	demoPhoneE164   = "+442079460123"
	demoPhoneMasked = "+44 ••• ••• 0123"
)

// expectPhoneBindingOffered checks that the binding page offers a phone besides the
// authenticator app: a number to enter and a button to send it a code, and no code
// to enter before one is sent.
func (p *page) expectPhoneBindingOffered() {
	p.t.Helper()
	for _, id := range []string{"phone-form", "phone-number", "phone-send"} {
		if !p.has(id) {
			p.fail("the binding page does not offer a phone (no #%s)", id)
		}
	}
	if p.has("phone-code") {
		p.fail("the binding page asks for a phone code before one was sent")
	}
}

// startPhoneBinding enters the journeys' phone on the binding page and asks for a
// code. It checks that the page then asks for the code, naming the masked number,
// and that exactly one message went out, to that number, and returns its code.
func (p *page) startPhoneBinding() string {
	p.t.Helper()
	before := p.s.outbox.count()
	p.fill("phone-number", demoPhoneTyped)
	p.expectChallengePage(p.click("phone-send"))
	if got := p.text("phone-to"); got != demoPhoneMasked {
		p.fail("the binding page says the code went to %q, want %q", got, demoPhoneMasked)
	}
	if !p.has("phone-code") || !p.has("phone-confirm") {
		p.fail("after sending a code the binding page does not ask for it")
	}
	if msgs := p.s.outbox.messagesSince(before); len(msgs) != 1 || msgs[0].To != demoPhoneE164 {
		p.fail("sending a code to %s: the outbox has %+v, want one message to %s", demoPhoneTyped, msgs, demoPhoneE164)
	}
	code, _ := p.s.outbox.lastCode(demoPhoneE164)
	return code
}

// expectSMSChallenge checks a challenge page for a user whose only factor is the
// phone: no authenticator form, a button that sends a code to the masked number, and
// no code form before a code is sent.
func (p *page) expectSMSChallenge() {
	p.t.Helper()
	if p.has("challenge-form") {
		p.fail("the user has no authenticator app bound, but the challenge page asks for its code")
	}
	if got, want := p.text("sms-send"), "Send a code to "+demoPhoneMasked; got != want {
		p.fail("the SMS button says %q, want %q", got, want)
	}
	if p.has("sms-code") {
		p.fail("the challenge page asks for an SMS code before one was sent")
	}
}

// sendSMSCode clicks "Send a code" on the challenge page and checks that the page
// then asks for the code sent to the masked number, and that exactly one message went
// out, to the bound number, worded as a code message naming the issuer and the code's
// lifetime (at most 10 minutes, NIST SP 800-63B). It returns the code.
func (p *page) sendSMSCode() string {
	p.t.Helper()
	before := p.s.outbox.count()
	p.expectChallengePage(p.click("sms-send"))
	if !p.has("sms-code") || !p.has("sms-submit") {
		p.fail("after sending a code the challenge page does not ask for it")
	}
	if got := p.text("sms-to"); got != demoPhoneMasked {
		p.fail("the challenge page says the code went to %q, want %q", got, demoPhoneMasked)
	}
	msgs := p.s.outbox.messagesSince(before)
	if len(msgs) != 1 || msgs[0].To != demoPhoneE164 {
		p.fail("sending a code: the outbox has %+v, want one message to %s", msgs, demoPhoneE164)
	}
	code, lifetime := p.s.outbox.lastCode(demoPhoneE164)
	p.t.Logf("SMS to %s: %q", msgs[0].To, msgs[0].Message)
	if !strings.HasPrefix(msgs[0].Message, "Demo Console ") && !strings.HasPrefix(msgs[0].Message, "【Demo Console】") {
		p.fail("the SMS does not name the issuer: %q", msgs[0].Message)
	}
	var n int
	var unit string
	if _, err := fmt.Sscanf(lifetime, "%d %s", &n, &unit); err != nil || n < 1 ||
		((strings.HasPrefix(unit, "minute") || unit == "分钟") && n > 10) {
		p.fail("the SMS gives the code's lifetime as %q, want 10 minutes at most", lifetime)
	}
	return code
}

// otherCode returns six digits that are not code.
func otherCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}
