package democonsole

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"

	"github.com/caddy-stepup/stepup/sms"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the page templates; each is parsed together with
// templates/layout.html and defines the "content" block.
var pageNames = []string{"login", "dashboard", "instances", "confirm_delete", "billing", "not_found", "outbox", "notices"}

// pages holds one parsed template set per page, built once at start-up.
var pages = parsePages()

func parsePages() map[string]*template.Template {
	m := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		m[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return m
}

// pageData is everything a page template may show.
type pageData struct {
	Title string // console name, set by render
	Page  string // page name for the browser tab
	User  *User  // signed-in user; nil on the login page
	Flash string // confirmation message (#flash)

	// login
	Error    string // #login-error
	Username string // user name to keep in the form after a failure
	Users    []User // demo accounts

	// login, outbox
	OutboxLink bool                // link the SMS outbox (#nav-outbox)
	Outbox     []sms.OutboxMessage // outbox messages, latest first

	// login, outbox, notices (notices.go)
	NoticesLink bool             // link the security notices (#nav-notices), set by render
	Notices     []ReceivedNotice // notices received, latest first

	// dashboard, instances, billing
	Instances     []Instance
	Instance      Instance
	InstanceCount int
	Balance       string
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.Title = c.title
	d.NoticesLink = c.noticeSecret != nil
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
