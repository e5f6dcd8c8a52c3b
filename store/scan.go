package store

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// A Scanner walks a store's records, for maintenance that must reach every record of
// a kind: re-sealing every sealed secret with a new encryption key. Memory and Redis
// implement it.
type Scanner interface {
	// Scan calls fn with the key of every record named name whose scope starts with
	// scopePrefix ("u:" for every user's), one call at a time, and stops at the first
	// error fn returns. It is safe while the store is in use: a record that exists
	// for the whole scan is visited at least once (Redis may visit one twice), one
	// added or removed meanwhile may or may not be.
	Scan(ctx context.Context, scopePrefix, name string, fn func(Key) error) error
}

// A Swapper replaces a record only if it still holds what the caller read, so a
// rewrite never undoes a change made in between (an unbinding, say).
type Swapper interface {
	// Swap stores value at key if the record there holds old, keeping the record's
	// expiry, and reports whether it did; a missing record is not swapped.
	Swap(ctx context.Context, key Key, old, value []byte) (bool, error)
}

var (
	_ Scanner = (*Memory)(nil)
	_ Swapper = (*Memory)(nil)
	_ Scanner = (*Redis)(nil)
	_ Swapper = (*Redis)(nil)
)

// Scan calls fn with the key of every live record named name in a scope starting with
// scopePrefix, in key order. The keys are listed first, so fn may use the store.
func (m *Memory) Scan(ctx context.Context, scopePrefix, name string, fn func(Key) error) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return errClosed
	}
	t := now()
	var keys []Key
	for k, r := range m.records {
		if k.Name == name && strings.HasPrefix(k.Scope, scopePrefix) && r.live(t) {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(keys, func(a, b Key) int {
		if c := strings.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return unavailable(err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// Swap stores value at key if the live record there holds old, keeping its expiry.
func (m *Memory) Swap(_ context.Context, key Key, old, value []byte) (bool, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, errClosed
	}
	t := m.writeClock()
	r, ok := m.records[key]
	if !ok || !r.live(t) || !bytes.Equal(r.value, old) {
		m.mu.Unlock()
		return false, nil
	}
	m.records[key] = record{value: cloneValue(value), expires: r.expires}
	change := m.durableChange(r.durable())
	m.mu.Unlock()
	return true, m.save(change)
}

// scanCount is the COUNT hint of each SCAN: how many keys Redis looks at per call.
const scanCount = 1000

// Scan calls fn with the key of every record named name in a scope starting with
// scopePrefix, SCANning for this store's prefix: on every master of a Redis Cluster
// (ForEachMaster), else on the one server (a single node, or the master a Sentinel
// names). fn is called one key at a time, even while several masters are scanned at
// once.
func (r *Redis) Scan(ctx context.Context, scopePrefix, name string, fn func(Key) error) error {
	if err := r.check(); err != nil {
		return err
	}
	pattern := globEscape(r.prefix) + "{" + globEscape(escapeScope(scopePrefix)) + "*}:" + globEscape(name)
	var mu sync.Mutex
	var fnErr error
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, scanCount).Iterator()
		for it.Next(ctx) {
			k, ok := r.parseKey(it.Val())
			if !ok || k.Name != name || !strings.HasPrefix(k.Scope, scopePrefix) {
				continue
			}
			mu.Lock()
			if fnErr == nil {
				fnErr = fn(k)
			}
			stop := fnErr != nil
			mu.Unlock()
			if stop {
				return nil
			}
		}
		if err := it.Err(); err != nil {
			return unavailable(err)
		}
		return nil
	}
	var err error
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, r.c)
	}
	if fnErr != nil {
		return fnErr
	}
	return err
}

// swapScript sets KEYS[1] to ARGV[2] if it holds ARGV[1], keeping its expiry.
var swapScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
`)

// Swap stores value at key if the record there holds old, keeping its expiry, in one
// atomic script.
func (r *Redis) Swap(ctx context.Context, key Key, old, value []byte) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	n, err := swapScript.Run(ctx, r.c, []string{r.key(key)}, old, value).Int64()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// parseKey reads a Redis key of this store back into a Key: prefix, "{", the escaped
// scope (which holds no "}"), "}:", the name.
func (r *Redis) parseKey(k string) (Key, bool) {
	rest, ok := strings.CutPrefix(k, r.prefix+"{")
	if !ok {
		return Key{}, false
	}
	scope, name, ok := strings.Cut(rest, "}:")
	if !ok || strings.ContainsAny(scope, "{}") {
		return Key{}, false
	}
	return Key{Scope: scopeUnescaper.Replace(scope), Name: name}, true
}

var scopeUnescaper = strings.NewReplacer("%25", "%", "%7B", "{", "%7D", "}")

// globEscape makes s match itself in a Redis glob pattern.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, c := range []byte(s) {
		if strings.IndexByte(`*?[]\`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
