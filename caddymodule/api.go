package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
)

// apiChallenge finds a challenge for a JSON API call. ok is false when a response has
// been written.
func (h *Handler) apiChallenge(w http.ResponseWriter, r *http.Request, id string) (challenge.Challenge, bool, error) {
	if !checkAPIOrigin(r) {
		return challenge.Challenge{}, false, writeJSON(w, http.StatusForbidden, map[string]any{"error": "forbidden", "error_description": "Send JSON from this site"})
	}
	ch, err := h.findChallenge(r, id)
	if errors.Is(err, errSignIn) {
		return ch, false, h.needSignIn(w, r)
	}
	if err != nil {
		return ch, false, h.apiFailure(w, r, ch, id, err)
	}
	return ch, true, nil
}

// apiFailure answers a failed API call with the generic error the client may know.
func (h *Handler) apiFailure(w http.ResponseWriter, r *http.Request, ch challenge.Challenge, id string, err error) error {
	f, known := describe(err)
	if !known {
		return h.unavailable(w, r, err)
	}
	h.logFailure(r, caller{User: ch.User}, id, err)
	return apiError(w, f)
}

// apiError writes what an API client may know of a failure.
func apiError(w http.ResponseWriter, f failure) error {
	if !f.Until.IsZero() {
		retryAfter(w, f.Until)
	}
	resp := map[string]any{"error": f.Code, "error_description": f.Text}
	if f.Code == "invalid_code" {
		resp["attempts_left"] = f.Left
	}
	if !f.Until.IsZero() {
		resp["retry_at"] = f.Until.UTC().Format(time.RFC3339)
	}
	return writeJSON(w, f.Status, resp)
}

// apiVerify is POST {prefix}/api/challenges/{id}/verify with {"code": "123456"} and
// optionally "method": "totp" (the default) or "sms". It answers with a step-up
// token, or for a held login with the console's own login answer.
func (h *Handler) apiVerify(w http.ResponseWriter, r *http.Request, id string) error {
	var body struct {
		Code   string        `json:"code"`
		Method policy.Method `json:"method"`
	}
	ch, ok, err := h.apiChallenge(w, r, id)
	if !ok {
		return err
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": `Expected {"code": "123456"}`})
	}
	var passed challenge.Passed
	switch body.Method {
	case "", policy.TOTP:
		passed, err = h.challenges.VerifyTOTP(r.Context(), id, ch.Binding, body.Code, clientIP(r))
	case policy.SMS:
		passed, err = h.challenges.VerifySMS(r.Context(), id, ch.Binding, body.Code, clientIP(r))
	default:
		return writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "Unknown method; expected totp or sms"})
	}
	if err != nil {
		return h.apiFailure(w, r, ch, id, err)
	}
	metrics.verifications.WithLabelValues("passed").Inc()
	if passed.Challenge.Purpose == policy.PurposeLogin {
		return h.releaseLogin(w, r, passed)
	}
	raw, claims, err := h.issueStepUp(w, r, passed)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("second factor passed", zap.String("user", ch.User), zap.String("challenge", id), zap.String("method", string(passed.Method)), zap.String("client_ip", clientIP(r)))
	answer := map[string]any{
		"token":      raw,
		"token_type": "stepup",
		"cookie":     tokenCookie,
		"expires_in": int(time.Until(claims.Expires) / time.Second),
		"auth_time":  claims.AuthTime.Unix(),
		"amr":        claims.AMR,
	}
	if h.TokenHeader != "" {
		answer["header"] = h.TokenHeader
	}
	return writeJSON(w, http.StatusOK, answer)
}

// apiSendSMS is POST {prefix}/api/challenges/{id}/sms: send a code to the user's
// bound phone. A limit answers 429 with Retry-After.
func (h *Handler) apiSendSMS(w http.ResponseWriter, r *http.Request, id string) error {
	ch, ok, err := h.apiChallenge(w, r, id)
	if !ok {
		return err
	}
	sent, err := h.challenges.SendSMSCode(r.Context(), id, ch.Binding, clientIP(r))
	if err != nil {
		f, known := describe(err)
		if !known {
			return h.unavailable(w, r, err)
		}
		h.logSendFailure(r, ch, err)
		return apiError(w, f)
	}
	h.logger.Info("sms code sent", zap.String("user", ch.User), zap.String("challenge", id), zap.String("to", sent.To), zap.String("client_ip", clientIP(r)))
	return writeJSON(w, http.StatusOK, map[string]any{
		"sent_to":    sent.To,
		"resend_at":  sent.ResendAt.UTC().Format(time.RFC3339),
		"expires_at": sent.Expires.UTC().Format(time.RFC3339),
	})
}
