package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// StartPhoneBinding begins binding the phone number for the user of challenge id: it
// normalizes the number (ErrInvalidPhone, with a reason for the user), keeps it sealed
// with the challenge and sends it a code, under the same send limits as SendSMSCode.
// Calling it again with another number (a typo corrected) replaces the pending number;
// a code sent to the earlier one no longer confirms. The challenge must offer
// policy.SMS, and the user must have no second factor bound, or the challenge must be
// a policy.PurposeBind challenge (begun after a fresh pass of an existing factor), through
// which a bound phone may also be changed; otherwise ErrAlreadyBound. The other errors
// are those of SendSMSCode.
func (s *Service) StartPhoneBinding(ctx context.Context, id, binding, number, clientIP string, lang *locale.Lang) (SentCode, error) {
	if s.SMS == nil {
		return SentCode{}, ErrSMSUnavailable
	}
	number, err := NormalizePhone(number)
	if err != nil {
		return SentCode{}, err
	}
	now := s.Now()
	ip, err := s.checkIP(ctx, clientIP, now)
	if err != nil {
		return SentCode{}, err
	}
	c, err := s.loadForBinding(ctx, id, binding, policy.SMS, now)
	if err != nil {
		return SentCode{}, err
	}
	if err := s.checkSendLimits(ctx, c, number, ip, now); err != nil {
		return SentCode{}, err
	}
	sealed, err := s.Sealer.Seal([]byte(number), pendingPhoneBoundTo(c))
	if err != nil {
		return SentCode{}, err
	}
	if err := s.Store.Put(ctx, store.ChallengeKey(c.ID, pendingPhoneName), sealed, remaining(c, now)); err != nil {
		return SentCode{}, fmt.Errorf("challenge: storing the pending phone number: %w", err)
	}
	return s.sendCode(ctx, c, number, true, now, lang)
}

// ConfirmPhoneBinding finishes binding with the code sent to the pending number. On
// success the phone is bound (replacing a bound one, through a policy.PurposeBind challenge)
// and the challenge is passed too, with policy.SMS (binding is itself a second-factor
// check). Wrong codes count like wrong codes in VerifySMS. It returns ErrNotBound if
// StartPhoneBinding was not called for this challenge, and otherwise the same errors
// as VerifySMS and StartPhoneBinding.
func (s *Service) ConfirmPhoneBinding(ctx context.Context, id, binding, code, clientIP string) (Passed, error) {
	var number string
	prepare := func(c Challenge, now time.Time) (codeCheck, error) {
		sealed, err := s.Store.Get(ctx, store.ChallengeKey(c.ID, pendingPhoneName))
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotBound
		}
		if err != nil {
			return nil, fmt.Errorf("challenge: reading the pending phone number: %w", err)
		}
		plain, err := s.Sealer.Open(sealed, pendingPhoneBoundTo(c))
		if err != nil {
			return nil, fmt.Errorf("challenge: opening the pending phone number: %w", err)
		}
		number = string(plain)
		return func() (bool, bool, error) { return s.checkSMSCode(ctx, c.ID, number, code, now) }, nil
	}
	bind := func(c Challenge, f *Factors, now time.Time) error {
		sealed, err := s.Sealer.Seal([]byte(number), phoneBoundTo(c.User))
		if err != nil {
			return err
		}
		f.Phone = &PhoneBinding{SealedNumber: sealed, Last4: number[len(number)-4:], Masked: MaskPhone(number), BoundAt: now}
		return nil
	}
	return s.confirmBinding(ctx, id, binding, policy.SMS, clientIP, prepare, bind)
}

// RemovePhone unbinds the user's phone; ErrNotBound if none is bound. It checks no
// code itself: the caller MUST have had the user pass a fresh second factor first (a
// step-up within the last few minutes; OWASP ASVS 5.0 §7.5.1), since removing a
// factor is a change to the account's protection. An administrator acting for a user
// who lost the phone uses ResetFactors instead, audited. As after UnbindTOTP, the
// caller revokes the user's step-up tokens afterwards.
func (s *Service) RemovePhone(ctx context.Context, user string) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	if f.Phone == nil {
		return ErrNotBound
	}
	f.Phone = nil
	return saveFactors(ctx, s.Store, user, f)
}

// pendingPhoneBoundTo is the record a pending phone number is sealed for: this
// challenge and user (as pendingBoundTo for a TOTP secret).
func pendingPhoneBoundTo(c Challenge) string { return "pending-phone:" + c.ID + ":" + c.User }
