package store

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// indexScope is the memory store's scope of the user index: one record per user.
const indexScope = "ix"

// usersShard is the shard of the Redis user index a name belongs to: its first two
// bytes. Names sort by shard first, so paging walks the shards in order.
func usersShard(user string) string {
	if len(user) > 2 {
		return user[:2]
	}
	return user
}

// Append adds value at the front of the list at key and keeps the newest keep.
func (m *Memory) Append(_ context.Context, key Key, value []byte, keep int) error {
	if keep <= 0 {
		return invalid("keep must be positive")
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	var list [][]byte
	if r, ok := m.records[key]; ok && r.live(m.writeClock()) {
		if err := json.Unmarshal(r.value, &list); err != nil {
			m.mu.Unlock()
			return invalid("append to a record that is not a list")
		}
	}
	list = append([][]byte{cloneValue(value)}, list...)
	if len(list) > keep {
		list = list[:keep]
	}
	b, _ := json.Marshal(list)
	m.records[key] = record{value: b}
	change := m.durableChange(true)
	m.mu.Unlock()
	return m.save(change)
}

// Recent returns up to n entries of the list at key, newest first.
func (m *Memory) Recent(_ context.Context, key Key, n int) ([][]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	r, ok := m.records[key]
	if !ok {
		return nil, nil
	}
	var list [][]byte
	if err := json.Unmarshal(r.value, &list); err != nil {
		return nil, invalid("recent of a record that is not a list")
	}
	return list[:min(n, len(list))], nil
}

// AddUser records user in the index.
func (m *Memory) AddUser(_ context.Context, user string) error {
	if user == "" {
		return invalid("empty user")
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	key := Key{Scope: indexScope, Name: user}
	if _, ok := m.records[key]; ok {
		m.mu.Unlock()
		return nil
	}
	m.records[key] = record{value: []byte{}}
	change := m.durableChange(true)
	m.mu.Unlock()
	return m.save(change)
}

// Users returns a page of the index. It sorts every name on each call: the memory
// store serves one instance, not millions of users.
func (m *Memory) Users(_ context.Context, prefix, after string, limit int) ([]string, error) {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, errClosed
	}
	var names []string
	for k := range m.records {
		if k.Scope == indexScope && strings.HasPrefix(k.Name, prefix) && k.Name > after {
			names = append(names, k.Name)
		}
	}
	m.mu.RUnlock()
	sort.Strings(names)
	return names[:min(limit, len(names))], nil
}

// Append adds value at the front of the list at key and keeps the newest keep, in
// one MULTI.
func (r *Redis) Append(ctx context.Context, key Key, value []byte, keep int) error {
	if err := r.check(); err != nil {
		return err
	}
	if keep <= 0 {
		return invalid("keep must be positive")
	}
	k := r.key(key)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, k, value)
		p.LTrim(ctx, k, 0, int64(keep-1))
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Recent returns up to n entries of the list at key, newest first.
func (r *Redis) Recent(ctx context.Context, key Key, n int) ([][]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	vals, err := r.c.LRange(ctx, r.key(key), 0, int64(n-1)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// shardsKey is the set of the index's shards; usersKey one shard's sorted set.
func (r *Redis) shardsKey() string { return r.key(Key{Scope: indexScope, Name: "shards"}) }
func (r *Redis) usersKey(shard string) string {
	return r.key(Key{Scope: indexScope + ":" + shard, Name: "users"})
}

// AddUser records user in its shard of the index (a sorted set of names), and a new
// shard in the set of shards.
func (r *Redis) AddUser(ctx context.Context, user string) error {
	if err := r.check(); err != nil {
		return err
	}
	if user == "" {
		return invalid("empty user")
	}
	shard := usersShard(user)
	added, err := r.c.ZAddNX(ctx, r.usersKey(shard), redis.Z{Member: user}).Result()
	if err != nil {
		return unavailable(err)
	}
	if added == 0 {
		return nil // the shard is known: it was added with the shard's first user
	}
	if err := r.c.SAdd(ctx, r.shardsKey(), shard).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Users walks the shards that can hold names with prefix, in order, with a ZRANGE
// BYLEX in each, until it has limit names.
func (r *Redis) Users(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	shards, err := r.c.SMembers(ctx, r.shardsKey()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Strings(shards)
	lo := "[" + prefix
	if after >= prefix {
		lo = "(" + after
	}
	hi := "+"
	if prefix != "" {
		hi = "[" + prefix + "\xff"
	}
	var out []string
	for _, s := range shards {
		if len(out) >= limit {
			break
		}
		if !strings.HasPrefix(s, prefix) && !strings.HasPrefix(prefix, s) {
			continue
		}
		if after != "" && s < after && !strings.HasPrefix(after, s) {
			continue // every name of this shard sorts before after
		}
		names, err := r.c.ZRangeByLex(ctx, r.usersKey(s), &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit - len(out))}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		out = append(out, names...)
	}
	return slices.Clip(out), nil
}
