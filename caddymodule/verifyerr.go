package caddymodule

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

// failure is what a client is told about a failed verification: a status, a stable
// error code for APIs, and a sentence for people. The detail stays in the log.
type failure struct {
	Status int
	Code   string
	Text   string
	Until  time.Time // for Retry-After
	Left   int       // attempts left on a wrong code
}

// describe maps a challenge error to what the client may know. ok is false for
// errors that are not about the code (the store is down, a bug): those answer 503/500.
func describe(err error) (f failure, ok bool) {
	var wrong *challenge.WrongCodeError
	var locked *challenge.LockedError
	var ipLimited *challenge.IPLimitedError
	var sendLimited *challenge.SendLimitedError
	var tooMany *challenge.TooManyChallengesError
	var badPhone *challenge.InvalidPhoneError
	switch {
	case errors.As(err, &tooMany):
		return failure{Status: http.StatusTooManyRequests, Code: "too_many_challenges", Until: tooMany.Until,
			Text: "Too many checks were started without an answer. Try again after " + tooMany.Until.UTC().Format("15:04 MST") + "."}, true
	case errors.As(err, &sendLimited):
		return failure{Status: http.StatusTooManyRequests, Code: "send_limited", Until: sendLimited.RetryAt,
			Text: sentence(sendLimited.Reason) + " You can ask for a code again at " + sendLimited.RetryAt.UTC().Format("15:04:05 MST") + "."}, true
	case errors.As(err, &badPhone):
		return failure{Status: http.StatusBadRequest, Code: "invalid_phone", Text: sentence(badPhone.Reason)}, true
	case errors.Is(err, challenge.ErrSendFailed):
		// The provider's answer is in err, for the log; the user gets the gist.
		return failure{Status: http.StatusBadGateway, Code: "send_failed",
			Text: "We could not send the code. Try again later, or use another method if you have one."}, true
	case errors.Is(err, challenge.ErrSMSUnavailable):
		return failure{Status: http.StatusConflict, Code: "sms_unavailable", Text: "Text messages are not available here."}, true
	case errors.Is(err, challenge.ErrNotOffered):
		return failure{Status: http.StatusConflict, Code: "not_offered", Text: "That method cannot be used for this check."}, true
	case errors.As(err, &wrong):
		text := "That code is not right."
		if wrong.AttemptsLeft > 0 {
			text = fmt.Sprintf("That code is not right. %d attempts left.", wrong.AttemptsLeft)
		}
		return failure{Status: http.StatusUnauthorized, Code: "invalid_code", Text: text, Left: wrong.AttemptsLeft}, true
	case errors.As(err, &locked):
		return failure{Status: http.StatusTooManyRequests, Code: "locked", Until: locked.Until,
			Text: "Too many wrong codes: your second factor is locked until " + locked.Until.UTC().Format("15:04 MST") + "."}, true
	case errors.As(err, &ipLimited):
		return failure{Status: http.StatusTooManyRequests, Code: "rate_limited", Until: ipLimited.Until,
			Text: "Too many wrong codes from your network. Try again later."}, true
	case errors.Is(err, challenge.ErrChallengeEnded):
		return failure{Status: http.StatusGone, Code: "challenge_ended",
			Text: "This check has ended: it expired, was already used, or had too many wrong codes. Start again from the console."}, true
	case errors.Is(err, challenge.ErrNotYours):
		return failure{Status: http.StatusForbidden, Code: "forbidden", Text: "This check belongs to another session."}, true
	case errors.Is(err, challenge.ErrNotBound):
		return failure{Status: http.StatusConflict, Code: "not_bound", Text: "That second factor is not bound."}, true
	case errors.Is(err, challenge.ErrAlreadyBound):
		return failure{Status: http.StatusConflict, Code: "already_bound", Text: "An authenticator app is already bound; unbind it first."}, true
	case errors.Is(err, store.ErrUnavailable):
		return failure{}, false
	}
	return failure{}, false
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
