// Package storetest is the conformance suite every store.Store implementation passes.
//
// An implementation's test calls Run with a constructor for empty stores and the clock
// the store's expiry follows: a fake clock for a store with an injectable one (memory),
// RealClock for a store whose expiry runs elsewhere (Redis). The suite's TTLs are a
// tenth of a second, so a run on the real clock sleeps about two seconds in all.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/store"
)

// A Clock is the time a store under test expires records by.
type Clock interface {
	// Now returns the current time as the store sees it.
	Now() time.Time
	// Advance moves the store's time forward by d.
	Advance(d time.Duration)
}

// RealClock is the wall clock; Advance sleeps.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Advance sleeps for d.
func (RealClock) Advance(d time.Duration) { time.Sleep(d) }

const (
	// ttl is the lifetime of short-lived records in the suite: long enough that a
	// record written and read back at once on a loaded machine is still there, short
	// enough that waiting it out on the real clock is cheap.
	ttl = 100 * time.Millisecond
	// beyond is how far to advance to be sure a ttl has passed, with a margin for
	// the server's clock resolution and scheduling.
	beyond = ttl + 50*time.Millisecond
	// workers is the number of goroutines racing in the concurrency tests.
	workers = 32
)

// Run runs the conformance suite. newStore returns an empty store that no other test
// uses; the suite closes it. clock is the time the stores expire records by.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, clock Clock) {
	s := suite{newStore: newStore, clock: clock}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"GetMissing", s.getMissing},
		{"PutGet", s.putGet},
		{"PutOwnsItsCopy", s.putOwnsItsCopy},
		{"PutTTL", s.putTTL},
		{"PutReplacesTTL", s.putReplacesTTL},
		{"PutNew", s.putNew},
		{"PutNewAfterExpiry", s.putNewAfterExpiry},
		{"Take", s.take},
		{"TakeConcurrent", s.takeConcurrent},
		{"Delete", s.delete},
		{"Incr", s.incr},
		{"IncrWindow", s.incrWindow},
		{"IncrConcurrent", s.incrConcurrent},
		{"Advance", s.advance},
		{"AdvanceLargeNumbers", s.advanceLargeNumbers},
		{"AdvanceConcurrent", s.advanceConcurrent},
		{"KeysAreDistinct", s.keysAreDistinct},
		{"NegativeDurations", s.negativeDurations},
		{"TrackLive", s.trackLive},
		{"GrantExpiry", s.grantExpiry},
		{"TrackExpired", s.trackExpired},
		{"RevokeSession", s.revokeSession},
		{"RevokeToken", s.revokeToken},
		{"RevokeUser", s.revokeUser},
		{"Grants", s.grants},
		{"GrantUsersAreDistinct", s.grantUsersAreDistinct},
		{"AppendRecent", s.appendRecent},
		{"UserIndex", s.userIndex},
		{"Close", s.close},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	newStore func(t *testing.T) store.Store
	clock    Clock
}

// open returns a fresh store, closed when t ends.
func (s suite) open(t *testing.T) store.Store {
	t.Helper()
	st := s.newStore(t)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var ctx = context.Background()

func k(name string) store.Key { return store.UserKey("alice", name) }

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// alive returns t for checks that something written at start with lifetime life is
// still there. On the real clock a loaded machine can stall past life between the
// write and the check, which then proves nothing: such a check skips the test instead
// of failing it. On a fake clock no time passes unasked, so it never skips.
func (s suite) alive(t testing.TB, start time.Time, life time.Duration) testing.TB {
	return stallTB{TB: t, clock: s.clock, start: start, life: life}
}

type stallTB struct {
	testing.TB
	clock Clock
	start time.Time
	life  time.Duration
}

func (t stallTB) Fatalf(format string, args ...any) {
	t.Helper()
	if passed := t.clock.Now().Sub(t.start); passed >= t.life {
		t.Skipf("the machine stalled: %v passed, past the %v lifetime under test, so this proves nothing: "+format,
			append([]any{passed, t.life}, args...)...)
	}
	t.TB.Fatalf(format, args...)
}

func wantGet(t testing.TB, st store.Store, key store.Key, want string) {
	t.Helper()
	got, err := st.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%v) = %v, want %q", key, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%v) = %q, want %q", key, got, want)
	}
}

