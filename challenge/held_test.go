package challenge

import (
	"errors"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/policy"
)

// What waits on a challenge is taken once, by the one who passed it.
func TestHeldTakenOnceAfterPassing(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c := e.begin("alice")
	if err := e.svc.Hold(e.ctx, c, []byte("form post")); err != nil {
		t.Fatal(err)
	}
	p, err := e.verify(c, e.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.TakeHeld(e.ctx, p)
	if err != nil || string(got) != "form post" {
		t.Fatalf("TakeHeld = %q, %v", got, err)
	}
	if again, err := e.svc.TakeHeld(e.ctx, p); err != nil || again != nil {
		t.Fatalf("second TakeHeld = %q, %v", again, err)
	}
}

// A challenge that ends on its last wrong code sets what waited on it aside: nothing
// can take it through the ended challenge, and a restart moves it to a new one, once.
// The wrong codes still count towards the lock.
func TestHeldSetAsideWhenChallengeEnds(t *testing.T) {
	e := newEnv(t, Limits{MaxAttempts: 2, LockAfter: 10})
	secret := e.bind("alice")
	c := e.begin("alice")
	if err := e.svc.Hold(e.ctx, c, []byte("login answer")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.verify(c, e.wrongCode(secret)); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	if got, err := e.svc.TakeHeld(e.ctx, Passed{Challenge: c}); err != nil || got != nil {
		t.Fatalf("held taken through the ended challenge: %q, %v", got, err)
	}
	ended, err := e.svc.Ended(e.ctx, c.ID, c.Binding)
	if err != nil || ended.How != EndedTooMany || ended.Rule != c.Rule {
		t.Fatalf("Ended = %+v, %v", ended, err)
	}
	if _, err := e.svc.Restart(e.ctx, c.ID, "someone else"); !errors.Is(err, ErrNotYours) {
		t.Fatalf("restart by another binding: %v", err)
	}
	next, err := e.svc.Restart(e.ctx, c.ID, c.Binding)
	if err != nil || next.ID == c.ID || next.User != "alice" || next.Purpose != c.Purpose {
		t.Fatalf("Restart = %+v, %v", next, err)
	}
	if _, err := e.svc.Restart(e.ctx, c.ID, c.Binding); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("second restart: %v", err)
	}
	if n, _ := e.svc.RecentFailures(e.ctx, "alice"); n != 2 {
		t.Fatalf("wrong codes after the restart: %d, want 2 (a restart resets nothing)", n)
	}
	p, err := e.verify(next, e.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.TakeHeld(e.ctx, p); err != nil || string(got) != "login answer" {
		t.Fatalf("held after the restarted challenge passed: %q, %v", got, err)
	}
	if ended, err := e.svc.Ended(e.ctx, next.ID, next.Binding); err != nil || ended.How != EndedPassed {
		t.Fatalf("the restarted challenge's ending: %+v, %v", ended, err)
	}
}

// A challenge's link says how it ended for a day: expired, or still live.
func TestEndedExpired(t *testing.T) {
	e := newEnv(t, Limits{ChallengeTTL: time.Minute})
	c := e.begin("alice")
	if ended, err := e.svc.Ended(e.ctx, c.ID, c.Binding); err != nil || ended.How != NotEnded {
		t.Fatalf("live challenge: %+v, %v", ended, err)
	}
	e.clock.Add(2 * time.Minute)
	if ended, err := e.svc.Ended(e.ctx, c.ID, c.Binding); err != nil || ended.How != EndedExpired || !ended.At.Equal(c.Expires) {
		t.Fatalf("expired challenge: %+v, %v", ended, err)
	}
	if _, err := e.svc.Restart(e.ctx, c.ID, c.Binding); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("restart of an expired challenge: %v", err)
	}
}

// Nothing outlives its challenge, and an expired challenge holds nothing.
func TestHeldExpiresWithChallenge(t *testing.T) {
	e := newEnv(t, Limits{ChallengeTTL: time.Minute})
	c := e.begin("alice")
	if err := e.svc.Hold(e.ctx, c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.Hold(e.ctx, c, []byte("y")); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("Hold on an expired challenge: %v", err)
	}
}

// A user's protection settings live beside their factors and outlast a reset.
func TestChoicesKeptBesideFactors(t *testing.T) {
	e := newEnv(t, Limits{})
	e.bind("alice")
	c := policy.Choices{}.With(policy.Login, policy.Choice{On: true, Methods: []policy.Method{policy.TOTP}}, "alice", e.clock.Now())
	if err := e.svc.SetChoices(e.ctx, "alice", c); err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.Factors(e.ctx, "alice")
	if err != nil || f.TOTP == nil || f.Choices.Login == nil || !f.Choices.Login.On || f.Choices.ChangedBy != "alice" {
		t.Fatalf("after SetChoices: %+v %v", f, err)
	}
	if err := e.svc.ResetFactors(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	f, err = e.svc.Factors(e.ctx, "alice")
	if err != nil || f.TOTP != nil || f.Choices.Login == nil {
		t.Fatalf("after a reset: %+v %v", f, err)
	}
}

// A cancelled challenge drops what waited on it and says it was cancelled.
func TestCancel(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c := e.begin("alice")
	if err := e.svc.Hold(e.ctx, c, []byte("form post")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(e.ctx, c.ID, "someone else"); !errors.Is(err, ErrNotYours) {
		t.Fatalf("cancel by another binding: %v", err)
	}
	if _, err := e.svc.Cancel(e.ctx, c.ID, c.Binding); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(c, e.code(secret)); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("answering a cancelled challenge: %v", err)
	}
	if got, err := e.svc.TakeHeld(e.ctx, Passed{Challenge: c}); err != nil || got != nil {
		t.Fatalf("held after cancel: %q, %v", got, err)
	}
	if ended, err := e.svc.Ended(e.ctx, c.ID, c.Binding); err != nil || ended.How != EndedCancelled {
		t.Fatalf("Ended = %+v, %v", ended, err)
	}
}
