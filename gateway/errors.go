package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// Code is the stable error code of a refused or failed request: the "error" of the
// JSON answer, for clients to act on.
type Code string

// The error codes.
const (
	CodeUnavailable       Code = "temporarily_unavailable" // the store could not answer (503)
	CodeInternal          Code = "internal_error"          // a bug or damaged record (500)
	CodeSignIn            Code = "sign_in_required"        // no gateway session (401)
	CodeCrossSite         Code = "cross_site"              // not from this site, or a stale form (403)
	CodeInvalidRequest    Code = "invalid_request"         // unreadable or ambiguous (400)
	CodeNotFound          Code = "not_found"               // 404
	CodeTooLarge          Code = "too_large"               // 413
	CodeLoginIncomplete   Code = "login_incomplete"        // the console's login could not be held or named (502)
	CodeNoMethod          Code = "no_method"               // nothing this needs can be passed or bound (409)
	CodeTooManyChallenges Code = "too_many_challenges"
	CodeSendLimited       Code = "send_limited"
	CodeInvalidPhone      Code = "invalid_phone"
	CodeSendFailed        Code = "send_failed"
	CodeSMSUnavailable    Code = "sms_unavailable"
	CodeNotOffered        Code = "not_offered"
	CodeInvalidCode       Code = "invalid_code"
	CodeLocked            Code = "locked"
	CodeRateLimited       Code = "rate_limited"
	CodeChallengeEnded    Code = "challenge_ended"
	CodeForbidden         Code = "forbidden" // the challenge is another's (403)
	CodeNotBound          Code = "not_bound"
	CodeAlreadyBound      Code = "already_bound"
	CodeMandated          Code = "mandated"                         // a mandate holds the protection on (403)
	CodeNotAllowed        Code = "not_allowed"                      // not this caller's to do (403)
	CodeStepUp            Code = "insufficient_user_authentication" // a recent second factor first (401, RFC 9470)
)

// An Error is a request the gateway refuses or cannot serve, as a value: what the
// client may know (status, code, a sentence for people, when to retry) and the cause,
// for the operator's log only. The Responder writes it.
type Error struct {
	Status int
	Code   Code
	// Title and Text are for people: the page's heading and sentence (in the reader's
	// language), or the JSON's error_description (in English).
	Title, Text words
	// Until is when to try again (Retry-After), or zero.
	Until time.Time
	// Left is the attempts left after a wrong code.
	Left int
	// Link and LinkText are the page's way on, when it has one.
	Link     string
	LinkText words
	// Err is the cause, for the log.
	Err error
	// StepUp is the challenge to pass first (CodeStepUp): a browser is sent to its
	// page, an API client gets an RFC 9470 challenge. Bind says it binds a first factor.
	StepUp *challenge.Challenge
	Bind   bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Text.english()
}

func (e *Error) Unwrap() error { return e.Err }

// Description is Text in English, for developers and command lines.
func (e *Error) Description() string { return e.Text.english() }

// Brandable reports whether operators may answer it with their own page (Caddy's
// handle_errors): a store outage or a refused request. The others are part of a
// flow (a challenge, a sign-in) and keep the gateway's answer.
func (e *Error) Brandable() bool {
	switch e.Code {
	case CodeUnavailable, CodeInvalidRequest, CodeCrossSite, CodeTooLarge:
		return true
	}
	return false
}

// AsError returns err as an *Error: one of the gateway's, or a store outage (any
// error wrapping store.ErrUnavailable). Other errors (the console's, passed up by
// the next handler) are not the gateway's to answer.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	if errors.Is(err, store.ErrUnavailable) {
		return unavailable(err), true
	}
	return nil, false
}

// unavailable is the answer when the store cannot: fail closed, nothing changed.
func unavailable(err error) *Error {
	e := &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Title: say("error.unavailable.title"),
		Text: say("error.unavailable"), Err: err}
	if !errors.Is(err, store.ErrUnavailable) {
		e.Status, e.Code = http.StatusInternalServerError, CodeInternal
	}
	return e
}

// failed wraps an error from the store, the tokens or the challenges: a known
// challenge outcome becomes what the client may know of it, anything else (the
// store is down, a record is damaged) an outage.
func failed(err error) *Error {
	if e, ok := AsError(err); ok && !errors.Is(err, store.ErrUnavailable) {
		return e
	}
	if e := challengeFailure(err); e != nil {
		return e
	}
	return unavailable(err)
}

var (
	errSignIn = &Error{Status: http.StatusUnauthorized, Code: CodeSignIn, Title: say("error.signIn.title"),
		Text: say("error.signIn")}
	errCrossSite = &Error{Status: http.StatusForbidden, Code: CodeCrossSite, Title: say("error.refused.title"),
		Text: say("error.crossSite")}
	errNotFound = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Title: say("error.notFound.title"), Text: say("error.notFound")}
)

// signIn is errSignIn with the reason, for the log.
func signIn(why string) *Error {
	e := *errSignIn
	e.Err = errors.New(why)
	return &e
}

// invalidRequest refuses a request the gateway cannot read safely.
func invalidRequest(text words, cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Title: say("error.refused.title"), Text: text, Err: cause}
}

