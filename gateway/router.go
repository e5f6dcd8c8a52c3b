package gateway

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/policy"
)

// routeKind says which flow serves a request.
type routeKind int

const (
	toConsole      routeKind = iota // no flow: straight to the console, the store untouched
	ownPages                        // the gateway's pages and API under its prefix
	loginRoute                      // the console's login, watched
	logoutRoute                     // the console's logout
	protectedRoute                  // a protected operation
	refusedRoute                    // the console could read it otherwise than the gateway
)

// route is where a request goes, with what the router read on the way.
type route struct {
	kind routeKind
	rule policy.OperationRule // protectedRoute
	// stepUpHeader is a step-up token from the configured token header, taken off the
	// request (the console never sees it).
	stepUpHeader string
	refusal      *Error // refusedRoute
}

// router reads each request every way a console could and says which flow serves it.
// Where the readings disagree on whether the login route or a protected rule is
// touched, the request is refused: the gateway takes the strictest reading, never
// the attacker's.
type router struct {
	prefix, prefixSlash string // the gateway's own pages, in policy.CleanPath form
	login, logout       string // "" when not configured
	loginMethod         string
	maxLoginBody        int64
	maxHeldRequest      int64
	rules               policy.Rules
	tokenHeaderKey      string // the configured token header, canonical; "" when off
	log                 *zap.Logger
	events              Events
	clientIP            func(*http.Request) string
}

// route decides where r goes. It removes step-up token headers from r on the way.
func (rt *router) route(r *http.Request) route {
	// The console must never see a step-up token: it is the gateway's business.
	var out route
	if rt.tokenHeaderKey != "" {
		if v := r.Header[rt.tokenHeaderKey]; len(v) > 0 {
			out.stepUpHeader = v[0]
			delete(r.Header, rt.tokenHeaderKey)
		}
	}
	delete(r.Header, DefaultTokenHeader)

	// The gateway's own pages, by the decoded path: they never reach the console.
	clean := policy.CleanPath(r.URL.Path)
	if clean == rt.prefix || strings.HasPrefix(clean, rt.prefixSlash) {
		out.kind = ownPages
		return out
	}
	path := policy.ReadPath(r.URL.EscapedPath())
	if rt.login != "" {
		// Its method in any case, or any method-override signal: the console may read
		// it as the login. Other methods on the login's path (the login page) pass as
		// they are, however the path is spelled.
		if on := path.On(rt.login); on != policy.NotCovered &&
			(strings.EqualFold(r.Method, rt.loginMethod) || methodOverridden(r, rt.maxLoginBody)) {
			if on == policy.Ambiguous {
				return rt.refuse(r, "the login route spelled so that the console may read it as another path")
			}
			out.kind = loginRoute
			return out
		}
	}
	if rt.logout != "" && path.On(rt.logout) == policy.Covered {
		out.kind = logoutRoute
		return out
	}
	for _, k := range rewriteHeaders {
		if v := r.Header[k]; len(v) > 0 && rt.touchesProtection(v) {
			return rt.refuse(r, "a "+k+" header naming a protected path")
		}
	}
	rule, cov := rt.rules.Classify(r.Method, path, false)
	if cov == policy.PathOnly && methodOverridden(r, rt.maxHeldRequest) {
		rule, cov = rt.rules.Classify(r.Method, path, true)
	}
	switch cov {
	case policy.Covered:
		out.kind, out.rule = protectedRoute, rule
	case policy.Ambiguous:
		return rt.refuse(r, "a path the console may read as the protected rule "+strconv.Quote(rule.Name))
	}
	return out
}

// touchesProtection reports whether a path named in a rewrite header could be the
// login route or a protected rule's, in any reading and by any method.
func (rt *router) touchesProtection(values []string) bool {
	for _, v := range values {
		raw, _, _ := strings.Cut(v, "?")
		p := policy.ReadPath(raw)
		if rt.login != "" && p.On(rt.login) != policy.NotCovered {
			return true
		}
		if _, cov := rt.rules.Classify("", p, true); cov != policy.NotCovered {
			return true
		}
	}
	return false
}

// refuse is the route of a request the console could read otherwise than the gateway.
func (rt *router) refuse(r *http.Request, why string) route {
	rt.events.Decision("refused")
	rt.log.Warn("request refused: the console could read it otherwise than the gateway", zap.String("why", why),
		zap.String("method", r.Method), zap.String("path", r.URL.EscapedPath()), zap.String("client_ip", rt.clientIP(r)))
	return route{kind: refusedRoute, refusal: invalidRequest(say("error.ambiguousPath"), nil)}
}

// canonicalHeader is a header name as Go's http.Header keys it.
func canonicalHeader(name string) string {
	if name == "" {
		return ""
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}
