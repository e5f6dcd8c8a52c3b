package caddymodule

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/stepup/gateway"
)

// now is the gateway's clock; tests move it.
var now = time.Now

// ServeHTTP hands the request to the gateway's flows (package gateway), and answers
// what they refused: with the gateway's own page or JSON, or, for a store outage or
// a refused request when the server has handle_errors routes, through those, so
// operators can brand them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	err := h.gateway.Serve(w, r, next)
	if err == nil {
		return nil
	}
	if e, ok := gateway.AsError(err); ok && e.Brandable() && handlesErrors(r) {
		h.gateway.RetryAfter(w, e)
		return caddyhttp.Error(e.Status, e)
	}
	return h.gateway.Respond(w, r, err)
}

// handlesErrors reports whether the server answering r has handle_errors routes.
func handlesErrors(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && srv.Errors != nil && len(srv.Errors.Routes) > 0
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

// clientIP is the client's address as Caddy trusts it (trusted_proxies applies).
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
