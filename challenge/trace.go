package challenge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// This file remembers a challenge for a day after it ends, so that its link (a Back
// button, a bookmark, a second tab) can say how it ended and offer the next step, and
// so that a challenge ended by too many wrong codes can be started again for the same
// held request without losing it.

// Record names of a challenge's trace.
const (
	traceName     = "trace"     // the challenge as begun, binding hashed
	endingName    = "ending"    // how it ended, once it has
	restartedName = "restarted" // the challenge it was started again as
)

// traceTTL is how long a challenge is remembered after it could have expired.
const traceTTL = 24 * time.Hour

// Ending is how a challenge ended.
type Ending string

const (
	// NotEnded: the challenge can still be answered.
	NotEnded Ending = ""
	// EndedPassed: a right code passed it.
	EndedPassed Ending = "passed"
	// EndedTooMany: it ended after too many wrong codes. What waited on it is kept
	// until the challenge would have expired, and Restart starts a new challenge for it.
	EndedTooMany Ending = "too_many"
	// EndedExpired: it was not answered in time.
	EndedExpired Ending = "expired"
	// EndedCancelled: the user cancelled it; what waited on it is dropped.
	EndedCancelled Ending = "cancelled"
)

// An Ended is what is remembered of a challenge after it ends.
type Ended struct {
	Challenge
	// How it ended.
	How Ending
	// At is when it ended (its expiry, for EndedExpired).
	At time.Time
}

// endingRecord is how a challenge ended, as stored.
type endingRecord struct {
	How Ending    `json:"how"`
	At  time.Time `json:"at"`
}

// trace remembers c as begun (the binding as a hash).
func (s *Service) trace(ctx context.Context, b []byte) error {
	var r challengeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if err := s.Store.Put(ctx, store.ChallengeKey(r.ID, traceName), b, s.Limits.ChallengeTTL+traceTTL); err != nil {
		return fmt.Errorf("challenge: remembering the challenge: %w", err)
	}
	return nil
}

// end records how challenge id ended.
func (s *Service) end(ctx context.Context, id string, how Ending, at time.Time) error {
	b, _ := json.Marshal(endingRecord{How: how, At: at.UTC()}) // a string and a time always marshal
	if err := s.Store.Put(ctx, store.ChallengeKey(id, endingName), b, traceTTL); err != nil {
		return fmt.Errorf("challenge: recording how the challenge ended: %w", err)
	}
	return nil
}

// Ended says how challenge id ended, for the caller that presents its binding. How is
// NotEnded while it can be answered. It returns ErrChallengeEnded when nothing is
// remembered of it (never begun, or ended over a day ago) and ErrNotYours when the
// binding differs.
func (s *Service) Ended(ctx context.Context, id, binding string) (Ended, error) {
	if !validID(id) {
		return Ended{}, ErrChallengeEnded
	}
	b, err := s.Store.Get(ctx, store.ChallengeKey(id, traceName))
	if errors.Is(err, store.ErrNotFound) {
		return Ended{}, ErrChallengeEnded
	}
	if err != nil {
		return Ended{}, fmt.Errorf("challenge: reading the challenge's trace: %w", err)
	}
	var r challengeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Ended{}, fmt.Errorf("challenge: challenge trace is damaged: %w", err)
	}
	if subtle.ConstantTimeCompare(bindingHash(binding), r.BindingHash) != 1 {
		return Ended{}, ErrNotYours
	}
	r.Challenge.Binding = binding
	e := Ended{Challenge: r.Challenge}
	raw, err := s.Store.Get(ctx, store.ChallengeKey(id, endingName))
	switch {
	case err == nil:
		var er endingRecord
		if err := json.Unmarshal(raw, &er); err != nil {
			return Ended{}, fmt.Errorf("challenge: challenge ending is damaged: %w", err)
		}
		e.How, e.At = er.How, er.At
	case !errors.Is(err, store.ErrNotFound):
		return Ended{}, fmt.Errorf("challenge: reading how the challenge ended: %w", err)
	case !s.Now().Before(r.Expires):
		e.How, e.At = EndedExpired, r.Expires
	}
	return e, nil
}

// Restart begins a new challenge in place of challenge id, which ended after too many
// wrong codes, and moves what waited on it (a held form or login answer) to the new
// one. Everything else is the old challenge's: user, binding, purpose, rule, return
// path and methods. The counts of wrong codes are untouched: a lock still comes after
// as many wrong codes as before. Only one restart per challenge succeeds; it returns
// ErrChallengeEnded when the challenge did not end that way, was started again
// already, or its held login answer has expired (a login must then start again).
func (s *Service) Restart(ctx context.Context, id, binding string) (Challenge, error) {
	old, err := s.Ended(ctx, id, binding)
	if err != nil {
		return Challenge{}, err
	}
	if old.How != EndedTooMany {
		return Challenge{}, ErrChallengeEnded
	}
	won, err := s.Store.PutNew(ctx, store.ChallengeKey(id, restartedName), []byte{1}, traceTTL)
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: claiming the restart: %w", err)
	}
	if !won {
		return Challenge{}, ErrChallengeEnded
	}
	held, err := s.Store.Take(ctx, store.ChallengeKey(id, heldAsideName))
	if errors.Is(err, store.ErrNotFound) {
		held = nil
	} else if err != nil {
		return Challenge{}, fmt.Errorf("challenge: taking what waited on the challenge: %w", err)
	}
	if held == nil && old.Purpose == policy.PurposeLogin {
		return Challenge{}, ErrChallengeEnded
	}
	c, err := s.Begin(ctx, Challenge{User: old.User, Binding: binding, Purpose: old.Purpose, Rule: old.Rule,
		Return: old.Return, Back: old.Back, Request: old.Request, Methods: old.Methods})
	if err != nil {
		return Challenge{}, err
	}
	if held != nil {
		if err := s.Hold(ctx, c, held); err != nil {
			return Challenge{}, err
		}
	}
	return c, nil
}

// Cancel ends challenge id for the caller that presents its binding, and drops what
// waited on it: the user chose not to go ahead. It returns the errors of Challenge.
func (s *Service) Cancel(ctx context.Context, id, binding string) (Challenge, error) {
	c, err := s.load(ctx, id, binding, s.Now())
	if err != nil {
		return c, err
	}
	if err := s.take(ctx, id); err != nil {
		return c, err
	}
	err = s.Store.Delete(ctx, store.ChallengeKey(id, heldName), store.ChallengeKey(id, pendingTOTPName),
		store.ChallengeKey(id, pendingPhoneName), store.ChallengeKey(id, smsCodeName))
	if err != nil {
		return c, fmt.Errorf("challenge: dropping what waited on the cancelled challenge: %w", err)
	}
	return c, s.end(ctx, id, EndedCancelled, s.Now())
}
