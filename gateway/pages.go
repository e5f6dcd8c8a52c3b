package gateway

import (
	"context"
	"net/http"
	"path"
	"strings"

	"github.com/caddy-stepup/stepup/web"
)

// maxFormBody bounds the gateway's own forms and API bodies (a code and a token).
const maxFormBody = 16 << 10

// pages serves the gateway's own pages and API under its prefix, routed by Go's
// http.ServeMux. The router has already matched the prefix in any letter case and
// spelling; pages hands the mux the canonical prefix, the rest of the path as sent
// (ids are case-sensitive) and the method in capitals, so the mux's case-sensitive
// methods and its redirects of unclean paths never apply to a spelling of ours.
type pages struct {
	prefix string // as configured, e.g. /.stepup
	mux    *http.ServeMux
}

func newPages(prefix string, rs *Responder, cp *challengePages, sp *settingsPages, ap *adminPages, jwks []byte) *pages {
	p := &pages{prefix: prefix, mux: http.NewServeMux()}
	handle := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		p.mux.Handle(pattern, answer(f))
	}
	handle("GET "+prefix+"/{$}", sp.show)
	handle("POST "+prefix+"/totp/bind", sp.bindTOTP)
	handle("POST "+prefix+"/totp/unbind", sp.unbindTOTP)
	handle("POST "+prefix+"/phone/bind", sp.bindPhone)
	handle("GET "+prefix+"/setup/{factor}", sp.continueSetUp)
	handle("POST "+prefix+"/phone/remove", sp.removePhone)
	handle("POST "+prefix+"/signout-all", sp.signOutEverywhere)
	handle("POST "+prefix+"/recovery", sp.createRecoveryCodes)
	handle("GET "+prefix+"/recovery/{id}", sp.showRecoveryCodes)
	handle("POST "+prefix+"/protection", sp.protection)
	handle("GET "+prefix+"/admin/{$}", ap.list)
	handle("GET "+prefix+"/admin/users/{user}", ap.show)
	handle("POST "+prefix+"/admin/users/{user}/{action}", ap.act)
	handle("GET "+prefix+"/api/admin/users", ap.apiList)
	handle("GET "+prefix+"/api/admin/users/{user}", ap.apiShow)
	handle("POST "+prefix+"/api/admin/users/{user}/{action}", ap.apiAct)
	handle("GET "+prefix+"/api/settings", sp.apiSettings)
	handle("POST "+prefix+"/api/settings", sp.apiChangeSettings)
	handle("GET "+prefix+"/challenge/{id}", func(w http.ResponseWriter, r *http.Request) error {
		return cp.show(w, r, r.PathValue("id"))
	})
	handle("POST "+prefix+"/challenge/{id}", func(w http.ResponseWriter, r *http.Request) error {
		return cp.submit(w, r, nextOf(r))
	})
	handle("POST "+prefix+"/challenge/{id}/sms", cp.sendSMS)
	handle("POST "+prefix+"/challenge/{id}/phone", cp.startPhone)
	handle("POST "+prefix+"/challenge/{id}/restart", cp.restart)
	handle("POST "+prefix+"/challenge/{id}/cancel", cp.cancel)
	handle("POST "+prefix+"/api/challenges/{id}/verify", cp.apiVerify)
	handle("POST "+prefix+"/api/challenges/{id}/sms", cp.apiSendSMS)
	handle("GET "+prefix+"/language/{code}", rs.chooseLanguage)
	handle("GET "+prefix+"/static/{name}", func(w http.ResponseWriter, r *http.Request) error {
		ok, err := web.Static(w, r.PathValue("name"))
		if !ok {
			return errNotFound
		}
		return err
	})
	if jwks != nil {
		handle("GET "+prefix+"/jwks.json", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			_, err := w.Write(jwks)
			return err
		})
	}
	handle("/", func(http.ResponseWriter, *http.Request) error { return errNotFound })
	return p
}

// outcome carries a page handler's error out of the ServeMux, whose handlers return
// nothing.
type outcome struct{ err error }

type outcomeKey struct{}

// answer adapts a page handler that returns an error to the ServeMux.
func answer(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o, ok := r.Context().Value(outcomeKey{}).(*outcome); ok {
			o.err = f(w, r)
		}
	})
}

// serve routes a request under the prefix to its page.
func (p *pages) serve(w http.ResponseWriter, r *http.Request, next Next) error {
	sub, ok := p.subPath(r.URL.Path)
	if !ok {
		return errNotFound
	}
	o := &outcome{}
	rr := r.WithContext(context.WithValue(context.WithValue(r.Context(), outcomeKey{}, o), nextKey{}, next))
	u := *r.URL
	u.Path, u.RawPath = p.prefix+sub, ""
	rr.URL = &u
	rr.Method = strings.ToUpper(r.Method)
	rr.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	p.mux.ServeHTTP(w, rr)
	return o.err
}

type nextKey struct{}

// nextOf is the rest of the route for a page that replays a held request.
func nextOf(r *http.Request) Next {
	n, _ := r.Context().Value(nextKey{}).(Next)
	return n
}

// subPath returns the cleaned request path below the prefix, keeping its case (ids
// are case-sensitive).
func (p *pages) subPath(reqPath string) (string, bool) {
	c := path.Clean("/" + reqPath)
	if len(c) < len(p.prefix) || !strings.EqualFold(c[:len(p.prefix)], p.prefix) {
		return "", false
	}
	sub := c[len(p.prefix):]
	if sub == "" {
		sub = "/"
	}
	if sub[0] != '/' {
		return "", false
	}
	if sub != "/" && strings.HasSuffix(reqPath, "/") {
		sub += "/" // the mux tells /admin/ (the list) from /admin
	}
	return sub, true
}
