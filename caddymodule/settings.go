package caddymodule

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
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
		"CSRF": h.csrfToken(c.Session, "settings"), "Notice": notice, "Error": errText,
	}
	if f.TOTP != nil {
		data["TOTPBoundAt"] = f.TOTP.BoundAt.UTC().Format("2 Jan 2006 15:04 MST")
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
	c, ok, err := h.gatewayCaller(w, r)
	if !ok {
		return err
	}
	if !h.checkCSRF(r, c.Session, "settings") {
		return h.message(w, http.StatusForbidden, "Request refused", "This form has expired or did not come from this site. Go back and try again.", "", "")
	}
	f, err := h.challenges.Factors(r.Context(), c.User)
	if err != nil {
		return h.unavailable(w, r, err)
	}
	// With TOTP the only factor, "no TOTP bound" means "nothing bound", so binding
	// needs no earlier second factor. Once another factor exists, binding a new one
	// must first pass that factor (binding a new authenticator is sensitive).
	if f.TOTP != nil {
		return h.serveSettings(w, r, "", "An authenticator app is already bound; unbind it first.")
	}
	ch, err := h.challenges.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: c.Session, Purpose: "bind", Return: h.Prefix + "/", Methods: []string{"totp"},
	})
	if err != nil {
		return h.unavailable(w, r, err)
	}
	http.Redirect(w, r, h.challengeURL(ch.ID), http.StatusSeeOther)
	return nil
}

// unbind removes the authenticator app; it needs a current code from it (seed:
// "Unbinding an MFA device requires verification through the currently bound
// device"), and ends the step-up tokens it backed.
func (h *Handler) unbind(w http.ResponseWriter, r *http.Request) error {
	c, ok, err := h.gatewayCaller(w, r)
	if !ok {
		return err
	}
	if !h.checkCSRF(r, c.Session, "settings") {
		return h.message(w, http.StatusForbidden, "Request refused", "This form has expired or did not come from this site. Go back and try again.", "", "")
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
	c, ok, err := h.gatewayCaller(w, r)
	if !ok {
		return err
	}
	if !h.checkCSRF(r, c.Session, "settings") {
		return h.message(w, http.StatusForbidden, "Request refused", "This form has expired or did not come from this site. Go back and try again.", "", "")
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
