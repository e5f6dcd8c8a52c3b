package caddymodule

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/web"
)

// serveSettings renders the user's two-factor settings page.
func (h *Handler) serveSettings(w http.ResponseWriter, r *http.Request, notice, errText string) error {
	c, ok, err := h.gatewayCaller(w, r)
	if !ok {
		return err
	}
	f, err := h.challenges.Factors(r.Context(), c.User)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	p := h.enforce.For(c.User)
	data := map[string]any{
		"Title": "Two-factor authentication", "Issuer": h.Issuer, "User": c.User, "Prefix": h.Prefix,
		"Operation": p.Operation, "Login": p.Login, "TOTPBound": f.TOTP != nil,
		"SMSAvailable": h.sms != nil,
		"CSRF":         h.csrfToken(c.binding(), "settings"), "Notice": notice, "Error": errText,
	}
	if f.TOTP != nil {
		data["TOTPBoundAt"] = f.TOTP.BoundAt.UTC().Format("2 Jan 2006 15:04 MST")
	}
	if f.Phone != nil {
		data["Phone"] = f.Phone.Masked
		data["PhoneBoundAt"] = f.Phone.BoundAt.UTC().Format("2 Jan 2006 15:04 MST")
	}
	status := http.StatusOK
	if errText != "" {
		status = http.StatusBadRequest
	}
	return web.Render(w, status, "settings.html", data)
}

// startBinding begins binding an authenticator app from the settings page: a
// challenge whose page shows the QR code.
func (h *Handler) startBinding(w http.ResponseWriter, r *http.Request) error {
	c, f, ok, err := h.settingsForm(w, r)
	if !ok {
		return err
	}
	if f.TOTP != nil {
		return h.serveSettings(w, r, "", "An authenticator app is already bound; unbind it first.")
	}
	return h.bindFromSettings(w, r, c, f, policy.TOTP, "bind an authenticator app")
}

// bindFromSettings starts binding a factor. Binding while another factor is bound is
// sensitive (whoever holds the session could add their own device): it needs a
// recent second factor first.
func (h *Handler) bindFromSettings(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, method policy.Method, what string) error {
	if len(f.Bound()) > 0 {
		fresh, err := h.recentSecondFactor(r, c)
		if err != nil {
			return h.unavailable(w, r, err)
		}
		if !fresh {
			return h.stepUpFirst(w, r, c, f, what)
		}
	}
	ch, err := h.challenges.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: h.challengeBinding(w, r, c), Purpose: policy.PurposeBind, Return: h.Prefix + "/", Methods: []policy.Method{method},
	})
	if err != nil {
		return h.beginFailed(w, r, err)
	}
	http.Redirect(w, r, h.challengeURL(ch.ID), http.StatusSeeOther)
	return nil
}

// settingsMaxAge is how recent a second factor must be to change second factors.
const settingsMaxAge = 5 * time.Minute

// recentSecondFactor reports whether the caller passed a second factor within
// settingsMaxAge (a step-up token, or a two-factor login), still live.
func (h *Handler) recentSecondFactor(r *http.Request, c caller) (bool, error) {
	t := now()
	if tok, ok := h.stepUpToken(r, ""); ok {
		if policy.Fresh(&policy.StepUp{User: tok.User, Session: tok.Session, AuthTime: tok.AuthTime}, c.User, c.Session, settingsMaxAge, t) {
			return h.live(r.Context(), c, tok.ID)
		}
	}
	if c.secondFactor() && policy.Fresh(&policy.StepUp{User: c.User, Session: c.Session, AuthTime: c.AuthTime}, c.User, c.Session, settingsMaxAge, t) {
		return h.live(r.Context(), c, "")
	}
	return false, nil
}

// stepUpFirst sends the user through a challenge with their bound factors, then back
// to the settings page, where they repeat the change.
func (h *Handler) stepUpFirst(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, what string) error {
	ch, err := h.challenges.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: h.challengeBinding(w, r, c), Purpose: policy.PurposeOperation, Rule: what, Return: h.Prefix + "/", Methods: f.Bound(),
	})
	if err != nil {
		return h.beginFailed(w, r, err)
	}
	h.logger.Info("second factor required to change second factors", zap.String("user", c.User), zap.String("change", what), zap.String("challenge", ch.ID))
	http.Redirect(w, r, h.challengeURL(ch.ID), http.StatusSeeOther)
	return nil
}

