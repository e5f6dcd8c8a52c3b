package store

import (
	"testing"
	"time"
)

// Hooks for the external tests (package store_test), which cannot import the
// conformance suite from inside package store without an import cycle.

// SetNow makes f the memory store's clock until t ends. Tests that call it must not
// run in parallel.
func SetNow(t testing.TB, f func() time.Time) {
	old := now
	now = f
	t.Cleanup(func() { now = old })
}

// SweepEvery is how often writes sweep expired entries.
const SweepEvery = sweepEvery

// Sizes returns how many records and users with grants m holds, expired or not.
func (m *Memory) Sizes() (records, users int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.records), len(m.grants)
}

// SetFilePath points m's file writes at path.
func (m *Memory) SetFilePath(path string) { m.file.path = path }

// RedisKey returns the Redis key of k.
func (r *Redis) RedisKey(k Key) string { return r.key(k) }

// CacheOn reports whether the Redis store answers Live from its cache.
func CacheOn(r *Redis) bool { return r.live.healthy.Load() }

// Cached reports whether a Live answer for user and ids is cached.
func Cached(r *Redis, user string, ids ...string) bool {
	q, ok := question(ids)
	return ok && r.live.hit(user, q, time.Now())
}

// SetCache turns answering from the cache off (flushed) or back on; the subscription
// itself is left as it is.
func SetCache(r *Redis, on bool) {
	if on {
		r.live.healthy.Store(true)
		return
	}
	r.live.flush(true)
}

// CacheFlushes returns how many times the Redis store's live cache was flushed.
func CacheFlushes(r *Redis) uint64 { return r.live.flushes.Load() }

// CacheUsers returns how many users have cached Live answers.
func CacheUsers(r *Redis) int { return r.live.size() }

// SetCacheMax bounds the users with cached Live answers to n.
func SetCacheMax(r *Redis, n int) {
	r.live.mu.Lock()
	r.live.max = n
	r.live.mu.Unlock()
}
