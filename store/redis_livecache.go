package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis store answers Live, the check every protected request makes, from a local
// cache of positive answers, so the hot path does not pay a Redis round trip each time
// (on a 2-core machine one round trip per request costs about 40% of the throughput
// of plain reverse_proxy).
//
// A cached answer lives up to liveCacheTTL, and never past the expiry of the first of
// its grants. Revocation still reaches every instance at once: the revoke scripts
// PUBLISH the user's name in the same atomic step as the deletion, every instance's
// subscriber drops that user's entries when it hears it, and the instance that revoked
// drops them before Revoke returns. Since an entry lives long, the cache is used only
// while no revocation can have been missed: it is flushed and bypassed when the
// subscription drops (Redis stopped, the network cut, a ping unanswered), and flushed
// again whenever the subscription is (re)confirmed, since a message published while
// the client was reconnecting is lost. An outage therefore still fails closed.
const (
	liveCacheTTL = 5 * time.Minute
	// liveCacheMax bounds the users with cached answers; past it a random one is
	// evicted for each new one. A user's entry costs about 200 to 270 bytes of heap
	// (its map slot, its copies of the user's name and of the grant ids; measured with
	// both questions cached), so a full cache holds about 70 MB.
	liveCacheMax = 1 << 18
	// subscriptionSilence is how long the subscriber may hear nothing (it pings every
	// subscriptionPing) before it counts the link as down.
	subscriptionPing    = time.Second
	subscriptionSilence = 3 * time.Second
)

// liveKey names a Live question about one user: one or two grant ids, the shape of
// every call the gateway makes (a session, or a step-up token and its session).
type liveKey struct{ a, b string }

// liveEntry holds a user's cached answers: one slot for each shape the gateway asks
// (the session alone; the session and a step-up token). until is in Unix nanoseconds,
// 0 for an empty slot.
type liveEntry struct {
	q     [2]liveKey
	until [2]int64
}

type liveCache struct {
	mu    sync.RWMutex
	users map[string]liveEntry
	// max bounds len(users); liveCacheMax unless a test sets it.
	max int
	// gen counts invalidations: an answer read from Redis is cached only if no
	// invalidation happened meanwhile, so a revocation racing a check cannot leave
	// a stale "live" behind.
	gen     atomic.Uint64
	healthy atomic.Bool
	// hits and misses count the questions answered here and those passed on to Redis,
	// for metrics (Redis.LiveCacheStats); flushes counts flushes, for tests.
	hits, misses, flushes atomic.Uint64
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
	t := now.UnixNano()
	c.mu.RLock()
	e, ok := c.users[user]
	c.mu.RUnlock()
	if ok {
		for i := range e.q {
			if e.until[i] > t && e.q[i] == q {
				c.hits.Add(1)
				return true
			}
		}
	}
	c.misses.Add(1)
	return false
}

// put caches a live answer for at most liveCacheTTL, and never past left, the time
// until the first of the grants expires. It keeps its own copies of the strings, so
// an entry does not pin the request that asked.
func (c *liveCache) put(user string, q liveKey, gen uint64, now time.Time, left time.Duration) {
	until := now.Add(min(liveCacheTTL, left)).UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.healthy.Load() || c.gen.Load() != gen {
		return
	}
	if c.users == nil {
		c.users = make(map[string]liveEntry)
	}
	e, ok := c.users[user]
	if !ok {
		limit := c.max
		if limit <= 0 {
			limit = liveCacheMax
		}
		for k := range c.users { // map order is random: a random eviction
			if len(c.users) < limit {
				break
			}
			delete(c.users, k)
		}
		user = strings.Clone(user)
	}
	// The slot of the same shape (session alone, or with a token), else the one that
	// ends first.
	i := 0
	if q.b != "" {
		i = 1
	}
	e.q[i] = liveKey{a: strings.Clone(q.a), b: strings.Clone(q.b)}
	e.until[i] = until
	c.users[user] = e
}

// drop forgets what is cached about user.
func (c *liveCache) drop(user string) {
	c.mu.Lock()
	c.gen.Add(1)
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
	c.flushes.Add(1)
	c.users = nil
	c.mu.Unlock()
}

// size returns how many users have cached answers.
func (c *liveCache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.users)
}

// heartbeat is what the subscribers publish on the channel to hear that it carries
// messages; no user name holds a NUL.
const heartbeat = "\x00heartbeat"

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
//
// The cache is turned on only once Redis has confirmed the subscription, and flushed
// at that moment: whatever was published before it may have been missed. Any later
// confirmation means go-redis reconnected and subscribed again on its own, so messages
// may have been lost in between: the cache is flushed again. A ping that fails ends
// the subscription (and turns the cache off) rather than leave go-redis to reconnect
// quietly.
func (r *Redis) subscribe(ctx context.Context) bool {
	ps := r.c.Subscribe(ctx, r.revokedChannel())
	var heard atomic.Int64
	heard.Store(time.Now().UnixNano())
	done := make(chan struct{})
	defer close(done)
	// A watchdog pings, and publishes a heartbeat on the channel through the command
	// client, as the revoke scripts publish; when no heartbeat (or message) has come
	// back for subscriptionSilence, a ping fails or the store closes, it closes the
	// subscription: that is what unblocks Receive (go-redis's read does not always
	// honour a timeout). A pong alone does not count: a node that answers pings but no
	// longer hears what is published elsewhere (cut off from the cluster bus, an
	// isolated old master) would keep a minutes-long cache on without its revocations.
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
				if err := ps.Ping(ctx); err != nil {
					return
				}
				// A failed publish is a silence the next ticks count.
				_ = r.c.Publish(ctx, r.revokedChannel(), heartbeat).Err()
			}
		}
	}()
	up := false
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return up
		}
		switch m := msg.(type) {
		case *redis.Message:
			heard.Store(time.Now().UnixNano())
			if m.Payload != heartbeat {
				r.live.drop(m.Payload)
			}
		case *redis.Subscription:
			heard.Store(time.Now().UnixNano())
			if m.Kind != "subscribe" {
				continue
			}
			// The first confirmation, or a quiet resubscription after a reconnect.
			r.live.flush(false)
			r.live.healthy.Store(true)
			up = true
		}
	}
}
