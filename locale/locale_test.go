package locale

import (
	"regexp"
	"slices"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

// Every message exists in every language, with the same placeholders, and with a
// plural form for each of the language's plural categories when it has any.
func TestEveryMessageInEveryLanguage(t *testing.T) {
	en, err := Messages(English.Code())
	if err != nil {
		t.Fatal(err)
	}
	if len(en) == 0 {
		t.Fatal("the English catalogs are empty")
	}
	byID := map[string]map[string]*i18n.Message{}
	for _, l := range All() {
		msgs, err := Messages(l.Code())
		if err != nil {
			t.Fatal(err)
		}
		byID[l.Code()] = map[string]*i18n.Message{}
		for _, m := range msgs {
			if _, dup := byID[l.Code()][m.ID]; dup {
				t.Errorf("%s: message %q defined twice", l.Code(), m.ID)
			}
			byID[l.Code()][m.ID] = m
		}
	}
	for _, l := range All() {
		for id, m := range byID[l.Code()] {
			for _, other := range All() {
				om, ok := byID[other.Code()][id]
				if !ok {
					t.Errorf("message %q is in %s but not in %s", id, l.Code(), other.Code())
					continue
				}
				if a, b := placeholders(m), placeholders(om); !slices.Equal(a, b) {
					t.Errorf("message %q: %s uses %v, %s uses %v", id, l.Code(), a, other.Code(), b)
				}
			}
			if m.Other == "" {
				t.Errorf("%s: message %q has no text (other)", l.Code(), id)
			}
			if l == English && m.One != "" && !slices.Contains(placeholders(m), "Count") {
				t.Errorf("en: plural message %q never says its .Count", id)
			}
		}
	}
	// A plural in English is a plural: its one and other differ.
	for id, m := range byID[English.Code()] {
		if m.One != "" && m.One == m.Other {
			t.Errorf("en: message %q has the same one and other", id)
		}
	}
}

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func placeholders(m *i18n.Message) []string {
	var names []string
	for _, s := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		for _, g := range placeholder.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(names, g[1]) {
				names = append(names, g[1])
			}
		}
	}
	slices.Sort(names)
	return names
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		chosen, accept string
		fallback       *Lang
		want           *Lang
	}{
		{"", "", English, English},
		{"", "", Chinese, Chinese},
		{"", "zh-CN,zh;q=0.9,en;q=0.8", English, Chinese},
		{"", "zh", English, Chinese},
		{"", "zh-TW", English, Chinese}, // the nearest the gateway speaks
		{"", "en-GB,en;q=0.9", Chinese, English},
		{"", "fr-FR,fr;q=0.9", Chinese, Chinese}, // nothing asked for is spoken: the default
		{"", "fr-FR,fr;q=0.9", English, English},
		{"", "de;q=0.9,zh;q=0.5", English, Chinese},
		{"en", "zh-CN", Chinese, English}, // the reader's own choice wins
		{"zh-Hans", "en-US", English, Chinese},
		{"klingon", "zh-CN", English, Chinese},
		{"", "not a header ;;", Chinese, Chinese},
		{"", "", nil, English},
	} {
		if got := Choose(tc.chosen, tc.accept, tc.fallback); got != tc.want {
			t.Errorf("Choose(%q, %q, %v) = %s, want %s", tc.chosen, tc.accept, tc.fallback, got.Code(), tc.want.Code())
		}
	}
}

func TestParse(t *testing.T) {
	for tag, want := range map[string]*Lang{"en": English, "en-US": English, "zh": Chinese, "zh-Hans": Chinese, "zh-CN": Chinese} {
		if got, ok := Parse(tag); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tag, got, ok, want.Code())
		}
	}
	for _, tag := range []string{"", "fr", "xx-YY", "<script>"} {
		if l, ok := Parse(tag); ok {
			t.Errorf("Parse(%q) = %s, want none", tag, l.Code())
		}
	}
}

func TestHas(t *testing.T) {
	for _, id := range []string{"challenge.title", "time.inMinutes"} {
		if !Has(id) {
			t.Errorf("Has(%q) = false", id)
		}
	}
	if Has("no.such.message") {
		t.Error("Has(no.such.message) = true")
	}
}

func TestParseSetting(t *testing.T) {
	for tag, want := range map[string]*Lang{"en": English, "en-GB": English, "zh": Chinese, "zh-Hans": Chinese, "zh-CN": Chinese, "zh-Hans-SG": Chinese} {
		if got, ok := ParseSetting(tag); !ok || got != want {
			t.Errorf("ParseSetting(%q) = %v, %v; want %s", tag, got, ok, want.Code())
		}
	}
	for _, tag := range []string{"zh-TW", "zh-Hant", "zh-HK", "fr", ""} {
		if l, ok := ParseSetting(tag); ok {
			t.Errorf("ParseSetting(%q) = %s, want refused", tag, l.Code())
		}
	}
}
