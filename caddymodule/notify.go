package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/notify"
)

// Security notices' defaults: at most 5 notices a user an hour, whatever the notifiers.
const (
	defaultNoticeLimit  = 5
	defaultNoticeWindow = time.Hour
)

// NotifyConfig sends users security notices: a second factor bound or removed, a reset
// or an unlock by an administrator, a lockout, a recovery code used, protection turned
// off. Notices wait in a bounded queue and are sent in the background, so a slow
// notifier never slows a request; a full queue drops a notice, with a log line and the
// metric caddy_stepup_notices_dropped_total. Each is in the language the user last used
// the pages in (else `lang`).
type NotifyConfig struct {
	// NotifiersRaw send each notice: modules in the stepup.notify namespace, "webhook"
	// (a signed JSON POST to a relay of yours, for e-mail or chat) or "sms" (a text to
	// the user's bound phone through the sms provider). At least one.
	NotifiersRaw []json.RawMessage `json:"notifiers,omitempty" caddy:"namespace=stepup.notify inline_key=notifier"`

	// UserLimit is at most how many notices one user gets per UserWindow, counted in the
	// store (so on every instance together); past it they are dropped and logged.
	// Default 5.
	UserLimit int `json:"user_limit,omitempty"`

	// UserWindow is the window of UserLimit, fixed from the first notice in it.
	// Default 1h.
	UserWindow caddy.Duration `json:"user_window,omitempty"`

	// QueueSize is how many notices may wait to be sent; more are dropped. Default
	// 1024.
	QueueSize int `json:"queue_size,omitempty"`
}

// notifierWithSMS is a notifier that sends through the gateway's SMS provider.
type notifierWithSMS interface {
	Use(phones notify.Phones, sender challenge.SMSSender)
}

// notifierWithLimit is a notifier with a per-user limit of its own.
type notifierWithLimit interface {
	UserLimit() notify.Limit
}

// setNotifyDefaults fills in the defaults of the notify block, if any.
func (h *Handler) setNotifyDefaults() {
	if c := h.Notify; c != nil {
		if c.UserLimit == 0 {
			c.UserLimit = defaultNoticeLimit
		}
		setDuration(&c.UserWindow, defaultNoticeWindow)
		if c.QueueSize == 0 {
			c.QueueSize = notify.DefaultQueueSize
		}
	}
}

// checkNotify checks the notify block against the rest of the config (Provision asks
// first, so a JSON config fails as clearly as a Caddyfile).
func (h *Handler) checkNotify() error {
	c := h.Notify
	if c == nil {
		return nil
	}
	switch {
	case len(c.NotifiersRaw) == 0 && h.notices == nil: // loading empties NotifiersRaw
		return fmt.Errorf("stepup: notify needs a notifier: `notify webhook <url> { secret <secret> }` or `notify sms`")
	case c.UserLimit < 1 || c.UserWindow <= 0:
		return fmt.Errorf("stepup: notify limit must be 1 or more notices per positive window, got %d per %v", c.UserLimit, time.Duration(c.UserWindow))
	case c.QueueSize < 1:
		return fmt.Errorf("stepup: notify queue_size must be 1 or more, got %d", c.QueueSize)
	}
	for _, raw := range c.NotifiersRaw {
		var m struct {
			Notifier string `json:"notifier"`
		}
		if json.Unmarshal(raw, &m) == nil && m.Notifier == "sms" && h.SMSRaw == nil && h.sms == nil {
			return fmt.Errorf("stepup: notify sms texts through the sms provider, which is not configured: add `sms webhook <url>`, `sms twilio {...}` or, for development, `sms log`")
		}
	}
	return nil
}

// provisionNotify loads the notifiers and starts the queue of notices. Cleanup stops it.
func (h *Handler) provisionNotify(ctx caddy.Context) error {
	if h.Notify == nil {
		return nil
	}
	h.setNotifyDefaults()
	if err := h.checkNotify(); err != nil {
		return err
	}
	if err := registerNotifyMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("stepup: metrics: %v", err)
	}
	mods, err := ctx.LoadModule(h.Notify, "NotifiersRaw")
	if err != nil {
		return fmt.Errorf("stepup: loading the notifiers: %v", err)
	}
	var targets []notify.Target
	sms := 0
	for _, mod := range mods.([]any) {
		n, ok := mod.(notify.Notifier)
		if !ok {
			return fmt.Errorf("stepup: %T is not a notifier", mod)
		}
		t := notify.Target{Name: "notifier", Notifier: n}
		if m, ok := mod.(caddy.Module); ok {
			t.Name = m.CaddyModule().ID.Name()
		}
		if s, ok := n.(notifierWithSMS); ok {
			if sms++; sms > 1 {
				return errors.New("stepup: notify sms is set twice: one SMS notifier texts the bound phone")
			}
			if h.challenges.SMS == nil {
				return fmt.Errorf("stepup: notify %s texts through the sms provider, which is not configured", t.Name)
			}
			s.Use(h.challenges, h.challenges.SMS) // counted with the codes' sends
			if err := notify.CheckSMSLength(h.Issuer); err != nil {
				h.logger.Warn("issuer name makes security notices longer than one SMS segment", zap.Error(err))
			}
		}
		if l, ok := n.(notifierWithLimit); ok {
			t.Limit = l.UserLimit()
		}
		targets = append(targets, t)
	}
	h.notices, err = notify.NewQueue(notify.Config{
		Targets: targets, Size: h.Notify.QueueSize,
		Limit:   notify.Limit{Max: h.Notify.UserLimit, Window: time.Duration(h.Notify.UserWindow)},
		Counter: h.store, Lang: h.challenges.NoticeLang, Default: h.lang(), Issuer: h.Issuer,
		Logger: h.logger.Named("notify"), Metrics: noticeCounts{},
	})
	if err != nil {
		return fmt.Errorf("stepup: %v", err)
	}
	return nil
}

// noticeHook is the gateway's Notify: it puts each notice in the queue, never waiting;
// nil without notifiers.
func (h *Handler) noticeHook() func(gateway.Notice) {
	q := h.notices
	if q == nil {
		return nil
	}
	return func(n gateway.Notice) {
		q.Enqueue(notify.Notice{Kind: notify.Kind(n.Kind), User: n.User, Method: n.Method, Protection: n.Protection, Actor: n.Actor, Time: n.Time})
	}
}

// closeNotify sends what waits in the queue, for a few seconds at most, and stops it.
// It runs before the store is released: the queue counts in it.
func (h *Handler) closeNotify() {
	if h.notices != nil {
		h.notices.Close()
		h.notices = nil
	}
}
