package caddymodule

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/policy"
)

// now is the gateway's clock; tests move it.
var now = time.Now

// ServeHTTP routes a request: the gateway's own pages, the console's login and logout,
// sensitive operations, and everything else, which passes through without touching
// the store. Where the console could read the request as another route or method
// than the gateway does, the gateway takes the strictest reading, or refuses the
// request when the readings disagree.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// The console must never see a step-up token: it is the gateway's business.
	var stepUpHeader string
	if h.tokenHeaderKey != "" {
		if v := r.Header[h.tokenHeaderKey]; len(v) > 0 {
			stepUpHeader = v[0]
			delete(r.Header, h.tokenHeaderKey)
		}
	}
	delete(r.Header, tokenHeader)

	// The gateway's own pages, by the decoded path: they never reach the console.
	clean := policy.CleanPath(r.URL.Path)
	if clean == h.routes.prefix || strings.HasPrefix(clean, h.routes.prefixSlash) {
		return h.serveGateway(w, r, next)
	}
	path := policy.ReadPath(r.URL.EscapedPath())
	if h.Login != nil {
		switch path.On(h.routes.login) {
		case policy.Covered:
			if h.isLoginMethod(r) {
				return h.serveLogin(w, r, next)
			}
		case policy.Ambiguous:
			return h.refuseAmbiguous(w, r, "the login route spelled so that the console may read it as another path")
		}
	}
	if h.Logout != "" && path.On(h.routes.logout) == policy.Covered {
		return h.serveLogout(w, r, next)
	}
	for _, k := range rewriteHeaders {
		if v := r.Header[k]; len(v) > 0 && h.touchesProtection(v) {
			return h.refuseAmbiguous(w, r, "a "+k+" header naming a protected path")
		}
	}
	rule, cov := h.rules.Classify(r.Method, path, false)
	if cov == policy.PathOnly && methodOverridden(r, h.MaxHeldRequest) {
		rule, cov = h.rules.Classify(r.Method, path, true)
	}
	switch cov {
	case policy.Covered:
		return h.serveProtected(w, r, next, rule, stepUpHeader)
	case policy.Ambiguous:
		return h.refuseAmbiguous(w, r, "a path the console may read as the protected rule "+strconv.Quote(rule.Name))
	}
	return toConsole(w, r, next)
}

// isLoginMethod reports whether a request on the login path is a login: its method
// in any case, or any method-override signal (the console may read it as the login).
func (h *Handler) isLoginMethod(r *http.Request) bool {
	return strings.EqualFold(r.Method, h.Login.Method) || methodOverridden(r, h.Login.MaxBody)
}

// touchesProtection reports whether a path named in a rewrite header could be the
// login route or a protected rule's, in any reading and by any method.
func (h *Handler) touchesProtection(values []string) bool {
	for _, v := range values {
		raw, _, _ := strings.Cut(v, "?")
		p := policy.ReadPath(raw)
		if h.Login != nil && p.On(h.routes.login) != policy.NotCovered {
			return true
		}
		if _, cov := h.rules.Classify("", p, true); cov != policy.NotCovered {
			return true
		}
	}
	return false
}

// refuseAmbiguous answers 400 for a request the console could read otherwise than the
// gateway, and logs why.
func (h *Handler) refuseAmbiguous(w http.ResponseWriter, r *http.Request, why string) error {
	metrics.decisions.WithLabelValues("refused").Inc()
	h.logger.Warn("request refused: the console could read it otherwise than the gateway", zap.String("why", why),
		zap.String("method", r.Method), zap.String("path", r.URL.EscapedPath()), zap.String("client_ip", clientIP(r)))
	return h.badRequest(w, r, "This address cannot be read unambiguously. Use the link from the console.")
}

// routes are the gateway's own paths in the form requests are compared in (see
// policy.CleanPath), so a console that answers /login/ like /login is not logged into
// past the gateway.
type routes struct {
	prefix, prefixSlash, login, logout string
}

func newRoutes(prefix, login, logout string) routes {
	bare := func(p string) string {
		if p == "" {
			return "\x00" // matches no request path
		}
		return policy.CleanPath(p)
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
