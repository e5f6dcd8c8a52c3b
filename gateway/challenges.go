package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/token"
)

// challengeAnswers shows and answers challenges.
type challengeAnswers interface {
	Challenge(ctx context.Context, id, binding string) (challenge.Challenge, error)
	Factors(ctx context.Context, user string) (challenge.Factors, error)
	VerifyTOTP(ctx context.Context, id, binding, code, clientIP string) (challenge.Passed, error)
	VerifySMS(ctx context.Context, id, binding, code, clientIP string) (challenge.Passed, error)
	VerifyRecovery(ctx context.Context, id, binding, code, clientIP string) (challenge.Passed, error)
	SendSMSCode(ctx context.Context, id, binding, clientIP string, lang *locale.Lang) (challenge.SentCode, error)
	StartTOTPBinding(ctx context.Context, id, binding string) (challenge.Enrollment, error)
	ConfirmTOTPBinding(ctx context.Context, id, binding, code1, code2, clientIP string) (challenge.Passed, error)
	StartPhoneBinding(ctx context.Context, id, binding, number, clientIP string, lang *locale.Lang) (challenge.SentCode, error)
	ConfirmPhoneBinding(ctx context.Context, id, binding, code, clientIP string) (challenge.Passed, error)
	TakeHeld(ctx context.Context, p challenge.Passed) ([]byte, error)
	Ended(ctx context.Context, id, binding string) (challenge.Ended, error)
	Restart(ctx context.Context, id, binding string) (challenge.Challenge, error)
	Cancel(ctx context.Context, id, binding string) (challenge.Challenge, error)
	CodeSent(ctx context.Context, id string) (challenge.SentCode, bool, error)
	LockedUntil(ctx context.Context, user string) (time.Time, error)
	RecentFailures(ctx context.Context, user string) (int, error)
}

// challengePages serves a challenge's page and API: show it, answer it (an
// authenticator code, an SMS code, or binding a first factor), send an SMS code; then
// release what waited on it (a held login, a held form) or issue a step-up token.
type challengePages struct {
	id          *identifier
	respond     *Responder
	forms       forms
	cookies     cookies
	challenges  challengeAnswers
	tokens      sessionIssuer
	sessions    sessions
	audit       *Audit
	flashes     flashes
	sms         bool // an SMS provider is configured
	tokenHeader string
	lock        lockRule
	// descriptions are the operator's descriptions of the protect rules, by name.
	descriptions map[string]string
	// ruleTexts are the rules' names and descriptions in other languages.
	ruleTexts map[string]map[*locale.Lang]RuleText
	env
}

// find loads challenge id for whoever may answer it: the browser whose login is held
// (login cookie), or the challenge's own user, signed in, in the browser (or session)
// it was begun in. Anyone else gets ErrNotYours.
func (cp *challengePages) find(r *http.Request, id string) (challenge.Challenge, error) {
	c := cp.id.caller(r)
	bindings := cp.id.challengeBindings(r, c)
	if len(bindings) == 0 {
		return challenge.Challenge{}, signIn("no gateway session or pending login")
	}
	var ch challenge.Challenge
	err := challenge.ErrNotYours
	for _, b := range bindings {
		if ch, err = cp.challenges.Challenge(r.Context(), id, b); !errors.Is(err, challenge.ErrNotYours) {
			break
		}
	}
	if err != nil || ch.Purpose == policy.PurposeLogin {
		return ch, err
	}
	// Everything but a held login is answered by its own user, signed in.
	if !c.known() || c.User != ch.User {
		return ch, challenge.ErrNotYours
	}
	live, err := cp.id.live(r.Context(), c, nil)
	if err != nil {
		return ch, err
	}
	if !live {
		return ch, signIn("gateway session revoked or expired")
	}
	return ch, nil
}

