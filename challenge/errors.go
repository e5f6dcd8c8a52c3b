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
// Sending an SMS code adds ErrSMSUnavailable, ErrSendLimited (*SendLimitedError, with
// when to retry), ErrSendFailed (the provider's failure, wrapped, for the log) and
// ErrInvalidPhone (*InvalidPhoneError, with a message for the user).
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

	// ErrNotBound: the user has no authenticator bound (VerifyTOTP, UnbindTOTP) or no
	// phone bound (SendSMSCode, VerifySMS, RemovePhone), or no binding was started for
	// the challenge (ConfirmTOTPBinding, ConfirmPhoneBinding). The caller shows the
	// binding page.
	ErrNotBound = errors.New("challenge: second factor not bound")

	// ErrAlreadyBound: binding is not possible: the user already has an authenticator
	// bound (TOTP), or has a second factor and the challenge is not a "bind" challenge
	// (adding or changing a factor needs the existing one first).
	ErrAlreadyBound = errors.New("challenge: a second factor is already bound")

	// ErrNotOffered: the method is not among the challenge's Methods.
	ErrNotOffered = errors.New("challenge: method not offered for this challenge")

	// ErrSMSUnavailable: no SMS provider is configured (Service.SMS is nil), so no code
	// can be sent and no phone bound.
	ErrSMSUnavailable = errors.New("challenge: SMS is not configured")

	// ErrSendFailed: the SMS provider did not take the message; no code is valid for it.
	// Show the user "could not send the code"; the error wraps the provider's, which
	// holds its answer, for the operator's log.
	ErrSendFailed = errors.New("challenge: could not send the SMS code")

	// ErrSendLimited: no code was sent because a send limit was reached. The error is a
	// *SendLimitedError saying why and when to try again.
	ErrSendLimited = errors.New("challenge: SMS send limit reached")

	// ErrInvalidPhone: the phone number entered is not an E.164 number. The error is an
	// *InvalidPhoneError whose Reason the user may be shown.
	ErrInvalidPhone = errors.New("challenge: invalid phone number")
)

// The reasons of a SendLimitedError, worded to be shown to the user.
const (
	SendLimitResend  = "a code was sent moments ago"
	SendLimitUser    = "too many codes were sent for this account in the last hour"
	SendLimitNumber  = "too many codes were sent to this phone number today"
	SendLimitNetwork = "too many codes were requested from this network"
)

// SendLimitedError is the ErrSendLimited outcome.
type SendLimitedError struct {
	// RetryAt is when a code may be sent again.
	RetryAt time.Time

	// Reason is which limit was reached: one of the SendLimit constants.
	Reason string
}

// Error says which limit was reached and when to try again.
func (e *SendLimitedError) Error() string {
	return "challenge: no SMS code sent: " + e.Reason + "; try again at " + e.RetryAt.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrSendLimited) true.
func (e *SendLimitedError) Is(target error) bool { return target == ErrSendLimited }

// InvalidPhoneError is the ErrInvalidPhone outcome. It never holds the number.
type InvalidPhoneError struct {
	// Reason says what is wrong and how to enter the number, in English.
	Reason string
	// Problem names what is wrong, for a page to say in its reader's language: one of
	// empty, no-digits, no-plus, bad-character, extension, zero-country-code,
	// unknown-country-code, too-short, too-long, too-long-for-country, wrong-length,
	// not-in-service.
	Problem string
}

// Error says what is wrong with the number.
func (e *InvalidPhoneError) Error() string { return "challenge: invalid phone number: " + e.Reason }

// Is makes errors.Is(err, ErrInvalidPhone) true.
func (e *InvalidPhoneError) Is(target error) bool { return target == ErrInvalidPhone }

// WrongCodeError is the ErrWrongCode outcome.
type WrongCodeError struct {
	// AttemptsLeft is how many more wrong codes the user may enter before the challenge
	// ends or the second factor locks, whichever comes first. At 0 the challenge has
	// ended.
	AttemptsLeft int

	// Reused reports that the code was right but already used, or older than one already
	// used (RFC 6238 §5.2): the user should wait for the next code. Log it, since it
	// can mean the code was observed by someone else.
	Reused bool

	// BeforeLock is how many more wrong codes lock the user's second factor.
	BeforeLock int
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
	// Started is true when this attempt locked the second factor (a lockout to
	// record), false when it was locked already.
	Started bool
}

// Error says until when the second factor is locked.
func (e *LockedError) Error() string {
	return "challenge: second factor locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// ErrTooManyChallenges: too many challenges were started for the user lately; Begin
// refuses more until the window ends (*TooManyChallengesError says when).
var ErrTooManyChallenges = errors.New("challenge: too many challenges started for this user")

// TooManyChallengesError is the ErrTooManyChallenges outcome.
type TooManyChallengesError struct {
	// Until is when the user's challenges may be started again, at the latest.
	Until time.Time
}

// Error says until when no challenge is started.
func (e *TooManyChallengesError) Error() string {
	return "challenge: too many challenges started for this user, refused until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrTooManyChallenges) true.
func (e *TooManyChallengesError) Is(target error) bool { return target == ErrTooManyChallenges }

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
