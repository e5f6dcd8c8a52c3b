// Package web holds the gateway's own pages (challenge, binding, settings, errors) as
// html/template files embedded in the binary, in every language of package locale.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html"
	"html/template"
	"net/http"

	"github.com/caddy-stepup/stepup/brand"
	"github.com/caddy-stepup/stepup/locale"
)

//go:embed templates/*.html static/*.js
var files embed.FS

// pages holds the templates once per language: their t function says a catalog
// message in that language.
var pages = map[*locale.Lang]*template.Template{}

func init() {
	for _, l := range locale.All() {
		pages[l] = template.Must(template.New("").Funcs(template.FuncMap{
			"field": field, "t": say(l), "time": timeHTML,
			"span": element("span"), "strong": element("strong"), "code": element("code"),
		}).ParseFS(files, "templates/*.html"))
	}
}

// say returns the templates' t function in language l: {{t "id" "Name" .Value}}. The
// catalog's text may hold markup (<strong>); every argument is escaped, unless it is
// template.HTML already (a <time> element the page built).
func say(l *locale.Lang) func(id string, args ...any) template.HTML {
	return func(id string, args ...any) template.HTML {
		for i := 1; i < len(args); i += 2 {
			switch v := args[i].(type) {
			case template.HTML:
				args[i] = string(v)
			case int, int64:
				// counts: kept as numbers for the plural rules
			default:
				args[i] = html.EscapeString(fmt.Sprint(v))
			}
		}
		return template.HTML(l.Text(id, args...))
	}
}

// element returns a function making an element with an id around escaped text, for a
// catalog message to hold: {{t "id" "User" (span "challenge-user" .User)}}.
func element(tag string) func(id string, text any) template.HTML {
	return func(id string, text any) template.HTML {
		attr := ""
		if id != "" {
			attr = ` id="` + html.EscapeString(id) + `"`
		}
		return template.HTML("<" + tag + attr + ">" + html.EscapeString(fmt.Sprint(text)) + "</" + tag + ">")
	}
}

// Field is a code input of a page: its id and name, whether the page's error is about
// it (aria-invalid, aria-describedby), and whether it takes the focus.
type Field struct {
	ID, Name       string
	Invalid, Focus bool
}

// field makes a Field; errorField is the id of the field the page's error is about.
func field(id, name, errorField string, focus bool) Field {
	return Field{ID: id, Name: name, Invalid: errorField == id, Focus: focus}
}

// A Renderer writes the gateway's pages in the look the operator gave.
type Renderer struct {
	// Brand is the console's look: its name, logo, colour, support link and stylesheet.
	Brand brand.Brand
}

// Render writes the page name in language lang with data and status. The page is
// rendered into a buffer first, so a template error never leaves a half-written
// response. data gets "Lang" (the page's language) and "Brand".
func (rn *Renderer) Render(w http.ResponseWriter, status int, name string, lang *locale.Lang, data map[string]any) error {
	if lang == nil {
		lang = locale.English
	}
	data["Lang"] = lang
	data["Brand"] = &rn.Brand
	var buf bytes.Buffer
	if err := pages[lang].ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang.Code())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", rn.Brand.CSP())
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Static writes the pages' static file name (their script), or reports false when
// there is none of that name.
func Static(w http.ResponseWriter, name string) (bool, error) {
	b, err := files.ReadFile("static/" + name)
	if err != nil || name == "" || name[0] == '.' {
		return false, nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	_, err = w.Write(b)
	return true, err
}

// Time is a time as a page shows it: "in 14 minutes (10:32 UTC)" or a date, marked
// up so the pages' script (static/time.js) rewrites it in the reader's own time zone
// and language, with the exact UTC time in its title.
type Time struct {
	ID    string // the element's id, or ""
	ISO   string // RFC 3339, for the datetime attribute
	UTC   string // the exact time, for the title
	Text  string // what shows without the script
	Local string // "relative" (in N minutes, and the clock) or "date" (a date and time)
}

// timeHTML is the <time> element of t, for a catalog message that names a time:
// {{t "id" "When" (time .Expires)}}.
func timeHTML(t Time) template.HTML {
	var b bytes.Buffer
	b.WriteString("<time")
	if t.ID != "" {
		b.WriteString(` id="` + html.EscapeString(t.ID) + `"`)
	}
	b.WriteString(` datetime="` + html.EscapeString(t.ISO) + `" title="` + html.EscapeString(t.UTC) +
		`" data-local="` + html.EscapeString(t.Local) + `">` + html.EscapeString(t.Text) + "</time>")
	return template.HTML(b.String())
}
