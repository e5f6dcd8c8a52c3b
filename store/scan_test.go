package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
	. "github.com/caddy-stepup/stepup/store"
)

// scanSwapStore is a store that can be scanned and swapped, as the reseal command
// needs.
type scanSwapStore interface {
	Store
	Scanner
	Swapper
}

// testScanSwap: Scan finds every record of one name in a scope family and nothing
// else, with scopes that need escaping; Swap replaces only what it read, keeping the
// expiry.
func testScanSwap(t *testing.T, s scanSwapStore, other Store) {
	ctx := context.Background()
	users := []string{"alice", "bo}b{%", "carol", "dave*", "[eve]"}
	for _, u := range users {
		if err := s.Put(ctx, UserKey(u, "factors"), []byte("f:"+u), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []Key{UserKey("alice", "factors-old"), UserKey("alice", "totp"), ChallengeKey("c1", "factors"), {Scope: "ux:frank", Name: "factors"}} {
		if err := s.Put(ctx, k, []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if other != nil { // another store's records, under a prefix the first's glob would match unescaped
		if err := other.Put(ctx, UserKey("mallory", "factors"), []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	err := s.Scan(ctx, "u:", "factors", func(k Key) error {
		if k.Name != "factors" {
			t.Errorf("scan gave %+v", k)
		}
		if !slices.Contains(seen, k.Scope) { // Redis may give a key twice
			seen = append(seen, k.Scope)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	want := []string{"u:[eve]", "u:alice", "u:bo}b{%", "u:carol", "u:dave*"}
	if !slices.Equal(seen, want) {
		t.Errorf("scan found %q, want %q", seen, want)
	}
	// Every key found reads back.
	for _, u := range users {
		if v, err := s.Get(ctx, UserKey(u, "factors")); err != nil || string(v) != "f:"+u {
			t.Errorf("%s: %q %v", u, v, err)
		}
	}
	// fn's error stops the scan and is returned.
	stop := errors.New("stop")
	calls := 0
	if err := s.Scan(ctx, "u:", "factors", func(Key) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("a stopping fn: %v after %d calls", err, calls)
	}

	// Swap: only from what is there, keeping the expiry.
	k := ChallengeKey("c1", "factors")
	if ok, err := s.Swap(ctx, k, []byte("y"), []byte("z")); err != nil || ok {
		t.Fatalf("swap from a value not there: %v %v", ok, err)
	}
	if ok, err := s.Swap(ctx, k, []byte("x"), []byte("z")); err != nil || !ok {
		t.Fatalf("swap: %v %v", ok, err)
	}
	if v, _ := s.Get(ctx, k); string(v) != "z" {
		t.Errorf("after swap: %q", v)
	}
	if ok, _ := s.Swap(ctx, ChallengeKey("c9", "none"), nil, []byte("z")); ok {
		t.Error("swapped a missing record")
	}
	if ok, _ := s.Swap(ctx, ChallengeKey("c9", "none"), []byte{}, []byte("z")); ok {
		t.Error("swapped a missing record for an empty one")
	}
	if _, err := s.Get(ctx, ChallengeKey("c9", "none")); !errors.Is(err, ErrNotFound) {
		t.Error("a failed swap created a record")
	}
	// The durable record stays durable, the expiring one expiring: PutNew over the
	// expiring one fails now, and the durable one is still there.
	if ok, err := s.Swap(ctx, UserKey("alice", "factors"), []byte("f:alice"), []byte("g:alice")); err != nil || !ok {
		t.Fatalf("swap of a durable record: %v %v", ok, err)
	}
	if v, _ := s.Get(ctx, UserKey("alice", "factors")); string(v) != "g:alice" {
		t.Errorf("durable after swap: %q", v)
	}
}

func TestMemoryScanSwap(t *testing.T) {
	m, err := NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	testScanSwap(t, m, nil)
}

// The memory store writes a swapped durable record to its file.
func TestMemorySwapIsDurable(t *testing.T) {
	path := t.TempDir() + "/state.json"
	m, err := NewMemory(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Put(ctx, UserKey("alice", "factors"), []byte("old"), 0)
	if ok, err := m.Swap(ctx, UserKey("alice", "factors"), []byte("old"), []byte("new")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	m.Close()
	again, err := NewMemory(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if v, _ := again.Get(ctx, UserKey("alice", "factors")); string(v) != "new" {
		t.Errorf("after a restart: %q", v)
	}
}

// redisPair returns two stores on c whose prefixes a glob would confuse (the first
// ends in "*"), and deletes their keys when t ends.
func redisPair(t *testing.T, c redis.UniversalClient) (*Redis, *Redis) {
	base := redistest.Prefix(t)
	t.Cleanup(func() {
		ctx := context.Background()
		del := func(c *redis.Client) error {
			iter := c.Scan(ctx, 0, base+"*", 100).Iterator()
			for iter.Next(ctx) {
				c.Unlink(ctx, iter.Val())
			}
			return nil
		}
		if cc, ok := c.(*redis.ClusterClient); ok {
			cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error { return del(c) })
		} else {
			del(c.(*redis.Client))
		}
	})
	a, b := NewRedis(c, base+"x*"), NewRedis(c, base+"xy")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRedisScanSwap(t *testing.T) {
	c := redisClient(t, redistest.Addr(t))
	a, b := redisPair(t, c)
	testScanSwap(t, a, b)
}

// TestRedisClusterScan scans a Redis Cluster through a cluster client: every master
// is scanned, and the expiry of a swapped record is kept.
func TestRedisClusterScan(t *testing.T) {
	srv := redistest.StartCluster(t)
	c, err := ParseRedisURL("redis+cluster://" + srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, b := redisPair(t, c)
	testScanSwap(t, a, b)

	// Many records over many slots: each found once or more, none missed.
	ctx := context.Background()
	for i := range 300 {
		if err := a.Put(ctx, UserKey(fmt.Sprintf("user%03d", i), "bulk"), []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	found := map[string]bool{}
	if err := a.Scan(ctx, "u:user", "bulk", func(k Key) error { found[k.Scope] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(found) != 300 {
		t.Errorf("found %d of 300", len(found))
	}
	if ok, err := a.Swap(ctx, UserKey("user007", "bulk"), []byte("v"), []byte("w")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ttl, err := c.PTTL(ctx, keyOf(t, c, "user007")).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("the swapped record's expiry: %v %v", ttl, err)
	}
}

// keyOf finds the Redis key of user's "bulk" record.
func keyOf(t *testing.T, c redis.UniversalClient, user string) string {
	t.Helper()
	var key string
	cc := c.(*redis.ClusterClient)
	cc.ForEachMaster(context.Background(), func(ctx context.Context, n *redis.Client) error {
		keys, _, err := n.Scan(ctx, 0, "*{u:"+user+"}:bulk", 1000).Result()
		if err == nil && len(keys) > 0 {
			key = keys[0]
		}
		return err
	})
	if key == "" {
		t.Fatal("no key for " + user)
	}
	return key
}
