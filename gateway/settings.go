package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
)

// factorSettings reads and changes a user's second factors and protection settings.
type factorSettings interface {
	Factors(ctx context.Context, user string) (challenge.Factors, error)
	Begin(ctx context.Context, c challenge.Challenge) (challenge.Challenge, error)
	UnbindTOTP(ctx context.Context, user, code, clientIP string) error
	RemovePhone(ctx context.Context, user string) error
	SetChoices(ctx context.Context, user string, c policy.Choices) error
}

// userTokens ends a user's gateway tokens.
type userTokens interface {
	RevokeUser(ctx context.Context, user string) error
	RevokeStepUps(ctx context.Context, user string) error
}

// settingsPages serves the user's own two-factor settings, as a page and a JSON API:
// see them, turn login and operation protection on or off and choose their methods
// (within the mandates), bind and unbind an authenticator, bind, change or remove a
// phone, sign out everywhere.
type settingsPages struct {
	id         *identifier
	respond    *Responder
	forms      forms
	cookies    cookies
	factors    factorSettings
	recovery   recoveryCodes
	tokens     userTokens
	profiles   profiles
	settings   policy.Settings
	audit      *Audit
	flashes    flashes
	sms        bool
	prefix     string
	logoutPath string
	env
}

// caller is the caller of a settings page: known, with a live session.
func (sp *settingsPages) caller(w http.ResponseWriter, r *http.Request) (caller, error) {
	return sp.id.liveCaller(w, r)
}

// form checks a settings form (session, same site, form token) and loads the user's
// record.
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

// request is the caller's request as policy sees it, with only live proofs.
func (sp *settingsPages) request(r *http.Request, c caller) (policy.Request, error) {
	return sp.id.liveRequest(r, c, sp.now)
}

// savedNotices are what the settings page says after a change, by the ?saved= its
// redirect names (a fixed set: a link cannot make the page say anything else).
var savedNotices = map[string]string{
	"1":             "settings.saved",
	"totp":          "settings.saved.totp",
	"phone":         "settings.saved.phone",
	"totp-removed":  "settings.saved.totpRemoved",
	"phone-removed": "settings.saved.phoneRemoved",
	// After the check that making recovery codes asks for: the button works now.
	"recovery-ready": "settings.saved.recoveryReady",
}

// show renders the settings page.
func (sp *settingsPages) show(w http.ResponseWriter, r *http.Request) error {
	fl := sp.flashes.take(w, r, "settings")
	if id, ok := savedNotices[r.URL.Query().Get("saved")]; ok && fl.Notice == "" {
		fl.Notice = sp.respond.langOf(r).Text(id)
	}
	return sp.render(w, r, fl)
}

// back sends the browser to the settings page, saying fl there (post/redirect/get).
func (sp *settingsPages) back(w http.ResponseWriter, r *http.Request, fl flash) error {
	fl.For = "settings"
	sp.flashes.redirect(w, r, sp.prefix+"/", fl)
	return nil
}

// protectionView is one kind of protection as the page shows it.
type protectionView struct {
	Kind     policy.Kind
	Title    string
	On       bool
	Mandated bool
	Methods  []methodView
	Explain  string
}

type methodView struct {
	Method  policy.Method
	Label   string
	Checked bool
}

func methodLabel(l *locale.Lang, m policy.Method) string {
	if m == policy.SMS {
		return l.Text("method.sms")
	}
	return l.Text("method.totp")
}

