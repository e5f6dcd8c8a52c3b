package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// adminFactors reads and changes other users' factors and settings.
type adminFactors interface {
	Factors(ctx context.Context, user string) (challenge.Factors, error)
	SetChoices(ctx context.Context, user string, c policy.Choices) error
	ResetTOTP(ctx context.Context, user string) error
	ResetPhone(ctx context.Context, user string) error
	RevokeRecoveryCodes(ctx context.Context, user string) error
	Unlock(ctx context.Context, user string) error
	LockedUntil(ctx context.Context, user string) (time.Time, error)
}

// userIndex finds users by name.
type userIndex interface {
	AddUser(ctx context.Context, user string) error
	Users(ctx context.Context, prefix, after string, limit int) ([]string, error)
}

// counter counts an administrator's actions, for the rate limit.
type counter interface {
	Incr(ctx context.Context, key store.Key, window time.Duration) (int64, error)
}

// Admin manages other users' second factors: the administrator pages and the
// operators' command line act through it, and every change is audited. It checks
// what a change may do (within the mandates); who may make it is the caller's check
// (policy.DecideAdmin for the pages; the command line is the operator's break-glass).
type Admin struct {
	factors  adminFactors
	tokens   userTokens
	index    userIndex
	profiles profiles
	settings policy.Settings
	audit    *Audit
	counter  counter
}

// UserState is what an administrator sees of a user: never a secret, a code or a
// whole phone number.
type UserState struct {
	User         string          `json:"user"`
	Role         policy.Role     `json:"role"`
	Login        KindState       `json:"login"`
	Operation    KindState       `json:"operation"`
	Bound        []policy.Method `json:"bound"`
	TOTPBoundAt  *time.Time      `json:"totp_bound_at,omitempty"`
	Phone        string          `json:"phone,omitempty"` // masked
	PhoneBoundAt *time.Time      `json:"phone_bound_at,omitempty"`
	LockedUntil  *time.Time      `json:"locked_until,omitempty"`
	// RecoveryCodes is how many unused recovery codes the user has.
	RecoveryCodes int        `json:"recovery_codes"`
	ChangedBy     string     `json:"changed_by,omitempty"`
	ChangedAt     *time.Time `json:"changed_at,omitempty"`
	Events        []Event    `json:"events"`
}

// Users lists up to limit users whose names start with prefix, after after.
func (a *Admin) Users(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	return a.index.Users(ctx, policy.CanonicalUser(prefix + "x")[:len(policy.CanonicalUser(prefix+"x"))-1], after, limit)
}

// User returns a user's state, also for one who has never signed in.
func (a *Admin) User(ctx context.Context, user string) (UserState, error) {
	user = policy.CanonicalUser(user)
	if user == "" {
		return UserState{}, errNoSuchName
	}
	f, err := a.factors.Factors(ctx, user)
	if err != nil {
		return UserState{}, err
	}
	p := a.profiles.from(user, f)
	st := UserState{
		User: user, Role: p.Role, Bound: p.Bound, ChangedBy: f.Choices.ChangedBy,
		Login:     KindState{On: p.Protection.Login, Methods: p.Protection.LoginMethods, Mandated: p.Protection.LoginMandated},
		Operation: KindState{On: p.Protection.Operation, Methods: p.Protection.OperationMethods, Mandated: p.Protection.OperationMandated},
	}
	if f.TOTP != nil {
		st.TOTPBoundAt = utc(f.TOTP.BoundAt)
	}
	if f.Phone != nil {
		st.Phone, st.PhoneBoundAt = f.Phone.Masked, utc(f.Phone.BoundAt)
	}
	st.RecoveryCodes = f.Recovery.Left()
	if !f.Choices.ChangedAt.IsZero() {
		st.ChangedAt = utc(f.Choices.ChangedAt)
	}
	until, err := a.factors.LockedUntil(ctx, user)
	if err != nil {
		return UserState{}, err
	}
	if !until.IsZero() {
		st.LockedUntil = utc(until)
	}
	if st.Events, err = a.audit.Recent(ctx, user, 20); err != nil {
		return UserState{}, err
	}
	return st, nil
}

func utc(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

var errNoSuchName = &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Title: say("error.noSuchUser.title"), Text: say("error.noSuchUser")}

