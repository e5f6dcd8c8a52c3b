package caddymodule

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// serveLogin watches the console's login: the console judges the password, then the
// gateway learns who signed in (from the console, or from the request read strictly).
// A successful login of a user without login protection gets the gateway session
// cookie added to the console's answer; with login protection the whole answer is
// held until the second factor passes. Failed logins pass through untouched.
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// A login the gateway could not hold must not be attempted: the password would
	// reach the console and its session could not be held back.
	if err := h.store.Ping(r.Context()); err != nil {
		return h.unavailable(w, r, err)
	}
	body, err := readBounded(r.Body, h.Login.MaxBody)
	if errors.Is(err, errTooLarge) {
		h.logger.Warn("login request body over max_body; not forwarded", zap.Int64("max_body", h.Login.MaxBody), zap.String("client_ip", clientIP(r)))
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, err)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	var user string
	if h.Login.WhoAmI == nil && h.Login.UserHeader == "" {
		if user, err = loginUser(r.Header.Get("Content-Type"), r.URL.RawQuery, body, h.Login.UserField); err != nil {
			h.logger.Warn("login refused before reaching the console: it could name two users or cannot be read",
				zap.String("reason", err.Error()), zap.String("user_field", h.Login.UserField),
				zap.String("content_type", r.Header.Get("Content-Type")), zap.String("client_ip", clientIP(r)))
			return h.badRequest(w, r, "This sign-in request cannot be read. Sign in from the console's login page.")
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	capture := newLoginCapture(w, int(h.Login.MaxHeldResponse), h.loginSucceeded, h.Login.UserHeader)
	if err := toConsole(capture, r, next); err != nil || !capture.kept {
		return err
	}
	if capture.overflow {
		h.logger.Error("console login answer larger than the gateway holds; login refused: raise login max_held_response",
			zap.Int64("max_held_response", h.Login.MaxHeldResponse))
		return caddyhttp.Error(http.StatusBadGateway, errors.New("login response too large"))
	}
	switch {
	case h.Login.WhoAmI != nil:
		user, err = h.askConsole(r, next, capture.header)
	case h.Login.UserHeader != "":
		user, err = headerUser(capture.users, h.Login.UserHeader)
	}
	if err != nil || user == "" {
		// The console accepted a password, but for whom? Releasing it would let a
		// protected user past the gateway: fail closed and tell the operator.
		h.logger.Error("console accepted a login but did not say for whom; login held back",
			zap.NamedError("reason", err), zap.String("client_ip", clientIP(r)))
		return h.message(w, http.StatusBadGateway, "Sign-in could not be completed", "The sign-in could not be completed. Please contact the administrator.", "", "")
	}
	profile, err := h.profile(r, user)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	if d := policy.DecideLogin(profile); d.Verdict != policy.Allow {
		return h.holdLogin(w, r, capture, user, d)
	}
	cookies, err := h.startSession(r, user, []string{"pwd"}, now())
	if err != nil {
		return h.unavailable(w, r, err)
	}
	metrics.logins.WithLabelValues("passed").Inc()
	h.logger.Info("console login passed; gateway session started", zap.String("user", user), zap.String("client_ip", clientIP(r)))
	return capture.release(cookies...)
}

// headerUser reads the user from the console's user header: exactly one value.
func headerUser(values []string, name string) (string, error) {
	if len(values) != 1 {
		return "", fmt.Errorf("the console's answer has %d %s headers, want 1", len(values), name)
	}
	user := policy.CanonicalUser(values[0])
	if user == "" {
		return "", fmt.Errorf("the console's %s header names no readable user", name)
	}
	return user, nil
}

// startSession makes a gateway session and returns the cookies that carry it (and
// clear any step-up token or pending login of an earlier session).
func (h *Handler) startSession(r *http.Request, user string, amr []string, authTime time.Time) ([]*http.Cookie, error) {
	raw, claims, err := h.tokens.Issue(r.Context(), token.Session, user, "", amr, authTime)
	if err != nil {
		return nil, err
	}
	setUser(r, user, claims.AuthTime)
	return []*http.Cookie{
		h.cookie(r, sessionCookie, raw, time.Until(claims.Expires), http.SameSiteLaxMode),
		h.cookie(r, tokenCookie, "", -1, http.SameSiteStrictMode),
	}, nil
}

// holdLogin keeps the console's successful answer (its session cookie among it) in
// the store under a login challenge, and sends the browser to the challenge page
// instead; nothing of the console's answer reaches the client.
func (h *Handler) holdLogin(w http.ResponseWriter, r *http.Request, capture *loginCapture, user string, d policy.Decision) error {
	nonce := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	ch, err := h.challenges.Begin(r.Context(), challenge.Challenge{
		User: user, Binding: nonce, Purpose: policy.PurposeLogin, Rule: "sign-in", Methods: d.Methods,
	})
	if err != nil {
		return h.beginFailed(w, r, err)
	}
	if err := h.saveHeldResponse(r, ch, capture); err != nil {
		return h.unavailable(w, r, err)
	}
	metrics.logins.WithLabelValues("held").Inc()
	h.logger.Info("console login held until the second factor passes", zap.String("user", user), zap.String("challenge", ch.ID),
		zap.String("verdict", d.Verdict.String()), zap.String("reason", d.Reason), zap.String("client_ip", clientIP(r)))
	lc := h.cookie(r, loginCookie, nonce, time.Until(ch.Expires), http.SameSiteLaxMode)
	lc.Path = h.Prefix
	http.SetCookie(w, lc)
	if wantsHTML(r) {
		http.Redirect(w, r, h.challengeURL(ch.ID), http.StatusSeeOther)
		return nil
	}
	return h.stepUpChallenge(w, ch, 0, "Sign-in needs a second factor", d.Verdict == policy.Bind)
}

// loginSucceeded applies the configured success criteria to the console's answer.
func (h *Handler) loginSucceeded(status int, hdr http.Header) bool {
	if !slices.Contains(h.Login.SuccessStatus, status) {
		return false
	}
	if h.Login.SuccessCookie == "" {
		return true
	}
	for _, line := range hdr.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == h.Login.SuccessCookie && c.Value != "" && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}

// serveLogout ends the gateway session and its step-up tokens, clears the gateway's
// cookies, and lets the console log out too.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !sameOrigin(r) {
		// An <img src=/logout> on another site must not sign anyone out of the gateway.
		h.logger.Info("cross-site request to the logout route: gateway session kept", zap.String("client_ip", clientIP(r)))
		return toConsole(w, r, next)
	}
	if c := h.identify(r); c.known() && c.Session != headerSession {
		if err := h.store.Revoke(r.Context(), c.User, c.Session); err != nil {
			// Logging out must still work: the cookies go, the console logs out;
			// the session record expires on its own.
			h.logger.Error("could not revoke the gateway session at logout", zap.String("user", c.User), zap.Error(err))
		} else {
			h.logger.Info("gateway session ended at logout", zap.String("user", c.User))
		}
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1, http.SameSiteLaxMode))
	http.SetCookie(w, h.cookie(r, tokenCookie, "", -1, http.SameSiteStrictMode))
	return toConsole(w, r, next)
}