func (sp *settingsPages) render(w http.ResponseWriter, r *http.Request, fl flash) error {
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	f, err := sp.factors.Factors(r.Context(), c.User)
	if err != nil {
		return failed(err)
	}
	p := sp.profiles.from(c.User, f)
	l := sp.respond.langOf(r)
	var views []protectionView
	for _, k := range policy.Kinds {
		v := protectionView{Kind: k, On: p.Protection.On(k), Mandated: p.Protection.Mandated(k)}
		if k == policy.Login {
			v.Title, v.Explain = l.Text("protection.login.yours"), l.Text("protection.login.explain")
		} else {
			v.Title, v.Explain = l.Text("protection.operation.title"), l.Text("protection.operation.explain")
		}
		for _, m := range sp.settings.Methods {
			v.Methods = append(v.Methods, methodView{Method: m, Label: methodLabel(l, m), Checked: slices.Contains(p.Protection.Methods(k), m)})
		}
		views = append(views, v)
	}
	data := map[string]any{
		"Title": l.Text("settings.title"), "User": c.User, "Prefix": sp.prefix,
		"Protections": views, "TOTPBound": f.TOTP != nil, "SMSAvailable": sp.sms,
		"CSRF": sp.forms.token(c.binding(), "settings"), "Notice": fl.Notice, "Error": fl.Error, "ErrorField": fl.Field,
		"Admin": p.Role != policy.RoleUser,
	}
	if !f.Choices.ChangedAt.IsZero() {
		data["ChangedBy"], data["ChangedAt"] = f.Choices.ChangedBy, dateTime(l, "settings-changed-at", f.Choices.ChangedAt)
	}
	events, err := sp.audit.Recent(r.Context(), c.User, 10)
	if err != nil {
		return failed(err)
	}
	data["Events"] = eventViews(l, events)
	if f.TOTP != nil {
		data["TOTPBoundAt"] = dateTime(l, "", f.TOTP.BoundAt)
	}
	if f.Phone != nil {
		data["Phone"] = f.Phone.Masked
		data["PhoneBoundAt"] = dateTime(l, "", f.Phone.BoundAt)
	}
	req, err := sp.request(r, c)
	if err != nil {
		return err
	}
	sp.recoveryView(r, f, req, data)
	sp.rememberLang(r, c.User, f)
	return sp.respond.Page(w, r, http.StatusOK, "settings.html", data)
}

// protection is the settings page's form to turn one kind of protection on or off
// and choose its methods.
func (sp *settingsPages) protection(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	k := policy.Kind(r.PostFormValue("kind"))
	if k != policy.Login && k != policy.Operation {
		return invalidRequest(say("error.unknownProtection"), nil)
	}
	next := policy.Choice{On: r.PostFormValue("on") == "on"}
	for _, m := range r.PostForm["methods"] {
		next.Methods = append(next.Methods, policy.Method(m))
	}
	if next.On && len(next.Methods) == 0 {
		next.Methods = sp.profiles.from(c.User, f).Protection.Methods(k)
	}
	out, err := sp.choose(w, r, c, f, map[policy.Kind]policy.Choice{k: next})
	switch {
	case err != nil:
		return err
	case out.denied.id != "":
		return sp.back(w, r, flash{Error: out.denied.in(sp.respond.langOf(r))})
	case out.challenge != nil:
		http.Redirect(w, r, sp.respond.challengeURL(out.challenge.ID), http.StatusSeeOther)
		return nil
	case out.bind != nil:
		http.Redirect(w, r, sp.respond.challengeURL(out.bind.ID), http.StatusSeeOther)
		return nil
	}
	// Post, redirect, get: Back and Reload do not submit the change again.
	http.Redirect(w, r, sp.prefix+"/?saved=1", http.StatusSeeOther)
	return nil
}

// choiceOutcome is what came of a change of protection settings: saved,
// refused (denied), waiting for a recent second factor (challenge), or saved with a
// first factor to bind before login protection can hold (bind).
type choiceOutcome struct {
	denied    words
	challenge *challenge.Challenge
	bind      *challenge.Challenge
	mandated  bool // denied because a mandate holds the protection on
	profile   policy.Profile
}

// choose asks policy about each change and saves them all, or none.
func (sp *settingsPages) choose(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, changes map[policy.Kind]policy.Choice) (choiceOutcome, error) {
	req, err := sp.request(r, c)
	if err != nil {
		return choiceOutcome{}, err
	}
	p := sp.profiles.from(c.User, f)
	for _, k := range policy.Kinds {
		next, ok := changes[k]
		if !ok {
			continue
		}
		d := policy.DecideChoice(req, k, p, next, sp.settings.Methods)
		switch d.Verdict {
		case policy.SignIn:
			return choiceOutcome{}, signIn(d.Reason)
		case policy.Deny:
			sp.log.Info("protection change refused", zap.String("user", c.User), zap.String("kind", string(k)), zap.String("reason", d.Reason))
			sp.audit.Record(r.Context(), Event{Actor: c.User, Target: c.User, Action: "protection." + string(k) + "." + onOff(next.On), Result: "refused", ClientIP: sp.clientIP(r), Detail: d.Reason})
			return choiceOutcome{denied: denial(d.Reason), mandated: !next.On && p.Protection.Mandated(k), profile: p}, nil
		case policy.Challenge:
			// Lowering protection takes a real factor, not a recovery code.
			ch, err := sp.beginChallengeWith(w, r, c, challenge.Challenge{Purpose: policy.PurposeOperation,
				Rule: "changes to your two-factor settings", Methods: d.Methods, Return: sp.prefix + "/", NoRecovery: true})
			if err != nil {
				return choiceOutcome{}, err
			}
			sp.log.Info("second factor required to lower protection", zap.String("user", c.User), zap.String("kind", string(k)), zap.String("challenge", ch.ID))
			return choiceOutcome{challenge: &ch, profile: p}, nil
		}
	}
	choices := f.Choices
	for k, next := range changes {
		choices = choices.With(k, next, c.User, sp.now())
	}
	if err := sp.factors.SetChoices(r.Context(), c.User, choices); err != nil {
		return choiceOutcome{}, failed(err)
	}
	f.Choices = choices
	p = sp.profiles.from(c.User, f)
	for k := range changes {
		sp.audit.Record(r.Context(), Event{Actor: c.User, Target: c.User, Action: "protection." + string(k) + "." + onOff(p.Protection.On(k)),
			Result: "ok", ClientIP: sp.clientIP(r), Detail: methodsText(p.Protection.Methods(k))})
	}
	out := choiceOutcome{profile: p}
	if methods := policy.NeedsBinding(p); methods != nil {
		// Login protection is on with nothing bound to pass it: bind first, or the
		// next login would have to.
		ch, err := sp.beginChallenge(w, r, c, policy.PurposeBind, "", methods)
		if err != nil {
			return choiceOutcome{}, err
		}
		out.bind = &ch
	}
	return out, nil
}

