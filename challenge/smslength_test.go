package challenge

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-stepup/stepup/locale"
)

func TestMeasureSMS(t *testing.T) {
	if n := utf8.RuneCountInString(gsmBasic); n != 127 {
		t.Fatalf("the GSM 7-bit alphabet has %d characters here, want 127 (128 less the escape)", n)
	}
	for _, tc := range []struct {
		name     string
		text     string
		ucs2     bool
		units    int
		segments int
	}{
		{"empty", "", false, 0, 1},
		{"GSM-7 full", strings.Repeat("a", 160), false, 160, 1},
		{"GSM-7 one over", strings.Repeat("a", 161), false, 161, 2},
		{"GSM-7 two parts full", strings.Repeat("a", 306), false, 306, 2},
		{"GSM-7 three parts", strings.Repeat("a", 307), false, 307, 3},
		{"GSM-7 accents", "Ça coute 5 £: ÄÖÜ äöü ñ é è à ù ì ò ¿¡ Δ@ _", false, 0, 1},
		{"extension takes two", strings.Repeat("€", 80), false, 160, 1},
		{"extension over", strings.Repeat("{", 81), false, 162, 2},
		// 306 septets would fill two parts, but an escape is never split: the first
		// part holds 152 and the third the last €.
		{"extension not split", strings.Repeat("a", 152) + strings.Repeat("€", 77), false, 306, 3},
		{"UCS-2 full", strings.Repeat("中", 70), true, 70, 1},
		{"UCS-2 one over", strings.Repeat("中", 71), true, 71, 2},
		{"UCS-2 two parts full", strings.Repeat("中", 134), true, 134, 2},
		{"UCS-2 three parts", strings.Repeat("中", 135), true, 135, 3},
		{"one character outside GSM-7", strings.Repeat("a", 69) + "’", true, 70, 1},
		{"surrogate pairs", strings.Repeat("😀", 35), true, 70, 1},
		{"surrogate pair not split", strings.Repeat("a", 66) + strings.Repeat("😀", 34), true, 134, 3},
		{"Chinese punctuation", "【】，。", true, 4, 1},
	} {
		got := measureSMS(tc.text)
		if tc.units == 0 && tc.text != "" {
			tc.units = utf8.RuneCountInString(tc.text)
		}
		if got.ucs2 != tc.ucs2 || got.units != tc.units || got.segments != tc.segments {
			t.Errorf("%s: %+v, want ucs2 %v, %d units, %d segments", tc.name, got, tc.ucs2, tc.units, tc.segments)
		}
	}
}

// Issuer names as operators give them: an English one, a Chinese one, and a long one
// with an English and a Chinese word.
var realisticIssuers = map[*locale.Lang][]string{
	locale.English: {"Example Cloud Console", "caddy-stepup", "Acme Cloud Management Console"},
	locale.Chinese: {"示例云控制台", "Example Cloud Console", "caddy-stepup", "Acme 云管理控制台"},
}

// Every SMS text, in each language, for each purpose and lifetime (the longest is ten
// minutes, two digits, or 59 seconds), fits one segment with a realistic issuer name.
// A catalog text that grows past one segment fails here.
func TestSMSTextsFitOneSegment(t *testing.T) {
	for _, lang := range locale.All() {
		issuers := realisticIssuers[lang]
		if len(issuers) == 0 {
			t.Errorf("no realistic issuer names for %s", lang.Code())
		}
		for _, issuer := range issuers {
			purpose, l := longestSMS(lang, issuer, maxSMSCodeTTL)
			if l.segments != 1 {
				t.Errorf("%s, issuer %q: the %s text takes %v: %q", lang.Code(), issuer, purpose, l,
					smsText(lang, purpose, issuer, "000000", maxSMSCodeTTL))
			}
			// Each text on its own, with the longest lifetime, for the record.
			for _, p := range smsPurposes {
				text := smsText(lang, p, issuer, "123456", maxSMSCodeTTL)
				t.Logf("%-7s %-9s %-30q %v: %s", lang.Code(), p, issuer, measureSMS(text), text)
			}
		}
		// The English texts stay GSM-7: a stray curly quote or dash would halve them.
		if lang == locale.English {
			for _, p := range smsPurposes {
				if l := measureSMS(smsText(lang, p, "Example Cloud Console", "123456", 59*time.Second)); l.ucs2 {
					t.Errorf("en %s: the text needs UCS-2", p)
				}
			}
		}
	}
}

// Every SMS code text in the catalogs has a purpose, so TestSMSTextsFitOneSegment and
// CheckSMSLength measure it.
func TestEverySMSTextMeasured(t *testing.T) {
	msgs, err := locale.Messages(locale.English.Code())
	if err != nil {
		t.Fatal(err)
	}
	measured := map[string]bool{}
	for _, p := range smsPurposes {
		measured[smsTextIDs[p]] = true
	}
	if len(measured) != len(smsTextIDs) {
		t.Errorf("smsPurposes %v and smsTextIDs %v differ", smsPurposes, smsTextIDs)
	}
	for _, m := range msgs {
		if strings.HasPrefix(m.ID, "sms.code.") && !measured[m.ID] {
			t.Errorf("catalog message %q is an SMS text no purpose sends", m.ID)
		}
	}
	for _, lang := range locale.All() {
		for _, id := range smsTextIDs {
			if lang.Text(id) == id {
				t.Errorf("SMS text %q is not in the %s catalog", id, lang.Code())
			}
		}
	}
}

func TestCheckSMSLength(t *testing.T) {
	e := newEnv(t, Limits{})
	svc := func(issuer string, sms SMSSender) *Service {
		s, err := New(Service{Store: e.st, Sealer: e.svc.Sealer, Issuer: issuer, SMS: sms, Limits: Limits{SMSCodeTTL: 10 * time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	out := new(recordingSender)
	for _, issuer := range []string{"Example Cloud Console", "caddy-stepup", ""} {
		if err := svc(issuer, out).CheckSMSLength(); err != nil {
			t.Errorf("issuer %q: %v", issuer, err)
		}
	}
	// The README promises one segment with an issuer of up to 30 characters.
	if err := svc(strings.Repeat("W", 30), out).CheckSMSLength(); err != nil {
		t.Errorf("30 characters: %v", err)
	}
	if err := svc(strings.Repeat("控", 30), out).CheckSMSLength(); err == nil || strings.Contains(err.Error(), "zh-Hans") {
		t.Errorf("30 Chinese characters: %v, want only the English texts too long", err)
	}
	// A long name: the Chinese texts (70 a segment) go over first.
	long := "Example Corporation Cloud Infrastructure Management Console"
	err := svc(long, out).CheckSMSLength()
	if err == nil || !strings.Contains(err.Error(), "zh-Hans (bind): 2 segments (UCS-2, 97 of 70 characters)") || !strings.Contains(err.Error(), long) {
		t.Errorf("long issuer: %v", err)
	}
	// A Chinese name makes the English texts UCS-2, 70 a segment: too long.
	err = svc("示例云控制台", out).CheckSMSLength()
	if err == nil || !strings.Contains(err.Error(), "en (") || !strings.Contains(err.Error(), "UCS-2") || strings.Contains(err.Error(), "zh-Hans") {
		t.Errorf("Chinese issuer: %v", err)
	}
	t.Logf("Chinese issuer: %v", err)
	// No SMS: nothing is sent, nothing to say.
	if err := svc(long, nil).CheckSMSLength(); err != nil {
		t.Errorf("without SMS: %v", err)
	}
}
