package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
	. "github.com/caddy-stepup/stepup/store"
)

// cachedLive tracks a session for user on st, waits for the cache to come on and
// asks Live until the answer is cached.
func cachedLive(t *testing.T, st *Redis, user, id string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Track(ctx, Grant{User: user, ID: id, Session: id, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return CacheOn(st) }) {
		t.Fatal("the revocation subscription never came up")
	}
	if !waitFor(5*time.Second, func() bool {
		live, err := st.Live(ctx, user, id)
		return live && err == nil && Cached(st, user, id)
	}) {
		t.Fatal("no live answer was cached: this test would prove nothing")
	}
}

// TestRedisCacheFlushedOnReconnect: entries live for minutes, so a revocation the
// subscriber may have missed must not be served from the cache. The grant is deleted
// behind the store's back (no PUBLISH: a lost message), and the subscriber's connection
// is killed; once the subscription is back, the store must ask Redis again.
func TestRedisCacheFlushedOnReconnect(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	c := redisClient(t, addr)
	st := NewRedis(c, prefix)
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	cachedLive(t, st, "dave", "s1")

	if err := c.Del(ctx, st.RedisKey(UserKey("dave", "grant:s1"))).Err(); err != nil {
		t.Fatal(err)
	}
	if live, _ := st.Live(ctx, "dave", "s1"); !live {
		t.Fatal("the unannounced deletion was seen without a flush: this test would prove nothing")
	}
	flushes := CacheFlushes(st)
	killer := redis.NewClient(&redis.Options{Addr: addr})
	defer killer.Close()
	if err := killer.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return CacheFlushes(st) > flushes && CacheOn(st) }) {
		t.Fatal("the cache was not flushed and back on after the subscriber's connection was killed")
	}
	if live, err := st.Live(ctx, "dave", "s1"); live || err != nil {
		t.Fatalf("after the reconnect: Live = %v, %v; want false (a stale entry survived)", live, err)
	}
}

// TestRedisCacheFlushedOnDrop: while the subscription is down the cache is off and
// empty, and nothing cached before the outage is served after it.
func TestRedisCacheFlushedOnDrop(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	st := NewRedis(c, redistest.Prefix(t))
	t.Cleanup(func() { st.Close() })
	cachedLive(t, st, "erin", "s1")
	srv.Stop()
	if !waitFor(10*time.Second, func() bool { return !CacheOn(st) }) {
		t.Fatal("the cache stayed on after Redis stopped")
	}
	if n := CacheUsers(st); n != 0 {
		t.Fatalf("%d users still cached with the subscription down", n)
	}
	if Cached(st, "erin", "s1") {
		t.Fatal("an answer is still served from the cache")
	}
}

// TestRedisLongCacheRevocation: with entries that live for minutes, a revocation on
// one instance is seen by another (through the broadcast), and by the revoking one as
// soon as Revoke returns.
func TestRedisLongCacheRevocation(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	a := NewRedis(redisClient(t, addr), prefix)
	b := NewRedis(redisClient(t, addr), prefix)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := context.Background()
	cachedLive(t, a, "frank", "s1")
	if !waitFor(5*time.Second, func() bool { live, _ := b.Live(ctx, "frank", "s1"); return live && Cached(b, "frank", "s1") }) {
		t.Fatal("B did not cache the answer")
	}
	if err := a.Revoke(ctx, "frank", "s1"); err != nil {
		t.Fatal(err)
	}
	if live, err := a.Live(ctx, "frank", "s1"); live || err != nil {
		t.Fatalf("the revoking instance: Live = %v, %v right after Revoke", live, err)
	}
	if !waitFor(5*time.Second, func() bool { live, _ := b.Live(ctx, "frank", "s1"); return !live }) {
		t.Fatal("the other instance still answers live from its cache")
	}
	if Cached(b, "frank", "s1") {
		t.Fatal("the other instance kept the entry")
	}
}

