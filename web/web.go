// Package web holds the gateway's own pages (challenge, binding, settings, errors) as
// html/template files embedded in the binary.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
)

//go:embed templates/*.html static/*.js
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{"field": field}).ParseFS(files, "templates/*.html"))

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

// Render writes the page name with data and status. The page is rendered into a buffer
// first, so a template error never leaves a half-written response.
func Render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", CSP)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// CSP is the Content-Security-Policy of the pages: nothing but their own inline
// style, inline images (the QR code), the gateway's own script, and forms to this site.
const CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

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
