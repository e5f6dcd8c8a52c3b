package gateway

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// The gateway's cookies. The console never sees them (see ToConsole).
const (
	sessionCookie = "stepup_session" // the gateway session
	tokenCookie   = "stepup_token"   // a step-up token
	// loginCookie binds a held login's challenge to the browser that logged in; it is
	// sent only to the gateway's own pages.
	loginCookie = "stepup_login"
	// browserCookie binds the challenges of header mode to the browser that began
	// them (the auth layer in front owns the session); sent only to the gateway's pages.
	browserCookie = "stepup_browser"
	// deviceCookie (device.go) remembers who passed a second factor in this browser.
)

// TokenCookie is the cookie API clients present step-up tokens in.
const TokenCookie = tokenCookie

// DefaultTokenHeader is the header the README once named for step-up tokens; it is
// removed from every request (the console never sees a token) but read only when
// configured as the token header.
const DefaultTokenHeader = "X-Stepup-Token"

// cookies makes the gateway's cookies: HttpOnly always; Secure unless the site is
// served over plain HTTP on a loopback host (local development and the demo).
type cookies struct {
	prefix string // the path of cookies only the gateway's pages need
}

func (cookies) make(r *http.Request, name, value string, maxAge time.Duration, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: sameSite,
		Secure: r.TLS != nil || !loopbackHost(r.Host),
	}
	switch {
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	case maxAge < 0 || value == "":
		c.MaxAge = -1
	}
	return c
}

// pagesOnly makes a cookie sent only to the gateway's own pages.
func (ck cookies) pagesOnly(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := ck.make(r, name, value, maxAge, http.SameSiteLaxMode)
	c.Path = ck.prefix
	return c
}

// clearSession and clearToken remove the gateway session and step-up token cookies.
func (ck cookies) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, ck.make(r, sessionCookie, "", -1, http.SameSiteLaxMode))
}

func (ck cookies) clearToken(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, ck.make(r, tokenCookie, "", -1, http.SameSiteStrictMode))
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// cookieValue returns the named cookie's value, scanning the Cookie headers without
// building http.Cookie values (this runs on every protected request).
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// Next is the rest of the route: the console behind the gateway. (Caddy's
// caddyhttp.Handler is one.)
type Next interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// ToConsole passes a request on to the console without the gateway's own cookies:
// the console, its logs and anything behind it never see a gateway session or a
// step-up token (token headers are removed on arrival).
func ToConsole(w http.ResponseWriter, r *http.Request, next Next) error {
	hideGatewayCookies(r.Header)
	return next.ServeHTTP(w, r)
}

// gatewayCookies are the names of every cookie the gateway sets: one list, so a new
// cookie is hidden from the console by naming it here.
var gatewayCookies = map[string]bool{
	sessionCookie: true, tokenCookie: true, loginCookie: true, browserCookie: true, deviceCookie: true,
	langCookie: true, flashCookie: true,
}

// hideGatewayCookies removes the gateway's cookies from the Cookie headers, leaving
// the console's own untouched. Requests without them cost one substring search.
func hideGatewayCookies(h http.Header) {
	lines := h["Cookie"]
	changed := false
	for i, line := range lines {
		if !strings.Contains(line, "stepup_") {
			continue
		}
		var kept []string
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part == "" || gatewayCookies[name] {
				continue
			}
			kept = append(kept, part)
		}
		lines[i] = strings.Join(kept, "; ")
		changed = true
	}
	if !changed {
		return
	}
	kept := lines[:0]
	for _, line := range lines {
		if line != "" {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}
