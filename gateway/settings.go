package gateway

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
)

// factorSettings reads and changes a user's second factors.
type factorSettings interface {
	Factors(ctx context.Context, user string) (challenge.Factors, error)
	Begin(ctx context.Context, c challenge.Challenge) (challenge.Challenge, error)
	UnbindTOTP(ctx context.Context, user, code, clientIP string) error
	RemovePhone(ctx context.Context, user string) error
}

// userTokens ends a user's gateway tokens.
type userTokens interface {
	RevokeUser(ctx context.Context, user string) error
	RevokeStepUps(ctx context.Context, user string) error
}

// settingsPages serves the user's own two-factor settings: see them, bind and unbind
// an authenticator, bind, change or remove a phone, sign out everywhere.
type settingsPages struct {
	id          *identifier
	respond     *Responder
	forms       forms
	cookies     cookies
	factors     factorSettings
	tokens      userTokens
	enforcement policy.Enforcement
	sms         bool
	prefix      string
	logoutPath  string
	env
}

// caller is the caller of a settings page: known, with a live session.
func (sp *settingsPages) caller(w http.ResponseWriter, r *http.Request) (caller, error) {
	c := sp.id.caller(r)
	if !c.known() {
		return c, signIn("no gateway session")
	}
	live, err := sp.id.live(r.Context(), c, nil)
	if err != nil {
		return c, failed(err)
	}
	if !live {
		sp.cookies.clearSession(w, r)
		return c, signIn("gateway session revoked or expired")
	}
	return c, nil
}

// form checks a settings form (session, same site, form token) and loads the user's
// factors.
func (sp *settingsPages) form(w http.ResponseWriter, r *http.Request) (caller, challenge.Factors, error) {
	c, err := sp.caller(w, r)
	if err != nil {
		return c, challenge.Factors{}, err
	}
	if err := sp.forms.check(r, c.binding(), "settings"); err != nil {
		return c, challenge.Factors{}, err
	}
	f, err := sp.factors.Factors(r.Context(), c.User)
	if err != nil {
		return c, f, failed(err)
	}
	return c, f, nil
}

// show renders the settings page.
func (sp *settingsPages) show(w http.ResponseWriter, r *http.Request) error {
	return sp.render(w, r, "", "")
}

func (sp *settingsPages) render(w http.ResponseWriter, r *http.Request, notice, errText string) error {
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	f, err := sp.factors.Factors(r.Context(), c.User)
	if err != nil {
		return failed(err)
	}
	p := sp.enforcement.For(c.User)
	data := map[string]any{
		"Title": "Two-factor authentication", "User": c.User, "Prefix": sp.prefix,
		"Operation": p.Operation, "Login": p.Login, "TOTPBound": f.TOTP != nil,
		"SMSAvailable": sp.sms,
		"CSRF":         sp.forms.token(c.binding(), "settings"), "Notice": notice, "Error": errText,
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
	return sp.respond.Page(w, status, "settings.html", data)
}

// bindTOTP begins binding an authenticator app: a challenge whose page shows the QR
// code.
func (sp *settingsPages) bindTOTP(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	if f.TOTP != nil {
		return sp.render(w, r, "", "An authenticator app is already bound; unbind it first.")
	}
	return sp.bind(w, r, c, f, policy.TOTP, "bind an authenticator app")
}

// bindPhone starts binding (or changing) the user's phone.
func (sp *settingsPages) bindPhone(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	if !sp.sms {
		return sp.render(w, r, "", "Text messages are not available here.")
	}
	return sp.bind(w, r, c, f, policy.SMS, "change your phone")
}

// bind starts binding a factor, after a recent second factor when another is bound.
func (sp *settingsPages) bind(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, method policy.Method, what string) error {
	if done, err := sp.stepUpFirst(w, r, c, f, what); done || err != nil {
		return err
	}
	binding, err := sp.id.challengeBinding(w, r, c)
	if err != nil {
		return failed(err)
	}
	ch, err := sp.factors.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: binding, Purpose: policy.PurposeBind, Return: sp.prefix + "/", Methods: []policy.Method{method},
	})
	if err != nil {
		return failed(err)
	}
	http.Redirect(w, r, sp.respond.challengeURL(ch.ID), http.StatusSeeOther)
	return nil
}

