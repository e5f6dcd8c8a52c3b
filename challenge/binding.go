package challenge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// qrSize is the width and height of the binding QR code, in pixels.
const qrSize = 256

// An Enrollment is what the binding page shows: the new secret as a QR code and as text
// for typing in by hand. It holds the secret: never log it or put it in a URL.
type Enrollment struct {
	// Secret is the TOTP secret in base32 without padding.
	Secret string

	// URI is the otpauth:// key URI the QR code holds.
	URI string

	// QRPNG is the QR code as a PNG image.
	QRPNG []byte
}

// StartTOTPBinding begins binding an authenticator app for the user of challenge id,
// who has none bound: it makes a new secret and keeps it, sealed, with the challenge.
// Calling it again for the same challenge returns the same secret, so reloading the
// binding page shows the same QR code. It returns ErrAlreadyBound if the user already
// has an app bound, or has another second factor and the challenge's Purpose is not
// policy.PurposeBind: a new factor must not be a way around the existing one.
func (s *Service) StartTOTPBinding(ctx context.Context, id, binding string) (Enrollment, error) {
	now := s.Now()
	c, err := s.loadForBinding(ctx, id, binding, policy.TOTP, now)
	if err != nil {
		return Enrollment{}, err
	}
	secret, err := s.pendingSecret(ctx, c, now)
	if err != nil {
		return Enrollment{}, err
	}
	uri := KeyURI(s.Issuer, c.User, secret)
	img, err := QRCodePNG(uri, qrSize)
	if err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: b32.EncodeToString(secret), URI: uri, QRPNG: img}, nil
}

// ConfirmTOTPBinding finishes binding with two consecutive codes from the app, code1
// the earlier. On success the app is bound and the challenge is passed too (binding is
// itself a second-factor check). Wrong pairs count like wrong codes. It returns
// ErrNotBound if StartTOTPBinding was not called for this challenge, and otherwise the
// same errors as VerifyTOTP and StartTOTPBinding.
func (s *Service) ConfirmTOTPBinding(ctx context.Context, id, binding, code1, code2, clientIP string) (Passed, error) {
	var (
		secret []byte
		step2  int64
	)
	prepare := func(c Challenge, now time.Time) (codeCheck, error) {
		sealed, err := s.Store.Get(ctx, store.ChallengeKey(c.ID, pendingTOTPName))
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotBound
		}
		if err != nil {
			return nil, fmt.Errorf("challenge: reading the pending TOTP secret: %w", err)
		}
		secret, err = s.Sealer.Open(sealed, pendingBoundTo(c))
		if err != nil {
			return nil, fmt.Errorf("challenge: opening the pending TOTP secret: %w", err)
		}
		return func() (bool, bool, error) {
			var ok bool
			step2, ok = MatchConsecutive(secret, code1, code2, now)
			return ok, false, nil
		}, nil
	}
	bind := func(c Challenge, f *Factors, now time.Time) error {
		// The codes just typed must not pass a later challenge. The guard may already be
		// past step2 (a previous app's codes); then it covers step2 already.
		if _, err := s.Store.Advance(ctx, store.UserKey(c.User, totpStepName), step2); err != nil {
			return fmt.Errorf("challenge: recording the accepted TOTP step: %w", err)
		}
		sealed, err := s.Sealer.Seal(secret, totpBoundTo(c.User))
		if err != nil {
			return err
		}
		f.TOTP = &TOTPBinding{SealedSecret: sealed, BoundAt: now}
		return nil
	}
	return s.confirmBinding(ctx, id, binding, policy.TOTP, clientIP, prepare, bind)
}

// confirmBinding runs the steps every binding confirmation shares, whatever the
// method, in this order: the client network's limit, the challenge, its binding and
// whether the method may be bound through it; then prepare, which reads what is being
// bound (ErrNotBound if nothing was started) and returns the check of the code; then
// the attempt is counted and the code checked, exactly as in answer. On a right code
// the challenge is used up first, so of two confirmations at once only one binds; then
// bind records the new factor in the user's factors, which are saved, and the
// challenge's binding records and the user's count of wrong codes are cleared.
func (s *Service) confirmBinding(ctx context.Context, id, binding string, method policy.Method, clientIP string,
	prepare func(c Challenge, now time.Time) (codeCheck, error),
	bind func(c Challenge, f *Factors, now time.Time) error) (Passed, error) {
	now := s.Now()
	ip, err := s.checkIP(ctx, clientIP, now)
	if err != nil {
		return Passed{}, err
	}
	c, err := s.loadForBinding(ctx, id, binding, method, now)
	if err != nil {
		return Passed{}, err
	}
	check, err := prepare(c, now)
	if err != nil {
		return Passed{}, err
	}
	a, err := s.beginAttempt(ctx, c.User, &c, now)
	if err != nil {
		return Passed{}, err
	}
	ok, reused, err := check()
	if err != nil {
		return Passed{}, err
	}
	if !ok {
		return Passed{}, s.fail(ctx, a, ip, now, reused)
	}
	if err := s.take(ctx, c.ID); err != nil {
		return Passed{}, err
	}
	f, err := loadFactors(ctx, s.Store, c.User)
	if err != nil {
		return Passed{}, err
	}
	if !canBind(c, f, method) { // bound through another challenge meanwhile
		return Passed{}, ErrAlreadyBound
	}
	if err := bind(c, &f, now); err != nil {
		return Passed{}, err
	}
	if err := saveFactors(ctx, s.Store, c.User, f); err != nil {
		return Passed{}, err
	}
	if err := s.Store.Delete(ctx, bindingRecords(c.ID)...); err != nil {
		return Passed{}, fmt.Errorf("challenge: clearing the finished binding: %w", err)
	}
	if err := s.resetFailures(ctx, c.User); err != nil {
		return Passed{}, err
	}
	return passed(c, method, now), nil
}

