package challenge

import (
	"context"
	"fmt"
	"slices"

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
	now := s.Now()
	ip, err := s.checkIP(ctx, clientIP, now)
	if err != nil {
		return Passed{}, err
	}
	c, err := s.load(ctx, id, binding, now)
	if err != nil {
		return Passed{}, err
	}
	if !slices.Contains(c.Methods, MethodTOTP) {
		return Passed{}, ErrNotOffered
	}
	f, err := loadFactors(ctx, s.Store, c.User)
	if err != nil {
		return Passed{}, err
	}
	if f.TOTP == nil {
		return Passed{}, ErrNotBound
	}
	secret, err := s.Sealer.Open(f.TOTP.SealedSecret, totpBoundTo(c.User))
	if err != nil {
		return Passed{}, fmt.Errorf("challenge: opening the bound TOTP secret: %w", err)
	}
	a, err := s.beginAttempt(ctx, c.User, &c, now)
	if err != nil {
		return Passed{}, err
	}
	step, ok := MatchTOTP(secret, code, now)
	if !ok {
		return Passed{}, s.fail(ctx, a, ip, now, false)
	}
	// The replay guard (RFC 6238 §5.2): a step at or before the last accepted one is
	// refused, atomically, so of two requests with the same code only one gets past.
	advanced, err := s.Store.Advance(ctx, store.UserKey(c.User, totpStepName), step)
	if err != nil {
		return Passed{}, fmt.Errorf("challenge: recording the accepted TOTP step: %w", err)
	}
	if !advanced {
		return Passed{}, s.fail(ctx, a, ip, now, true)
	}
	if err := s.finish(ctx, c); err != nil {
		return Passed{}, err
	}
	return passed(c, MethodTOTP, now), nil
}

// finish uses up a passed challenge and clears the user's count of wrong codes.
func (s *Service) finish(ctx context.Context, c Challenge) error {
	if err := s.take(ctx, c.ID); err != nil {
		return err
	}
	return s.resetFailures(ctx, c.User)
}
