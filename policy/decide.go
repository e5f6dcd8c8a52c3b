package policy

import "time"

// Verdict is what to do with a request.
type Verdict int

const (
	// Allow lets the request through to the console.
	Allow Verdict = iota
	// SignIn: the request is sensitive but the gateway does not know who sends it.
	SignIn
	// Challenge: the user must pass one of Decision.Methods first.
	Challenge
	// Bind: the user has no enabled method bound; binding one passes the challenge.
	Bind
	// Deny: the change asked for is not allowed (a mandate holds it).
	Deny
)

func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case SignIn:
		return "sign_in"
	case Challenge:
		return "challenge"
	case Bind:
		return "bind"
	case Deny:
		return "deny"
	}
	return "unknown"
}

// StepUp is a proof of a second factor the caller presents, verified but for
// liveness: a step-up token (ID is its token ID), or the gateway session's own login
// when that login passed a second factor (ID is empty; login protection).
type StepUp struct {
	ID       string
	User     string
	Session  string
	AuthTime time.Time
	// Recovery: the second factor was a recovery code.
	Recovery bool
}

// Request is a sensitive request reduced to facts.
type Request struct {
	// User and Session name who sends it ("" when unknown).
	User    string
	Session string
	// StepUp is the presented step-up token, nil when none.
	StepUp *StepUp
	// Login is the session's own login when it passed a second factor, nil otherwise.
	Login *StepUp
	Now   time.Time
}

// Decision is the answer to a request.
type Decision struct {
	Verdict Verdict
	// Methods are offered by a Challenge, or may be bound on Bind.
	Methods []Method
	// Reason says why, for the operator's log.
	Reason string
	// Anomalous: a console login is challenged because it looks anomalous, not
	// because of login protection.
	Anomalous bool
}

// clockSkew tolerates an auth_time slightly in the future (instances' clocks differ).
const clockSkew = 5 * time.Second

// Proof returns the caller's proof of a second factor that counts for maxAge: the
// step-up token if it is the caller's and fresh, else the session's own login if it
// passed a second factor and is fresh; nil when neither. The caller lets a request
// through on it once the store says it is still live.
func (req Request) Proof(maxAge time.Duration) *StepUp {
	for _, p := range []*StepUp{req.StepUp, req.Login} {
		if fresh(p, req.User, req.Session, maxAge, req.Now) {
			return p
		}
	}
	return nil
}

// RealProof is Proof but for a proof from a recovery code: what lowering protection,
// removing the last factor and making new recovery codes take, so that someone holding
// a recovery code alone can set up a new device but not take protection apart.
func (req Request) RealProof(maxAge time.Duration) *StepUp {
	for _, p := range []*StepUp{req.StepUp, req.Login} {
		if fresh(p, req.User, req.Session, maxAge, req.Now) && !p.Recovery {
			return p
		}
	}
	return nil
}

// Decide answers a request covered by rule for a user with profile p. Its proofs
// must be live (the caller checked them with the store, and dropped those that are
// not).
func Decide(req Request, rule OperationRule, p Profile) Decision {
	switch {
	case req.User == "" || req.Session == "":
		return Decision{Verdict: SignIn, Reason: "no gateway session"}
	case !p.Protection.Operation:
		return Decision{Verdict: Allow, Reason: "operation protection off"}
	case req.Proof(rule.MaxAge) != nil:
		return Decision{Verdict: Allow, Reason: "recent second factor"}
	}
	return challengeOrBind(p, Operation, proofReason(req, rule.MaxAge))
}

// ChangeFactorsMaxAge is how recent a second factor must be to change second factors:
// bind another, change or remove a phone.
const ChangeFactorsMaxAge = 5 * time.Minute

// DecideChange answers a change of the caller's second factors: with nothing bound
// anyone signed in may bind a first one; otherwise it takes a live second factor no
// older than ChangeFactorsMaxAge, or a challenge with the bound methods first
// (whoever holds a session must not add their own device to another's account).
func DecideChange(req Request, bound []Method) Decision {
	switch {
	case req.User == "" || req.Session == "":
		return Decision{Verdict: SignIn, Reason: "no gateway session"}
	case len(bound) == 0:
		return Decision{Verdict: Allow, Reason: "nothing bound yet"}
	case req.Proof(ChangeFactorsMaxAge) != nil:
		return Decision{Verdict: Allow, Reason: "recent second factor"}
	}
	return Decision{Verdict: Challenge, Methods: bound, Reason: "changing second factors needs a recent second factor"}
}

