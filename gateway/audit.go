package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/web"
)

// An Event is one entry of the audit trail: who did what to whose account, and how it
// ended. It never holds a code, a secret or a token.
type Event struct {
	Time time.Time `json:"time"`
	// Actor is who acted: the user, an administrator, "cli" (the operators' command
	// line), or "gateway" (a lockout after wrong codes).
	Actor string `json:"actor"`
	// Target is whose account it is.
	Target string `json:"target"`
	// Action is what was done, e.g. "protection.login.on", "totp.bound",
	// "phone.removed", "reset.totp", "unlock", "lockout", "signout.everywhere".
	Action string `json:"action"`
	// Result is "ok" or "refused".
	Result   string `json:"result"`
	ClientIP string `json:"client_ip,omitempty"`
	// Detail says more, for people: why it was refused, which methods.
	Detail string `json:"detail,omitempty"`
}

// eventStore keeps each user's recent events.
type eventStore interface {
	Append(ctx context.Context, key store.Key, value []byte, keep int) error
	Recent(ctx context.Context, key store.Key, n int) ([][]byte, error)
}

// auditKeep is how many events of a user the store keeps.
const auditKeep = 50

// Audit is the audit trail: every change of a user's protection or factors, every
// reset, unlock and lockout, and every administrator action. Each event is a line of
// its own logger and one of the user's recent events in the store.
type Audit struct {
	log    *zap.Logger
	store  eventStore
	now    func() time.Time
	events Events       // counts lockouts; nil counts nothing
	notify func(Notice) // security notices (notices.go); nil sends none
}

// Record writes ev (its time set now) to the log and to the target's recent events.
// A store that cannot take it is logged: the action it records has happened.
func (a *Audit) Record(ctx context.Context, ev Event) {
	ev.Time = a.now().UTC()
	a.log.Info("audit", zap.String("actor", ev.Actor), zap.String("target", ev.Target), zap.String("action", ev.Action),
		zap.String("result", ev.Result), zap.String("client_ip", ev.ClientIP), zap.String("detail", ev.Detail))
	b, err := json.Marshal(ev)
	if err == nil {
		err = a.store.Append(ctx, store.UserKey(ev.Target, "events"), b, auditKeep)
	}
	if err != nil {
		a.log.Error("audit event not stored; it is in this log only", zap.String("target", ev.Target), zap.String("action", ev.Action), zap.Error(err))
	}
	a.notice(ev)
}

// lockout records a lockout that err says this attempt started.
func (a *Audit) lockout(ctx context.Context, user string, err error, ip string) {
	var locked *challenge.LockedError
	if errors.As(err, &locked) && locked.Started {
		if a.events != nil {
			a.events.Lockout()
		}
		a.Record(ctx, Event{Actor: "gateway", Target: user, Action: "lockout", Result: "ok", ClientIP: ip,
			Detail: "too many wrong codes; locked until " + locked.Until.UTC().Format(time.RFC3339)})
	}
}

// Recent returns user's latest n events, newest first.
func (a *Audit) Recent(ctx context.Context, user string, n int) ([]Event, error) {
	raw, err := a.store.Recent(ctx, store.UserKey(user, "events"), n)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(raw))
	for _, b := range raw {
		var ev Event
		if json.Unmarshal(b, &ev) == nil {
			out = append(out, ev)
		}
	}
	return out, nil
}

// eventView is an event as pages show it.
type eventView struct {
	Time                          web.Time
	Actor, Action, Result, Detail string
}

// eventViews say events in l: what happened as people say it, and the result.
func eventViews(l *locale.Lang, events []Event) []eventView {
	out := make([]eventView, len(events))
	for i, ev := range events {
		action := ev.Action
		if id := "event." + ev.Action; locale.Has(id) {
			action = l.Text(id)
		}
		result := ev.Result
		if result == "ok" || result == "refused" {
			result = l.Text("event.result." + result)
		}
		out[i] = eventView{Time: dateTime(l, "", ev.Time), Actor: ev.Actor, Action: action, Result: result, Detail: ev.Detail}
	}
	return out
}
