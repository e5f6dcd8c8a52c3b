package challenge

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-stepup/stepup/store"
)

// heldName is the record of what waits on a challenge: a browser's form post to
// replay, or a console's login answer to release. The Service keeps it as opaque
// bytes and never reads it.
const heldName = "held"

// heldAsideName keeps what waited on a challenge that ended after too many wrong
// codes, out of TakeHeld's reach, for Restart.
const heldAsideName = "held-aside"

// Hold keeps what waits on challenge c until c is passed, and no longer than c
// lives; a challenge that ends on its last wrong code sets it aside for Restart. Holding again
// replaces it. A challenge that has expired holds nothing (ErrChallengeEnded).
func (s *Service) Hold(ctx context.Context, c Challenge, what []byte) error {
	now := s.Now()
	if !now.Before(c.Expires) || !validID(c.ID) {
		return ErrChallengeEnded
	}
	if err := s.Store.Put(ctx, store.ChallengeKey(c.ID, heldName), what, remaining(c, now)); err != nil {
		return fmt.Errorf("challenge: holding what waits on the challenge: %w", err)
	}
	return nil
}

// TakeHeld returns what was held for the passed challenge, once: of several callers,
// one gets it. It returns nil when nothing was held, or it was taken or has expired.
// Only a Passed, which only a right answer makes, can take it.
func (s *Service) TakeHeld(ctx context.Context, p Passed) ([]byte, error) {
	b, err := s.Store.Take(ctx, store.ChallengeKey(p.Challenge.ID, heldName))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("challenge: taking what waits on the challenge: %w", err)
	}
	return b, nil
}