// dataURL inlines a PNG, so the secret inside the QR code never travels in a URL.
func dataURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// form parses a challenge page's form and checks it came from that page. A form of a
// challenge that has ended is answered with a redirect to the challenge's page, which
// says how it ended (done is true then).
func (cp *challengePages) form(w http.ResponseWriter, r *http.Request, id string) (ch challenge.Challenge, done bool, err error) {
	if err := r.ParseForm(); err != nil {
		return ch, false, invalidRequest(say("error.unreadableForm"), err)
	}
	ch, err = cp.find(r, id)
	if errors.Is(err, challenge.ErrChallengeEnded) {
		http.Redirect(w, r, cp.respond.challengeURL(id), http.StatusSeeOther)
		return ch, true, nil
	}
	if err != nil {
		return ch, false, cp.failure(r, ch, id, err)
	}
	if err := cp.forms.check(r, ch.Binding, "challenge:"+id); err != nil {
		cp.log.Warn("challenge form refused: bad CSRF token or cross-site", zap.String("user", ch.User), zap.String("challenge", id), zap.String("client_ip", cp.clientIP(r)))
		return ch, false, err
	}
	return ch, false, nil
}

// again sends the browser back to the challenge's page, saying fl there.
func (cp *challengePages) again(w http.ResponseWriter, r *http.Request, id string, fl flash) error {
	fl.For = "challenge:" + id
	cp.flashes.redirect(w, r, cp.respond.challengeURL(id), fl)
	return nil
}

// submit checks an answer: an authenticator code, an SMS code, or on the set-up page
// two consecutive authenticator codes or the code sent to a new phone. A wrong answer
// goes back to the page (post/redirect/get), saying why.
func (cp *challengePages) submit(w http.ResponseWriter, r *http.Request, next Next) error {
	id := r.PathValue("id")
	ch, done, err := cp.form(w, r, id)
	if done || err != nil {
		return err
	}
	var passed challenge.Passed
	ip := cp.clientIP(r)
	field, method := "code", policy.TOTP
	switch {
	case r.PostForm.Has("code1"):
		field = "code1"
		passed, err = cp.challenges.ConfirmTOTPBinding(r.Context(), id, ch.Binding, typedCode(r.PostFormValue("code1")), typedCode(r.PostFormValue("code2")), ip)
	case r.PostForm.Has("phone_code"):
		field, method = "phone-code", policy.SMS
		passed, err = cp.challenges.ConfirmPhoneBinding(r.Context(), id, ch.Binding, typedCode(r.PostFormValue("phone_code")), ip)
	case r.PostFormValue("method") == string(policy.SMS):
		field, method = "sms-code", policy.SMS
		passed, err = cp.challenges.VerifySMS(r.Context(), id, ch.Binding, typedCode(r.PostFormValue("code")), ip)
	case r.PostFormValue("method") == string(policy.Recovery):
		field, method = "recovery-code", policy.Recovery
		passed, err = cp.challenges.VerifyRecovery(r.Context(), id, ch.Binding, r.PostFormValue("code"), ip)
	default:
		passed, err = cp.challenges.VerifyTOTP(r.Context(), id, ch.Binding, typedCode(r.PostFormValue("code")), ip)
	}
	if err != nil {
		e := recoveryWording(failed(err), err, method)
		cp.logFailure(r, method, ch.User, id, err)
		cp.audit.lockout(r.Context(), ch.User, err, ip)
		switch e.Code {
		case CodeInvalidCode, CodeLocked, CodeRateLimited, CodeNotBound, CodeChallengeEnded:
			// The page says it: what was wrong, how many attempts are left, the lock,
			// or how the check ended.
			if e.Code == CodeLocked || e.Code == CodeChallengeEnded || (e.Code == CodeInvalidCode && e.Left == 0) {
				return cp.again(w, r, id, flash{})
			}
			return cp.again(w, r, id, flash{Error: e.Text.in(cp.respond.langOf(r)), Field: field})
		}
		return e
	}
	switch {
	case r.PostForm.Has("code1"):
		cp.audit.Record(r.Context(), Event{Actor: ch.User, Target: ch.User, Action: "totp.bound", Result: "ok", ClientIP: ip})
	case r.PostForm.Has("phone_code"):
		cp.audit.Record(r.Context(), Event{Actor: ch.User, Target: ch.User, Action: "phone.bound", Result: "ok", ClientIP: ip})
	}
	cp.recoveryUsed(r, passed)
	return cp.passed(w, r, next, passed)
}

// typedCode is a code as typed, without the spaces and dashes people copy from their
// app ("123 456").
func typedCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' || r == '\u00a0' {
			return -1
		}
		return r
	}, s)
}

