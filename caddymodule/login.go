package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// serveLogin watches the console's login: it reads who signs in from the request and
// lets the console judge the password. A successful login of a user without login
// protection gets the gateway session cookie added to the console's answer; with
// login protection the whole answer is held until the second factor passes. Failed
// logins pass through untouched.
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	body, err := readBounded(r.Body, h.Login.MaxBody)
	if errors.Is(err, errTooLarge) {
		h.logger.Warn("login request body over max_body; not forwarded", zap.Int64("max_body", h.Login.MaxBody), zap.String("client_ip", clientIP(r)))
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, err)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	user := userField(r.Header.Get("Content-Type"), body, h.Login.UserField)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	capture := newLoginCapture(w, int(h.Login.MaxHeldResponse), h.loginSucceeded)
	if err := toConsole(capture, r, next); err != nil || !capture.kept {
		return err
	}
	if capture.overflow {
		h.logger.Error("console login answer larger than the gateway holds; login refused: raise login max_held_response",
			zap.Int64("max_held_response", h.Login.MaxHeldResponse))
		return caddyhttp.Error(http.StatusBadGateway, errors.New("login response too large"))
	}
	if user == "" {
		// The console accepted a password, but for whom? Releasing it would let a
		// protected user past the gateway: fail closed and tell the operator.
		h.logger.Error("console accepted a login but the user field is missing or unreadable; login refused: check login user_field",
			zap.String("user_field", h.Login.UserField), zap.String("content_type", r.Header.Get("Content-Type")))
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
		User: user, Binding: nonce, Purpose: challenge.PurposeLogin, Rule: "sign-in", Methods: methodNames(d.Methods),
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

// userField finds the user's name in a form or JSON login body. A field given more
// than once reads as missing: the console might take the other copy than we would
// (bob for the gateway, alice for the console), so the login fails closed instead.
func userField(contentType string, body []byte, field string) string {
	mt, params, _ := mime.ParseMediaType(contentType)
	var values []string
	switch {
	case mt == "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(int64(len(body)))
		if err != nil {
			return ""
		}
		defer form.RemoveAll()
		values = form.Value[field]
	case mt == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return ""
		}
		values = v[field]
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		values = jsonField(body, field)
	}
	if len(values) != 1 {
		return ""
	}
	return strings.TrimSpace(values[0])
}

// jsonField returns every string value of a top-level key of a JSON object; nil when
// the body is not an object or the key holds something else.
func jsonField(body []byte, field string) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var values []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if key, _ := t.(string); key == field {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return nil
			}
			values = append(values, s)
		}
	}
	return values
}

// serveLogout ends the gateway session and its step-up tokens, clears the gateway's
// cookies, and lets the console log out too.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
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
