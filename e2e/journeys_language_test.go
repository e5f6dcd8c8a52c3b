package e2e

// Languages: a browser that asks for Chinese gets the gateway's pages, errors and
// SMS texts in Simplified Chinese; the language switch on every page chooses another
// language, and the choice is remembered over the browser's own.

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/caddy-stepup/stepup/locale"
)

// TestLanguageFromTheBrowserAndTheSwitch: carol's browser asks for Chinese. The set-up
// page of her first delete is in Chinese, and so are the SMS text and a wrong code's
// error; the switch turns the pages to English, which sticks on the next page
// although her browser still asks for Chinese; switching back returns to Chinese.
func TestLanguageFromTheBrowserAndTheSwitch(t *testing.T) {
	p := newPageIn(t, locale.Chinese)
	p.signIn("carol") // the demo console's own pages are English only
	p.expectChallengePage(p.open("/instances/i-1001/delete"))
	p.expectLanguage(locale.Chinese)
	p.bindingPage()
	if got := p.text("challenge-rule"); got == "" {
		p.fail("the set-up page does not say what is being confirmed")
	}

	before := p.s.outbox.count()
	p.fill("phone-number", demoPhoneTyped)
	p.expectChallengePage(p.click("phone-send"))
	msgs := p.s.outbox.messagesSince(before)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Message, "验证码") || strings.Contains(msgs[0].Message, "verification code") {
		p.fail("the SMS to a Chinese reader: %+v, want one message in Chinese", msgs)
	}
	if got, want := p.text("challenge-notice"), p.words("code.sentNotice", "To", demoPhoneMasked); got != want {
		p.fail("notice %q, want %q", got, want)
	}

	// A wrong code says so in Chinese, with the attempts left.
	p.fill("phone-code", "000000")
	p.click("phone-confirm")
	if got := p.text("challenge-error"); !strings.HasPrefix(got, "验证码错误") {
		p.fail("a wrong code's error %q is not in Chinese", got)
	}

	// The switch: English, remembered on the next page.
	p.click("language-en")
	p.expectLanguage(locale.English)
	if got := p.text("bind-title"); got != locale.English.Text("bind.title") {
		p.fail("after choosing English the title is %q", got)
	}
	p.expectChallengePage(p.open("/instances/i-1002/delete"))
	p.expectLanguage(locale.English)

	p.click("language-zh-Hans")
	p.expectLanguage(locale.Chinese)
	if got := p.text("bind-title"); got != locale.Chinese.Text("bind.title") {
		p.fail("after choosing Chinese the title is %q", got)
	}
}

// expectLanguage checks the page is in l: its lang attribute, its switch, and a
// heading of the page in l's words.
func (p *page) expectLanguage(l *locale.Lang) {
	p.t.Helper()
	p.lang = l
	ctx, cancel := p.step()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if err != nil || got != l.Code() {
		p.fail("the page's lang is %q (%v), want %q", got, err, l.Code())
	}
	for _, other := range locale.All() {
		if has := p.has("language-" + other.Code()); has == (other == l) {
			p.fail("the language switch: link to %s present=%v on a page in %s", other.Code(), has, l.Code())
		}
	}
}