// sendSMS sends a code for the challenge, when the user asks for one.
func (cp *challengePages) sendSMS(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ch, done, err := cp.form(w, r, id)
	if done || err != nil {
		return err
	}
	sent, err := cp.challenges.SendSMSCode(r.Context(), id, ch.Binding, cp.clientIP(r), cp.respond.langOf(r))
	if err != nil {
		return cp.sendFailure(w, r, ch, err, "sms-send")
	}
	cp.log.Info("sms code sent", zap.String("user", ch.User), zap.String("challenge", id), zap.String("to", sent.To), zap.String("client_ip", cp.clientIP(r)))
	return cp.again(w, r, id, flash{Notice: cp.respond.langOf(r).Text("code.sentNotice", "To", sent.To)})
}

// startPhone sends a code to the number the user wants to set up.
func (cp *challengePages) startPhone(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ch, done, err := cp.form(w, r, id)
	if done || err != nil {
		return err
	}
	sent, err := cp.challenges.StartPhoneBinding(r.Context(), id, ch.Binding, r.PostFormValue("number"), cp.clientIP(r), cp.respond.langOf(r))
	if err != nil {
		return cp.sendFailure(w, r, ch, err, "phone-number")
	}
	cp.log.Info("sms code sent to a phone being set up", zap.String("user", ch.User), zap.String("challenge", id), zap.String("to", sent.To), zap.String("client_ip", cp.clientIP(r)))
	return cp.again(w, r, id, flash{Notice: cp.respond.langOf(r).Text("code.sentNotice", "To", sent.To)})
}

// sendFailure says, on the page, why no code went out: a limit (and when to retry), a
// bad number, or the provider's failure (with the detail in the operator's log only).
func (cp *challengePages) sendFailure(w http.ResponseWriter, r *http.Request, ch challenge.Challenge, err error, field string) error {
	e := failed(err)
	if e.Code == CodeUnavailable || e.Code == CodeInternal {
		return e
	}
	cp.logSendFailure(r, ch, err)
	switch e.Code {
	case CodeForbidden:
		return cp.failure(r, ch, ch.ID, err)
	case CodeChallengeEnded, CodeLocked:
		return cp.again(w, r, ch.ID, flash{})
	}
	return cp.again(w, r, ch.ID, flash{Error: e.Text.in(cp.respond.langOf(r)), Field: field, Number: r.PostFormValue("number")})
}

// restart starts a new check for what waited on a check that ended after too many
// wrong codes, and goes to it.
func (cp *challengePages) restart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return invalidRequest(say("error.unreadableForm"), err)
	}
	ended, err := cp.endedFor(r, id)
	if err != nil {
		return cp.failure(r, challenge.Challenge{}, id, err)
	}
	if err := cp.forms.check(r, ended.Binding, "challenge:"+id); err != nil {
		return err
	}
	next, err := cp.challenges.Restart(r.Context(), id, ended.Binding)
	if errors.Is(err, challenge.ErrChallengeEnded) {
		return cp.again(w, r, id, flash{Error: cp.respond.langOf(r).Text("ended.cannotRestart")})
	}
	if err != nil {
		return cp.failure(r, ended.Challenge, id, err)
	}
	cp.log.Info("check started again after too many wrong codes", zap.String("user", ended.User), zap.String("challenge", next.ID),
		zap.String("ended", id), zap.String("client_ip", cp.clientIP(r)))
	http.Redirect(w, r, cp.respond.challengeURL(next.ID), http.StatusSeeOther)
	return nil
}

