package caddymodule

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/stepup/policy"
)

// now is the gateway's clock; tests move it.
var now = time.Now

// ServeHTTP routes a request: the gateway's own pages, the console's login and logout,
// sensitive operations, and everything else, which passes through without touching
// the store.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// The console must never see a step-up token: it is the gateway's business.
	var stepUpHeader string
	if v := r.Header[tokenHeader]; len(v) > 0 {
		stepUpHeader = v[0]
		delete(r.Header, tokenHeader)
	}
	// Cleaned once; the routes' own forms were cleaned the same way in Provision.
	clean := policy.CleanPath(r.URL.Path)
	bare := strings.TrimSuffix(clean, "/")
	switch {
	case bare == h.routes.prefix || strings.HasPrefix(clean, h.routes.prefixSlash):
		return h.serveGateway(w, r, next)
	case bare == h.routes.login && h.Login != nil && r.Method == h.Login.Method:
		return h.serveLogin(w, r, next)
	case bare == h.routes.logout && h.Logout != "":
		return h.serveLogout(w, r, next)
	}
	rule, ok := h.rules.Match(r.Method, clean)
	if !ok {
		return toConsole(w, r, next)
	}
	return h.serveProtected(w, r, next, rule, stepUpHeader)
}

// routes are the gateway's own paths in the form requests are compared in: cleaned,
// lower case, without a trailing slash, so a console that answers /login/ like /login
// is not logged into past the gateway.
type routes struct {
	prefix, prefixSlash, login, logout string
}

func newRoutes(prefix, login, logout string) routes {
	bare := func(p string) string {
		if p == "" {
			return "\x00" // matches no request path
		}
		return strings.TrimSuffix(policy.CleanPath(p), "/")
	}
	return routes{prefix: bare(prefix), prefixSlash: bare(prefix) + "/", login: bare(login), logout: bare(logout)}
}

// setUser publishes who passed for access logs ({http.auth.user.id} becomes user_id)
// and for later handlers ({http.stepup.*}).
func setUser(r *http.Request, user string, authTime time.Time) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set("http.auth.user.id", user)
	if !authTime.IsZero() {
		// Only what a later handler or log may need; each Set costs a map write
		// under a lock on every protected request.
		repl.Set("http.stepup.auth_time", authTime.Unix())
	}
}

func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
