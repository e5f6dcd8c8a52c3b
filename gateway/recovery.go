package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// recoveryCodes makes, shows once and ends a user's recovery codes.
type recoveryCodes interface {
	CreateRecoveryCodes(ctx context.Context, user string) ([]string, error)
	HoldForShowing(ctx context.Context, user string, codes []string) (string, error)
	TakeShown(ctx context.Context, user, id string) ([]string, error)
	RevokeRecoveryCodes(ctx context.Context, user string) error
	RememberLang(ctx context.Context, user, lang string) error
}

// rememberLang keeps the language the user reads their settings in, for the notices
// sent to them; a failure only costs the notice its language.
func (sp *settingsPages) rememberLang(r *http.Request, user string, f challenge.Factors) {
	if l := sp.respond.langOf(r).Code(); f.Lang != l {
		if err := sp.recovery.RememberLang(r.Context(), user, l); err != nil {
			sp.log.Debug("the user's language was not kept", zap.String("user", user), zap.Error(err))
		}
	}
}

// ruleRecoveryCodes is the built-in rule a new set of recovery codes is confirmed
// under (see builtInRules).
const ruleRecoveryCodes = "making new recovery codes"

// createRecoveryCodes is POST {prefix}/recovery: a new set of recovery codes, which
// ends the old set. It takes a second factor less than five minutes old that was not
// itself a recovery code: without one, a check with the bound factors comes first and
// then the settings page, whose button now works.
func (sp *settingsPages) createRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	req, err := sp.request(r, c)
	if err != nil {
		return err
	}
	switch d := policy.DecideRecoveryCodes(req, f.Bound()); d.Verdict {
	case policy.SignIn:
		return signIn(d.Reason)
	case policy.Deny:
		return sp.back(w, r, flash{Error: sp.respond.langOf(r).Text("deny.nothingBound")})
	case policy.Challenge:
		binding, err := sp.id.challengeBinding(w, r, c)
		if err != nil {
			return failed(err)
		}
		ch, err := sp.factors.Begin(r.Context(), challenge.Challenge{
			User: c.User, Binding: binding, Purpose: policy.PurposeOperation, Rule: ruleRecoveryCodes,
			Return: sp.prefix + "/?saved=recovery-ready", Back: sp.prefix + "/", Methods: d.Methods, NoRecovery: true,
		})
		if err != nil {
			return failed(err)
		}
		sp.log.Info("second factor required to make recovery codes", zap.String("user", c.User), zap.String("challenge", ch.ID))
		http.Redirect(w, r, sp.respond.challengeURL(ch.ID), http.StatusSeeOther)
		return nil
	}
	codes, err := sp.recovery.CreateRecoveryCodes(r.Context(), c.User)
	if errors.Is(err, challenge.ErrNotBound) {
		return sp.back(w, r, flash{Error: sp.respond.langOf(r).Text("deny.nothingBound")})
	}
	if err != nil {
		return failed(err)
	}
	id, err := sp.recovery.HoldForShowing(r.Context(), c.User, codes)
	if err != nil {
		return failed(err)
	}
	sp.audit.Record(r.Context(), Event{Actor: c.User, Target: c.User, Action: "recovery.created", Result: "ok", ClientIP: sp.clientIP(r),
		Detail: strconv.Itoa(len(codes))})
	http.Redirect(w, r, sp.prefix+"/recovery/"+id, http.StatusSeeOther)
	return nil
}

// showRecoveryCodes is GET {prefix}/recovery/{id}: the new codes, once. Reload or Back
// finds them gone, and says so.
func (sp *settingsPages) showRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	l := sp.respond.langOf(r)
	codes, err := sp.recovery.TakeShown(r.Context(), c.User, r.PathValue("id"))
	data := map[string]any{"Title": l.Text("recovery.title"), "User": c.User, "Prefix": sp.prefix}
	switch {
	case errors.Is(err, store.ErrNotFound):
		data["Gone"] = true
	case err != nil:
		return failed(err)
	default:
		data["Codes"] = codes
		// No language switch: following it would load this page again, and the codes
		// are shown once.
		data["Languages"] = nil
	}
	return sp.respond.Page(w, r, http.StatusOK, "recovery.html", data)
}

// recoveryView is what the settings page says of the user's recovery codes.
func (sp *settingsPages) recoveryView(r *http.Request, f challenge.Factors, req policy.Request, data map[string]any) {
	l := sp.respond.langOf(r)
	data["CanMakeRecovery"] = len(f.Bound()) > 0
	if rc := f.Recovery; rc != nil {
		data["RecoveryLeft"] = rc.Left()
		data["RecoveryCreated"] = dateTime(l, "recovery-created", rc.Created)
		if !rc.LastUsed.IsZero() {
			data["RecoveryLastUsed"] = dateTime(l, "recovery-last-used", rc.LastUsed)
		}
	}
	// Signed in, or confirmed, with a recovery code: set up the new device now.
	if p := req.Proof(policy.ChangeFactorsMaxAge); p != nil && p.Recovery {
		data["UsedRecovery"] = true
	}
}

// recoveryUsed audits a challenge passed with a recovery code, saying how many are
// left, so the user's settings and notices can tell them.
func (cp *challengePages) recoveryUsed(r *http.Request, p challenge.Passed) {
	if p.Method != policy.Recovery {
		return
	}
	left := ""
	if f, err := cp.challenges.Factors(r.Context(), p.Challenge.User); err == nil && f.Recovery != nil {
		left = strconv.Itoa(f.Recovery.Left())
	}
	cp.audit.Record(r.Context(), Event{Actor: p.Challenge.User, Target: p.Challenge.User, Action: "recovery.used", Result: "ok",
		ClientIP: cp.clientIP(r), Detail: left})
}

// recoveryWording says a wrong or used recovery code as such ("that recovery code was
// already used": not the app's "wait for a new one").
func recoveryWording(e *Error, err error, method policy.Method) *Error {
	var wrong *challenge.WrongCodeError
	if method != policy.Recovery || e.Code != CodeInvalidCode || !errors.As(err, &wrong) {
		return e
	}
	id := "error.recoveryWrong"
	if wrong.Reused {
		id = "error.recoveryUsed"
	}
	if wrong.AttemptsLeft > 0 {
		e.Text = say(id+".left", "Count", wrong.AttemptsLeft)
	} else {
		e.Text = say(id)
	}
	return e
}