// stepUpFirst asks policy whether the caller may change second factors now; when a
// recent second factor is needed first, it sends the user through a challenge with
// the bound factors and back here (done is true).
func (sp *settingsPages) stepUpFirst(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, what string) (done bool, err error) {
	stepUp := sp.id.stepUpToken(r, "")
	req := c.request(sp.now, stepUp)
	d := policy.DecideChange(req, f.Bound())
	if d.Verdict == policy.Allow {
		if proof := req.Proof(policy.ChangeFactorsMaxAge); proof != nil {
			if proof.ID == "" {
				stepUp = nil
			}
			live, err := sp.id.live(r.Context(), c, stepUp)
			if err != nil {
				return true, failed(err)
			}
			if !live {
				d = policy.Decision{Verdict: policy.Challenge, Methods: f.Bound(), Reason: "the recent second factor was revoked"}
			}
		}
	}
	if d.Verdict == policy.Allow {
		return false, nil
	}
	binding, err := sp.id.challengeBinding(w, r, c)
	if err != nil {
		return true, failed(err)
	}
	ch, err := sp.factors.Begin(r.Context(), challenge.Challenge{
		User: c.User, Binding: binding, Purpose: policy.PurposeOperation, Rule: what, Return: sp.prefix + "/", Methods: d.Methods,
	})
	if err != nil {
		return true, failed(err)
	}
	sp.log.Info("second factor required to change second factors", zap.String("user", c.User), zap.String("change", what), zap.String("challenge", ch.ID))
	http.Redirect(w, r, sp.respond.challengeURL(ch.ID), http.StatusSeeOther)
	return true, nil
}

// removePhone unbinds the phone after a recent second factor, and ends the step-up
// tokens it may have backed.
func (sp *settingsPages) removePhone(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	if f.Phone == nil {
		return sp.render(w, r, "", "No phone is bound.")
	}
	if done, err := sp.stepUpFirst(w, r, c, f, "remove your phone"); done || err != nil {
		return err
	}
	if err := sp.factors.RemovePhone(r.Context(), c.User); err != nil {
		return failed(err)
	}
	if err := sp.tokens.RevokeStepUps(r.Context(), c.User); err != nil {
		return failed(err)
	}
	sp.log.Info("phone removed", zap.String("user", c.User), zap.String("client_ip", sp.clientIP(r)))
	sp.cookies.clearToken(w, r)
	return sp.render(w, r, "Phone removed.", "")
}

// unbindTOTP removes the authenticator app; it needs a current code from it (seed:
// "Unbinding an MFA device requires verification through the currently bound
// device"), and ends the step-up tokens it backed.
func (sp *settingsPages) unbindTOTP(w http.ResponseWriter, r *http.Request) error {
	c, _, err := sp.form(w, r)
	if err != nil {
		return err
	}
	if err := sp.factors.UnbindTOTP(r.Context(), c.User, r.PostFormValue("code"), sp.clientIP(r)); err != nil {
		e := failed(err)
		if e.Code == CodeUnavailable || e.Code == CodeInternal {
			return e
		}
		sp.events.Verification(string(e.Code))
		sp.log.Warn("second factor failed", zap.String("user", c.User), zap.String("challenge", "unbind"),
			zap.String("reason", err.Error()), zap.String("client_ip", sp.clientIP(r)))
		sp.respond.RetryAfter(w, e)
		return sp.render(w, r, "", e.Text)
	}
	if err := sp.tokens.RevokeStepUps(r.Context(), c.User); err != nil {
		return failed(err)
	}
	sp.log.Info("authenticator app unbound", zap.String("user", c.User), zap.String("client_ip", sp.clientIP(r)))
	sp.cookies.clearToken(w, r)
	return sp.render(w, r, "Authenticator app unbound.", "")
}

// signOutEverywhere ends every gateway session and step-up token of the user, on
// every instance, then logs this browser out of the console too.
func (sp *settingsPages) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	if err := sp.forms.check(r, c.binding(), "settings"); err != nil {
		return err
	}
	if err := sp.tokens.RevokeUser(r.Context(), c.User); err != nil {
		return failed(err)
	}
	sp.log.Info("signed out everywhere: every gateway session and step-up token revoked", zap.String("user", c.User), zap.String("client_ip", sp.clientIP(r)))
	sp.cookies.clearSession(w, r)
	sp.cookies.clearToken(w, r)
	to := "/"
	if sp.logoutPath != "" {
		to = sp.logoutPath
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
