package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
)

// everyNotice is one notice of each sentence the catalogs hold.
func everyNotice(at time.Time) []Notice {
	var out []Notice
	for _, k := range Kinds() {
		out = append(out, Notice{Kind: k, Time: at})
		switch k {
		case FactorBound, FactorRemoved:
			out = append(out, Notice{Kind: k, Method: "totp", Time: at}, Notice{Kind: k, Method: "sms", Time: at})
		case AdminReset:
			out = append(out, Notice{Kind: k, Method: "totp", Time: at}, Notice{Kind: k, Method: "sms", Time: at}, Notice{Kind: k, Method: "recovery", Time: at})
		case ProtectionOff:
			out = append(out, Notice{Kind: k, Protection: "login", Time: at}, Notice{Kind: k, Protection: "operation", Time: at})
		}
	}
	return append(out, Notice{Kind: "something_new", Time: at})
}

// The longest time: two-digit day and month, a long English month name.
var longestTime = time.Date(2026, time.December, 31, 23, 59, 0, 0, time.UTC)

// Every notice, in each language, fits one SMS segment with a console name of up to
// 20 characters; the English ones stay in the GSM 7-bit alphabet.
func TestNoticesFitOneSegment(t *testing.T) {
	names := map[*locale.Lang][]string{
		locale.English: {"Demo Console", "caddy-stepup", "Example Cloud Consol", strings.Repeat("W", 20)},
		locale.Chinese: {"示例云控制台", "Demo Console", "caddy-stepup", "Acme 云管理控制台", strings.Repeat("控", 20)},
	}
	for _, l := range locale.All() {
		for _, name := range names[l] {
			for _, n := range everyNotice(longestTime) {
				text := Render(l, name, n)
				if segs := challenge.SMSSegments(text); segs != 1 {
					t.Errorf("%s %s/%s%s, name %q: %d segments: %q", l.Code(), n.Kind, n.Method, n.Protection, name, segs, text)
				}
				if strings.Contains(text, "{{") || strings.HasPrefix(text, "notify.") {
					t.Errorf("%s %s: not rendered: %q", l.Code(), n.Kind, text)
				}
			}
		}
	}
	for _, n := range everyNotice(longestTime) {
		t.Logf("%s", Render(locale.English, "Demo Console", n))
		t.Logf("%s", Render(locale.Chinese, "Demo Console", n))
	}
}

// Every sentence in the catalogs is one some notice says, and every known notice has a
// sentence of its own.
func TestEverySentenceUsed(t *testing.T) {
	used := map[string]bool{"notify.timeLayout": true, "notify.name.none": true, "notify.other": true}
	for _, n := range everyNotice(longestTime) {
		id := messageID(n)
		used[id] = true
		if id == "notify.other" && n.Kind != "something_new" {
			t.Errorf("%s/%s%s has no sentence", n.Kind, n.Method, n.Protection)
		}
	}
	msgs, err := locale.Messages(locale.English.Code())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.HasPrefix(m.ID, "notify.") && !used[m.ID] {
			t.Errorf("catalog message %q is said by no notice", m.ID)
		}
	}
	// No issuer: the sentence still has a name.
	if s := Render(locale.English, "", Notice{Kind: Lockout, Time: longestTime}); !strings.HasPrefix(s, "Security notice: ") {
		t.Errorf("no issuer: %q", s)
	}
	// Brackets in the name cannot end the Chinese signature early.
	if s := Render(locale.Chinese, "A】B【C", Notice{Kind: Lockout, Time: longestTime}); !strings.HasPrefix(s, "【ABC】") {
		t.Errorf("brackets: %q", s)
	}
}