// challengeFailure maps a challenge outcome to what the client may know; nil for
// errors that are not about the answer (the store is down, a bug).
func challengeFailure(err error) *Error {
	var wrong *challenge.WrongCodeError
	var locked *challenge.LockedError
	var ipLimited *challenge.IPLimitedError
	var sendLimited *challenge.SendLimitedError
	var tooMany *challenge.TooManyChallengesError
	var badPhone *challenge.InvalidPhoneError
	e := &Error{Err: err, Title: say("error.notConfirmed.title"), Link: "/", LinkText: say("link.console")}
	now := clock()
	switch {
	case errors.As(err, &tooMany):
		e.Status, e.Code, e.Until, e.Title = http.StatusTooManyRequests, CodeTooManyChallenges, tooMany.Until, say("error.wait.title")
		e.Text = say("error.tooManyChecks", "When", relative(tooMany.Until.Sub(now)))
	case errors.As(err, &sendLimited):
		e.Status, e.Code, e.Until = http.StatusTooManyRequests, CodeSendLimited, sendLimited.RetryAt
		e.Text = say("error.sendLimited", "Reason", sendLimitReason(sendLimited.Reason), "When", relativeSeconds(sendLimited.RetryAt.Sub(now)))
	case errors.As(err, &badPhone):
		e.Status, e.Code, e.Text = http.StatusBadRequest, CodeInvalidPhone, phoneReason(badPhone.Problem)
	case errors.Is(err, challenge.ErrSendFailed):
		// The provider's answer is in err, for the log; the user gets the gist.
		e.Status, e.Code = http.StatusBadGateway, CodeSendFailed
		e.Text = say("error.sendFailed")
	case errors.Is(err, challenge.ErrSMSUnavailable):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeSMSUnavailable, say("error.smsUnavailable")
	case errors.Is(err, challenge.ErrNotOffered):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeNotOffered, say("error.notOffered")
	case errors.As(err, &wrong):
		e.Status, e.Code, e.Left = http.StatusUnauthorized, CodeInvalidCode, wrong.AttemptsLeft
		id := "error.wrongCode"
		if wrong.Reused {
			id = "error.reusedCode"
		}
		if wrong.AttemptsLeft > 0 {
			e.Text = say(id+".left", "Count", wrong.AttemptsLeft)
		} else {
			e.Text = say(id)
		}
	case errors.As(err, &locked):
		e.Status, e.Code, e.Until = http.StatusTooManyRequests, CodeLocked, locked.Until
		e.Text = say("error.locked", "When", relative(locked.Until.Sub(now)), "Clock", locked.Until.UTC().Format("15:04 UTC"))
	case errors.As(err, &ipLimited):
		e.Status, e.Code, e.Until = http.StatusTooManyRequests, CodeRateLimited, ipLimited.Until
		e.Text = say("error.networkLimited", "When", relative(ipLimited.Until.Sub(now)))
	case errors.Is(err, challenge.ErrChallengeEnded):
		e.Status, e.Code = http.StatusGone, CodeChallengeEnded
		e.Text = say("error.challengeEnded")
	case errors.Is(err, challenge.ErrNotYours):
		e.Status, e.Code, e.Text = http.StatusForbidden, CodeForbidden, say("error.notYours")
	case errors.Is(err, challenge.ErrNotBound):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeNotBound, say("error.notBound")
	case errors.Is(err, challenge.ErrAlreadyBound):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeAlreadyBound, say("error.alreadyBound")
	default:
		return nil
	}
	return e
}

// sendLimitReason says which send limit was reached, one of challenge's SendLimit
// reasons.
func sendLimitReason(reason string) words {
	switch reason {
	case challenge.SendLimitResend:
		return say("sendLimit.resend")
	case challenge.SendLimitUser:
		return say("sendLimit.user")
	case challenge.SendLimitNumber:
		return say("sendLimit.number")
	case challenge.SendLimitNetwork:
		return say("sendLimit.network")
	}
	return say("sendLimit.other")
}

// phoneReason says what is wrong with a phone number typed, and how to type it.
func phoneReason(problem string) words {
	if problem == "" {
		problem = "other"
	}
	return say("phone.problem."+problem, "Example", "+44 20 7946 0123")
}

// denial says why a setting was refused (a policy Deny reason).
func denial(reason string) words {
	switch {
	case reason == policy.DenyNoMethod:
		return say("deny.noMethod")
	case reason == policy.DenyNotEnabled:
		return say("deny.notEnabled")
	case strings.HasSuffix(reason, policy.DenyMandatedForYou):
		return say("deny.mandatedForYou")
	case strings.HasSuffix(reason, policy.DenyMandatedForUser):
		return say("deny.mandatedForUser")
	case reason == policy.DenyNotAdmin:
		return say("deny.notAdmin")
	case reason == policy.DenySelf:
		return say("deny.self")
	case reason == policy.DenyRoot:
		return say("deny.root")
	case reason == policy.DenyAdminByAdmin:
		return say("deny.adminByAdmin")
	case reason == policy.DenyNothingBound:
		return say("deny.nothingBound")
	}
	return say("deny.other")
}
