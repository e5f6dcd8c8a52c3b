package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis store answers Live, the check every protected request makes, from a small
// local cache of recent positive answers, so the hot path does not pay a Redis round
// trip each time (on a 2-core machine one round trip per request costs about 30% of
// the throughput of plain reverse_proxy).
//
// A cached answer never outlives liveCacheTTL, and revocation still reaches every
// instance at once: the revoke scripts PUBLISH the user's name in the same atomic
// step as the deletion, every instance's subscriber drops that user's entries when it
// hears it, and the instance that revoked drops them before Revoke returns. The cache
// is used only while the subscription is up: when it drops (Redis stopped, the network
// cut), the cache is flushed and bypassed, so an outage still fails closed.
const (
	liveCacheTTL = time.Second
	// liveCacheMax bounds the entries; past it the cache starts over.
	liveCacheMax = 1 << 16
	// subscriptionSilence is how long the subscriber may hear nothing (it pings every
	// subscriptionPing) before it counts the link as down.
	subscriptionPing    = time.Second
	subscriptionSilence = 3 * time.Second
)

// liveKey names a Live question about one user: one or two grant ids, the shape of
// every call the gateway makes (a session, or a step-up token and its session).
type liveKey struct{ a, b string }

type liveCache struct {
	mu    sync.RWMutex
	users map[string]map[liveKey]time.Time // user → question → cached until
	size  int
	// gen counts invalidations: an answer read from Redis is cached only if no
	// invalidation happened meanwhile, so a revocation racing a check cannot leave
	// a stale "live" behind.
	gen     atomic.Uint64
	healthy atomic.Bool
	// hits and misses count the questions answered here and those passed on to Redis,
	// for metrics (Redis.LiveCacheStats).
	hits, misses atomic.Uint64
}

// LiveCacheStats reports how many Live questions the local cache has answered (hits)
// and how many it passed on to Redis (misses, including every one asked while the
// cache was off) since the store was made.
func (r *Redis) LiveCacheStats() (hits, misses uint64) {
	return r.live.hits.Load(), r.live.misses.Load()
}

// question returns the cache key for ids, or false when the call has another shape.
func question(ids []string) (liveKey, bool) {
	switch len(ids) {
	case 1:
		return liveKey{a: ids[0]}, true
	case 2:
		return liveKey{a: ids[0], b: ids[1]}, true
	}
	return liveKey{}, false
}

func (c *liveCache) hit(user string, q liveKey, now time.Time) bool {
	if !c.healthy.Load() {
		c.misses.Add(1)
		return false
	}
	c.mu.RLock()
	until, ok := c.users[user][q]
	c.mu.RUnlock()
	if ok && now.Before(until) {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	return false
}

// put caches a live answer for at most liveCacheTTL, and never past left, the time
// until the first of the grants expires.
func (c *liveCache) put(user string, q liveKey, gen uint64, now time.Time, left time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.healthy.Load() || c.gen.Load() != gen {
		return
	}
	if c.size >= liveCacheMax || c.users == nil {
		c.users, c.size = make(map[string]map[liveKey]time.Time), 0
	}
	m := c.users[user]
	if m == nil {
		m = make(map[liveKey]time.Time)
		c.users[user] = m
	}
	if _, ok := m[q]; !ok {
		c.size++
	}
	m[q] = now.Add(min(liveCacheTTL, left))
}

// drop forgets what is cached about user.
func (c *liveCache) drop(user string) {
	c.mu.Lock()
	c.gen.Add(1)
	c.size -= len(c.users[user])
	delete(c.users, user)
	c.mu.Unlock()
}

// flush forgets everything; off also stops using the cache until the link is back.
func (c *liveCache) flush(off bool) {
	c.mu.Lock()
	if off {
		c.healthy.Store(false)
	}
	c.gen.Add(1)
	c.users, c.size = nil, 0
	c.mu.Unlock()
}

// revokedChannel is where the revoke scripts announce a user whose grants changed.
func (r *Redis) revokedChannel() string { return r.prefix + "revoked" }

// watchRevocations keeps a subscription to the revocation channel for the store's
// lifetime, turning the cache on while it is up and off (flushed) while it is not.
func (r *Redis) watchRevocations(ctx context.Context) {
	defer close(r.watchDone)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if r.subscribe(ctx) {
			backoff = 100 * time.Millisecond
		}
		r.live.flush(true)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// subscribe listens until the link fails; it reports whether it was ever up.
func (r *Redis) subscribe(ctx context.Context) bool {
	ps := r.c.Subscribe(ctx, r.revokedChannel())
	var heard atomic.Int64
	heard.Store(time.Now().UnixNano())
	done := make(chan struct{})
	defer close(done)
	// A watchdog pings and, when the link falls silent or the store closes, closes
	// the subscription: that is what unblocks Receive (go-redis's read does not
	// always honour a timeout).
	go func() {
		defer ps.Close()
		tick := time.NewTicker(subscriptionPing)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-tick.C:
				if time.Since(time.Unix(0, heard.Load())) > subscriptionSilence {
					return
				}
				_ = ps.Ping(ctx)
			}
		}
	}()
	if _, err := ps.Receive(ctx); err != nil {
		return false
	}
	heard.Store(time.Now().UnixNano())
	r.live.flush(false)
	r.live.healthy.Store(true)
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return true
		}
		heard.Store(time.Now().UnixNano())
		if m, ok := msg.(*redis.Message); ok {
			r.live.drop(m.Payload)
		}
	}
}