// DecideRemoval answers the removal of one of the caller's second factors: like
// DecideChange, but the last one bound takes a proof that is not a recovery code.
func DecideRemoval(req Request, bound []Method) Decision {
	if len(bound) == 1 && req.User != "" && req.Session != "" && req.RealProof(ChangeFactorsMaxAge) == nil {
		return Decision{Verdict: Challenge, Methods: bound, Reason: "removing the last second factor needs a recent second factor (not a recovery code)"}
	}
	return DecideChange(req, bound)
}

// DecideRecoveryCodes answers the making of a new set of recovery codes (which ends
// the old set): it takes a second factor bound, and a live proof of one no older
// than ChangeFactorsMaxAge that is not a recovery code.
func DecideRecoveryCodes(req Request, bound []Method) Decision {
	switch {
	case req.User == "" || req.Session == "":
		return Decision{Verdict: SignIn, Reason: "no gateway session"}
	case len(bound) == 0:
		return Decision{Verdict: Deny, Reason: DenyNothingBound}
	case req.RealProof(ChangeFactorsMaxAge) != nil:
		return Decision{Verdict: Allow, Reason: "recent second factor"}
	}
	return Decision{Verdict: Challenge, Methods: bound, Reason: "recovery codes need a recent second factor (not a recovery code)"}
}

// DecideLogin answers a console login that the console accepted, given the risk the
// gateway saw in it. Login protection asks for a second factor at every login; without
// it, an anomalous login asks for one when AnomalyApplies, unless the rollout grace
// period is running (then it is only logged: the reason says so).
func DecideLogin(p Profile, risk Risk) Decision {
	if p.Protection.Login {
		return challengeOrBind(p, Login, "login protection on")
	}
	switch {
	case !risk.Anomalous:
		return Decision{Verdict: Allow, Reason: "login protection off"}
	case !AnomalyApplies(p):
		return Decision{Verdict: Allow, Reason: "anomalous login, but no operation protection with a method bound"}
	case risk.LogOnly:
		return Decision{Verdict: Allow, Reason: "anomalous login; only logged during the rollout grace period"}
	}
	return Decision{Verdict: Challenge, Methods: p.Offered(Operation), Reason: "anomalous login", Anomalous: true}
}

func challengeOrBind(p Profile, k Kind, reason string) Decision {
	if offered := p.Offered(k); len(offered) > 0 {
		return Decision{Verdict: Challenge, Methods: offered, Reason: reason}
	}
	return Decision{Verdict: Bind, Methods: p.Protection.Methods(k), Reason: reason + "; nothing bound"}
}

// The reasons of Deny decisions, which pages say in their reader's words. A mandate's
// reason begins with the kind: "login protection is required for you by the operator".
const (
	DenyNoMethod        = "choose at least one method"
	DenyNotEnabled      = "a method that is not enabled here"
	DenyMandatedForYou  = "protection is required for you by the operator"
	DenyMandatedForUser = "protection is required for this user by the operator"
	DenyNotAdmin        = "only root and administrators manage other users"
	DenySelf            = "change your own second factors on your settings page"
	DenyRoot            = "nobody manages root's second factors from here"
	DenyAdminByAdmin    = "only root manages an administrator's second factors"
	DenyNothingBound    = "set up an authenticator app or a phone first"
)

// DecideChoice answers a user's change of one kind of protection to next. Turning
// protection on or adding a method is always allowed; turning it off or removing a
// method lowers it and takes a proof of a second factor no older than
// ChangeFactorsMaxAge (when the user has one bound), or a challenge first. A kind a
// mandate holds on cannot be turned off (Deny), and only enabled methods can be
// chosen, at least one when on.
func DecideChoice(req Request, k Kind, p Profile, next Choice, enabled []Method) Decision {
	switch {
	case req.User == "" || req.Session == "":
		return Decision{Verdict: SignIn, Reason: "no gateway session"}
	case next.On && len(next.Methods) == 0:
		return Decision{Verdict: Deny, Reason: DenyNoMethod}
	case len(intersect(next.Methods, enabled)) != len(next.Methods):
		return Decision{Verdict: Deny, Reason: DenyNotEnabled}
	case !next.On && p.Protection.Mandated(k):
		return Decision{Verdict: Deny, Reason: string(k) + " " + DenyMandatedForYou}
	}
	cur := p.Protection
	lowers := cur.On(k) && (!next.On || len(intersect(cur.Methods(k), next.Methods)) < len(cur.Methods(k)))
	switch {
	case !lowers:
		return Decision{Verdict: Allow, Reason: "raises or keeps protection"}
	case len(p.Bound) == 0:
		return Decision{Verdict: Allow, Reason: "nothing bound to prove"}
	case req.RealProof(ChangeFactorsMaxAge) != nil:
		return Decision{Verdict: Allow, Reason: "recent second factor"}
	}
	return Decision{Verdict: Challenge, Methods: p.Bound, Reason: "lowering protection needs a recent second factor (not a recovery code)"}
}