// cancel ends the check and what waited on it, and goes back where the user came
// from.
func (cp *challengePages) cancel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ch, done, err := cp.form(w, r, id)
	if done || err != nil {
		return err
	}
	if _, err := cp.challenges.Cancel(r.Context(), id, ch.Binding); err != nil && !errors.Is(err, challenge.ErrChallengeEnded) {
		return cp.failure(r, ch, id, err)
	}
	cp.log.Info("check cancelled", zap.String("user", ch.User), zap.String("challenge", id), zap.String("client_ip", cp.clientIP(r)))
	back := safeReturn(ch.Back)
	if ch.Purpose == policy.PurposeLogin {
		http.SetCookie(w, cp.cookies.pagesOnly(r, loginCookie, "", -1))
		back = cp.respond.loginPathOr("/")
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// logSendFailure tells the operator why no code went out (a limit, a bad number, or
// the provider's own answer).
func (cp *challengePages) logSendFailure(r *http.Request, ch challenge.Challenge, err error) {
	if errors.Is(err, challenge.ErrSendLimited) || errors.Is(err, challenge.ErrIPLimited) {
		cp.events.SMSLimited()
	}
	cp.log.Warn("sms code not sent", zap.String("user", ch.User), zap.String("challenge", ch.ID),
		zap.String("reason", err.Error()), zap.String("client_ip", cp.clientIP(r)))
}

// failure is the answer for a challenge that cannot be shown or answered; a refusal
// of its binding is logged.
func (cp *challengePages) failure(r *http.Request, ch challenge.Challenge, id string, err error) error {
	e := failed(err)
	if e.Code == CodeForbidden {
		cp.logFailure(r, "", ch.User, id, err)
	}
	return e
}

// logFailure records a failed answer with method ("" when not known) for the
// operator. (A challenge that ended on its last wrong code has dropped what waited on
// it already.)
func (cp *challengePages) logFailure(r *http.Request, method policy.Method, user, id string, err error) {
	if e := challengeFailure(err); e != nil {
		cp.events.Verification(string(method), string(e.Code))
	}
	cp.log.Warn("second factor failed", zap.String("user", user), zap.String("challenge", id),
		zap.String("reason", err.Error()), zap.String("client_ip", cp.clientIP(r)))
}

// passed finishes a challenge in a browser: a held login is released; otherwise a
// step-up token cookie, then the held form is replayed or the user goes back where
// they were.
func (cp *challengePages) passed(w http.ResponseWriter, r *http.Request, next Next, p challenge.Passed) error {
	cp.events.Verification(string(p.Method), "passed")
	if p.Challenge.Purpose == policy.PurposeLogin {
		return cp.releaseLogin(w, r, p)
	}
	if _, _, err := cp.issueStepUp(w, r, p); err != nil {
		return failed(err)
	}
	cp.log.Info("second factor passed", zap.String("user", p.Challenge.User), zap.String("challenge", p.Challenge.ID),
		zap.String("method", string(p.Method)), zap.String("rule", p.Challenge.Rule), zap.String("client_ip", cp.clientIP(r)))
	held, err := cp.challenges.TakeHeld(r.Context(), p)
	if err != nil {
		return failed(err)
	}
	if held != nil {
		cp.setUser(r, p.Challenge.User, p.AuthTime)
		return replay(w, r, next, held)
	}
	http.Redirect(w, r, safeReturn(p.Challenge.Return), http.StatusSeeOther)
	return nil
}

// issueStepUp makes a step-up token for a passed challenge and sets its cookie. The
// token belongs to the caller's gateway session; in header mode to its user.
func (cp *challengePages) issueStepUp(w http.ResponseWriter, r *http.Request, p challenge.Passed) (string, token.Claims, error) {
	session := p.Challenge.Binding
	if cp.id.header != "" {
		session = token.NoSession
	}
	raw, claims, err := cp.tokens.Issue(r.Context(), token.StepUp, p.Challenge.User, session, p.AMR, p.AuthTime)
	if err != nil {
		return "", claims, err
	}
	http.SetCookie(w, cp.cookies.make(r, tokenCookie, raw, claims.Expires.Sub(cp.now()), http.SameSiteStrictMode))
	cp.sessions.trustDevice(w, r, p.Challenge.User)
	return raw, claims, nil
}

// releaseLogin completes a held login: the console's answer exactly as it was, plus
// the gateway session cookie, whose auth_time and amr are the second factor's.
func (cp *challengePages) releaseLogin(w http.ResponseWriter, r *http.Request, p challenge.Passed) error {
	b, err := cp.challenges.TakeHeld(r.Context(), p)
	if err != nil {
		return failed(err)
	}
	if b == nil {
		return failed(challenge.ErrChallengeEnded)
	}
	var held heldResponse
	if err := json.Unmarshal(b, &held); err != nil {
		return failed(fmt.Errorf("held login answer is damaged: %w", err))
	}
	cookies, err := cp.sessions.start(r, p.Challenge.User, append([]string{"pwd"}, p.AMR...), p.AuthTime, held.Header)
	if err != nil {
		return failed(err)
	}
	hdr := w.Header()
	for k := range hdr {
		delete(hdr, k) // the gateway's own page headers do not belong on the console's answer
	}
	copyHeader(hdr, held.Header)
	// The pending-login cookie stays until it expires with the challenge, so Back to
	// the challenge's page can still say it was confirmed.
	for _, c := range cookies {
		hdr.Add("Set-Cookie", c.String())
	}
	cp.events.Login("released")
	cp.log.Info("held console login released", zap.String("user", p.Challenge.User), zap.String("challenge", p.Challenge.ID),
		zap.String("method", string(p.Method)), zap.String("client_ip", cp.clientIP(r)))
	w.WriteHeader(held.Status)
	_, err = w.Write(held.Body)
	return err
}

// apiVerify is POST {prefix}/api/challenges/{id}/verify with {"code": "123456"} and
// optionally "method": "totp" (the default) or "sms". It answers with a step-up
// token, or for a held login with the console's own login answer.
func (cp *challengePages) apiVerify(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ch, err := cp.apiChallenge(r, id)
	if err != nil {
		return err
	}
	var body struct {
		Code   string        `json:"code"`
		Method policy.Method `json:"method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return invalidRequest(say("error.expectedCodeJSON"), err)
	}
	var passed challenge.Passed
	switch body.Method {
	case "", policy.TOTP:
		passed, err = cp.challenges.VerifyTOTP(r.Context(), id, ch.Binding, body.Code, cp.clientIP(r))
	case policy.SMS:
		passed, err = cp.challenges.VerifySMS(r.Context(), id, ch.Binding, body.Code, cp.clientIP(r))
	case policy.Recovery:
		passed, err = cp.challenges.VerifyRecovery(r.Context(), id, ch.Binding, body.Code, cp.clientIP(r))
	default:
		return invalidRequest(say("error.unknownMethod"), nil)
	}
	if err != nil {
		method := body.Method
		if method == "" {
			method = policy.TOTP
		}
		cp.logFailure(r, method, ch.User, id, err)
		cp.audit.lockout(r.Context(), ch.User, err, cp.clientIP(r))
		return recoveryWording(failed(err), err, method)
	}
	cp.events.Verification(string(passed.Method), "passed")
	cp.recoveryUsed(r, passed)
	if passed.Challenge.Purpose == policy.PurposeLogin {
		return cp.releaseLogin(w, r, passed)
	}
	raw, claims, err := cp.issueStepUp(w, r, passed)
	if err != nil {
		return failed(err)
	}
	cp.log.Info("second factor passed", zap.String("user", ch.User), zap.String("challenge", id), zap.String("method", string(passed.Method)), zap.String("client_ip", cp.clientIP(r)))
	answer := map[string]any{
		"token":      raw,
		"token_type": "stepup",
		"cookie":     tokenCookie,
		"expires_in": int(claims.Expires.Sub(cp.now()) / time.Second),
		"auth_time":  claims.AuthTime.Unix(),
		"amr":        claims.AMR,
	}
	if cp.tokenHeader != "" {
		answer["header"] = cp.tokenHeader
	}
	return cp.respond.JSON(w, http.StatusOK, answer)
}

// apiSendSMS is POST {prefix}/api/challenges/{id}/sms: send a code to the user's
// bound phone. A limit answers 429 with Retry-After.
func (cp *challengePages) apiSendSMS(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ch, err := cp.apiChallenge(r, id)
	if err != nil {
		return err
	}
	sent, err := cp.challenges.SendSMSCode(r.Context(), id, ch.Binding, cp.clientIP(r), cp.respond.langOf(r))
	if err != nil {
		if e := failed(err); e.Code != CodeUnavailable && e.Code != CodeInternal {
			cp.logSendFailure(r, ch, err)
		}
		return failed(err)
	}
	cp.log.Info("sms code sent", zap.String("user", ch.User), zap.String("challenge", id), zap.String("to", sent.To), zap.String("client_ip", cp.clientIP(r)))
	return cp.respond.JSON(w, http.StatusOK, map[string]any{
		"sent_to":    sent.To,
		"resend_at":  sent.ResendAt.UTC().Format(time.RFC3339),
		"expires_at": sent.Expires.UTC().Format(time.RFC3339),
	})
}

// apiChallenge finds a challenge for a JSON API call.
func (cp *challengePages) apiChallenge(r *http.Request, id string) (challenge.Challenge, error) {
	if err := checkAPI(r); err != nil {
		return challenge.Challenge{}, err
	}
	ch, err := cp.find(r, id)
	if err != nil {
		if e := challengeFailure(err); e != nil {
			cp.logFailure(r, "", ch.User, id, err)
		}
		return ch, failed(err)
	}
	return ch, nil
}