// beginChallenge starts a challenge of c's that comes back to the settings page.
func (sp *settingsPages) beginChallenge(w http.ResponseWriter, r *http.Request, c caller, purpose policy.Purpose, rule string, methods []policy.Method) (challenge.Challenge, error) {
	return sp.beginChallengeTo(w, r, c, purpose, rule, methods, sp.prefix+"/")
}

// beginChallengeTo starts a challenge of c's that goes on to ret once passed.
func (sp *settingsPages) beginChallengeTo(w http.ResponseWriter, r *http.Request, c caller, purpose policy.Purpose, rule string, methods []policy.Method, ret string) (challenge.Challenge, error) {
	return sp.beginChallengeWith(w, r, c, challenge.Challenge{Purpose: purpose, Rule: rule, Methods: methods, Return: ret})
}

// beginChallengeWith starts challenge ch for c, bound to this browser, coming back to
// the settings page on Cancel.
func (sp *settingsPages) beginChallengeWith(w http.ResponseWriter, r *http.Request, c caller, ch challenge.Challenge) (challenge.Challenge, error) {
	binding, err := sp.id.challengeBinding(w, r, c)
	if err != nil {
		return challenge.Challenge{}, failed(err)
	}
	ch.User, ch.Binding, ch.Back = c.User, binding, sp.prefix+"/"
	ch, err = sp.factors.Begin(r.Context(), ch)
	if err != nil {
		return ch, failed(err)
	}
	return ch, nil
}

// settingsState is the JSON of a user's settings.
type settingsState struct {
	User      string          `json:"user"`
	Methods   []policy.Method `json:"methods_available"`
	Bound     []policy.Method `json:"bound"`
	Login     KindState       `json:"login"`
	Operation KindState       `json:"operation"`
	ChangedBy string          `json:"changed_by,omitempty"`
	ChangedAt *time.Time      `json:"changed_at,omitempty"`
}

// KindState is one kind of a user's protection: on or off, its methods, and whether a
// mandate holds it on.
type KindState struct {
	On       bool            `json:"on"`
	Methods  []policy.Method `json:"methods"`
	Mandated bool            `json:"mandated"`
}

func stateOf(p policy.Profile, enabled []policy.Method) settingsState {
	st := settingsState{
		User: p.User, Methods: enabled, Bound: p.Bound,
		Login:     KindState{On: p.Protection.Login, Methods: p.Protection.LoginMethods, Mandated: p.Protection.LoginMandated},
		Operation: KindState{On: p.Protection.Operation, Methods: p.Protection.OperationMethods, Mandated: p.Protection.OperationMandated},
		ChangedBy: p.Choices.ChangedBy,
	}
	if !p.Choices.ChangedAt.IsZero() {
		t := p.Choices.ChangedAt.UTC()
		st.ChangedAt = &t
	}
	return st
}

// apiSettings is GET {prefix}/api/settings: the user's settings as JSON.
func (sp *settingsPages) apiSettings(w http.ResponseWriter, r *http.Request) error {
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	p, err := sp.profiles.of(r.Context(), c.User)
	if err != nil {
		return failed(err)
	}
	return sp.respond.JSON(w, http.StatusOK, stateOf(p, sp.settings.Methods))
}