// bindingRecords are the records of a challenge that go once a binding through it is
// finished (the challenge record itself is taken first).
func bindingRecords(id string) []store.Key {
	return []store.Key{
		store.ChallengeKey(id, pendingTOTPName),
		store.ChallengeKey(id, pendingPhoneName),
		store.ChallengeKey(id, smsCodeName),
		store.ChallengeKey(id, attemptsName),
	}
}

// UnbindTOTP removes the user's authenticator app, given a current code from it: only
// the holder of the bound device can unbind it. Wrong codes count as in VerifyTOTP.
// The caller revokes the user's step-up tokens afterwards. A user who lost the device
// needs ResetFactors instead.
func (s *Service) UnbindTOTP(ctx context.Context, user, code, clientIP string) error {
	now := s.Now()
	ip, err := s.checkIP(ctx, clientIP, now)
	if err != nil {
		return err
	}
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	if f.TOTP == nil {
		return ErrNotBound
	}
	secret, err := s.Sealer.Open(f.TOTP.SealedSecret, totpBoundTo(user))
	if err != nil {
		return fmt.Errorf("challenge: opening the bound TOTP secret: %w", err)
	}
	a, err := s.beginAttempt(ctx, user, nil, now)
	if err != nil {
		return err
	}
	ok, reused, err := s.checkTOTP(ctx, user, secret, code, now)
	if err != nil {
		return err
	}
	if !ok {
		return s.fail(ctx, a, ip, now, reused)
	}
	f.TOTP = nil
	if err := saveFactors(ctx, s.Store, user, f); err != nil {
		return err
	}
	return s.resetFailures(ctx, user)
}

// loadForBinding returns the challenge id if a factor of the method may be bound
// through it.
func (s *Service) loadForBinding(ctx context.Context, id, binding string, method policy.Method, now time.Time) (Challenge, error) {
	c, err := s.load(ctx, id, binding, now)
	if err != nil {
		return Challenge{}, err
	}
	if !slices.Contains(c.Methods, method) {
		return Challenge{}, ErrNotOffered
	}
	f, err := loadFactors(ctx, s.Store, c.User)
	if err != nil {
		return Challenge{}, err
	}
	if !canBind(c, f, method) {
		return Challenge{}, ErrAlreadyBound
	}
	return c, nil
}

// canBind reports whether a factor of the method may be bound through c for a user
// with factors f. With no factor bound, binding is the second factor (the seed's
// "binding also completes the pending secondary auth"). With a factor bound, only a
// policy.PurposeBind challenge, which the caller begins after a fresh pass of an existing
// factor, may add one. Through it a factor may also be replaced: binding a new number
// or a new app replaces the bound one (NIST SP 800-63B: replacing an authenticator is
// binding a new one, after a second factor), which is how a user who lost their phone
// sets up the new one after a recovery code. Removing an app outright takes a code from
// it (UnbindTOTP).
func canBind(c Challenge, f Factors, method policy.Method) bool {
	return len(f.Bound()) == 0 || c.Purpose == policy.PurposeBind
}

// pendingSecret returns the TOTP secret being bound through c, making it on first use.
func (s *Service) pendingSecret(ctx context.Context, c Challenge, now time.Time) ([]byte, error) {
	key := store.ChallengeKey(c.ID, pendingTOTPName)
	for range 2 {
		sealed, err := s.Store.Get(ctx, key)
		if err == nil {
			secret, err := s.Sealer.Open(sealed, pendingBoundTo(c))
			if err != nil {
				return nil, fmt.Errorf("challenge: opening the pending TOTP secret: %w", err)
			}
			return secret, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("challenge: reading the pending TOTP secret: %w", err)
		}
		secret, err := NewTOTPSecret(s.Rand)
		if err != nil {
			return nil, err
		}
		sealed, err = s.Sealer.Seal(secret, pendingBoundTo(c))
		if err != nil {
			return nil, err
		}
		stored, err := s.Store.PutNew(ctx, key, sealed, remaining(c, now))
		if err != nil {
			return nil, fmt.Errorf("challenge: storing the pending TOTP secret: %w", err)
		}
		if stored {
			return secret, nil
		}
		// Another request made one at the same moment: show that one instead.
	}
	return nil, errors.New("challenge: pending TOTP secret keeps changing")
}

// pendingBoundTo is the record a pending secret is sealed for: this challenge and user.
// The id has no colon, so the string is unambiguous whatever the user name.
func pendingBoundTo(c Challenge) string { return "pending-totp:" + c.ID + ":" + c.User }