func wantNotFound(t testing.TB, st store.Store, key store.Key) {
	t.Helper()
	if got, err := st.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%v) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func (s suite) getMissing(t *testing.T) {
	st := s.open(t)
	wantNotFound(t, st, k("nothing"))
	if _, err := st.Take(ctx, k("nothing")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take of a missing record = %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, k("nothing")); errors.Is(err, store.ErrUnavailable) {
		t.Fatal("ErrNotFound must not also be ErrUnavailable")
	}
}

func (s suite) putGet(t *testing.T) {
	st := s.open(t)
	must(t, st.Put(ctx, k("a"), []byte("one"), 0))
	wantGet(t, st, k("a"), "one")
	must(t, st.Put(ctx, k("a"), []byte("two"), 0))
	wantGet(t, st, k("a"), "two")

	// An empty value is a record, not an absence.
	must(t, st.Put(ctx, k("empty"), nil, 0))
	got, err := st.Get(ctx, k("empty"))
	if err != nil || len(got) != 0 {
		t.Fatalf("Get of an empty record = %q, %v; want empty, nil", got, err)
	}

	// Values are bytes, not text.
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	must(t, st.Put(ctx, k("bin"), bin, 0))
	if got, err := st.Get(ctx, k("bin")); err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("binary value did not round-trip: %v", err)
	}
}

func (s suite) putOwnsItsCopy(t *testing.T) {
	st := s.open(t)
	v := []byte("value")
	must(t, st.Put(ctx, k("a"), v, 0))
	v[0] = 'X' // the caller reuses its buffer
	wantGet(t, st, k("a"), "value")
	got, _ := st.Get(ctx, k("a"))
	got[0] = 'Y' // the caller scribbles on what it got
	wantGet(t, st, k("a"), "value")
}

func (s suite) putTTL(t *testing.T) {
	st := s.open(t)
	start := s.clock.Now()
	must(t, st.Put(ctx, k("short"), []byte("v"), ttl))
	must(t, st.Put(ctx, k("durable"), []byte("v"), 0))
	wantGet(s.alive(t, start, ttl), st, k("short"), "v")
	s.clock.Advance(beyond)
	wantNotFound(t, st, k("short"))
	if _, err := st.Take(ctx, k("short")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take of an expired record = %v, want ErrNotFound", err)
	}
	wantGet(t, st, k("durable"), "v")
}

func (s suite) putReplacesTTL(t *testing.T) {
	st := s.open(t)
	// Durable, then short-lived: the record now expires.
	must(t, st.Put(ctx, k("a"), []byte("1"), 0))
	must(t, st.Put(ctx, k("a"), []byte("2"), ttl))
	// Short-lived, then durable: the record no longer expires.
	must(t, st.Put(ctx, k("b"), []byte("1"), ttl))
	must(t, st.Put(ctx, k("b"), []byte("2"), 0))
	s.clock.Advance(beyond)
	wantNotFound(t, st, k("a"))
	wantGet(t, st, k("b"), "2")
}

func (s suite) putNew(t *testing.T) {
	st := s.open(t)
	start := s.clock.Now()
	ok, err := st.PutNew(ctx, k("a"), []byte("first"), ttl)
	if err != nil || !ok {
		t.Fatalf("PutNew on an empty key = %v, %v; want true", ok, err)
	}
	ok, err = st.PutNew(ctx, k("a"), []byte("second"), ttl)
	if err != nil || ok {
		s.alive(t, start, ttl).Fatalf("PutNew on a live key = %v, %v; want false", ok, err)
	}
	wantGet(s.alive(t, start, ttl), st, k("a"), "first")

	must(t, st.Delete(ctx, k("a")))
	if ok, err := st.PutNew(ctx, k("a"), []byte("third"), 0); err != nil || !ok {
		t.Fatalf("PutNew after Delete = %v, %v; want true", ok, err)
	}
	// With ttl 0 the record is durable and keeps refusing.
	s.clock.Advance(beyond)
	if ok, err := st.PutNew(ctx, k("a"), []byte("fourth"), ttl); err != nil || ok {
		t.Fatalf("PutNew on a durable key = %v, %v; want false", ok, err)
	}
	wantGet(t, st, k("a"), "third")
}