// TestRedisCacheBound: the cache never holds more users than its bound, evicting
// others for new ones, and answers stay right.
func TestRedisCacheBound(t *testing.T) {
	st := NewRedis(redisClient(t, redistest.Addr(t)), redistest.Prefix(t))
	t.Cleanup(func() { st.Close() })
	SetCacheMax(st, 10)
	ctx := context.Background()
	cachedLive(t, st, "u0", "s")
	for i := range 50 {
		u := "u" + strconv.Itoa(i)
		if err := st.Track(ctx, Grant{User: u, ID: "s", Session: "s", Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if live, err := st.Live(ctx, u, "s"); !live || err != nil {
				t.Fatalf("%s: Live = %v, %v", u, live, err)
			}
		}
		if n := CacheUsers(st); n > 10 {
			t.Fatalf("after %d users: %d cached, bound 10", i+1, n)
		}
	}
	if n := CacheUsers(st); n != 10 {
		t.Fatalf("%d users cached, want the bound, 10", n)
	}
}

// TestRedisCacheHitAllocates nothing: a cached answer is the hot path of every
// protected request.
func TestRedisCacheHitAllocatesNothing(t *testing.T) {
	st := NewRedis(redisClient(t, redistest.Addr(t)), redistest.Prefix(t))
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	cachedLive(t, st, "gina", "s")
	if err := st.Track(ctx, Grant{User: "gina", ID: "t", Session: "s", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if live, _ := st.Live(ctx, "gina", "s", "t"); !live || !Cached(st, "gina", "s", "t") {
		t.Fatal("not cached")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = st.Live(ctx, "gina", "s", "t") }); n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}

// TestRedisTrackShorterReachesEveryInstance: tracking a grant again with an earlier
// expiry (an attached console cookie that ends sooner) or one already past ends what
// other instances cached about the user, as a revocation does: a cached answer would
// otherwise outlive the new expiry by minutes.
func TestRedisTrackShorterReachesEveryInstance(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	a := NewRedis(redisClient(t, addr), prefix)
	b := NewRedis(redisClient(t, addr), prefix)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := context.Background()
	for _, exp := range []time.Duration{time.Minute, -time.Second} {
		cachedLive(t, a, "hana", "s1")
		if err := b.Track(ctx, Grant{User: "hana", ID: "s1", Session: "s1", Expires: time.Now().Add(exp)}); err != nil {
			t.Fatal(err)
		}
		if !waitFor(5*time.Second, func() bool { return !Cached(a, "hana", "s1") }) {
			t.Fatalf("expiry moved to %v from now: the other instance kept its cached answer", exp)
		}
	}
	// Tracking again with a later expiry (a renewal) keeps what is cached.
	cachedLive(t, a, "hana", "s2")
	if err := b.Track(ctx, Grant{User: "hana", ID: "s2", Session: "s2", Expires: time.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if live, _ := a.Live(ctx, "hana", "s2"); !live {
		t.Fatal("a renewed grant reads revoked")
	}
}

// The cache stays on only while what is published reaches the subscriber: heartbeats
// published through the command client keep it on past the silence limit (pongs alone
// no longer do), and a subscriber that hears nothing published turns it off.
func TestRedisCacheNeedsPublishedHeartbeats(t *testing.T) {
	srv := redistest.Start(t)
	c := redisClient(t, srv.Addr())
	st := NewRedis(c, redistest.Prefix(t))
	t.Cleanup(func() { st.Close() })
	if !waitFor(5*time.Second, func() bool { return CacheOn(st) }) {
		t.Fatal("the revocation subscription never came up")
	}
	// Past the silence limit (3 s) with nothing revoked: heartbeats keep it on.
	time.Sleep(4 * time.Second)
	if !CacheOn(st) {
		t.Fatal("the cache went off although the channel carried heartbeats")
	}
	// Publishes stop reaching subscribers (the command client's PUBLISH is refused,
	// as on a node cut off from the one that publishes): the cache goes off.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	if err := admin.Do(context.Background(), "ACL", "SETUSER", "default", "-publish").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "SETUSER", "default", "+publish") })
	if !waitFor(10*time.Second, func() bool { return !CacheOn(st) }) {
		t.Fatal("the cache stayed on while nothing published reached the subscriber")
	}
}
