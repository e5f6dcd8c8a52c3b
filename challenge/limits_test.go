package challenge

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/store"
)

func TestWrongCodeCountsAttempts(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c := e.begin("alice")
	wrong := e.wrongCode(secret)
	for left := 4; left >= 1; left-- {
		_, err := e.verify(c, wrong)
		wantWrong(t, err, left)
		if strings.Contains(err.Error(), wrong) {
			t.Fatal("error holds the code")
		}
	}
	// Malformed input counts too, and the challenge still takes the right code.
	if _, err := e.verify(c, e.code(secret)); err != nil {
		t.Fatalf("right code after 4 wrong: %v", err)
	}
}

func TestFiveWrongEndTheChallenge(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	c := e.begin("alice")
	for i := range 5 {
		_, err := e.verify(c, e.wrongCode(secret))
		wantWrong(t, err, 4-i)
	}
	if _, err := e.verify(c, e.code(secret)); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("right code after 5 wrong: %v", err)
	}
	if _, err := e.svc.Challenge(e.ctx, c.ID, c.Binding); !errors.Is(err, ErrChallengeEnded) {
		t.Errorf("Challenge: %v", err)
	}
	// A new challenge works: the user is not locked (5 < 10).
	if _, err := e.verify(e.begin("alice"), e.code(secret)); err != nil {
		t.Fatal(err)
	}
}

func TestLockAfterConsecutiveFailures(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	wrong := e.wrongCode(secret)
	var (
		c   Challenge
		err error
	)
	for n := 1; n <= 10; n++ { // two per challenge, across five challenges
		if n%2 == 1 {
			c = e.begin("alice")
		}
		_, err = e.verify(c, wrong)
		if n < 10 {
			// The fewer of what the challenge and the lock allow.
			wantWrong(t, err, min(10-n, 5-(2-n%2)))
		}
	}
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
		t.Fatalf("10th wrong code: %v", err)
	}
	if want := e.clock.Now().Add(15 * time.Minute); !locked.Until.Equal(want) || !locked.Started {
		t.Errorf("locked until %v (started %v), want %v, started", locked.Until, locked.Started, want)
	}
	if until, err := e.svc.LockedUntil(e.ctx, "alice"); err != nil || !until.Equal(locked.Until) {
		t.Errorf("LockedUntil = %v, %v", until, err)
	}
	// Locked: even the right code is refused, on a new challenge too.
	e.clock.Add(15*time.Minute - time.Second)
	c = e.begin("alice")
	if _, err := e.verify(c, e.code(secret)); !errors.As(err, &locked) || locked.Started {
		t.Fatalf("right code while locked: %v (a lock already there is not started again)", err)
	}
	e.clock.Add(time.Second)
	c = e.begin("alice")
	if _, err := e.verify(c, e.code(secret)); err != nil {
		t.Fatalf("right code after the lock: %v", err)
	}
	// The right code reset the count: nine wrong codes do not lock.
	for i := range 9 {
		if i%5 == 0 {
			c = e.begin("alice")
		}
		if _, err := e.verify(c, wrong); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d after reset: %v", i+1, err)
		}
	}
}

func TestOneTryPerLockPeriod(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	wrong := e.wrongCode(secret)
	for range 5 {
		c := e.begin("alice")
		e.verify(c, wrong)
		e.verify(c, wrong)
	}
	e.clock.Add(15 * time.Minute)
	// After the lock, one wrong code locks again at once.
	_, err := e.verify(e.begin("alice"), wrong)
	var locked *LockedError
	if !errors.As(err, &locked) || !locked.Until.Equal(e.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("wrong code after the lock: %v", err)
	}
	if _, err := e.verify(e.begin("alice"), e.code(secret)); !errors.Is(err, ErrLocked) {
		t.Fatalf("right code in the new lock: %v", err)
	}
	e.clock.Add(15 * time.Minute)
	if _, err := e.verify(e.begin("alice"), e.code(secret)); err != nil {
		t.Fatalf("right code after the second lock: %v", err)
	}
}

