package gateway

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
)

// The challenge page, built only from the store: what is confirmed (from the
// challenge, never from the URL), the forms of the methods the user has set up, the
// SMS code's form while a code is waiting, the lock when there is one, and what the
// last form said (a flash). A challenge that ended shows how, and the next step.

// lockRule is how wrong codes lock a user's second factor, for the pages to warn.
type lockRule struct {
	after    int           // wrong codes in a row that lock
	lasts    time.Duration // how long a lock lasts
	perCheck int           // codes one check takes
}

// show renders challenge id's page.
func (cp *challengePages) show(w http.ResponseWriter, r *http.Request, id string) error {
	ch, err := cp.find(r, id)
	if errors.Is(err, challenge.ErrChallengeEnded) {
		return cp.showEnded(w, r, id)
	}
	if err != nil {
		return cp.failure(r, ch, id, err)
	}
	fl := cp.flashes.take(w, r, "challenge:"+id)
	f, err := cp.challenges.Factors(r.Context(), ch.User)
	if err != nil {
		return failed(err)
	}
	l := cp.respond.langOf(r)
	data := cp.pageData(l, ch, fl)
	offers := func(m policy.Method) bool { return slices.Contains(ch.Methods, m) }
	if ch.Purpose == policy.PurposeBind || (!(offers(policy.TOTP) && f.TOTP != nil) && !(offers(policy.SMS) && f.Phone != nil && cp.sms)) {
		return cp.showBinding(w, r, l, ch, f, data)
	}
	locked, err := cp.challenges.LockedUntil(r.Context(), ch.User)
	if err != nil {
		return failed(err)
	}
	if !locked.IsZero() {
		data["Locked"] = relativeTime(l, "locked-until", locked, cp.now())
		return cp.respond.Page(w, r, http.StatusOK, "challenge.html", data)
	}
	if err := cp.warnOfLock(r, l, ch.User, data); err != nil {
		return err
	}
	data["TOTP"] = offers(policy.TOTP) && f.TOTP != nil
	// A lost device: one of the recovery codes instead.
	data["Recovery"] = f.Recovery.Left() > 0 && !ch.NoRecovery
	if offers(policy.SMS) && f.Phone != nil && cp.sms {
		data["SMS"], data["Phone"] = true, f.Phone.Masked
		sent, ok, err := cp.challenges.CodeSent(r.Context(), id)
		if err != nil {
			return failed(err)
		}
		if ok && !sent.NewPhone {
			cp.codeSent(l, data, "sms", sent)
		}
	}
	return cp.respond.Page(w, r, http.StatusOK, "challenge.html", data)
}

// pageData is what every page of challenge ch shows: who, what is confirmed, the
// form's action and token, Cancel, and the flash.
func (cp *challengePages) pageData(l *locale.Lang, ch challenge.Challenge, fl flash) map[string]any {
	data := map[string]any{
		"Title": l.Text("challenge.title"), "User": ch.User, "Purpose": ch.Purpose,
		"Action": cp.respond.challengeURL(ch.ID), "CSRF": cp.forms.token(ch.Binding, "challenge:"+ch.ID),
		"Error": fl.Error, "ErrorField": fl.Field, "Notice": fl.Notice, "Number": fl.Number,
	}
	switch ch.Purpose {
	case policy.PurposeLogin:
		data["Title"] = l.Text("challenge.login.title")
		data["Unusual"] = ch.Rule == unusualSignIn
	case policy.PurposeBind:
	default:
		data["Rule"], data["Request"], data["Description"] = ruleName(l, ch.Rule), ch.Request, cp.descriptions[ch.Rule]
		if t, ok := cp.ruleTexts[ch.Rule][l]; ok {
			if t.Name != "" {
				data["Rule"] = t.Name
			}
			if t.Description != "" {
				data["Description"] = t.Description
			}
		}
	}
	return data
}

// RuleText is a protect rule's name and description in one language.
type RuleText struct{ Name, Description string }

// builtInRules are the gateway's own operations that need a recent second factor, by
// the rule name challenges and logs carry; the page says them in its reader's
// language. The operator's rules show as configured.
var builtInRules = map[string]string{
	"administer users":                    "rule.administer",
	"changes to your two-factor settings": "rule.settings",
	"setting up an authenticator app":     "rule.setUpTOTP",
	"changing your phone":                 "rule.changePhone",
	"removing your phone":                 "rule.removePhone",
	ruleRecoveryCodes:                     "rule.recoveryCodes",
}

func ruleName(l *locale.Lang, rule string) string {
	if id, ok := builtInRules[rule]; ok {
		return l.Text(id)
	}
	return rule
}

// warnOfLock says how many more wrong codes lock the user's second factor, when that
// is no more than one check takes.
func (cp *challengePages) warnOfLock(r *http.Request, l *locale.Lang, user string, data map[string]any) error {
	n, err := cp.challenges.RecentFailures(r.Context(), user)
	if err != nil {
		return failed(err)
	}
	left := cp.lock.after - n
	if n > 0 && left <= cp.lock.perCheck && left > 0 {
		data["Warning"] = l.Text("challenge.lockWarning", "Count", left, "Lasting", lasting(cp.lock.lasts).in(l))
	}
	return nil
}