// startPhoneSettings starts binding (or changing) the user's phone.
func (h *Handler) startPhoneSettings(w http.ResponseWriter, r *http.Request) error {
	c, f, ok, err := h.settingsForm(w, r)
	if !ok {
		return err
	}
	if h.sms == nil {
		return h.serveSettings(w, r, "", "Text messages are not available here.")
	}
	return h.bindFromSettings(w, r, c, f, policy.SMS, "change your phone")
}

// removePhone unbinds the phone after a recent second factor, and ends the step-up
// tokens it may have backed.
func (h *Handler) removePhone(w http.ResponseWriter, r *http.Request) error {
	c, f, ok, err := h.settingsForm(w, r)
	if !ok {
		return err
	}
	if f.Phone == nil {
		return h.serveSettings(w, r, "", "No phone is bound.")
	}
	fresh, err := h.recentSecondFactor(r, c)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	if !fresh {
		return h.stepUpFirst(w, r, c, f, "remove your phone")
	}
	if err := h.challenges.RemovePhone(r.Context(), c.User); err != nil {
		return h.unavailable(w, r, err)
	}
	if err := h.revokeStepUps(r.Context(), c.User); err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("phone removed", zap.String("user", c.User), zap.String("client_ip", clientIP(r)))
	http.SetCookie(w, h.cookie(r, tokenCookie, "", -1, http.SameSiteStrictMode))
	return h.serveSettings(w, r, "Phone removed.", "")
}

// settingsForm checks a settings form (session, CSRF) and loads the user's factors.
// ok is false when a response has been written.
func (h *Handler) settingsForm(w http.ResponseWriter, r *http.Request) (caller, challenge.Factors, bool, error) {
	c, ok, err := h.settingsCaller(w, r)
	if !ok {
		return c, challenge.Factors{}, false, err
	}
	f, err := h.challenges.Factors(r.Context(), c.User)
	if err != nil {
		return c, f, false, h.unavailable(w, r, err)
	}
	return c, f, true, nil
}

// unbind removes the authenticator app; it needs a current code from it (seed:
// "Unbinding an MFA device requires verification through the currently bound
// device"), and ends the step-up tokens it backed.
func (h *Handler) unbind(w http.ResponseWriter, r *http.Request) error {
	c, ok, err := h.settingsCaller(w, r)
	if !ok {
		return err
	}
	if err := h.challenges.UnbindTOTP(r.Context(), c.User, r.PostFormValue("code"), clientIP(r)); err != nil {
		f, known := describe(err)
		if !known {
			return h.unavailable(w, r, err)
		}
		h.logFailure(r, c, "unbind", err)
		if !f.Until.IsZero() {
			retryAfter(w, f.Until)
		}
		return h.serveSettings(w, r, "", f.Text)
	}
	if err := h.revokeStepUps(r.Context(), c.User); err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("authenticator app unbound", zap.String("user", c.User), zap.String("client_ip", clientIP(r)))
	http.SetCookie(w, h.cookie(r, tokenCookie, "", -1, http.SameSiteStrictMode))
	return h.serveSettings(w, r, "Authenticator app unbound.", "")
}

// revokeStepUps ends every step-up token of user but keeps the user's sessions.
func (h *Handler) revokeStepUps(ctx context.Context, user string) error {
	grants, err := h.store.Grants(ctx, user)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.ID != g.Session {
			if err := h.store.Revoke(ctx, user, g.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// signOutEverywhere ends every gateway session and step-up token of the user, on
// every instance, then logs this browser out of the console too.
func (h *Handler) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	c, ok, err := h.settingsCaller(w, r)
	if !ok {
		return err
	}
	if err := h.store.RevokeUser(r.Context(), c.User); err != nil {
		return h.unavailable(w, r, err)
	}
	h.logger.Info("signed out everywhere: every gateway session and step-up token revoked", zap.String("user", c.User), zap.String("client_ip", clientIP(r)))
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1, http.SameSiteLaxMode))
	http.SetCookie(w, h.cookie(r, tokenCookie, "", -1, http.SameSiteStrictMode))
	to := "/"
	if h.Logout != "" {
		to = h.Logout
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// settingsCaller checks a settings form: a live gateway session, from this site, with
// the form's CSRF token. ok is false when a response has been written.
func (h *Handler) settingsCaller(w http.ResponseWriter, r *http.Request) (caller, bool, error) {
	c, ok, err := h.gatewayCaller(w, r)
	if !ok {
		return c, false, err
	}
	if !h.checkCSRF(r, c.binding(), "settings") {
		return c, false, h.refused(w)
	}
	return c, true, nil
}
