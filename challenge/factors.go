package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// factorsName is the name of the user's durable record of bound factors.
const factorsName = "factors"

// Factors are the second factors a user has bound. They are kept as one durable record
// per user; fields for further methods and per-user settings join this struct, so a
// record written by an older gateway still reads.
type Factors struct {
	// TOTP is the bound authenticator app, or nil.
	TOTP *TOTPBinding `json:"totp,omitempty"`

	// Phone is the bound phone for SMS codes, or nil.
	Phone *PhoneBinding `json:"phone,omitempty"`

	// Choices are the user's own protection settings (login and operation
	// protection, the methods for each), with who changed them last and when.
	Choices policy.Choices `json:"choices,omitzero"`

	// Recovery are the user's recovery codes, or nil.
	Recovery *RecoveryCodes `json:"recovery,omitempty"`

	// Lang is the language the user last used the pages in (a BCP 47 tag), for the
	// notices the gateway sends them; "" until they have.
	Lang string `json:"lang,omitempty"`
}

// A TOTPBinding is a bound authenticator app.
type TOTPBinding struct {
	// SealedSecret is the TOTP secret, sealed by the Service's Sealer for "totp:"+user:
	// the record alone, or a copy of it under another user, reveals nothing.
	SealedSecret []byte `json:"sealed_secret"`

	// BoundAt is when the user bound the app.
	BoundAt time.Time `json:"bound_at"`
}

// A PhoneBinding is a bound phone number. Binding a phone proves the user receives
// SMS at that number (a code sent to it, typed back).
type PhoneBinding struct {
	// SealedNumber is the E.164 number, sealed by the Service's Sealer for
	// "phone:"+user, like a TOTP secret: a copy of the store does not list phone numbers.
	SealedNumber []byte `json:"sealed_number"`

	// Last4 is the number's last four digits, for display ("••• 4567").
	Last4 string `json:"last4"`

	// Masked is the number with all but the country code and the last four digits
	// hidden ("+44 ••• ••• 0123"), for display.
	Masked string `json:"masked"`

	// BoundAt is when the user bound the phone.
	BoundAt time.Time `json:"bound_at"`
}

// Bound returns the names of the methods the user has bound, in a fixed order: "totp",
// then "sms".
func (f Factors) Bound() []policy.Method {
	var m []policy.Method
	if f.TOTP != nil {
		m = append(m, policy.TOTP)
	}
	if f.Phone != nil {
		m = append(m, policy.SMS)
	}
	return m
}

// totpBoundTo is the record a user's sealed TOTP secret is bound to.
func totpBoundTo(user string) string { return "totp:" + user }

// phoneBoundTo is the record a user's sealed phone number is bound to.
func phoneBoundTo(user string) string { return "phone:" + user }

// loadFactors reads the user's factors; no record means none bound.
func loadFactors(ctx context.Context, st store.Store, user string) (Factors, error) {
	var f Factors
	b, err := st.Get(ctx, store.UserKey(user, factorsName))
	if errors.Is(err, store.ErrNotFound) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("challenge: reading factors: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("challenge: factors record is damaged: %w", err)
	}
	return f, nil
}

// saveFactors writes the user's factors durably, or deletes the record when nothing is
// bound any more and nothing else is kept. Recovery codes end with the last factor.
func saveFactors(ctx context.Context, st store.Store, user string, f Factors) error {
	key := store.UserKey(user, factorsName)
	if len(f.Bound()) == 0 {
		f.Recovery = nil // recovery codes stand in for a factor; with none, they end
	}
	if f == (Factors{}) {
		if err := st.Delete(ctx, key); err != nil {
			return fmt.Errorf("challenge: deleting factors: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("challenge: encoding factors: %w", err)
	}
	if err := st.Put(ctx, key, b, 0); err != nil {
		return fmt.Errorf("challenge: saving factors: %w", err)
	}
	return nil
}

// Factors returns the second factors user has bound; none is not an error.
func (s *Service) Factors(ctx context.Context, user string) (Factors, error) {
	return loadFactors(ctx, s.Store, user)
}

// RememberLang records the language the user reads the pages in, when it changed.
func (s *Service) RememberLang(ctx context.Context, user, lang string) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil || f.Lang == lang {
		return err
	}
	f.Lang = lang
	return saveFactors(ctx, s.Store, user, f)
}

// SetChoices records the user's protection settings, keeping what is bound. The
// caller asks policy whether the change is allowed first.
func (s *Service) SetChoices(ctx context.Context, user string, c policy.Choices) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	f.Choices = c
	return saveFactors(ctx, s.Store, user, f)
}

// ResetFactors removes every second factor of user and clears their lock, for an
// administrator helping a user who lost their device; the user's protection settings
// stay. The caller checks that the administrator may do it, audits it, and revokes
// the user's step-up tokens.
func (s *Service) ResetFactors(ctx context.Context, user string) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	if err := saveFactors(ctx, s.Store, user, Factors{Choices: f.Choices}); err != nil {
		return err
	}
	if err := s.Store.Delete(ctx, store.UserKey(user, failuresName), store.UserKey(user, lockedName)); err != nil {
		return fmt.Errorf("challenge: resetting factors: %w", err)
	}
	return nil
}

// ResetTOTP removes the user's authenticator app (an administrator helping a user who
// lost it); the user binds again at the next challenge. ResetPhone does the same for
// the phone. The caller checks who may, audits it, and revokes the step-up tokens.
func (s *Service) ResetTOTP(ctx context.Context, user string) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	f.TOTP = nil
	return saveFactors(ctx, s.Store, user, f)
}

// ResetPhone removes the user's phone; see ResetTOTP.
func (s *Service) ResetPhone(ctx context.Context, user string) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	f.Phone = nil
	return saveFactors(ctx, s.Store, user, f)
}

// Unlock clears the user's count of wrong codes and any lock.
func (s *Service) Unlock(ctx context.Context, user string) error {
	return s.resetFailures(ctx, user)
}

// RecentFailures is how many wrong codes were entered for user since the last right
// one, within the day the count is kept for.
func (s *Service) RecentFailures(ctx context.Context, user string) (int, error) {
	b, err := s.Store.Get(ctx, store.UserKey(user, failuresName))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("challenge: reading failure count: %w", err)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("challenge: failure count %q is not a number", b)
	}
	return n, nil
}

// LockedUntil says until when the user's second factor is locked; the zero time when
// it is not.
func (s *Service) LockedUntil(ctx context.Context, user string) (time.Time, error) {
	until, err := s.readUntil(ctx, store.UserKey(user, lockedName))
	if err != nil || !s.Now().Before(until) {
		return time.Time{}, err
	}
	return until, nil
}
