package gateway

import (
	"net/http"
	"net/url"
	"time"

	"github.com/caddy-stepup/stepup/locale"
)

// langCookie remembers the language a reader chose on a page, on every path (error
// pages answer on the console's paths too); the console never sees it.
const langCookie = "stepup_lang"

// langCookieLife is how long a chosen language is remembered.
const langCookieLife = 365 * 24 * time.Hour

// langOf is the language of the reader of r: their choice, else their browser's,
// else the operator's default.
func (rs *Responder) langOf(r *http.Request) *locale.Lang {
	return locale.Choose(cookieValue(r, langCookie), r.Header.Get("Accept-Language"), rs.lang)
}

// languageLink is an entry of the language switch every page shows.
type languageLink struct {
	Code, Name, Link string
	Current          bool
}

// languages is the language switch of a page answering r: each language, with a
// link that chooses it and comes back to this page (to the page the form was on,
// for the answer to a form).
func (rs *Responder) languages(r *http.Request, current *locale.Lang) []languageLink {
	back := refererPath(r)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		back = safeReturn(r.URL.RequestURI())
	}
	var out []languageLink
	for _, l := range locale.All() {
		out = append(out, languageLink{Code: l.Code(), Name: l.Name(), Current: l == current,
			Link: rs.prefix + "/language/" + url.PathEscape(l.Code()) + "?back=" + url.QueryEscape(back)})
	}
	return out
}

// chooseLanguage is GET {prefix}/language/{code}?back=<path>: remember the reader's
// language and go back to the page they were on (on this site only). Choosing a
// language changes nothing else, so it needs no form token.
func (rs *Responder) chooseLanguage(w http.ResponseWriter, r *http.Request) error {
	l, ok := locale.Parse(r.PathValue("code"))
	if !ok {
		return errNotFound
	}
	http.SetCookie(w, rs.cookies.make(r, langCookie, l.Code(), langCookieLife, http.SameSiteLaxMode))
	http.Redirect(w, r, safeReturn(r.URL.Query().Get("back")), http.StatusSeeOther)
	return nil
}
