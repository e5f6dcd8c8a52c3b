package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-stepup/stepup/challenge"
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
	// Title and Text are for people: the page's heading and sentence, or the JSON's
	// error_description.
	Title, Text string
	// Until is when to try again (Retry-After), or zero.
	Until time.Time
	// Left is the attempts left after a wrong code.
	Left int
	// Link and LinkText are the page's way on, when it has one.
	Link, LinkText string
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
	return string(e.Code) + ": " + e.Text
}

func (e *Error) Unwrap() error { return e.Err }

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
	e := &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Title: "Temporarily unavailable",
		Text: "The two-factor service is temporarily unavailable. Nothing was changed; please try again in a moment.", Err: err}
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
	errSignIn = &Error{Status: http.StatusUnauthorized, Code: CodeSignIn, Title: "Sign in first",
		Text: "Sign in to the console through the gateway first."}
	errCrossSite = &Error{Status: http.StatusForbidden, Code: CodeCrossSite, Title: "Request refused",
		Text: "This form has expired or did not come from this site. Go back and try again."}
	errNotFound = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Title: "Not found", Text: "There is no such page."}
)

// signIn is errSignIn with the reason, for the log.
func signIn(why string) *Error {
	e := *errSignIn
	e.Err = errors.New(why)
	return &e
}

// invalidRequest refuses a request the gateway cannot read safely.
func invalidRequest(text string, cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Title: "Request refused", Text: text, Err: cause}
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
	e := &Error{Err: err, Title: "Not confirmed", Link: "/", LinkText: "Back to the console"}
	now := clock()
	switch {
	case errors.As(err, &tooMany):
		e.Status, e.Code, e.Until, e.Title = http.StatusTooManyRequests, CodeTooManyChallenges, tooMany.Until, "Please wait"
		e.Text = "Too many checks were started without an answer. Try again " + relative(tooMany.Until.Sub(now)) + "."
	case errors.As(err, &sendLimited):
		e.Status, e.Code, e.Until = http.StatusTooManyRequests, CodeSendLimited, sendLimited.RetryAt
		e.Text = sentence(sendLimited.Reason) + " You can ask for a new code " + relativeSeconds(sendLimited.RetryAt.Sub(now)) + "."
	case errors.As(err, &badPhone):
		e.Status, e.Code, e.Text = http.StatusBadRequest, CodeInvalidPhone, sentence(badPhone.Reason)
	case errors.Is(err, challenge.ErrSendFailed):
		// The provider's answer is in err, for the log; the user gets the gist.
		e.Status, e.Code = http.StatusBadGateway, CodeSendFailed
		e.Text = "We could not send the code. Try again later, or use another method if you have one."
	case errors.Is(err, challenge.ErrSMSUnavailable):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeSMSUnavailable, "Text messages are not available here."
	case errors.Is(err, challenge.ErrNotOffered):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeNotOffered, "That method cannot be used for this check."
	case errors.As(err, &wrong):
		e.Status, e.Code, e.Left, e.Text = http.StatusUnauthorized, CodeInvalidCode, wrong.AttemptsLeft, "That code is not right."
		if wrong.Reused {
			e.Text = "That code was already used. Wait until your app shows a new one, then enter it."
		}
		if wrong.AttemptsLeft > 0 {
			e.Text += fmt.Sprintf(" %d %s left.", wrong.AttemptsLeft, plural(wrong.AttemptsLeft, "attempt", "attempts"))
		}
	case errors.As(err, &locked):
		e.Status, e.Code, e.Until = http.StatusTooManyRequests, CodeLocked, locked.Until
		e.Text = "Too many wrong codes: your second factor is locked. Try again " + relative(locked.Until.Sub(now)) +
			" (" + locked.Until.UTC().Format("15:04 UTC") + "), or ask an administrator to unlock it."
	case errors.As(err, &ipLimited):
		e.Status, e.Code, e.Until = http.StatusTooManyRequests, CodeRateLimited, ipLimited.Until
		e.Text = "Too many wrong codes from your network. Try again " + relative(ipLimited.Until.Sub(now)) + "."
	case errors.Is(err, challenge.ErrChallengeEnded):
		e.Status, e.Code = http.StatusGone, CodeChallengeEnded
		e.Text = "This check has ended. Go back to the console and try again."
	case errors.Is(err, challenge.ErrNotYours):
		e.Status, e.Code, e.Text = http.StatusForbidden, CodeForbidden, "This check was started in another browser or session. Go back to the console and try again here."
	case errors.Is(err, challenge.ErrNotBound):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeNotBound, "That method is not set up. Set it up on your two-factor settings page."
	case errors.Is(err, challenge.ErrAlreadyBound):
		e.Status, e.Code, e.Text = http.StatusConflict, CodeAlreadyBound, "An authenticator app is already set up. To use another, remove this one first."
	default:
		return nil
	}
	return e
}

// sentence makes a reason from the challenge package ("a code was sent moments ago")
// read as a sentence on a page: a capital first letter and a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