func TestIPLimit(t *testing.T) {
	e := newEnv(t, Limits{IPFailures: 3})
	for _, u := range []string{"a", "b", "c"} {
		e.bind(u)
	}
	secretD := e.bind("d")
	wrong := func(user, ip string) error {
		c := e.begin(user)
		_, err := e.svc.VerifyTOTP(e.ctx, c.ID, c.Binding, "000000", ip)
		return err
	}
	// Failures from one address count together, whatever the user; an IPv6 /64 is one
	// network; a port is not part of the address.
	if err := wrong("a", "2001:db8::1"); !errors.Is(err, ErrWrongCode) {
		t.Fatal(err)
	}
	if err := wrong("b", "[2001:db8::ffff]:443"); !errors.Is(err, ErrWrongCode) {
		t.Fatal(err)
	}
	err := wrong("c", "2001:db8::2")
	var lim *IPLimitedError
	if !errors.As(err, &lim) || !errors.Is(err, ErrIPLimited) || !lim.Until.Equal(e.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("third failure: %v", err)
	}
	c := e.begin("d")
	if _, err := e.svc.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secretD), "2001:db8::3"); !errors.Is(err, ErrIPLimited) {
		t.Fatalf("right code after the limit: %v", err)
	}
	// Another network is not affected, and neither is the challenge.
	if _, err := e.svc.VerifyTOTP(e.ctx, c.ID, c.Binding, "000000", "2001:db8:1::1"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("another network: %v", err)
	}
	if err := wrong("a", "not an ip"); err == nil || errors.Is(err, ErrWrongCode) {
		t.Fatalf("bad client address: %v", err)
	}
	// When the refusal ends, the network may try again.
	e.clock.Add(15 * time.Minute)
	c = e.begin("d")
	if _, err := e.svc.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secretD), "2001:db8::3"); err != nil {
		t.Fatalf("after the refusal: %v", err)
	}
}

func TestIPScope(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":          "ip:192.0.2.1",
		"192.0.2.1:8080":     "ip:192.0.2.1",
		"::ffff:192.0.2.1":   "ip:192.0.2.1",
		"2001:db8::1":        "ip:2001:db8::/64",
		"[2001:db8::1]:443":  "ip:2001:db8::/64",
		"fe80::1%eth0":       "ip:fe80::/64",
		"2001:db8:0:1:2::3":  "ip:2001:db8:0:1::/64",
		"[::1]:1":            "ip:::/64",
		"[::ffff:10.0.0.1]:": "",
	} {
		got, err := ipScope(in)
		if want == "" {
			if err == nil {
				t.Errorf("ipScope(%q) = %q, want error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ipScope(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "localhost", "1.2.3", "1.2.3.4:x"} {
		if _, err := ipScope(bad); err == nil {
			t.Errorf("ipScope(%q) accepted", bad)
		}
	}
}

// barrierStore holds every Get of records named name until n of them are waiting, so
// n requests read the same state before any of them acts on it: the worst case of a
// race, made certain.
type barrierStore struct {
	store.Store
	name    string
	mu      sync.Mutex
	waiting int
	n       int
	open    chan struct{}
}

func newBarrier(st store.Store, name string, n int) *barrierStore {
	return &barrierStore{Store: st, name: name, n: n, open: make(chan struct{})}
}

func (b *barrierStore) Get(ctx context.Context, k store.Key) ([]byte, error) {
	v, err := b.Store.Get(ctx, k)
	if k.Name == b.name {
		b.mu.Lock()
		b.waiting++
		if b.waiting == b.n {
			close(b.open)
		}
		b.mu.Unlock()
		select { // the value was read before anyone goes on
		case <-b.open:
		case <-time.After(10 * time.Second): // fewer readers than expected: let the test fail, not hang
		}
	}
	return v, err
}

// flood sends n wrong codes at once, all reading the record named name before any goes
// on, and returns how many codes were checked (counted by the client network's counter).
func flood(t *testing.T, e *env, name string, n int, challenge func(i int) Challenge, code string) int64 {
	t.Helper()
	ipKey := store.Key{Scope: "ip:" + testIP, Name: failuresName}
	before := e.counter(ipKey)
	cs := make([]Challenge, n)
	for i := range cs {
		cs[i] = challenge(i)
	}
	bs := newBarrier(e.st, name, n)
	e.svc.Store = bs
	defer func() { e.svc.Store = bs.Store }()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { e.svc.VerifyTOTP(e.ctx, cs[i].ID, cs[i].Binding, code, testIP) })
	}
	wg.Wait()
	return e.counter(ipKey) - before
}