func (s suite) putNewAfterExpiry(t *testing.T) {
	st := s.open(t)
	if ok, err := st.PutNew(ctx, k("a"), []byte("first"), ttl); err != nil || !ok {
		t.Fatalf("PutNew = %v, %v; want true", ok, err)
	}
	s.clock.Advance(beyond)
	if ok, err := st.PutNew(ctx, k("a"), []byte("second"), ttl); err != nil || !ok {
		t.Fatalf("PutNew after expiry = %v, %v; want true", ok, err)
	}
	wantGet(t, st, k("a"), "second")
}

func (s suite) take(t *testing.T) {
	st := s.open(t)
	start := s.clock.Now()
	must(t, st.Put(ctx, k("a"), []byte("once"), ttl))
	got, err := st.Take(ctx, k("a"))
	if err != nil || string(got) != "once" {
		s.alive(t, start, ttl).Fatalf("Take = %q, %v; want \"once\"", got, err)
	}
	if _, err := st.Take(ctx, k("a")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Take = %v, want ErrNotFound", err)
	}
	wantNotFound(t, st, k("a"))

	// Taking an empty record returns it (empty), and only once.
	must(t, st.Put(ctx, k("e"), nil, 0))
	if got, err := st.Take(ctx, k("e")); err != nil || len(got) != 0 {
		t.Fatalf("Take of an empty record = %q, %v; want empty, nil", got, err)
	}
	if _, err := st.Take(ctx, k("e")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Take of an empty record = %v, want ErrNotFound", err)
	}
}

func (s suite) takeConcurrent(t *testing.T) {
	st := s.open(t)
	for round := range 5 {
		key := k(fmt.Sprint("code", round))
		must(t, st.Put(ctx, key, []byte("secret"), time.Minute))
		var wins, misses atomic.Int32
		race(t, func() error {
			v, err := st.Take(ctx, key)
			switch {
			case errors.Is(err, store.ErrNotFound):
				misses.Add(1)
			case err != nil:
				return err
			case string(v) != "secret":
				return fmt.Errorf("Take = %q", v)
			default:
				wins.Add(1)
			}
			return nil
		})
		if wins.Load() != 1 || misses.Load() != workers-1 {
			t.Fatalf("round %d: %d Takes won and %d missed, want 1 and %d", round, wins.Load(), misses.Load(), workers-1)
		}
	}
}

func (s suite) delete(t *testing.T) {
	st := s.open(t)
	other := store.ChallengeKey("c1", "held")
	must(t, st.Put(ctx, k("a"), []byte("v"), 0))
	must(t, st.Put(ctx, k("b"), []byte("v"), ttl))
	must(t, st.Put(ctx, other, []byte("v"), ttl))
	must(t, st.Put(ctx, k("keep"), []byte("v"), 0))
	_, err := st.Incr(ctx, k("count"), 0)
	must(t, err)
	_, err = st.Advance(ctx, k("step"), 7)
	must(t, err)

	// Keys of several scopes, counters, numbers and missing keys in one call.
	must(t, st.Delete(ctx, k("a"), k("b"), other, k("missing"), k("count"), k("step")))
	for _, key := range []store.Key{k("a"), k("b"), other, k("count"), k("step")} {
		wantNotFound(t, st, key)
	}
	wantGet(t, st, k("keep"), "v")
	must(t, st.Delete(ctx))
	must(t, st.Delete(ctx, k("missing")))

	// A deleted counter starts again; a deleted number accepts anything.
	if n, err := st.Incr(ctx, k("count"), 0); err != nil || n != 1 {
		t.Fatalf("Incr after Delete = %d, %v; want 1", n, err)
	}
	if ok, err := st.Advance(ctx, k("step"), 1); err != nil || !ok {
		t.Fatalf("Advance after Delete = %v, %v; want true", ok, err)
	}
}

func (s suite) incr(t *testing.T) {
	st := s.open(t)
	for want := int64(1); want <= 3; want++ {
		n, err := st.Incr(ctx, k("n"), 0)
		if err != nil || n != want {
			t.Fatalf("Incr = %d, %v; want %d", n, err, want)
		}
	}
	// A counter is a record holding its decimal count.
	wantGet(t, st, k("n"), "3")
	// Without a window it outlives any time.
	s.clock.Advance(beyond)
	if n, err := st.Incr(ctx, k("n"), 0); err != nil || n != 4 {
		t.Fatalf("Incr after time passed = %d, %v; want 4", n, err)
	}
	// Counters are separate per key.
	if n, err := st.Incr(ctx, k("other"), 0); err != nil || n != 1 {
		t.Fatalf("Incr of another key = %d, %v; want 1", n, err)
	}
}

