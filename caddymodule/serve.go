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
	clean := policy.CleanPath(r.URL.Path)
	switch {
	case clean == h.Prefix || strings.HasPrefix(clean, h.Prefix+"/"):
		return h.serveGateway(w, r, next, strings.TrimPrefix(clean, h.Prefix))
	case h.Login != nil && r.Method == h.Login.Method && samePath(clean, h.Login.Path):
		return h.serveLogin(w, r, next)
	case h.Logout != "" && samePath(clean, h.Logout):
		return h.serveLogout(w, r, next)
	}
	rule, ok := h.rules.Match(r.Method, r.URL.Path)
	if !ok {
		return toConsole(w, r, next)
	}
	return h.serveProtected(w, r, next, rule, stepUpHeader)
}

// samePath compares a cleaned request path with a configured one, ignoring case and a
// trailing slash: a console that answers /login/ like /login must not be logged into
// past the gateway.
func samePath(clean, configured string) bool {
	return strings.TrimSuffix(clean, "/") == strings.TrimSuffix(strings.ToLower(configured), "/")
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