// codeSent fills in the form of an SMS code that is waiting to be entered.
func (cp *challengePages) codeSent(l *locale.Lang, data map[string]any, prefix string, sent challenge.SentCode) {
	now := cp.now()
	data[prefixed(prefix, "Sent")] = true
	data[prefixed(prefix, "To")] = sent.To
	data[prefixed(prefix, "Expires")] = relativeTime(l, prefix+"-expires", sent.Expires, now)
	if now.Before(sent.ResendAt) {
		data[prefixed(prefix, "ResendAt")] = relativeTime(l, prefix+"-resend-at", sent.ResendAt, now)
	}
}

func prefixed(prefix, name string) string {
	if prefix == "sms" {
		return "SMS" + name
	}
	return "Phone" + name
}

// showBinding renders the page that sets up a second factor: an authenticator app
// (QR code, a link that opens the app on this device, the key in groups), or a phone
// (its number, then the code sent to it).
func (cp *challengePages) showBinding(w http.ResponseWriter, r *http.Request, l *locale.Lang, ch challenge.Challenge, f challenge.Factors, data map[string]any) error {
	offers := func(m policy.Method) bool { return slices.Contains(ch.Methods, m) }
	// A bind challenge (after a fresh factor) may replace a bound app.
	totpBind := offers(policy.TOTP) && (f.TOTP == nil || ch.Purpose == policy.PurposeBind)
	phoneBind := offers(policy.SMS) && cp.sms
	if !totpBind && !phoneBind {
		cp.log.Error("challenge offers no method that can be passed or set up", zap.String("user", ch.User), zap.Any("methods", ch.Methods))
		return &Error{Status: http.StatusConflict, Code: CodeNoMethod, Title: say("error.noMethod.title"),
			Text: say("error.noMethod"), Link: "/", LinkText: say("link.console")}
	}
	data["Title"] = l.Text("bind.title")
	if !phoneBind {
		data["Title"] = l.Text("bind.totp.title")
	} else if !totpBind {
		data["Title"] = l.Text("bind.phone.title")
	}
	data["TOTPBind"], data["PhoneBind"] = totpBind, phoneBind
	data["PhoneFirst"] = phoneBind && len(ch.Methods) > 0 && ch.Methods[0] == policy.SMS
	if phoneBind {
		sent, ok, err := cp.challenges.CodeSent(r.Context(), ch.ID)
		if err != nil {
			return failed(err)
		}
		if ok && sent.NewPhone {
			cp.codeSent(l, data, "phone", sent)
		}
	}
	if totpBind {
		enr, err := cp.challenges.StartTOTPBinding(r.Context(), ch.ID, ch.Binding)
		if err != nil {
			return cp.failure(r, ch, ch.ID, err)
		}
		data["Secret"] = groupKey(enr.Secret)
		data["QR"] = dataURL(enr.QRPNG)
		// Our own otpauth:// URI: html/template refuses that scheme unless told.
		data["OTPAuth"] = template.URL(enr.URI)
	}
	return cp.respond.Page(w, r, http.StatusOK, "bind.html", data)
}

// groupKey writes a key in groups of four, as people copy it.
func groupKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key[i:min(i+4, len(key))])
	}
	return b.String()
}

// showEnded renders the page of a challenge that ended: how, and the next step (go
// on, start a new check for the same held request, or go back and try again).
func (cp *challengePages) showEnded(w http.ResponseWriter, r *http.Request, id string) error {
	ended, err := cp.endedFor(r, id)
	if err != nil {
		return cp.failure(r, challenge.Challenge{}, id, err)
	}
	l := cp.respond.langOf(r)
	data := cp.pageData(l, ended.Challenge, cp.flashes.take(w, r, "challenge:"+id))
	data["Title"] = l.Text("ended.title")
	again, back := safeReturn(ended.Return), safeReturn(ended.Back)
	if ended.Purpose == policy.PurposeLogin {
		again, back = cp.respond.loginPathOr("/"), cp.respond.loginPathOr("/")
	}
	switch ended.How {
	case challenge.EndedPassed:
		data["Title"], data["Reason"] = l.Text("ended.passed.title"), l.Text("ended.passed")
		data["Continue"], data["ContinueText"] = again, l.Text("ended.continue")
		if ended.Purpose == policy.PurposeLogin {
			data["Continue"] = "/"
		}
	case challenge.EndedTooMany:
		data["Reason"] = l.Text("ended.tooMany")
		data["Restart"] = true
		data["Continue"], data["ContinueText"] = back, l.Text("ended.goBack")
		if err := cp.warnOfLock(r, l, ended.User, data); err != nil {
			return err
		}
	case challenge.EndedCancelled:
		data["Reason"] = l.Text("ended.cancelled")
		data["Continue"], data["ContinueText"] = back, l.Text("ended.goBack")
	default: // expired
		data["Reason"] = l.Text("ended.expired")
		data["Continue"], data["ContinueText"] = again, l.Text("ended.tryAgain")
	}
	return cp.respond.Page(w, r, http.StatusOK, "ended.html", data)
}

// endedFor finds how challenge id ended, for whoever may see it (as find).
func (cp *challengePages) endedFor(r *http.Request, id string) (challenge.Ended, error) {
	c := cp.id.caller(r)
	var e challenge.Ended
	err := challenge.ErrChallengeEnded
	for _, b := range cp.id.challengeBindings(r, c) {
		if e, err = cp.challenges.Ended(r.Context(), id, b); !errors.Is(err, challenge.ErrNotYours) {
			break
		}
	}
	return e, err
}
