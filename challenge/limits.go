package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/caddy-stepup/stepup/store"
)

// This file counts wrong codes: per challenge, per user (consecutive, across
// challenges) and per client network. The counters live in the store so they hold
// across gateway instances (RFC 4226 §7.3: throttling must hold across sessions).
//
// Attempts on a challenge and on a user are counted before the code is checked, not
// after it is found wrong: otherwise many requests sent at once would all be checked
// before any was counted, and a flood would get far more guesses than the limits allow.

// An attempt is one code being tried, already counted.
type attempt struct {
	user      string
	challenge *Challenge // nil for UnbindTOTP
	tries     int64      // this challenge's attempts so far, this one included
	failures  int64      // the user's attempts since the last right code, this one included
}

// checkIP refuses a client network that sent too many wrong codes, and returns the
// store scope of its counters.
func (s *Service) checkIP(ctx context.Context, clientIP string, now time.Time) (string, error) {
	scope, err := ipScope(clientIP)
	if err != nil {
		return "", err
	}
	until, err := s.readUntil(ctx, store.Key{Scope: scope, Name: blockedName})
	if err != nil {
		return "", err
	}
	if now.Before(until) {
		return "", &IPLimitedError{Until: until}
	}
	return scope, nil
}

// ipScope names the store scope of a client network: an IPv4 address, or the /64 of an
// IPv6 address, since one IPv6 client commonly holds a whole /64.
func ipScope(clientIP string) (string, error) {
	addr, err := netip.ParseAddr(clientIP)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(clientIP)
		if err2 != nil {
			return "", fmt.Errorf("challenge: client address %q is not an IP address", clientIP)
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return "ip:" + netip.PrefixFrom(addr, 64).Masked().String(), nil
	}
	return "ip:" + addr.String(), nil
}

// beginAttempt counts a code about to be tried against the user's lock and, if c is not
// nil, against the challenge's attempts, and refuses it if either is used up.
//
// The user's lock works like this: the LockAfter-th wrong code in a row locks the user
// for LockFor. Once it ends, exactly one more code may be tried (whoever claims the
// ended lock first); that try starts a new lock at once, which a right code lifts. So a
// guesser gets LockAfter codes, then one per LockFor, however many requests it sends.
func (s *Service) beginAttempt(ctx context.Context, user string, c *Challenge, now time.Time) (attempt, error) {
	a := attempt{user: user, challenge: c}
	lockKey := store.UserKey(user, lockedName)
	lockRaw, err := s.Store.Get(ctx, lockKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("challenge: reading lock: %w", err)
	}
	until, err := parseUntil(lockRaw)
	if err != nil {
		return a, err
	}
	if now.Before(until) {
		return a, &LockedError{Until: until}
	}

	if c != nil {
		a.tries, err = s.Store.Incr(ctx, store.ChallengeKey(c.ID, attemptsName), remaining(*c, now))
		if err != nil {
			return a, fmt.Errorf("challenge: counting attempts: %w", err)
		}
		if a.tries > int64(s.Limits.MaxAttempts) {
			if err := s.endChallenge(ctx, c.ID, now); err != nil {
				return a, err
			}
			return a, ErrChallengeEnded
		}
	}

	a.failures, err = s.Store.Incr(ctx, store.UserKey(user, failuresName), failureWindow)
	if err != nil {
		return a, fmt.Errorf("challenge: counting failures: %w", err)
	}
	if a.failures <= int64(s.Limits.LockAfter) {
		return a, nil
	}
	newUntil := now.Add(s.Limits.LockFor)
	if len(lockRaw) == 0 {
		// Past the limit with no lock yet: the code that reached the limit is still being
		// checked (requests sent at once), or its lock was never written. Lock now rather
		// than let this code through; PutNew leaves a lock written meanwhile alone.
		put, err := s.Store.PutNew(ctx, lockKey, formatUntil(newUntil), failureWindow)
		if err != nil {
			return a, fmt.Errorf("challenge: locking second factor: %w", err)
		}
		return a, &LockedError{Until: newUntil, Started: put}
	}
	// Past the limit after a lock ended: claim the ended lock. The claim is named after
	// that lock, so it can be won once; the lock record outlives the lock
	// (failureWindow), so it is still there to be named. A claim not followed by a new
	// lock (an error in between) expires after LockFor, so no one is locked for good.
	claim := store.UserKey(user, "lock-claim:"+string(lockRaw))
	won, err := s.Store.PutNew(ctx, claim, []byte{1}, s.Limits.LockFor)
	if err != nil {
		return a, fmt.Errorf("challenge: claiming the ended lock: %w", err)
	}
	if !won {
		return a, &LockedError{Until: newUntil}
	}
	if err := s.lock(ctx, user, newUntil); err != nil {
		return a, err
	}
	return a, nil
}

