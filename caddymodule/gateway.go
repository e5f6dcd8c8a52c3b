package caddymodule

import (
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
)

// maxFormBody bounds the gateway's own forms and API bodies (a code and a token).
const maxFormBody = 16 << 10

// serveGateway serves the gateway's own pages and API under the prefix.
func (h *Handler) serveGateway(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	sub, ok := h.subPath(r.URL.Path)
	if !ok {
		return caddyhttp.Error(http.StatusNotFound, nil)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	post := r.Method == http.MethodPost
	switch {
	case sub == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return h.serveSettings(w, r, "", "")
	case sub == "/jwks.json" && r.Method == http.MethodGet:
		jwks := h.tokens.JWKS()
		if jwks == nil {
			return caddyhttp.Error(http.StatusNotFound, nil)
		}
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(jwks)
		return err
	case strings.HasPrefix(sub, "/challenge/"):
		id, action, _ := strings.Cut(sub[len("/challenge/"):], "/")
		switch {
		case action == "" && post:
			return h.submitChallenge(w, r, next, id)
		case action == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			return h.showChallenge(w, r, id, pageState{})
		case action == "sms" && post:
			return h.sendChallengeSMS(w, r, id)
		case action == "phone" && post:
			return h.startPhoneBinding(w, r, id)
		}
	case strings.HasPrefix(sub, "/api/challenges/") && post:
		id, action, _ := strings.Cut(sub[len("/api/challenges/"):], "/")
		switch action {
		case "verify":
			return h.apiVerify(w, r, id)
		case "sms":
			return h.apiSendSMS(w, r, id)
		}
	case sub == "/phone/bind" && post:
		return h.startPhoneSettings(w, r)
	case sub == "/phone/remove" && post:
		return h.removePhone(w, r)
	case sub == "/totp/bind" && post:
		return h.startBinding(w, r)
	case sub == "/totp/unbind" && post:
		return h.unbind(w, r)
	case sub == "/signout-all" && post:
		return h.signOutEverywhere(w, r)
	}
	return caddyhttp.Error(http.StatusNotFound, nil)
}

// subPath returns the cleaned request path below the prefix, keeping its case (ids
// are case-sensitive).
func (h *Handler) subPath(p string) (string, bool) {
	c := path.Clean("/" + p)
	if len(c) < len(h.Prefix) || !strings.EqualFold(c[:len(h.Prefix)], h.Prefix) {
		return "", false
	}
	sub := c[len(h.Prefix):]
	if sub == "" {
		sub = "/"
	}
	if sub[0] != '/' {
		return "", false
	}
	return sub, true
}

// gatewayCaller is the caller of a gateway page: known, with a live session.
// ok is false when a response has been written (sign in, or 503).
func (h *Handler) gatewayCaller(w http.ResponseWriter, r *http.Request) (caller, bool, error) {
	c := h.identify(r)
	if !c.known() {
		return c, false, h.needSignIn(w, r)
	}
	live, err := h.live(r.Context(), c, "")
	if err != nil {
		return c, false, h.unavailable(w, r, err)
	}
	if !live {
		http.SetCookie(w, h.cookie(r, sessionCookie, "", -1, http.SameSiteLaxMode))
		return c, false, h.needSignIn(w, r)
	}
	return c, true, nil
}

// errSignIn: the caller presents nothing that could answer a challenge (no gateway
// session, no pending login), or its session has ended.
var errSignIn = errors.New("no gateway session or pending login")

// findChallenge loads challenge id for whoever may answer it: the browser whose login
// is held (login cookie), or the gateway session it was started in (still live).
func (h *Handler) findChallenge(r *http.Request, id string) (challenge.Challenge, error) {
	c := h.identify(r)
	bindings := h.challengeBindings(r, c)
	if len(bindings) == 0 {
		return challenge.Challenge{}, errSignIn
	}
	var ch challenge.Challenge
	err := challenge.ErrNotYours
	for _, b := range bindings {
		if ch, err = h.challenges.Challenge(r.Context(), id, b); !errors.Is(err, challenge.ErrNotYours) {
			break
		}
	}
	if err != nil || ch.Purpose == policy.PurposeLogin {
		return ch, err
	}
	// Everything but a held login is answered by its own user, signed in.
	if !c.known() || c.User != ch.User {
		return ch, challenge.ErrNotYours
	}
	live, err := h.live(r.Context(), c, "")
	if err != nil {
		return ch, err
	}
	if !live {
		return ch, errSignIn
	}
	return ch, nil
}

// challengeFailure answers a browser whose challenge cannot be shown or answered.
func (h *Handler) challengeFailure(w http.ResponseWriter, r *http.Request, id string, err error) error {
	if errors.Is(err, errSignIn) {
		return h.needSignIn(w, r)
	}
	return h.pageFailure(w, r, caller{}, id, err)
}

// needSignIn sends a browser to the console's login page; an API client gets 401.
func (h *Handler) needSignIn(w http.ResponseWriter, r *http.Request) error {
	if wantsHTML(r) && h.Login != nil {
		http.Redirect(w, r, h.Login.Path, http.StatusSeeOther)
		return nil
	}
	return writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "sign_in_required", "error_description": "Sign in to the console through the gateway first"})
}

// passed finishes a challenge in a browser: token cookie, then the held form is
// replayed or the user goes back where they were.
func (h *Handler) passed(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p challenge.Passed) error {
	metrics.verifications.WithLabelValues("passed").Inc()
	if p.Challenge.Purpose == policy.PurposeLogin {
		return h.releaseLogin(w, r, p)
	}
	if _, _, err := h.issueStepUp(w, r, p); err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("second factor passed", zap.String("user", p.Challenge.User), zap.String("challenge", p.Challenge.ID),
		zap.String("method", string(p.Method)), zap.String("rule", p.Challenge.Rule), zap.String("client_ip", clientIP(r)))
	held, err := h.takeHeld(r, p)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	if held != nil {
		setUser(r, p.Challenge.User, p.AuthTime)
		return h.replay(w, r, next, held)
	}
	http.Redirect(w, r, safeReturn(p.Challenge.Return), http.StatusSeeOther)
	return nil
}

// logFailure records a failed answer for the operator. (A challenge that ended on
// its last wrong code has dropped what waited on it already.)
func (h *Handler) logFailure(r *http.Request, c caller, id string, err error) {
	f, ok := describe(err)
	if ok {
		metrics.verifications.WithLabelValues(f.Code).Inc()
	}
	h.logger.Warn("second factor failed", zap.String("user", c.User), zap.String("challenge", id),
		zap.String("reason", err.Error()), zap.String("client_ip", clientIP(r)))
}

// pageFailure renders a page for a challenge that cannot go on.
func (h *Handler) pageFailure(w http.ResponseWriter, r *http.Request, c caller, id string, err error) error {
	f, known := describe(err)
	if !known {
		return h.unavailable(w, r, err)
	}
	if f.Status == http.StatusForbidden {
		h.logFailure(r, c, id, err)
	}
	if !f.Until.IsZero() {
		retryAfter(w, f.Until)
	}
	return h.message(w, f.Status, "Second factor not confirmed", f.Text, "/", "Back to the console")
}