// apiChangeSettings is POST {prefix}/api/settings with {"login": {"on": true,
// "methods": ["totp"]}} and/or "operation": the same rules as the page. Lowering
// protection without a recent second factor answers an RFC 9470 step-up challenge;
// a mandate's refusal is 403 "mandated".
func (sp *settingsPages) apiChangeSettings(w http.ResponseWriter, r *http.Request) error {
	if err := checkAPI(r); err != nil {
		return err
	}
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	var body map[policy.Kind]*policy.Choice
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return invalidRequest(say("error.expectedSettingsJSON"), err)
	}
	changes := map[policy.Kind]policy.Choice{}
	for k, ch := range body {
		if (k != policy.Login && k != policy.Operation) || ch == nil {
			return invalidRequest(say("error.expectedSettingsJSON"), nil)
		}
		changes[k] = *ch
	}
	f, err := sp.factors.Factors(r.Context(), c.User)
	if err != nil {
		return failed(err)
	}
	for k, ch := range changes {
		if ch.On && len(ch.Methods) == 0 {
			ch.Methods = sp.profiles.from(c.User, f).Protection.Methods(k)
			changes[k] = ch
		}
	}
	out, err := sp.choose(w, r, c, f, changes)
	switch {
	case err != nil:
		return err
	case out.denied.id != "":
		if out.mandated {
			return &Error{Status: http.StatusForbidden, Code: CodeMandated, Title: say("error.notChanged.title"), Text: out.denied}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Title: say("error.notChanged.title"), Text: out.denied}
	case out.challenge != nil:
		return sp.respond.StepUpChallenge(w, *out.challenge, policy.ChangeFactorsMaxAge, say("api.lowerStepUp"), false)
	}
	state := stateOf(out.profile, sp.settings.Methods)
	answer := map[string]any{"settings": state}
	if out.bind != nil {
		answer["bind_required"] = true
		answer["bind_url"] = sp.respond.challengeURL(out.bind.ID)
	}
	return sp.respond.JSON(w, http.StatusOK, answer)
}

// setUps are the factors a user sets up from the settings page: the page that
// continues it after a recent second factor, and what the challenge confirms.
var setUps = map[string]struct {
	method policy.Method
	what   string
}{
	"totp":  {policy.TOTP, "setting up an authenticator app"},
	"phone": {policy.SMS, "changing your phone"},
}

// bindTOTP begins setting up an authenticator app.
func (sp *settingsPages) bindTOTP(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	return sp.setUp(w, r, c, f, "totp")
}

// bindPhone begins setting up (or changing) the user's phone.
func (sp *settingsPages) bindPhone(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	return sp.setUp(w, r, c, f, "phone")
}

// continueSetUp is GET {prefix}/setup/{factor}: where a recent second factor, asked
// for before setting up a factor, goes on to. Only a navigation from this site
// continues (a link elsewhere gets the settings page).
func (sp *settingsPages) continueSetUp(w http.ResponseWriter, r *http.Request) error {
	c, err := sp.caller(w, r)
	if err != nil {
		return err
	}
	if !fromThisSite(r) {
		http.Redirect(w, r, sp.prefix+"/", http.StatusSeeOther)
		return nil
	}
	f, err := sp.factors.Factors(r.Context(), c.User)
	if err != nil {
		return failed(err)
	}
	return sp.setUp(w, r, c, f, r.PathValue("factor"))
}

// setUp starts setting up a factor: after a recent second factor when another is
// set up (that challenge then comes back to continueSetUp), the page that sets it up.
func (sp *settingsPages) setUp(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, factor string) error {
	s, ok := setUps[factor]
	switch {
	case !ok:
		return errNotFound
	case s.method == policy.SMS && !sp.sms:
		return sp.back(w, r, flash{Error: sp.respond.langOf(r).Text("error.smsUnavailable")})
	}
	req, err := sp.request(r, c)
	if err != nil {
		return err
	}
	if d := policy.DecideChange(req, f.Bound()); d.Verdict != policy.Allow {
		ch, err := sp.beginChallengeTo(w, r, c, policy.PurposeOperation, s.what, d.Methods, sp.prefix+"/setup/"+factor)
		if err != nil {
			return err
		}
		sp.log.Info("second factor required to change second factors", zap.String("user", c.User), zap.String("change", s.what), zap.String("challenge", ch.ID))
		http.Redirect(w, r, sp.respond.challengeURL(ch.ID), http.StatusSeeOther)
		return nil
	}
	ch, err := sp.beginChallengeTo(w, r, c, policy.PurposeBind, "", []policy.Method{s.method}, sp.prefix+"/?saved="+factor)
	if err != nil {
		return err
	}
	http.Redirect(w, r, sp.respond.challengeURL(ch.ID), http.StatusSeeOther)
	return nil
}

