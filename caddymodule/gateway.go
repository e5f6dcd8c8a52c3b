package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/web"
)

// maxFormBody bounds the gateway's own forms and API bodies (a code and a token).
const maxFormBody = 16 << 10

// serveGateway serves the gateway's own pages and API under the prefix.
func (h *Handler) serveGateway(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, _ string) error {
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
	case strings.HasPrefix(sub, "/challenge/") && !strings.Contains(sub[len("/challenge/"):], "/"):
		id := sub[len("/challenge/"):]
		if post {
			return h.submitChallenge(w, r, next, id)
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return h.showChallenge(w, r, id, "", http.StatusOK)
		}
	case strings.HasPrefix(sub, "/api/challenges/") && strings.HasSuffix(sub, "/verify") && post:
		id := strings.TrimSuffix(sub[len("/api/challenges/"):], "/verify")
		if !strings.Contains(id, "/") {
			return h.apiVerify(w, r, id)
		}
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

// showChallenge renders the challenge page, or the binding page when the user has no
// authenticator bound yet (binding passes the challenge).
func (h *Handler) showChallenge(w http.ResponseWriter, r *http.Request, id, errText string, status int) error {
	ch, err := h.findChallenge(r, id)
	if err != nil {
		return h.challengeFailure(w, r, id, err)
	}
	f, err := h.challenges.Factors(r.Context(), ch.User)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	data := map[string]any{
		"Title": "Confirm it's you", "Issuer": h.Issuer, "User": ch.User, "Rule": ch.Rule,
		"Purpose": ch.Purpose, "Error": errText, "Action": h.challengeURL(id),
		"CSRF": h.csrfToken(ch.Binding, "challenge:"+id),
	}
	if ch.Purpose == challenge.PurposeLogin {
		data["Title"] = "Confirm your sign-in"
		data["Rule"] = ""
	}
	if f.TOTP != nil {
		return web.Render(w, status, "challenge.html", data)
	}
	enr, err := h.challenges.StartTOTPBinding(r.Context(), id, ch.Binding)
	if err != nil {
		return h.challengeFailure(w, r, id, err)
	}
	data["Title"] = "Bind an authenticator app"
	data["Secret"] = enr.Secret
	data["QR"] = dataURL(enr.QRPNG)
	return web.Render(w, status, "bind.html", data)
}

// dataURL inlines a PNG, so the secret inside the QR code never travels in a URL.
func dataURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// submitChallenge checks a code (or, on the binding page, two consecutive codes).
func (h *Handler) submitChallenge(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, id string) error {
	if err := r.ParseForm(); err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	ch, err := h.findChallenge(r, id)
	if err != nil {
		return h.challengeFailure(w, r, id, err)
	}
	c := caller{User: ch.User}
	if !h.checkCSRF(r, ch.Binding, "challenge:"+id) {
		h.logger.Warn("challenge form refused: bad CSRF token or cross-site", zap.String("user", ch.User), zap.String("challenge", id), zap.String("client_ip", clientIP(r)))
		return h.message(w, http.StatusForbidden, "Request refused", "This form has expired or did not come from this site. Go back and try again.", "", "")
	}
	var passed challenge.Passed
	if r.PostForm.Has("code1") {
		passed, err = h.challenges.ConfirmTOTPBinding(r.Context(), id, ch.Binding, r.PostFormValue("code1"), r.PostFormValue("code2"), clientIP(r))
	} else {
		passed, err = h.challenges.VerifyTOTP(r.Context(), id, ch.Binding, r.PostFormValue("code"), clientIP(r))
	}
	if err != nil {
		f, known := describe(err)
		if !known {
			return h.unavailable(w, r, err)
		}
		h.logFailure(r, c, id, err)
		if f.Status == http.StatusUnauthorized {
			return h.showChallenge(w, r, id, f.Text, f.Status)
		}
		return h.pageFailure(w, r, c, id, err)
	}
	return h.passed(w, r, next, passed)
}

// errSignIn: the caller presents nothing that could answer a challenge (no gateway
// session, no pending login), or its session has ended.
var errSignIn = errors.New("no gateway session or pending login")

// findChallenge loads challenge id for whoever may answer it: the browser whose login
// is held (login cookie), or the gateway session it was started in (still live).
func (h *Handler) findChallenge(r *http.Request, id string) (challenge.Challenge, error) {
	var bindings []string
	if v := cookieValue(r, loginCookie); v != "" {
		bindings = append(bindings, v)
	}
	c := h.identify(r)
	if c.known() {
		bindings = append(bindings, c.Session)
	}
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
	if err != nil || ch.Purpose == challenge.PurposeLogin {
		return ch, err
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
	if p.Challenge.Purpose == challenge.PurposeLogin {
		return h.releaseLogin(w, r, p)
	}
	if _, _, err := h.issueStepUp(w, r, p); err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("second factor passed", zap.String("user", p.Challenge.User), zap.String("challenge", p.Challenge.ID),
		zap.String("method", p.Method), zap.String("rule", p.Challenge.Rule), zap.String("client_ip", clientIP(r)))
	held, err := h.takeHeld(r, p.Challenge.ID)
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

func (h *Handler) logFailure(r *http.Request, c caller, id string, err error) {
	if f, ok := describe(err); ok {
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

// apiVerify is POST {prefix}/api/challenges/{id}/verify with {"code": "123456"}.
func (h *Handler) apiVerify(w http.ResponseWriter, r *http.Request, id string) error {
	if !checkAPIOrigin(r) {
		return writeJSON(w, http.StatusForbidden, map[string]any{"error": "forbidden", "error_description": "Send the code as JSON from this site"})
	}
	var body struct {
		Code   string `json:"code"`
		Method string `json:"method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": `Expected {"code": "123456"}`})
	}
	if body.Method != "" && body.Method != "totp" {
		return writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "Unknown method"})
	}
	ch, err := h.findChallenge(r, id)
	if errors.Is(err, errSignIn) {
		return h.needSignIn(w, r)
	}
	c := caller{User: ch.User}
	var passed challenge.Passed
	if err == nil {
		passed, err = h.challenges.VerifyTOTP(r.Context(), id, ch.Binding, body.Code, clientIP(r))
	}
	if err != nil {
		f, known := describe(err)
		if !known {
			return h.unavailable(w, r, err)
		}
		h.logFailure(r, c, id, err)
		if !f.Until.IsZero() {
			retryAfter(w, f.Until)
		}
		resp := map[string]any{"error": f.Code, "error_description": f.Text}
		if f.Code == "invalid_code" {
			resp["attempts_left"] = f.Left
		}
		return writeJSON(w, f.Status, resp)
	}
	metrics.verifications.WithLabelValues("passed").Inc()
	if passed.Challenge.Purpose == challenge.PurposeLogin {
		return h.releaseLogin(w, r, passed)
	}
	raw, claims, err := h.issueStepUp(w, r, passed)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("second factor passed", zap.String("user", c.User), zap.String("challenge", id), zap.String("method", passed.Method), zap.String("client_ip", clientIP(r)))
	return writeJSON(w, http.StatusOK, map[string]any{
		"token":      raw,
		"token_type": "stepup",
		"header":     tokenHeader,
		"expires_in": int(time.Until(claims.Expires) / time.Second),
		"auth_time":  claims.AuthTime.Unix(),
		"amr":        claims.AMR,
	})
}
