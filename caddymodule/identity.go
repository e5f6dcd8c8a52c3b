package caddymodule

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

const (
	sessionCookie = "stepup_session"
	tokenCookie   = "stepup_token"
	// loginCookie binds a held login's challenge to the browser that logged in;
	// it is sent only to the gateway's own pages.
	loginCookie = "stepup_login"
	// browserCookie binds the challenges of header mode to the browser that began
	// them (the auth layer in front owns the session); sent only to the gateway's pages.
	browserCookie = "stepup_browser"
	// tokenHeader is the header the README once named for step-up tokens; it is
	// removed from every request (the console never sees a token) but read only when
	// configured as token_header.
	tokenHeader = "X-Stepup-Token"
	// headerSession stands for "the session of the auth layer in front" in header
	// mode, where the gateway keeps no session of its own: tokens are then bound to
	// the user alone.
	headerSession = "header"
)

// caller is who sends a request, as far as the gateway knows.
type caller struct {
	User    string
	Session string // the gateway session id, or headerSession
	// AuthTime and AMR of the session: a login that passed a second factor (login
	// protection) is itself a recent second factor until max_age runs out.
	AuthTime time.Time
	AMR      []string
}

// secondFactor reports whether the session's login passed a second factor.
func (c caller) secondFactor() bool {
	return slices.Contains(c.AMR, "otp") || slices.Contains(c.AMR, "sms")
}

func (c caller) known() bool { return c.User != "" && c.Session != "" }

// binding is what the caller's own forms and API challenges are bound to: the gateway
// session, or in header mode the user (the auth layer's session is not the gateway's
// to see).
func (c caller) binding() string {
	if c.Session == headerSession {
		return "user:" + c.User
	}
	return c.Session
}

// identify names the caller without touching the store: the session cookie's
// signature and expiry are checked here, its liveness by the caller of identify.
func (h *Handler) identify(r *http.Request) caller {
	if h.Identity.Source == "header" {
		user := policy.CanonicalUser(r.Header.Get(h.Identity.Header))
		if user == "" {
			return caller{}
		}
		return caller{User: user, Session: headerSession}
	}
	raw := cookieValue(r, sessionCookie)
	if raw == "" {
		return caller{}
	}
	c, err := h.tokens.Parse(token.Session, raw)
	if err != nil {
		h.logger.Debug("session cookie refused", zapErr(err))
		return caller{}
	}
	return caller{User: c.User, Session: c.ID, AuthTime: c.AuthTime, AMR: c.AMR}
}

// stepUpToken returns the request's step-up token (the cookie, or the configured
// token header an API client sends), checked except for liveness.
func (h *Handler) stepUpToken(r *http.Request, header string) (token.Claims, bool) {
	raw := header
	if raw == "" {
		if raw = cookieValue(r, tokenCookie); raw == "" {
			return token.Claims{}, false
		}
	}
	c, err := h.tokens.Parse(token.StepUp, raw)
	if err != nil {
		h.logger.Debug("step-up token refused", zapErr(err))
		return token.Claims{}, false
	}
	return c, true
}

// live asks the store, in one round trip, whether the caller's session and the given
// grants are still live (not revoked, not expired).
func (h *Handler) live(ctx context.Context, c caller, tokenID string) (bool, error) {
	var buf [2]string // no allocation on the hot path
	ids := buf[:0]
	if tokenID != "" {
		ids = append(ids, tokenID)
	}
	if c.Session != headerSession {
		ids = append(ids, c.Session)
	}
	if len(ids) == 0 {
		return true, nil
	}
	return h.store.Live(ctx, c.User, ids...)
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

// challengeBinding is what a challenge begun for c by request r is bound to: the
// caller's session; in header mode, for a browser, the browser itself (a random
// cookie, set here when it has none yet), and for an API client the user.
func (h *Handler) challengeBinding(w http.ResponseWriter, r *http.Request, c caller) string {
	if c.Session != headerSession || !wantsHTML(r) {
		return c.binding()
	}
	nonce := cookieValue(r, browserCookie)
	if len(nonce) < 22 {
		nonce = base64.RawURLEncoding.EncodeToString(randomBytes(16))
		bc := h.cookie(r, browserCookie, nonce, 0, http.SameSiteLaxMode)
		bc.Path = h.Prefix
		http.SetCookie(w, bc)
	}
	return browserBinding(c.User, nonce)
}

func browserBinding(user, nonce string) string { return "browser:" + user + ":" + nonce }

// challengeBindings are what the caller of r may present to answer a challenge.
func (h *Handler) challengeBindings(r *http.Request, c caller) []string {
	var out []string
	if v := cookieValue(r, loginCookie); v != "" {
		out = append(out, v)
	}
	if !c.known() {
		return out
	}
	out = append(out, c.binding())
	if v := cookieValue(r, browserCookie); c.Session == headerSession && v != "" {
		out = append(out, browserBinding(c.User, v))
	}
	return out
}