func (s suite) incrWindow(t *testing.T) {
	st := s.open(t)
	// The window is fixed at the first increment: later increments do not extend it.
	const window = 2 * ttl
	var start time.Time
	incr := func(want int64) {
		t.Helper()
		if n, err := st.Incr(ctx, k("n"), window); err != nil || n != want {
			s.alive(t, start, window).Fatalf("Incr = %d, %v; want %d", n, err, want)
		}
	}
	start = s.clock.Now()
	incr(1)
	s.clock.Advance(window / 2)
	incr(2)
	s.clock.Advance(window/2 + beyond - ttl)
	start = s.clock.Now()
	incr(1) // the first window ended; this starts a new one
	incr(2)
}

func (s suite) incrConcurrent(t *testing.T) {
	st := s.open(t)
	seen := make([]atomic.Bool, workers+1)
	race(t, func() error {
		n, err := st.Incr(ctx, k("n"), time.Minute)
		if err != nil {
			return err
		}
		if n < 1 || n > workers || seen[n].Swap(true) {
			return fmt.Errorf("Incr returned %d twice or out of range", n)
		}
		return nil
	})
	wantGet(t, st, k("n"), fmt.Sprint(workers))
}

func (s suite) advance(t *testing.T) {
	st := s.open(t)
	steps := []struct {
		n    int64
		want bool
	}{
		{100, true},  // nothing stored
		{100, false}, // the same step: a replay
		{99, false},  // an earlier step
		{101, true},
		{0, false},
		{-5, false},
		{1_000_000, true},
	}
	for _, step := range steps {
		if ok, err := st.Advance(ctx, k("step"), step.n); err != nil || ok != step.want {
			t.Fatalf("Advance(%d) = %v, %v; want %v", step.n, ok, err, step.want)
		}
	}
	// The number is durable.
	s.clock.Advance(beyond)
	if ok, err := st.Advance(ctx, k("step"), 1_000_000); err != nil || ok {
		t.Fatalf("Advance to the stored number after time passed = %v, %v; want false", ok, err)
	}
	// Negative numbers order correctly too.
	for _, step := range []struct {
		n    int64
		want bool
	}{{-10, true}, {-11, false}, {-10, false}, {-9, true}, {0, true}} {
		if ok, err := st.Advance(ctx, k("neg"), step.n); err != nil || ok != step.want {
			t.Fatalf("Advance(%d) = %v, %v; want %v", step.n, ok, err, step.want)
		}
	}
}

// advanceLargeNumbers guards against comparing as float64, which cannot tell 2^62 from
// 2^62+1.
func (s suite) advanceLargeNumbers(t *testing.T) {
	st := s.open(t)
	const big = int64(1) << 62
	for _, step := range []struct {
		n    int64
		want bool
	}{
		{big, true}, {big + 1, true}, {big + 1, false}, {big, false},
		{1<<63 - 1, true}, {1<<63 - 1, false},
	} {
		if ok, err := st.Advance(ctx, k("step"), step.n); err != nil || ok != step.want {
			t.Fatalf("Advance(%d) = %v, %v; want %v", step.n, ok, err, step.want)
		}
	}
	if ok, err := st.Advance(ctx, k("min"), -1<<63); err != nil || !ok {
		t.Fatalf("Advance(MinInt64) on nothing = %v, %v; want true", ok, err)
	}
	if ok, err := st.Advance(ctx, k("min"), -1<<63+1); err != nil || !ok {
		t.Fatalf("Advance(MinInt64+1) = %v, %v; want true", ok, err)
	}
}

func (s suite) advanceConcurrent(t *testing.T) {
	st := s.open(t)
	// Two instances see the same TOTP step at once: exactly one may accept it.
	for n := int64(1); n <= 5; n++ {
		var wins atomic.Int32
		race(t, func() error {
			ok, err := st.Advance(ctx, k("step"), n)
			if ok {
				wins.Add(1)
			}
			return err
		})
		if wins.Load() != 1 {
			t.Fatalf("step %d: %d of %d concurrent Advances won, want 1", n, wins.Load(), workers)
		}
	}
}