// SetProtection turns one kind of target's protection on or off, or changes its
// methods, within the mandates; target may never have signed in.
func (a *Admin) SetProtection(ctx context.Context, actor, target string, k policy.Kind, next policy.Choice, ip string) error {
	target = policy.CanonicalUser(target)
	if target == "" {
		return errNoSuchName
	}
	f, err := a.factors.Factors(ctx, target)
	if err != nil {
		return err
	}
	if len(next.Methods) == 0 && next.On {
		next.Methods = a.profiles.from(target, f).Protection.Methods(k)
	}
	action := "protection." + string(k) + "." + onOff(next.On)
	if d := policy.DecideAdminChoice(k, a.profiles.from(target, f), next, a.settings.Methods); d.Verdict == policy.Deny {
		a.audit.Record(ctx, Event{Actor: actor, Target: target, Action: action, Result: "refused", ClientIP: ip, Detail: d.Reason})
		return &Error{Status: http.StatusForbidden, Code: CodeMandated, Title: say("error.notChanged.title"), Text: denial(d.Reason)}
	}
	if err := a.factors.SetChoices(ctx, target, f.Choices.With(k, next, actor, a.audit.now())); err != nil {
		return err
	}
	if err := a.index.AddUser(ctx, target); err != nil {
		return err
	}
	a.audit.Record(ctx, Event{Actor: actor, Target: target, Action: action, Result: "ok", ClientIP: ip, Detail: methodsText(next.Methods)})
	return nil
}

// Reset removes target's authenticator app ("totp") or phone ("phone") and ends
// every gateway session and step-up token of target: the lost device may be in other
// hands, and a session that passed with it proves nothing now. Target signs in again
// and binds at the next challenge.
func (a *Admin) Reset(ctx context.Context, actor, target, factor, ip string) error {
	target = policy.CanonicalUser(target)
	var err error
	switch {
	case target == "":
		return errNoSuchName
	case factor == string(policy.TOTP):
		err = a.factors.ResetTOTP(ctx, target)
	case factor == "phone" || factor == string(policy.SMS):
		factor = "phone"
		err = a.factors.ResetPhone(ctx, target)
	case factor == string(policy.Recovery):
		err = a.factors.RevokeRecoveryCodes(ctx, target)
	default:
		return invalidRequest(say("error.resetWhat"), nil)
	}
	if err == nil {
		err = a.tokens.RevokeUser(ctx, target)
	}
	if err != nil {
		return err
	}
	action := "reset." + factor
	if factor == string(policy.Recovery) {
		action = "recovery.revoked"
	}
	a.audit.Record(ctx, Event{Actor: actor, Target: target, Action: action, Result: "ok", ClientIP: ip})
	return nil
}

// Unlock clears target's lock and count of wrong codes.
func (a *Admin) Unlock(ctx context.Context, actor, target, ip string) error {
	target = policy.CanonicalUser(target)
	if target == "" {
		return errNoSuchName
	}
	if err := a.factors.Unlock(ctx, target); err != nil {
		return err
	}
	a.audit.Record(ctx, Event{Actor: actor, Target: target, Action: "unlock", Result: "ok", ClientIP: ip})
	return nil
}

// SignOut ends every gateway session and step-up token of target, on every instance.
// (The console's own sessions end only with the console.)
func (a *Admin) SignOut(ctx context.Context, actor, target, ip string) error {
	target = policy.CanonicalUser(target)
	if target == "" {
		return errNoSuchName
	}
	if err := a.tokens.RevokeUser(ctx, target); err != nil {
		return err
	}
	a.audit.Record(ctx, Event{Actor: actor, Target: target, Action: "signout.everywhere", Result: "ok", ClientIP: ip})
	return nil
}

// Refused records an administrator's attempt that policy refused.
func (a *Admin) Refused(ctx context.Context, actor, target, action, why, ip string) {
	if target = policy.CanonicalUser(target); target != "" {
		a.audit.Record(ctx, Event{Actor: actor, Target: target, Action: action, Result: "refused", ClientIP: ip, Detail: why})
	}
}

// adminRate is how many administrator actions one administrator may take a minute.
const adminRate = 60

// limit counts an administrator's action and refuses past adminRate a minute.
func (a *Admin) limit(ctx context.Context, actor string, now time.Time) error {
	n, err := a.counter.Incr(ctx, store.UserKey(actor, "admin-actions"), time.Minute)
	if err != nil {
		return err
	}
	if n > adminRate {
		return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Title: say("error.wait.title"), Until: now.Add(time.Minute),
			Text: say("error.adminLimited")}
	}
	return nil
}

func methodsText(ms []policy.Method) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += string(m)
	}
	return s
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