// NeedsBinding returns the methods to bind first when login protection is on and
// nothing that may pass it is bound (the next login would otherwise bind at the
// console's door); nil otherwise.
func NeedsBinding(p Profile) []Method {
	if !p.Protection.Login || len(p.Offered(Login)) > 0 {
		return nil
	}
	return p.Protection.LoginMethods
}

// SecondFactorAMR reports whether authentication method references (RFC 8176) show a
// second factor: an authenticator code or an SMS code.
func SecondFactorAMR(amr []string) bool {
	for _, a := range amr {
		if a == "otp" || a == "sms" || a == RecoveryAMR {
			return true
		}
	}
	return false
}

// RecoveryAMR is the authentication method reference of a recovery code. RFC 8176
// names none; a relying party reading amr sees it is neither "otp" nor "sms".
const RecoveryAMR = "recovery"

// RecoveryOnlyAMR reports whether amr shows a recovery code as the second factor.
func RecoveryOnlyAMR(amr []string) bool {
	for _, a := range amr {
		if a == RecoveryAMR {
			return true
		}
	}
	return false
}

// fresh reports whether p proves a second factor by user, in session, no longer ago
// than maxAge (RFC 9470 §6.1: now - auth_time <= max_age).
func fresh(p *StepUp, user, session string, maxAge time.Duration, now time.Time) bool {
	if p == nil || p.User != user || p.Session != session {
		return false
	}
	age := now.Sub(p.AuthTime)
	return age <= maxAge && age >= -clockSkew
}

func proofReason(req Request, maxAge time.Duration) string {
	switch t := req.StepUp; {
	case t == nil && req.Login == nil:
		return "no step-up token"
	case t == nil:
		return "the sign-in's second factor is older than max_age"
	case t.User != req.User || t.Session != req.Session:
		return "step-up token of another user or session"
	case req.Now.Sub(t.AuthTime) > maxAge:
		return "step-up token older than max_age"
	}
	return "step-up token from the future"
}

// AdminMaxAge is how recent an administrator's own second factor must be for every
// administrator action.
const AdminMaxAge = 5 * time.Minute

// DecideAdmin answers an administrator's action on target: who may act on whom, and
// a fresh second factor of the actor's own. Root and administrators may act on users;
// root also on administrators; nobody on root, and nobody on themselves (their own
// settings page applies the self-service rules). actorBound are the methods the actor
// has bound: with none, the actor binds one first.
func DecideAdmin(req Request, roles Roles, target string, actorBound []Method) Decision {
	actor, targetRole := roles.Of(req.User), roles.Of(target)
	switch {
	case req.User == "" || req.Session == "":
		return Decision{Verdict: SignIn, Reason: "no gateway session"}
	case actor == RoleUser:
		return Decision{Verdict: Deny, Reason: DenyNotAdmin}
	case target != "" && SameUser(req.User, target):
		return Decision{Verdict: Deny, Reason: DenySelf}
	case targetRole == RoleRoot:
		return Decision{Verdict: Deny, Reason: DenyRoot}
	case targetRole == RoleAdmin && actor != RoleRoot:
		return Decision{Verdict: Deny, Reason: DenyAdminByAdmin}
	case req.RealProof(AdminMaxAge) != nil: // not a recovery code: it acts on others' protection
		return Decision{Verdict: Allow, Reason: "administrator with a recent second factor"}
	case len(actorBound) == 0:
		return Decision{Verdict: Bind, Reason: "an administrator binds a second factor first"}
	}
	return Decision{Verdict: Challenge, Methods: actorBound, Reason: "administrator actions need a recent second factor"}
}

// DecideAdminChoice answers an administrator setting one kind of a user's protection:
// anything within the enabled methods, but not off where a mandate holds it on.
func DecideAdminChoice(k Kind, p Profile, next Choice, enabled []Method) Decision {
	switch {
	case next.On && len(next.Methods) == 0:
		return Decision{Verdict: Deny, Reason: DenyNoMethod}
	case len(intersect(next.Methods, enabled)) != len(next.Methods):
		return Decision{Verdict: Deny, Reason: DenyNotEnabled}
	case !next.On && p.Protection.Mandated(k):
		return Decision{Verdict: Deny, Reason: string(k) + " " + DenyMandatedForUser}
	}
	return Decision{Verdict: Allow, Reason: "within the mandates"}
}