// keysAreDistinct writes pairs of keys that a careless encoding would merge and checks
// each keeps its own value.
func (s suite) keysAreDistinct(t *testing.T) {
	st := s.open(t)
	keys := []store.Key{
		{Scope: "u:a", Name: "b:c"},
		{Scope: "u:a:b", Name: "c"},
		{Scope: "u:a}:b", Name: "c"},
		{Scope: "u:a", Name: "}:b}:c"},
		{Scope: "u:{a}", Name: "x"},
		{Scope: "u:%7Ba%7D", Name: "x"},
		{Scope: "u:a%", Name: "x"},
		{Scope: "u:a%25", Name: "x"},
		{Scope: "u:", Name: "x"},
		{Scope: "", Name: "u:x"},
		{Scope: "c:b", Name: "x"},
		store.UserKey("a", "x"),
		store.ChallengeKey("a", "x"),
		store.UserKey("bob}{", "totp"),
		store.UserKey("bob", "totp"),
		store.UserKey("bob:totp", ""),
	}
	for i, key := range keys {
		must(t, st.Put(ctx, key, []byte(fmt.Sprint(i)), 0))
	}
	for i, key := range keys {
		wantGet(t, st, key, fmt.Sprint(i))
	}
}

func (s suite) negativeDurations(t *testing.T) {
	st := s.open(t)
	// A negative duration is a bug in the caller; it must not become "forever" or
	// "keep the old ttl".
	if err := st.Put(ctx, k("a"), []byte("v"), -time.Second); err == nil {
		t.Fatal("Put with a negative ttl succeeded")
	}
	if _, err := st.PutNew(ctx, k("a"), []byte("v"), -time.Second); err == nil {
		t.Fatal("PutNew with a negative ttl succeeded")
	}
	if _, err := st.Incr(ctx, k("n"), -time.Second); err == nil {
		t.Fatal("Incr with a negative window succeeded")
	}
	wantNotFound(t, st, k("a"))
	wantNotFound(t, st, k("n"))
}

// grant returns a grant of user that expires after d.
func (s suite) grant(user, id, session string, d time.Duration) store.Grant {
	return store.Grant{User: user, ID: id, Session: session, Expires: s.clock.Now().Add(d)}
}

func wantLive(t testing.TB, st store.Store, want bool, user string, ids ...string) {
	t.Helper()
	got, err := st.Live(ctx, user, ids...)
	if err != nil || got != want {
		t.Fatalf("Live(%q, %q) = %v, %v; want %v", user, ids, got, err, want)
	}
}

func (s suite) trackLive(t *testing.T) {
	st := s.open(t)
	must(t, st.Track(ctx, s.grant("alice", "s1", "s1", time.Hour)))
	must(t, st.Track(ctx, s.grant("alice", "t1", "s1", time.Hour)))
	must(t, st.Track(ctx, s.grant("bob", "s2", "s2", time.Hour)))

	wantLive(t, st, true, "alice", "s1")
	wantLive(t, st, true, "alice", "s1", "t1")
	wantLive(t, st, true, "alice", "t1", "s1", "t1") // duplicates are fine
	wantLive(t, st, false, "alice", "s1", "missing")
	wantLive(t, st, false, "alice", "missing", "s1")
	wantLive(t, st, false, "alice", "s2")       // bob's session
	wantLive(t, st, false, "alice", "s1", "s2") // one of them bob's
	wantLive(t, st, false, "bob", "s1")
	wantLive(t, st, false, "carol", "s1")
	wantLive(t, st, false, "alice", "")
	// No ids proves nothing, so it is not "live".
	wantLive(t, st, false, "alice")

	if err := st.Track(ctx, s.grant("alice", "", "s1", time.Hour)); err == nil {
		t.Fatal("Track of a grant without an id succeeded")
	}
}

func (s suite) grantExpiry(t *testing.T) {
	st := s.open(t)
	start := s.clock.Now()
	sess := s.grant("alice", "s1", "s1", time.Hour)
	must(t, st.Track(ctx, sess))
	must(t, st.Track(ctx, s.grant("alice", "t1", "s1", ttl)))
	must(t, st.Track(ctx, s.grant("alice", "t2", "s1", ttl)))
	wantLive(s.alive(t, start, ttl), st, true, "alice", "s1", "t1")
	// Tracking again moves the expiry.
	renewed := s.grant("alice", "t2", "s1", time.Hour)
	must(t, st.Track(ctx, renewed))
	s.clock.Advance(beyond)
	wantLive(t, st, false, "alice", "s1", "t1")
	wantLive(t, st, false, "alice", "t1")
	wantLive(t, st, true, "alice", "s1", "t2")
	wantGrants(t, st, "alice", sess, renewed)
}

