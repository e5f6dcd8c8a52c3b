package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

const testIP = "192.0.2.1"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     testing.TB
	ctx   context.Context
	svc   *Service
	clock *fakeClock
	st    store.Store
}

func newEnv(t testing.TB, limits Limits) *env {
	t.Helper()
	mem, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	return newEnvWith(t, mem, limits)
}

func newEnvWith(t testing.TB, st store.Store, limits Limits) *env {
	t.Helper()
	sealer, err := NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	// Five seconds into a step, so ±1 step is the whole window.
	clock := &fakeClock{t: time.Unix(1_700_000_010+5, 0)}
	svc, err := New(Service{Store: st, Sealer: sealer, Issuer: "Example Console", Limits: limits, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), svc: svc, clock: clock, st: st}
}

// bind gives user a bound authenticator directly, as a finished binding would.
func (e *env) bind(user string) []byte {
	e.t.Helper()
	secret, err := NewTOTPSecret(e.svc.Rand)
	if err != nil {
		e.t.Fatal(err)
	}
	sealed, err := e.svc.Sealer.Seal(secret, totpBoundTo(user))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := saveFactors(e.ctx, e.st, user, Factors{TOTP: &TOTPBinding{SealedSecret: sealed, BoundAt: e.clock.Now()}}); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

func binding(user string) string { return "session-of-" + user }

func (e *env) begin(user string) Challenge {
	e.t.Helper()
	c, err := e.svc.Begin(e.ctx, Challenge{User: user, Binding: binding(user), Purpose: policy.PurposeOperation, Rule: "instance changes", Return: "/api/x", Methods: []policy.Method{policy.TOTP}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) verify(c Challenge, code string) (Passed, error) {
	return e.svc.VerifyTOTP(e.ctx, c.ID, c.Binding, code, testIP)
}

func (e *env) code(secret []byte) string { return TOTPCode(secret, e.clock.Now()) }

// wrongCode returns a code that matches no step in the window now.
func (e *env) wrongCode(secret []byte) string {
	for i := 0; ; i++ {
		code := fmt.Sprintf("%06d", i)
		if _, ok := MatchTOTP(secret, code, e.clock.Now()); !ok {
			return code
		}
	}
}

func (e *env) nextStep() { e.clock.Add(30 * time.Second) }

func (e *env) counter(key store.Key) int64 {
	e.t.Helper()
	b, err := e.st.Get(e.ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func wantWrong(t *testing.T, err error, left int) {
	t.Helper()
	var w *WrongCodeError
	if !errors.As(err, &w) || !errors.Is(err, ErrWrongCode) {
		t.Fatalf("err = %v, want a wrong code", err)
	}
	if w.AttemptsLeft != left {
		t.Fatalf("attempts left = %d, want %d", w.AttemptsLeft, left)
	}
}

func TestNew(t *testing.T) {
	mem, _ := store.NewMemory("")
	defer mem.Close()
	sealer, _ := NewSealer(testKey)
	if _, err := New(Service{Sealer: sealer}); err == nil {
		t.Error("no store accepted")
	}
	if _, err := New(Service{Store: mem}); err == nil {
		t.Error("no sealer accepted")
	}
	if _, err := New(Service{Store: mem, Sealer: sealer, Limits: Limits{MaxAttempts: -1}}); err == nil {
		t.Error("negative limit accepted")
	}
	if _, err := New(Service{Store: mem, Sealer: sealer, Limits: Limits{SendsPerIPHour: -1}}); err == nil {
		t.Error("negative send limit accepted")
	}
	if _, err := New(Service{Store: mem, Sealer: sealer, Limits: Limits{SMSCodeTTL: 11 * time.Minute}}); err == nil {
		t.Error("SMS codes valid for 11 minutes accepted")
	}
	s, err := New(Service{Store: mem, Sealer: sealer, Limits: Limits{MaxAttempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{ChallengeTTL: 5 * time.Minute, MaxAttempts: 3, LockAfter: 10, LockFor: 15 * time.Minute, IPFailures: 50, IPWindow: 15 * time.Minute,
		ResendAfter: time.Minute, SendsPerUserHour: 5, SendsPerNumberDay: 10, SendsPerIPHour: 20, SMSCodeTTL: 5 * time.Minute,
		BegunPerUser: 30}
	if s.Limits != want || s.Now == nil || s.Rand == nil {
		t.Errorf("defaults: %+v", s.Limits)
	}
}

func TestBeginValidates(t *testing.T) {
	e := newEnv(t, Limits{})
	for _, c := range []Challenge{
		{Binding: "b", Purpose: policy.PurposeLogin},
		{User: "alice", Purpose: policy.PurposeLogin},
		{User: "alice", Binding: "b", Purpose: "other"},
	} {
		if _, err := e.svc.Begin(e.ctx, c); err == nil {
			t.Errorf("Begin accepted %+v", c)
		}
	}
	c := e.begin("alice")
	if len(c.ID) != 22 || !c.Expires.Equal(c.Created.Add(5*time.Minute)) || !c.Created.Equal(e.clock.Now()) {
		t.Errorf("Begin = %+v", c)
	}
	// The binding is stored only as a hash and never leaves as JSON.
	raw, _ := e.st.Get(e.ctx, store.ChallengeKey(c.ID, challengeName))
	if bytes.Contains(raw, []byte(c.Binding)) {
		t.Error("stored challenge holds the binding in clear")
	}
	out, _ := json.Marshal(c)
	if bytes.Contains(out, []byte(c.Binding)) {
		t.Error("challenge JSON holds the binding")
	}
	got, err := e.svc.Challenge(e.ctx, c.ID, c.Binding)
	if err != nil || got.ID != c.ID || got.User != "alice" || got.Binding != c.Binding || got.Rule != c.Rule || got.Return != c.Return {
		t.Errorf("Challenge = %+v, %v", got, err)
	}
}

func TestVerifyTOTPHappyPath(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c := e.begin("alice")
	p, err := e.verify(c, e.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	if p.Challenge.ID != c.ID || p.Method != policy.TOTP || strings.Join(p.AMR, ",") != "otp,mfa" || !p.AuthTime.Equal(e.clock.Now()) {
		t.Errorf("Passed = %+v", p)
	}
	// Single use.
	e.nextStep()
	if _, err := e.verify(c, e.code(secret)); !errors.Is(err, ErrChallengeEnded) {
		t.Errorf("second verify: %v", err)
	}
	if _, err := e.svc.Challenge(e.ctx, c.ID, c.Binding); !errors.Is(err, ErrChallengeEnded) {
		t.Errorf("Challenge after pass: %v", err)
	}
}

func TestReplayRefused(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	code := e.code(secret)
	if _, err := e.verify(e.begin("alice"), code); err != nil {
		t.Fatal(err)
	}
	// The same code on a second challenge, within its validity.
	e.clock.Add(10 * time.Second)
	_, err := e.verify(e.begin("alice"), code)
	wantWrong(t, err, 4)
	var w *WrongCodeError
	errors.As(err, &w)
	if !w.Reused {
		t.Error("replay not flagged as reused")
	}
}

func TestEarlierStepRefused(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	now := e.clock.Now()
	next := TOTPCode(secret, now.Add(30*time.Second)) // a fast device clock
	if _, err := e.verify(e.begin("alice"), next); err != nil {
		t.Fatal(err)
	}
	// The current step is earlier than the one accepted.
	_, err := e.verify(e.begin("alice"), TOTPCode(secret, now))
	var w *WrongCodeError
	if !errors.As(err, &w) || !w.Reused {
		t.Fatalf("earlier step: %v", err)
	}
	// Two steps on, a fresh code passes.
	e.nextStep()
	e.nextStep()
	if _, err := e.verify(e.begin("alice"), e.code(secret)); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentVerifyPassesOnce(t *testing.T) {
	e := newEnv(t, Limits{BegunPerUser: 100}) // 33 challenges of one user
	secret := e.bind("alice")
	// The same challenge, the right code, from many requests.
	c := e.begin("alice")
	code := e.code(secret)
	if n := raceVerify(e, func(int) Challenge { return c }, code); n != 1 {
		t.Fatalf("%d passes of one challenge", n)
	}
	// Different challenges of the same user, the same code: the replay guard lets one in.
	e.nextStep()
	code = e.code(secret)
	cs := make([]Challenge, 32)
	for i := range cs {
		cs[i] = e.begin("alice")
	}
	if n := raceVerify(e, func(i int) Challenge { return cs[i] }, code); n != 1 {
		t.Fatalf("%d passes of one code", n)
	}
}

func raceVerify(e *env, challenge func(i int) Challenge, code string) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		passes int
	)
	start := make(chan struct{})
	for i := range 32 {
		wg.Go(func() {
			<-start
			_, err := e.verify(challenge(i), code)
			if err == nil {
				mu.Lock()
				passes++
				mu.Unlock()
			} else if !errors.Is(err, ErrChallengeEnded) && !errors.Is(err, ErrWrongCode) && !errors.Is(err, ErrLocked) {
				// Locked: more than LockAfter codes at once are a flood, counted as such.
				e.t.Errorf("unexpected error: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return passes
}

func TestNotYours(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c := e.begin("alice")
	if _, err := e.svc.Challenge(e.ctx, c.ID, "session-of-mallory"); !errors.Is(err, ErrNotYours) {
		t.Errorf("Challenge: %v", err)
	}
	_, err := e.svc.VerifyTOTP(e.ctx, c.ID, "session-of-mallory", e.code(secret), testIP)
	if !errors.Is(err, ErrNotYours) {
		t.Fatalf("VerifyTOTP: %v", err)
	}
	if strings.Contains(err.Error(), "mallory") || strings.Contains(err.Error(), c.Binding) {
		t.Error("error holds a binding")
	}
	if _, err := e.svc.VerifyTOTP(e.ctx, c.ID, "", e.code(secret), testIP); !errors.Is(err, ErrNotYours) {
		t.Fatalf("empty binding: %v", err)
	}
	// Nothing was used up.
	if _, err := e.verify(c, e.code(secret)); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredChallenge(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c1, c2 := e.begin("alice"), e.begin("alice")
	e.clock.Add(5*time.Minute - time.Second)
	if _, err := e.verify(c1, e.code(secret)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	e.clock.Add(time.Second)
	if _, err := e.verify(c2, e.code(secret)); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("at expiry: %v", err)
	}
	for _, id := range []string{"", "nope", strings.Repeat("A", 22), c1.ID + "x"} {
		if _, err := e.svc.Challenge(e.ctx, id, "b"); !errors.Is(err, ErrChallengeEnded) {
			t.Errorf("Challenge(%q): %v", id, err)
		}
	}
}

func TestNotBoundNotOffered(t *testing.T) {
	e := newEnv(t, Limits{})
	c := e.begin("alice")
	if _, err := e.verify(c, "123456"); !errors.Is(err, ErrNotBound) {
		t.Errorf("no factor: %v", err)
	}
	secret := e.bind("alice")
	sms, err := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: policy.PurposeLogin, Methods: []policy.Method{policy.SMS}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyTOTP(e.ctx, sms.ID, "b", e.code(secret), testIP); !errors.Is(err, ErrNotOffered) {
		t.Errorf("TOTP on an SMS challenge: %v", err)
	}
	if _, err := e.svc.StartTOTPBinding(e.ctx, sms.ID, "b"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("binding on an SMS challenge: %v", err)
	}
}

// TestBeginIsCapped: a client that keeps calling a protected API without answering
// cannot fill the store with challenges.
func TestBeginIsCapped(t *testing.T) {
	e := newEnv(t, Limits{BegunPerUser: 3})
	for i := 0; i < 3; i++ {
		e.begin("alice")
	}
	_, err := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	var tooMany *TooManyChallengesError
	if !errors.As(err, &tooMany) || !errors.Is(err, ErrTooManyChallenges) || !tooMany.Until.After(e.clock.Now()) {
		t.Fatalf("4th Begin: %v", err)
	}
	// Another user is not affected.
	e.begin("bob")
}
