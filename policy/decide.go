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
	}
	return "unknown"
}

// StepUp is a step-up token the caller has already verified (signature, expiry, still
// tracked): the facts the rules need from it.
type StepUp struct {
	User     string
	Session  string
	AuthTime time.Time
}

// Request is a sensitive request reduced to facts.
type Request struct {
	// User and Session name who sends it ("" when unknown).
	User    string
	Session string
	// StepUp is the presented step-up token, nil when none.
	StepUp *StepUp
	Now    time.Time
}

// Decision is the answer to a request.
type Decision struct {
	Verdict Verdict
	// Methods are offered by a Challenge, or may be bound on Bind.
	Methods []Method
	// Reason says why, for the operator's log.
	Reason string
}

// clockSkew tolerates an auth_time slightly in the future (instances' clocks differ).
const clockSkew = 5 * time.Second

// Decide answers a request covered by rule for a user with profile p.
func Decide(req Request, rule OperationRule, p Profile) Decision {
	switch {
	case req.User == "" || req.Session == "":
		return Decision{Verdict: SignIn, Reason: "no gateway session"}
	case !p.Protection.Operation:
		return Decision{Verdict: Allow, Reason: "operation protection off"}
	case Fresh(req.StepUp, req.User, req.Session, rule.MaxAge, req.Now):
		return Decision{Verdict: Allow, Reason: "recent second factor"}
	}
	return challengeOrBind(p, stepUpReason(req, rule))
}

// DecideLogin answers a console login that the console accepted.
func DecideLogin(p Profile) Decision {
	if !p.Protection.Login {
		return Decision{Verdict: Allow, Reason: "login protection off"}
	}
	return challengeOrBind(p, "login protection on")
}

func challengeOrBind(p Profile, reason string) Decision {
	if offered := p.Offered(); len(offered) > 0 {
		return Decision{Verdict: Challenge, Methods: offered, Reason: reason}
	}
	return Decision{Verdict: Bind, Methods: p.Protection.Methods, Reason: reason + "; nothing bound"}
}

// Fresh reports whether t proves a second factor by user, in session, no longer ago
// than maxAge (RFC 9470 §6.1: now - auth_time <= max_age).
func Fresh(t *StepUp, user, session string, maxAge time.Duration, now time.Time) bool {
	if t == nil || t.User != user || t.Session != session {
		return false
	}
	age := now.Sub(t.AuthTime)
	return age <= maxAge && age >= -clockSkew
}

func stepUpReason(req Request, rule OperationRule) string {
	switch t := req.StepUp; {
	case t == nil:
		return "no step-up token"
	case t.User != req.User || t.Session != req.Session:
		return "step-up token of another user or session"
	case req.Now.Sub(t.AuthTime) > rule.MaxAge:
		return "step-up token older than max_age"
	}
	return "step-up token from the future"
}
