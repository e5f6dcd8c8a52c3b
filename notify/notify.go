// Package notify tells users about security events on their account: a second factor
// bound or removed, a reset or an unlock by an administrator, a lockout, a recovery code
// used, protection turned off. Each is a Notice, a sentence in the user's language with
// its parts, sent by notifiers: Caddy guest modules in the namespace "stepup.notify",
// chosen in the gateway's configuration:
//
//   - stepup.notify.webhook: a signed JSON POST to a URL of your own (the operator's
//     e-mail or chat relay), retried with backoff;
//   - stepup.notify.sms: a text message to the user's bound phone, through the SMS
//     provider that sends the codes.
//
// Notices go through a Queue: a bounded channel and a few workers, off the request
// path. A request that causes a notice only puts it in the queue, which never blocks;
// a full queue drops the notice (with a log line and a metric). The workers limit how
// many notices each user gets (counted in the store, so the limits hold across
// instances), pick the user's language, render the sentence and hand the notice to
// each notifier.
package notify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/locale"
)

// Kind is what happened to the account.
type Kind string

// The kinds of notice.
const (
	// FactorBound: a second factor (Method) was bound.
	FactorBound Kind = "factor_bound"
	// FactorRemoved: the user removed a second factor (Method).
	FactorRemoved Kind = "factor_removed"
	// AdminReset: an administrator reset (removed) a second factor or revoked the
	// recovery codes (Method).
	AdminReset Kind = "admin_reset"
	// AdminUnlock: an administrator cleared the user's lock and wrong-code count.
	AdminUnlock Kind = "admin_unlock"
	// Lockout: too many wrong codes locked the user's second factor.
	Lockout Kind = "lockout"
	// RecoveryCodeUsed: a recovery code passed a check in place of a second factor.
	RecoveryCodeUsed Kind = "recovery_code_used"
	// ProtectionOff: a protection (Protection: "login" or "operation") was turned off.
	ProtectionOff Kind = "protection_off"
)

// Kinds lists every kind of notice.
func Kinds() []Kind {
	return []Kind{FactorBound, FactorRemoved, AdminReset, AdminUnlock, Lockout, RecoveryCodeUsed, ProtectionOff}
}

// A Notice is one security notice to one user. As JSON it is the body of a webhook
// notice (see Webhook).
type Notice struct {
	// ID is random, the same for every notifier and every retry: a receiver that
	// sees an ID twice has seen the notice before.
	ID string `json:"id"`
	// Kind is what happened.
	Kind Kind `json:"kind"`
	// User is whose account it is.
	User string `json:"user"`
	// Method is the second factor concerned, for factor_bound, factor_removed and
	// admin_reset: "totp" (an authenticator app), "sms" (a phone) or, for
	// admin_reset, "recovery" (the recovery codes).
	Method string `json:"method,omitempty"`
	// Protection is the protection turned off, for protection_off: "login" (a second
	// factor at sign-in) or "operation" (before sensitive actions).
	Protection string `json:"protection,omitempty"`
	// Actor is who did it: the user, an administrator, "cli" (the operators' command
	// line) or "gateway" (a lockout).
	Actor string `json:"actor"`
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Lang is the language of Text, a BCP 47 tag: "en" or "zh-Hans", the language the
	// user last used the gateway's pages in, else the operator's default.
	Lang string `json:"lang"`
	// Text is the notice as one sentence in Lang, ready to send: the console's name,
	// what happened and when (in UTC), and whom to contact if it was not the user.
	// It fits one SMS segment with a console name of up to about 20 characters.
	Text string `json:"text"`
}

// A Notifier sends a notice. Implementations are Caddy modules with IDs
// "stepup.notify.<name>". Notify returns nil once the notice is accepted, ErrSkipped
// when it does not apply to the user (no phone to text), or an error for the
// operator's log, which never holds a secret or a phone number.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// ErrSkipped says a notifier had nowhere to send a notice: the user has no phone bound,
// say. It is not a failure.
var ErrSkipped = errors.New("notify: nothing to send to for this user")

// Render returns the notice's sentence in l, with issuer (the console's name) first:
// as "Name: …" in English and as the signature "【Name】…" in Chinese, like the SMS
// codes.
func Render(l *locale.Lang, issuer string, n Notice) string {
	// One line, and no brackets that would end the Chinese signature early.
	name := strings.Join(strings.Fields(strings.NewReplacer("【", "", "】", "").Replace(issuer)), " ")
	if name == "" {
		name = l.Text("notify.name.none")
	}
	return l.Text(messageID(n), "Name", name, "Time", n.Time.UTC().Format(l.Text("notify.timeLayout")))
}

// messageID is the catalog message of n's sentence: one for its kind and method (or
// protection) when the catalogs have it, else the kind's own.
func messageID(n Notice) string {
	id := "notify." + string(n.Kind)
	detail := n.Method
	if n.Kind == ProtectionOff {
		detail = n.Protection
	}
	if detail != "" && locale.Has(id+"."+detail) {
		return id + "." + detail
	}
	if locale.Has(id) {
		return id
	}
	return "notify.other"
}