func (s suite) trackExpired(t *testing.T) {
	st := s.open(t)
	must(t, st.Track(ctx, s.grant("alice", "old", "old", -time.Second)))
	wantLive(t, st, false, "alice", "old")
	// An expired grant ends a live one of the same id.
	must(t, st.Track(ctx, s.grant("alice", "s1", "s1", time.Hour)))
	must(t, st.Track(ctx, s.grant("alice", "s1", "s1", -time.Second)))
	wantLive(t, st, false, "alice", "s1")
	wantGrants(t, st, "alice")
}

// session tracks a session of user and n tokens issued in it.
func (s suite) session(t *testing.T, st store.Store, user, sid string, n int) []string {
	t.Helper()
	ids := []string{sid}
	must(t, st.Track(ctx, s.grant(user, sid, sid, time.Hour)))
	for i := range n {
		id := fmt.Sprintf("%s-t%d", sid, i)
		must(t, st.Track(ctx, s.grant(user, id, sid, 5*time.Minute)))
		ids = append(ids, id)
	}
	return ids
}

func (s suite) revokeSession(t *testing.T) {
	st := s.open(t)
	one := s.session(t, st, "alice", "s1", 3)
	two := s.session(t, st, "alice", "s2", 2)
	bobs := s.session(t, st, "bob", "s1", 1) // same ids, another user

	must(t, st.Revoke(ctx, "alice", "s1"))
	for _, id := range one {
		wantLive(t, st, false, "alice", id)
	}
	wantLive(t, st, true, "alice", two...)
	wantLive(t, st, true, "bob", bobs...)

	// Revoking what is not there, or another user's grant, is no error and no effect.
	must(t, st.Revoke(ctx, "alice", "s1"))
	must(t, st.Revoke(ctx, "alice", "nothing"))
	must(t, st.Revoke(ctx, "carol", "s2"))
	wantLive(t, st, true, "alice", two...)
}

func (s suite) revokeToken(t *testing.T) {
	st := s.open(t)
	ids := s.session(t, st, "alice", "s1", 2)
	must(t, st.Revoke(ctx, "alice", ids[1]))
	wantLive(t, st, false, "alice", ids[1])
	wantLive(t, st, true, "alice", ids[0], ids[2])
}

func (s suite) revokeUser(t *testing.T) {
	st := s.open(t)
	one := s.session(t, st, "alice", "s1", 2)
	two := s.session(t, st, "alice", "s2", 1)
	bobs := s.session(t, st, "bob", "s3", 1)
	must(t, st.RevokeUser(ctx, "alice"))
	for _, id := range append(one, two...) {
		wantLive(t, st, false, "alice", id)
	}
	wantGrants(t, st, "alice")
	wantLive(t, st, true, "bob", bobs...)
	must(t, st.RevokeUser(ctx, "nobody"))

	// The user can sign in again afterwards.
	s.session(t, st, "alice", "s4", 0)
	wantLive(t, st, true, "alice", "s4")
}