// Many codes sent at once on one challenge: only MaxAttempts of them are checked.
func TestChallengeAttemptsHoldUnderConcurrency(t *testing.T) {
	e := newEnv(t, Limits{LockAfter: 1000, IPFailures: 1000})
	secret := e.bind("alice")
	c := e.begin("alice")
	if got := flood(t, e, challengeName, 40, func(int) Challenge { return c }, e.wrongCode(secret)); got != 5 {
		t.Fatalf("%d codes checked on one challenge, want 5", got)
	}
}

// Many codes sent at once across challenges: only LockAfter are checked, and once the
// lock ends, only one.
func TestLockHoldsUnderConcurrency(t *testing.T) {
	e := newEnv(t, Limits{IPFailures: 1000, BegunPerUser: 1000})
	secret := e.bind("alice")
	wrong := e.wrongCode(secret)
	perChallenge := func(i int) Challenge { return e.begin("alice") }
	if got := flood(t, e, lockedName, 40, perChallenge, wrong); got != 10 {
		t.Fatalf("%d codes checked in a flood, want 10", got)
	}
	e.clock.Add(15 * time.Minute)
	if got := flood(t, e, lockedName, 40, perChallenge, wrong); got != 1 {
		t.Fatalf("%d codes checked in a flood after the lock ended, want 1", got)
	}
}

// An administrator's unlock clears the lock and the count of wrong codes.
func TestUnlock(t *testing.T) {
	e := newEnv(t, Limits{LockAfter: 2})
	secret := e.bind("alice")
	c := e.begin("alice")
	e.verify(c, e.wrongCode(secret))
	if _, err := e.verify(c, e.wrongCode(secret)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second wrong code: %v", err)
	}
	if err := e.svc.Unlock(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if until, err := e.svc.LockedUntil(e.ctx, "alice"); err != nil || !until.IsZero() {
		t.Fatalf("LockedUntil after unlock = %v, %v", until, err)
	}
	if _, err := e.verify(e.begin("alice"), e.code(secret)); err != nil {
		t.Fatalf("right code after unlock: %v", err)
	}
}

// Resetting one factor keeps the other.
func TestResetOneFactor(t *testing.T) {
	e := newEnv(t, Limits{})
	e.bind("alice")
	if err := e.svc.ResetPhone(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.svc.Factors(e.ctx, "alice"); f.TOTP == nil {
		t.Fatal("resetting the phone removed the app")
	}
	if err := e.svc.ResetTOTP(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.svc.Factors(e.ctx, "alice"); f.TOTP != nil || len(f.Bound()) != 0 {
		t.Fatalf("after resetting the app: %+v", f)
	}
}

// RecentFailures counts the wrong codes since the last right one (a login's risk signal).
func TestRecentFailures(t *testing.T) {
	e := newEnv(t, Limits{LockAfter: 10})
	secret := e.bind("alice")
	recent := func(want int) {
		t.Helper()
		if n, err := e.svc.RecentFailures(e.ctx, "alice"); err != nil || n != want {
			t.Fatalf("RecentFailures = %d, %v; want %d", n, err, want)
		}
	}
	recent(0)
	c := e.begin("alice")
	e.verify(c, e.wrongCode(secret))
	e.verify(c, e.wrongCode(secret))
	recent(2)
	if _, err := e.verify(c, e.code(secret)); err != nil {
		t.Fatalf("right code: %v", err)
	}
	recent(0)
}
