// Package locale holds what the gateway says to people, in each language it speaks:
// the pages, errors, notices and SMS texts, as message catalogs (catalog/*.json, in
// go-i18n's format, with CLDR plural rules), and the choice of a language for a
// reader. Messages live in the catalogs, never in Go string literals; a test fails
// when one exists in one language only.
//
// The package is pure: no Caddy, HTTP or store imports.
package locale

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed catalog/*.json
var catalogs embed.FS

// A Lang is a language the gateway speaks.
type Lang struct {
	tag  language.Tag
	code string // BCP 47, as the catalog file and the html lang attribute name it
	name string // its own name, for the language switch
	loc  *i18n.Localizer
}

var (
	bundle = i18n.NewBundle(language.English)

	// English is the gateway's first language: the fallback, and the language of
	// the API's error_description (it is for developers).
	English = newLang("en", "English")
	// Chinese is Simplified Chinese.
	Chinese = newLang("zh-Hans", "简体中文")

	langs   = []*Lang{English, Chinese}
	matcher = language.NewMatcher([]language.Tag{English.tag, Chinese.tag})
)

// newLang loads the language's catalogs, catalog/<part>.<code>.json: one file per
// part of the gateway (pages, sms, …), each in every language.
func newLang(code, name string) *Lang {
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	files, _ := fs.Glob(catalogs, "catalog/*."+code+".json")
	for _, f := range files {
		if _, err := bundle.LoadMessageFileFS(catalogs, f); err != nil {
			// The catalogs are embedded: a broken one is a build defect a test catches.
			panic(fmt.Sprintf("locale: catalog %s: %v", f, err))
		}
	}
	tag := language.MustParse(code)
	return &Lang{tag: tag, code: code, name: name, loc: i18n.NewLocalizer(bundle, code)}
}

// All is every language the gateway speaks, English first.
func All() []*Lang { return langs }

// Code is the language's BCP 47 tag: "en", "zh-Hans".
func (l *Lang) Code() string { return l.code }

// Name is the language's name in itself: "English", "简体中文".
func (l *Lang) Name() string { return l.name }

// Parse finds the language a tag names ("zh", "zh-CN", "zh-Hans-CN", "en-GB"), or
// reports false when the gateway does not speak it.
func Parse(tag string) (*Lang, bool) {
	t, err := language.Parse(strings.TrimSpace(tag))
	if err != nil || tag == "" {
		return nil, false
	}
	_, i, conf := matcher.Match(t)
	if conf == language.No {
		return nil, false
	}
	return langs[i], true
}

// Choose picks the reader's language: the one they chose on a page (chosen, from
// their cookie) when the gateway speaks it, else the best match of their browser's
// Accept-Language, else fallback (the operator's default).
func Choose(chosen, acceptLanguage string, fallback *Lang) *Lang {
	if l, ok := Parse(chosen); ok {
		return l
	}
	if fallback == nil {
		fallback = English
	}
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return fallback
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		// Nothing the reader asked for is spoken here (a "fr" browser): the
		// operator's default, not the matcher's first language.
		return fallback
	}
	return langs[i]
}

// Text is message id in the language, with args as name/value pairs ("Count", 3,
// "Name", "Acme"). A "Count" argument also picks the plural form. A message missing
// from the catalogs shows as its id, so a gap is visible and never fatal.
func (l *Lang) Text(id string, args ...any) string {
	data := make(map[string]any, len(args)/2)
	var count any
	for i := 0; i+1 < len(args); i += 2 {
		k, _ := args[i].(string)
		data[k] = args[i+1]
		if k == "Count" {
			count = args[i+1]
		}
	}
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil {
		return id
	}
	return s
}

// Has reports whether the catalogs hold message id.
func Has(id string) bool {
	for _, count := range []any{nil, 1, 2} {
		if _, err := English.loc.Localize(&i18n.LocalizeConfig{MessageID: id, PluralCount: count}); err == nil {
			return true
		}
	}
	return false
}

// Messages lists the messages of one language's catalogs, sorted by id, for tests
// that compare the languages.
func Messages(code string) ([]*i18n.Message, error) {
	files, err := fs.Glob(catalogs, "catalog/*."+code+".json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("locale: no catalog for %q", code)
	}
	var msgs []*i18n.Message
	for _, path := range files {
		b, err := catalogs.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, err := i18n.ParseMessageFileBytes(b, path, map[string]i18n.UnmarshalFunc{"json": json.Unmarshal})
		if err != nil {
			return nil, fmt.Errorf("locale: %s: %w", path, err)
		}
		msgs = append(msgs, f.Messages...)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
	return msgs, nil
}

// ParseSetting is Parse for an operator's setting: the tag must name a language the
// gateway speaks, in its script. A reader asking for Traditional Chinese is served
// Simplified, the nearest there is; an operator writing "zh-TW" is told, not served
// something else than they wrote.
func ParseSetting(tag string) (*Lang, bool) {
	l, ok := Parse(tag)
	if !ok {
		return nil, false
	}
	t, err := language.Parse(strings.TrimSpace(tag))
	if err != nil {
		return nil, false
	}
	base, _ := t.Base()
	script, _ := t.Script()
	lbase, _ := l.tag.Base()
	lscript, _ := l.tag.Script()
	return l, base == lbase && script == lscript
}