// wantGrants checks Grants(user) against want, with expiry at the stores' millisecond
// precision, and that they come soonest expiry first.
func wantGrants(t testing.TB, st store.Store, user string, want ...store.Grant) {
	t.Helper()
	got, err := st.Grants(ctx, user)
	if err != nil {
		t.Fatalf("Grants(%q): %v", user, err)
	}
	want = slices.Clone(want)
	for i := range want {
		want[i].Expires = time.UnixMilli(want[i].Expires.UnixMilli())
	}
	slices.SortFunc(want, func(a, b store.Grant) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if !slices.EqualFunc(got, want, func(a, b store.Grant) bool {
		return a.User == b.User && a.ID == b.ID && a.Session == b.Session && a.Expires.Equal(b.Expires)
	}) {
		t.Fatalf("Grants(%q) = %+v, want %+v", user, got, want)
	}
}

func (s suite) grants(t *testing.T) {
	st := s.open(t)
	wantGrants(t, st, "alice") // none yet
	start := s.clock.Now()
	sess := s.grant("alice", "s1", "s1", time.Hour)
	tok := s.grant("alice", "t1", "s1", 5*time.Minute)
	short := s.grant("alice", "t2", "s1", ttl)
	for _, g := range []store.Grant{sess, tok, short} {
		must(t, st.Track(ctx, g))
	}
	must(t, st.Track(ctx, s.grant("bob", "s9", "s9", time.Hour)))
	wantGrants(s.alive(t, start, ttl), st, "alice", short, tok, sess)
	s.clock.Advance(beyond)
	wantGrants(t, st, "alice", tok, sess)
	must(t, st.Revoke(ctx, "alice", "t1"))
	wantGrants(t, st, "alice", sess)
}

// grantUsersAreDistinct tracks grants for user names that a careless key encoding
// would merge, and revokes each user without touching the others.
func (s suite) grantUsersAreDistinct(t *testing.T) {
	st := s.open(t)
	users := []string{"alice", "alice}", "{alice}", "alice:grant", "ali:ce", "%7Balice%7D", "alice%", ""}
	for i, u := range users {
		s.session(t, st, u, fmt.Sprint("s", i), 1)
	}
	for i, u := range users {
		for j := range users {
			wantLive(t, st, i == j, u, fmt.Sprint("s", j))
		}
	}
	for i, u := range users {
		must(t, st.RevokeUser(ctx, u))
		for j, other := range users {
			wantLive(t, st, j > i, other, fmt.Sprint("s", j))
		}
	}
}

func (s suite) close(t *testing.T) {
	st := s.newStore(t)
	must(t, st.Put(ctx, k("a"), []byte("v"), 0))
	must(t, st.Ping(ctx))
	must(t, st.Close())
	if err := st.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping after Close = %v, want ErrUnavailable", err)
	}
	if _, err := st.Get(ctx, k("a")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get after Close = %v, want ErrUnavailable", err)
	}
	if _, err := st.Live(ctx, "alice", "s1"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Live after Close = %v, want ErrUnavailable", err)
	}
	must(t, st.Close()) // a second Close is harmless
}

// race runs fn on workers goroutines released at once and fails t on any error.
func race(t *testing.T, fn func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			<-start
			if err := fn(); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func (s suite) appendRecent(t *testing.T) {
	st := s.open(t)
	key := k("events")
	if got, err := st.Recent(ctx, key, 10); err != nil || len(got) != 0 {
		t.Fatalf("Recent of nothing = %q, %v", got, err)
	}
	for i := range 7 {
		must(t, st.Append(ctx, key, []byte{byte('a' + i)}, 5))
	}
	got, err := st.Recent(ctx, key, 10)
	must(t, err)
	if want := []string{"g", "f", "e", "d", "c"}; len(got) != len(want) {
		t.Fatalf("Recent = %q, want %q (newest first, 5 kept)", got, want)
	} else {
		for i := range want {
			if string(got[i]) != want[i] {
				t.Fatalf("Recent = %q, want %q", got, want)
			}
		}
	}
	if got, _ := st.Recent(ctx, key, 2); len(got) != 2 || string(got[0]) != "g" {
		t.Fatalf("Recent(2) = %q", got)
	}
	if err := st.Append(ctx, key, []byte("x"), 0); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Append keeping 0 = %v", err)
	}
}

func (s suite) userIndex(t *testing.T) {
	st := s.open(t)
	names := []string{"bob", "alice", "al", "a", "alfred", "carol", "ｂｏｂ", "dave", "bobby", "b"}
	for _, n := range names {
		must(t, st.AddUser(ctx, n))
		must(t, st.AddUser(ctx, n)) // idempotent
	}
	all, err := st.Users(ctx, "", "", 100)
	must(t, err)
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(all, want) {
		t.Fatalf("Users = %q, want %q", all, want)
	}
	// Paging: three at a time, each page after the last name of the one before.
	var paged []string
	after := ""
	for {
		page, err := st.Users(ctx, "", after, 3)
		must(t, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d", len(page))
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged = %q, want %q", paged, want)
	}
	for prefix, want := range map[string][]string{
		"al": {"al", "alfred", "alice"}, "b": {"b", "bob", "bobby"}, "bob": {"bob", "bobby"}, "z": nil, "alic": {"alice"},
	} {
		got, err := st.Users(ctx, prefix, "", 10)
		must(t, err)
		if !slices.Equal(got, want) {
			t.Errorf("Users(%q) = %q, want %q", prefix, got, want)
		}
	}
	if got, _ := st.Users(ctx, "al", "alfred", 10); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("Users(al, after alfred) = %q", got)
	}
}
