package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
)

func init() {
	caddy.RegisterModule(SMS{})
}

// SMS defaults: at most 3 notices a user a day.
const (
	defaultSMSLimit  = 3
	defaultSMSWindow = 24 * time.Hour
)

// PurposeNotice is the purpose of a security notice sent by SMS, beside the code
// messages' "login", "operation" and "bind": the message carries no code.
const PurposeNotice policy.Purpose = "notice"

// Phones finds the phone a user has bound: challenge.Service.
type Phones interface {
	PhoneNumber(ctx context.Context, user string) (number string, ok bool, err error)
}

// SMS is the notifier "stepup.notify.sms": it texts each notice's sentence to the
// user's bound phone, through the SMS provider that sends the gateway's codes (the
// `sms` block), in the user's language. A user with no phone bound is skipped. The
// provider gets a message whose Text is the sentence, Purpose "notice", Lang its
// language, and no code: a webhook relay sees `"purpose": "notice"` and an empty code.
//
// Each message costs the operator, so on top of the queue's limit a user gets at most
// Limit notices by SMS per Window: someone who triggers lockouts again and again cannot
// run up the bill.
type SMS struct {
	// Limit is at most how many notices one user is sent by SMS per Window. Default 3.
	Limit int `json:"limit,omitempty"`

	// Window is the window of Limit, fixed from the first notice sent in it. Default
	// 24h.
	Window caddy.Duration `json:"window,omitempty"`

	phones Phones
	sender challenge.SMSSender
}

// CaddyModule returns the Caddy module information.
func (SMS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.notify.sms",
		New: func() caddy.Module { return new(SMS) },
	}
}

// Provision sets the defaults.
func (s *SMS) Provision(caddy.Context) error {
	if s.Limit == 0 {
		s.Limit = defaultSMSLimit
	}
	if s.Window == 0 {
		s.Window = caddy.Duration(defaultSMSWindow)
	}
	return nil
}

// Validate checks the limit.
func (s *SMS) Validate() error {
	if s.Limit < 1 || s.Window <= 0 {
		return fmt.Errorf("notify sms: the limit must be 1 or more notices per positive window, got %d per %v", s.Limit, time.Duration(s.Window))
	}
	return nil
}

// Use gives the notifier the user's phones and the SMS provider to send with; the
// gateway calls it once the provider is loaded.
func (s *SMS) Use(phones Phones, sender challenge.SMSSender) {
	s.phones, s.sender = phones, sender
}

// UserLimit is at most how many notices one user gets by SMS.
func (s *SMS) UserLimit() Limit {
	return Limit{Max: s.Limit, Window: time.Duration(s.Window)}
}

// Notify texts n.Text to the user's bound phone; ErrSkipped without one.
func (s *SMS) Notify(ctx context.Context, n Notice) error {
	if s.phones == nil || s.sender == nil {
		return errors.New("notify sms: no SMS provider to send with")
	}
	pctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	number, ok, err := s.phones.PhoneNumber(pctx, n.User)
	cancel()
	if err != nil {
		return fmt.Errorf("notify sms: %w", err)
	}
	if !ok {
		return ErrSkipped
	}
	if err := s.sender.Send(ctx, challenge.CodeMessage{To: number, Text: n.Text, Purpose: PurposeNotice, Lang: n.Lang}); err != nil {
		return fmt.Errorf("notify sms: %w", err)
	}
	return nil
}

// CheckSMSLength reports whether every notice, in every language, fits one SMS segment
// with issuer as the console's name. A longer one is still sent, as parts the phone
// joins, each charged; the error, for the operator's log, names the longest.
func CheckSMSLength(issuer string) error {
	at := time.Date(2026, time.December, 31, 23, 59, 0, 0, time.UTC) // the longest date
	for _, l := range locale.All() {
		for _, k := range Kinds() {
			for _, detail := range []string{"", "totp", "sms", "recovery", "login", "operation"} {
				n := Notice{Kind: k, Method: detail, Protection: detail, Time: at}
				if text := Render(l, issuer, n); challenge.SMSSegments(text) > 1 {
					return fmt.Errorf("notify sms: with the issuer name %q some notices take %d SMS segments in %s, which carriers charge for each: %q; a shorter name keeps each in one",
						issuer, challenge.SMSSegments(text), l.Code(), text)
				}
			}
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the notifier from Caddyfile tokens. Syntax:
//
//	sms {
//	    limit <n> [<window>]   # default 3 a user per 24h
//	}
//
// The block is optional. The messages go through the gateway's `sms` provider.
func (s *SMS) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the notifier's name
	if d.NextArg() {
		return d.Errf("notify sms takes no argument (it texts the user's bound phone through the sms provider), got %q", d.Val())
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "limit":
			n, w, err := parseLimit(d, defaultSMSWindow)
			if err != nil {
				return err
			}
			s.Limit, s.Window = n, caddy.Duration(w)
		default:
			return d.Errf("unknown notify sms option %q (expected limit)", d.Val())
		}
	}
	return nil
}

// ParseLimit reads `<n> [<window>]` after the current token, for a Caddyfile limit:
// a number of notices of 1 or more and a positive window (default def).
func ParseLimit(d *caddyfile.Dispenser, def time.Duration) (int, time.Duration, error) {
	return parseLimit(d, def)
}

func parseLimit(d *caddyfile.Dispenser, def time.Duration) (int, time.Duration, error) {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return 0, 0, d.Errf("expected `%s <notices> [<window>]`, e.g. `%s 3 24h`", name, name)
	}
	var n int
	if _, err := fmt.Sscan(args[0], &n); err != nil || n < 1 || fmt.Sprint(n) != args[0] {
		return 0, 0, d.Errf("%s: expected a number of notices, 1 or more, got %q", name, args[0])
	}
	w := def
	if len(args) == 2 {
		dur, err := caddy.ParseDuration(args[1])
		if err != nil || dur <= 0 {
			return 0, 0, d.Errf("%s: expected a positive window such as 1h or 24h, got %q", name, args[1])
		}
		w = dur
	}
	return n, w, nil
}

// Interface guards.
var (
	_ Notifier              = (*SMS)(nil)
	_ caddy.Module          = (*SMS)(nil)
	_ caddy.Provisioner     = (*SMS)(nil)
	_ caddy.Validator       = (*SMS)(nil)
	_ caddyfile.Unmarshaler = (*SMS)(nil)
)