// fail records a wrong (or reused) code for the attempt a and returns the error to give:
// a lock or a network refusal this code brought about, or else the wrong code with the
// attempts left.
func (s *Service) fail(ctx context.Context, a attempt, ipScope string, now time.Time, reused bool) error {
	left := int64(s.Limits.LockAfter) - a.failures
	if a.challenge != nil {
		left = min(left, int64(s.Limits.MaxAttempts)-a.tries)
		if a.tries >= int64(s.Limits.MaxAttempts) {
			if err := s.endChallenge(ctx, a.challenge.ID, now); err != nil {
				return err
			}
		}
	}
	var locked *LockedError
	if a.failures >= int64(s.Limits.LockAfter) {
		until := now.Add(s.Limits.LockFor)
		if err := s.lock(ctx, a.user, until); err != nil {
			return err
		}
		locked = &LockedError{Until: until, Started: true}
	}
	n, err := s.Store.Incr(ctx, store.Key{Scope: ipScope, Name: failuresName}, s.Limits.IPWindow)
	if err != nil {
		return fmt.Errorf("challenge: counting failures of the client network: %w", err)
	}
	var limited *IPLimitedError
	if n >= int64(s.Limits.IPFailures) {
		until := now.Add(s.Limits.IPWindow)
		if err := s.Store.Put(ctx, store.Key{Scope: ipScope, Name: blockedName}, formatUntil(until), s.Limits.IPWindow); err != nil {
			return fmt.Errorf("challenge: refusing the client network: %w", err)
		}
		limited = &IPLimitedError{Until: until}
	}
	switch {
	case locked != nil:
		return locked
	case limited != nil:
		return limited
	}
	return &WrongCodeError{AttemptsLeft: int(max(left, 0)), Reused: reused, BeforeLock: int(max(int64(s.Limits.LockAfter)-a.failures, 0))}
}

// lock locks the user's second factor until the given time. The record is kept for
// failureWindow, past the lock itself, so beginAttempt can tell an ended lock apart
// (see there).
func (s *Service) lock(ctx context.Context, user string, until time.Time) error {
	if err := s.Store.Put(ctx, store.UserKey(user, lockedName), formatUntil(until), failureWindow); err != nil {
		return fmt.Errorf("challenge: locking second factor: %w", err)
	}
	return nil
}

// resetFailures clears the user's count of wrong codes and any lock: a right code was
// given. Both records share the user's scope, so this is one store operation.
func (s *Service) resetFailures(ctx context.Context, user string) error {
	if err := s.Store.Delete(ctx, store.UserKey(user, failuresName), store.UserKey(user, lockedName)); err != nil {
		return fmt.Errorf("challenge: clearing failure count: %w", err)
	}
	return nil
}

// endChallenge ends a challenge that ran out of attempts. What waits on it is set
// aside, where no pass of the ended challenge can take it, until the challenge would
// have expired: Restart moves it to a new challenge.
func (s *Service) endChallenge(ctx context.Context, id string, now time.Time) error {
	b, err := s.Store.Get(ctx, store.ChallengeKey(id, challengeName))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("challenge: reading the challenge to end: %w", err)
	}
	var expires time.Time
	if b != nil {
		var r challengeRecord
		if json.Unmarshal(b, &r) == nil {
			expires = r.Expires
		}
	}
	held, err := s.Store.Take(ctx, store.ChallengeKey(id, heldName))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("challenge: setting aside what waited on the challenge: %w", err)
	case now.Before(expires):
		if err := s.Store.Put(ctx, store.ChallengeKey(id, heldAsideName), held, expires.Sub(now)); err != nil {
			return fmt.Errorf("challenge: setting aside what waited on the challenge: %w", err)
		}
	}
	err = s.Store.Delete(ctx, store.ChallengeKey(id, challengeName), store.ChallengeKey(id, pendingTOTPName),
		store.ChallengeKey(id, pendingPhoneName), store.ChallengeKey(id, smsCodeName))
	if err != nil {
		return fmt.Errorf("challenge: ending challenge: %w", err)
	}
	return s.end(ctx, id, EndedTooMany, now)
}

// readUntil reads a time written by formatUntil; no record is the zero time.
func (s *Service) readUntil(ctx context.Context, key store.Key) (time.Time, error) {
	b, err := s.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("challenge: reading limit record: %w", err)
	}
	return parseUntil(b)
}

func formatUntil(t time.Time) []byte {
	b, _ := t.UTC().MarshalText() // fails only for years outside 0..9999
	return b
}

func parseUntil(b []byte) (time.Time, error) {
	var t time.Time
	if len(b) == 0 {
		return t, nil
	}
	if err := t.UnmarshalText(b); err != nil {
		return t, fmt.Errorf("challenge: limit record is damaged: %w", err)
	}
	return t, nil
}