// stepUpFirst asks policy whether the caller may change second factors now; when a
// recent second factor is needed first, it begins a challenge with the bound factors
// (coming back to the settings page) and returns its page.
func (sp *settingsPages) stepUpFirst(w http.ResponseWriter, r *http.Request, c caller, f challenge.Factors, what string) (string, error) {
	req, err := sp.request(r, c)
	if err != nil {
		return "", err
	}
	d := policy.DecideRemoval(req, f.Bound())
	if d.Verdict == policy.Allow {
		return "", nil
	}
	// The last factor goes only after a real one, not a recovery code.
	ch, err := sp.beginChallengeWith(w, r, c, challenge.Challenge{Purpose: policy.PurposeOperation, Rule: what, Methods: d.Methods,
		Return: sp.prefix + "/", NoRecovery: len(f.Bound()) == 1})
	if err != nil {
		return "", err
	}
	sp.log.Info("second factor required to change second factors", zap.String("user", c.User), zap.String("change", what), zap.String("challenge", ch.ID))
	return sp.respond.challengeURL(ch.ID), nil
}

// redirect sends the browser to a step-up challenge's page, or returns err.
func (sp *settingsPages) redirect(w http.ResponseWriter, r *http.Request, to string, err error) error {
	if err != nil {
		return err
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// removePhone unbinds the phone after a recent second factor, and ends the step-up
// tokens it may have backed.
func (sp *settingsPages) removePhone(w http.ResponseWriter, r *http.Request) error {
	c, f, err := sp.form(w, r)
	if err != nil {
		return err
	}
	if f.Phone == nil {
		return sp.back(w, r, flash{Error: sp.respond.langOf(r).Text("settings.phone.none")})
	}
	if to, err := sp.stepUpFirst(w, r, c, f, "removing your phone"); to != "" || err != nil {
		return sp.redirect(w, r, to, err)
	}
	if err := sp.factors.RemovePhone(r.Context(), c.User); err != nil {
		return failed(err)
	}
	if err := sp.tokens.RevokeStepUps(r.Context(), c.User); err != nil {
		return failed(err)
	}
	sp.audit.Record(r.Context(), Event{Actor: c.User, Target: c.User, Action: "phone.removed", Result: "ok", ClientIP: sp.clientIP(r)})
	sp.cookies.clearToken(w, r)
	http.Redirect(w, r, sp.prefix+"/?saved=phone-removed", http.StatusSeeOther)
	return nil
}

// unbindTOTP removes the authenticator app; it needs a current code from it (seed:
// "Unbinding an MFA device requires verification through the currently bound
// device"), and ends the step-up tokens it backed.
func (sp *settingsPages) unbindTOTP(w http.ResponseWriter, r *http.Request) error {
	c, _, err := sp.form(w, r)
	if err != nil {
		return err
	}
	if err := sp.factors.UnbindTOTP(r.Context(), c.User, typedCode(r.PostFormValue("code")), sp.clientIP(r)); err != nil {
		e := failed(err)
		if e.Code == CodeUnavailable || e.Code == CodeInternal {
			return e
		}
		sp.events.Verification(string(policy.TOTP), string(e.Code))
		sp.audit.lockout(r.Context(), c.User, err, sp.clientIP(r))
		sp.log.Warn("second factor failed", zap.String("user", c.User), zap.String("challenge", "unbind"),
			zap.String("reason", err.Error()), zap.String("client_ip", sp.clientIP(r)))
		return sp.back(w, r, flash{Error: e.Text.in(sp.respond.langOf(r)), Field: "unbind-code"})
	}
	if err := sp.tokens.RevokeStepUps(r.Context(), c.User); err != nil {
		return failed(err)
	}
	sp.audit.Record(r.Context(), Event{Actor: c.User, Target: c.User, Action: "totp.unbound", Result: "ok", ClientIP: sp.clientIP(r)})
	sp.cookies.clearToken(w, r)
	http.Redirect(w, r, sp.prefix+"/?saved=totp-removed", http.StatusSeeOther)
	return nil
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
	sp.audit.Record(r.Context(), Event{Actor: c.User, Target: c.User, Action: "signout.everywhere", Result: "ok", ClientIP: sp.clientIP(r)})
	sp.cookies.clearSession(w, r)
	sp.cookies.clearToken(w, r)
	to := "/"
	if sp.logoutPath != "" {
		to = sp.logoutPath
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
