package challenge

import (
	"errors"
	"fmt"
	"time"
)

// The outcomes of a second-factor attempt other than success. Each is for the caller to
// map to a short, generic message for the client; the error text is detail for the log
// and never holds a code, a secret or a binding value. Test with errors.Is; the typed
// errors (WrongCodeError, LockedError, IPLimitedError) carry what a page may show, such
// as attempts left or when to try again, and are reached with errors.As.
//
// Any other error means the store could not answer (it wraps store.ErrUnavailable) or
// a record could not be read; the caller fails closed and answers 503.
var (
	// ErrWrongCode: the code was wrong, or was already used (a replay). The challenge
	// goes on while attempts are left. The error is a *WrongCodeError.
	ErrWrongCode = errors.New("challenge: wrong code")

	// ErrChallengeEnded: the challenge expired, was already passed, or ended after too
	// many wrong codes. The user starts again from the protected page.
	ErrChallengeEnded = errors.New("challenge: challenge ended (expired, already used, or too many wrong codes)")

	// ErrNotYours: the challenge exists but the caller did not present its binding (the
	// gateway session or login nonce it was issued to).
	ErrNotYours = errors.New("challenge: challenge belongs to another session")

	// ErrLocked: too many wrong codes in a row; the user's second factor is locked for a
	// while. The error is a *LockedError saying until when.
	ErrLocked = errors.New("challenge: second factor locked after too many wrong codes")

	// ErrIPLimited: too many wrong codes from the client's network; it is refused for a
	// while. The error is an *IPLimitedError saying until when.
	ErrIPLimited = errors.New("challenge: too many wrong codes from this network")

	// ErrNotBound: the user has no authenticator bound (VerifyTOTP, UnbindTOTP), or no
	// binding was started for the challenge (ConfirmTOTPBinding). The caller shows the
	// binding page.
	ErrNotBound = errors.New("challenge: no authenticator bound")

	// ErrAlreadyBound: binding is not possible: the user already has an authenticator
	// bound, or has another second factor and the challenge is not a "bind" challenge
	// (adding a factor needs the existing one first).
	ErrAlreadyBound = errors.New("challenge: a second factor is already bound")

	// ErrNotOffered: the method is not among the challenge's Methods.
	ErrNotOffered = errors.New("challenge: method not offered for this challenge")
)

// WrongCodeError is the ErrWrongCode outcome.
type WrongCodeError struct {
	// AttemptsLeft is how many more wrong codes the user may enter before the challenge
	// ends or the second factor locks, whichever comes first. At 0 the challenge has
	// ended.
	AttemptsLeft int

	// Reused reports that the code was right but already used, or older than one already
	// used (RFC 6238 §5.2). Show the user the same message as for a wrong code; log it,
	// since it can mean the code was observed by someone else.
	Reused bool
}

// Error says whether the code was wrong or reused and how many attempts are left.
func (e *WrongCodeError) Error() string {
	what := "wrong code"
	if e.Reused {
		what = "code already used"
	}
	return fmt.Sprintf("challenge: %s, %d attempts left", what, e.AttemptsLeft)
}

// Is makes errors.Is(err, ErrWrongCode) true.
func (e *WrongCodeError) Is(target error) bool { return target == ErrWrongCode }

// LockedError is the ErrLocked outcome.
type LockedError struct {
	// Until is when the user may try again.
	Until time.Time
}

// Error says until when the second factor is locked.
func (e *LockedError) Error() string {
	return "challenge: second factor locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// IPLimitedError is the ErrIPLimited outcome.
type IPLimitedError struct {
	// Until is when the client's network may try again.
	Until time.Time
}

// Error says until when the client's network is refused.
func (e *IPLimitedError) Error() string {
	return "challenge: too many wrong codes from this network, refused until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrIPLimited) true.
func (e *IPLimitedError) Is(target error) bool { return target == ErrIPLimited }
