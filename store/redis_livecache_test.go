package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/internal/redistest"
	. "github.com/caddy-stepup/stepup/store"
)

// waitFor polls cond for up to d; the cache's promises are "within milliseconds",
// so a generous bound still proves they are not "after the cache TTL".
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestRedisRevocationReachesEveryInstance: two gateway instances share one Redis.
// Instance A has just answered "live" (and cached it); B revokes. A must say
// "revoked" long before its cache entry would have expired.
func TestRedisRevocationReachesEveryInstance(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	a := NewRedis(redisClient(t, addr), prefix)
	b := NewRedis(redisClient(t, addr), prefix)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for _, g := range []Grant{{User: "alice", ID: "s1", Session: "s1", Expires: exp}, {User: "alice", ID: "t1", Session: "s1", Expires: exp}} {
		if err := a.Track(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// Let A's subscription come up so the cache is in use.
	if !waitFor(2*time.Second, func() bool { return CacheOn(a) && CacheOn(b) }) {
		t.Fatal("the revocation subscription never came up")
	}
	for i := 0; i < 3; i++ {
		if live, err := a.Live(ctx, "alice", "t1", "s1"); err != nil || !live {
			t.Fatalf("before revocation: %v %v", live, err)
		}
	}
	if !Cached(a, "alice", "t1", "s1") {
		t.Fatal("A did not cache a live answer: this test would prove nothing")
	}
	start := time.Now()
	if err := b.Revoke(ctx, "alice", "s1"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(250*time.Millisecond, func() bool { live, _ := a.Live(ctx, "alice", "t1", "s1"); return !live }) {
		t.Fatal("instance A still says live 250ms after B revoked")
	}
	t.Logf("revocation reached the other instance in %v", time.Since(start))
	// The instance that revoked never answers from a stale cache.
	if live, _ := b.Live(ctx, "alice", "t1", "s1"); live {
		t.Fatal("B still says live")
	}
}

// TestRedisCacheOffDuringOutage: when Redis stops, the cache is dropped at once, so a
// protected request fails closed instead of riding on a cached answer.
func TestRedisCacheOffDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	st := NewRedis(redisClient(t, srv.Addr()), redistest.Prefix(t))
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Track(ctx, Grant{User: "bob", ID: "s", Session: "s", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return CacheOn(st) }) {
		t.Fatal("the revocation subscription never came up")
	}
	if live, err := st.Live(ctx, "bob", "s"); !live || err != nil {
		t.Fatalf("before the outage: %v %v", live, err)
	}
	srv.Stop()
	if !waitFor(500*time.Millisecond, func() bool { return !CacheOn(st) }) {
		t.Fatal("the cache stayed on after Redis stopped")
	}
	if _, err := st.Live(ctx, "bob", "s"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Live during the outage = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	if !waitFor(5*time.Second, func() bool { return CacheOn(st) }) {
		t.Fatal("the cache did not come back with Redis")
	}
}

// TestRedisCacheExpires: a cached answer lives at most the cache TTL, even if no
// revocation is heard (a grant that simply expired).
func TestRedisCacheExpires(t *testing.T) {
	st := NewRedis(redisClient(t, redistest.Addr(t)), redistest.Prefix(t))
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Track(ctx, Grant{User: "carol", ID: "s", Session: "s", Expires: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitFor(2*time.Second, func() bool { return CacheOn(st) })
	if live, _ := st.Live(ctx, "carol", "s"); !live {
		t.Fatal("not live at first")
	}
	if !waitFor(1500*time.Millisecond, func() bool { live, _ := st.Live(ctx, "carol", "s"); return !live }) {
		t.Fatal("an expired grant still reads live after the cache TTL")
	}
}
