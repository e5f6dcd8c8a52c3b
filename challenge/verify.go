package challenge

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// VerifyTOTP answers challenge id with a code from the user's authenticator app. On a
// right code the challenge is used up and Passed says what passed. Otherwise the error
// is, in the order checked: ErrIPLimited, ErrChallengeEnded, ErrNotYours, ErrNotOffered,
// ErrNotBound (show the binding page), ErrLocked, or ErrWrongCode (also for a code
// already used); a wrong code that brings about a lock or a network refusal returns
// ErrLocked or ErrIPLimited instead. clientIP is the client's address, with or without
// a port; anything else is an error, so a missing address cannot skip the network
// limit.
func (s *Service) VerifyTOTP(ctx context.Context, id, binding, code, clientIP string) (Passed, error) {
	return s.answer(ctx, id, binding, policy.TOTP, clientIP, func(c Challenge, f Factors, now time.Time) (codeCheck, error) {
		if f.TOTP == nil {
			return nil, ErrNotBound
		}
		secret, err := s.Sealer.Open(f.TOTP.SealedSecret, totpBoundTo(c.User))
		if err != nil {
			return nil, fmt.Errorf("challenge: opening the bound TOTP secret: %w", err)
		}
		if !s.Sealer.Current(f.TOTP.SealedSecret) {
			s.resealUser(ctx, c.User)
		}
		return func() (bool, bool, error) { return s.checkTOTP(ctx, c.User, secret, code, now) }, nil
	})
}

// A codeCheck checks the code of an attempt that has been counted already. ok reports a
// right code; reused a code that was right but is used up (a replay). A right code is
// used up by the check itself, atomically, so of several requests with it one passes.
type codeCheck func() (ok, reused bool, err error)

// answer runs the steps every answer to a challenge shares, whatever the method, in
// this order: the client network's limit, the challenge and its binding, the method
// on offer, the user's factors; then prepare, which looks at the user's factors before
// anything is counted (a method not bound is ErrNotBound, not a wrong code) and returns
// the check of the code; then the attempt is counted (per challenge and per user, so
// wrong codes of every method share one budget), the code checked, and on a right code
// the challenge used up and the user's count of wrong codes cleared.
func (s *Service) answer(ctx context.Context, id, binding string, method policy.Method, clientIP string,
	prepare func(c Challenge, f Factors, now time.Time) (codeCheck, error)) (Passed, error) {
	now := s.Now()
	ip, err := s.checkIP(ctx, clientIP, now)
	if err != nil {
		return Passed{}, err
	}
	c, err := s.load(ctx, id, binding, now)
	if err != nil {
		return Passed{}, err
	}
	// A recovery code stands in for the methods on offer (prepare says where not).
	if method != policy.Recovery && !slices.Contains(c.Methods, method) {
		return Passed{}, ErrNotOffered
	}
	f, err := loadFactors(ctx, s.Store, c.User)
	if err != nil {
		return Passed{}, err
	}
	check, err := prepare(c, f, now)
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
	if err := s.finish(ctx, c); err != nil {
		return Passed{}, err
	}
	return passed(c, method, now), nil
}

// checkTOTP checks a TOTP code of the user's secret and records its time step. The
// replay guard (RFC 6238 §5.2): a step at or before the last accepted one is refused,
// atomically, so of two requests with the same code only one gets past.
func (s *Service) checkTOTP(ctx context.Context, user string, secret []byte, code string, now time.Time) (ok, reused bool, err error) {
	step, ok := MatchTOTP(secret, code, now)
	if !ok {
		return false, false, nil
	}
	advanced, err := s.Store.Advance(ctx, store.UserKey(user, totpStepName), step)
	if err != nil {
		return false, false, fmt.Errorf("challenge: recording the accepted TOTP step: %w", err)
	}
	return advanced, !advanced, nil
}

// finish uses up a passed challenge and clears the user's count of wrong codes.
func (s *Service) finish(ctx context.Context, c Challenge) error {
	if err := s.take(ctx, c.ID); err != nil {
		return err
	}
	if err := s.end(ctx, c.ID, EndedPassed, s.Now()); err != nil {
		return err
	}
	return s.resetFailures(ctx, c.User)
}
