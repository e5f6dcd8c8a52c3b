package caddymodule

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/web"
)

func zapErr(err error) zap.Field { return zap.Error(err) }

func writeJSON(w http.ResponseWriter, status int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// wantsHTML tells a browser navigation (which gets pages and redirects) from an API
// or XHR call (which gets JSON and status codes).
func wantsHTML(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// sameOrigin reports whether a state-changing request came from this site. Browsers
// send Sec-Fetch-Site, or at least Origin, on every POST; a request with neither comes
// from a non-browser client, which cannot ride on a victim's cookies.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Referer") == "" || sameHost(r, r.Header.Get("Referer"))
	}
	return sameHost(r, origin)
}

func sameHost(r *http.Request, raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// safeReturn keeps a return path on this site: a path, never a scheme, a host or a
// protocol-relative "//host" (no open redirect).
func safeReturn(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n\t\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// refererPath is where to send the user back to after a held form post: the page the
// form was on, when it is on this site.
func refererPath(r *http.Request) string {
	ref := r.Header.Get("Referer")
	if ref == "" || !sameHost(r, ref) {
		return "/"
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "/"
	}
	return safeReturn(u.RequestURI())
}

// cookie makes a gateway cookie: HttpOnly always; Secure unless the site is served
// over plain HTTP on a loopback host (local development and the demo).
func (h *Handler) cookie(r *http.Request, name, value string, maxAge time.Duration, sameSite http.SameSite) *http.Cookie {
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

// message renders a plain page with a title and text, and a link.
func (h *Handler) message(w http.ResponseWriter, status int, title, text, link, linkText string) error {
	return web.Render(w, status, "message.html", map[string]any{
		"Title": title, "Message": text, "Link": link, "LinkText": linkText, "Issuer": h.Issuer,
	})
}

// unavailable answers when the store cannot: fail closed with a clear 503, log the
// cause for the operator. Anything but a store outage is a 500.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) error {
	status := http.StatusServiceUnavailable
	if !errors.Is(err, store.ErrUnavailable) {
		status = http.StatusInternalServerError
	}
	metrics.storeErrors.Inc()
	h.logger.Error("two-factor check could not run; request refused",
		zap.Error(err), zap.Int("status", status), zap.String("path", r.URL.Path), zap.String("client_ip", clientIP(r)))
	w.Header().Set("Retry-After", "5")
	text := "The two-factor service is temporarily unavailable. Nothing was changed; please try again in a moment."
	if !wantsHTML(r) {
		return writeJSON(w, status, map[string]any{"error": "temporarily_unavailable", "error_description": text})
	}
	return h.message(w, status, "Temporarily unavailable", text, "", "")
}

// badRequest refuses a request the gateway cannot read safely: a page for browsers,
// JSON for API clients. The log line that says why is the caller's.
func (h *Handler) badRequest(w http.ResponseWriter, r *http.Request, text string) error {
	if !wantsHTML(r) {
		return writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": text})
	}
	return h.message(w, http.StatusBadRequest, "Request refused", text, "", "")
}

// beginFailed answers when no challenge could be started: too many open ones (429,
// with when to retry), or the store could not answer (503).
func (h *Handler) beginFailed(w http.ResponseWriter, r *http.Request, err error) error {
	f, known := describe(err)
	if !known {
		return h.unavailable(w, r, err)
	}
	h.logger.Warn("no challenge started", zap.String("reason", err.Error()), zap.String("client_ip", clientIP(r)))
	if !wantsHTML(r) {
		return apiError(w, f)
	}
	if !f.Until.IsZero() {
		retryAfter(w, f.Until)
	}
	return h.message(w, f.Status, "Please wait", f.Text, "/", "Back to the console")
}
