package gateway

import (
	"strings"
	"time"
)

// A Notice is a security notice an audited event calls for: something that happened to
// a user's account that the user should hear about, in case it was not them. The
// gateway hands notices to Options.Notify, which queues them for the notifiers (an
// e-mail or chat relay, an SMS to the bound phone) off the request path.
type Notice struct {
	// Kind is what happened: "factor_bound", "factor_removed", "admin_reset",
	// "admin_unlock", "lockout", "recovery_code_used" or "protection_off".
	Kind string
	// User is whose account it is.
	User string
	// Method is the second factor concerned, for factor_bound, factor_removed and
	// admin_reset: "totp" (an authenticator app), "sms" (a phone) or, for
	// admin_reset, "recovery" (the recovery codes).
	Method string
	// Protection is the protection turned off, for protection_off: "login" or
	// "operation".
	Protection string
	// Actor is who acted: the user, an administrator, "cli" or "gateway" (a lockout).
	Actor string
	// Time is when it happened.
	Time time.Time
}

// NoticeFor returns the notice ev calls for, or false: a factor bound or removed, a
// factor reset or a lock cleared by an administrator, a lockout, a recovery code used,
// and protection turned off, each only when it was done ("ok", not "refused").
func NoticeFor(ev Event) (Notice, bool) {
	if ev.Result != "ok" || ev.Target == "" {
		return Notice{}, false
	}
	n := Notice{User: ev.Target, Actor: ev.Actor, Time: ev.Time}
	switch ev.Action {
	case "totp.bound":
		n.Kind, n.Method = "factor_bound", "totp"
	case "phone.bound":
		n.Kind, n.Method = "factor_bound", "sms"
	case "totp.unbound":
		n.Kind, n.Method = "factor_removed", "totp"
	case "phone.removed":
		n.Kind, n.Method = "factor_removed", "sms"
	case "reset.totp":
		n.Kind, n.Method = "admin_reset", "totp"
	case "reset.phone":
		n.Kind, n.Method = "admin_reset", "sms"
	case "recovery.revoked": // by an administrator or the command line
		n.Kind, n.Method = "admin_reset", "recovery"
	case "unlock":
		n.Kind = "admin_unlock"
	case "lockout":
		n.Kind = "lockout"
	case "recovery.used":
		n.Kind = "recovery_code_used"
	default:
		// protection.<kind>.off, by the user or an administrator.
		kind, off := strings.CutSuffix(strings.TrimPrefix(ev.Action, "protection."), ".off")
		if !off || !strings.HasPrefix(ev.Action, "protection.") || kind == "" {
			return Notice{}, false
		}
		n.Kind, n.Protection = "protection_off", kind
	}
	return n, true
}

// notice hands the notice ev calls for, if any, to the Notify hook, which must not
// block: the request that did it is still being answered.
func (a *Audit) notice(ev Event) {
	if a.notify == nil {
		return
	}
	if n, ok := NoticeFor(ev); ok {
		a.notify(n)
	}
}
