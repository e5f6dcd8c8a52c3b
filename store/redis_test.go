package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
	. "github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/store/storetest"
)

// redisClient returns a client for a test server, closed when t ends, made the way the
// gateway makes it.
func redisClient(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	c, err := ParseRedisURL("redis://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newRedis returns a store on c under a fresh prefix whose keys are deleted when t
// ends, so a shared server does not collect them.
func newRedis(t testing.TB, c redis.UniversalClient) *Redis {
	t.Helper()
	prefix := redistest.Prefix(t)
	t.Cleanup(func() { deleteKeys(c, prefix) })
	// A replica's acknowledgement may be slow while the browser suite shares the
	// machine: a longer wait than the default, so slow is not taken for missing.
	r, err := NewRedisWith(c, RedisOptions{Prefix: prefix, Replicas: AutoReplicas, WaitTimeout: testWaitTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testWaitTimeout is the tests' wait for a replica's acknowledgement: under the
// clients' 3 s read timeout.
const testWaitTimeout = 2 * time.Second

// deleteKeys removes the keys that start with prefix, from every master of a cluster.
func deleteKeys(c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Unlink(ctx, iter.Val())
		}
		return nil
	}
	switch c := c.(type) {
	case *redis.ClusterClient:
		_ = c.ForEachMaster(ctx, del)
	case *redis.Client:
		_ = del(ctx, c)
	}
}

func TestRedisConformance(t *testing.T) {
	c := redisClient(t, redistest.Addr(t))
	storetest.Run(t, func(t *testing.T) Store { return newRedis(t, c) }, storetest.RealClock{})
}

// TestRedisClusterConformance runs the suite on a Redis Cluster of three masters and
// three replicas (the test script's, shared) through a cluster client: a command whose
// keys span hash slots fails there, and every security write waits for a replica.
func TestRedisClusterConformance(t *testing.T) {
	addrs := redistest.ClusterAddrs(t)
	c, err := ParseRedisURL(redistest.ClusterURL(addrs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waits := func() (n int) {
		for _, a := range addrs {
			n += waitCalls(t, a)
		}
		return n
	}
	before := waits()
	storetest.Run(t, func(t *testing.T) Store { return newRedis(t, c) }, storetest.RealClock{})
	if waits() == before {
		t.Error("no security write waited for a replica")
	}
}

// TestRedisOutage stops Redis under a working store: every method must fail with
// ErrUnavailable (so the gateway fails closed), and work again once Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := NewRedis(redisClient(t, srv.Addr()), redistest.Prefix(t))
	ctx := context.Background()
	user, key := "alice", UserKey("alice", "totp")
	g := Grant{User: user, ID: "s1", Session: "s1", Expires: time.Now().Add(time.Hour)}

	calls := map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error { _, err := s.Get(ctx, key); return err },
		"Put": func(ctx context.Context) error { return s.Put(ctx, key, []byte("v"), 0) },
		"PutNew": func(ctx context.Context) error {
			_, err := s.PutNew(ctx, UserKey(user, "once"), []byte("v"), time.Minute)
			return err
		},
		"Take":       func(ctx context.Context) error { _, err := s.Take(ctx, UserKey(user, "taken")); return err },
		"Delete":     func(ctx context.Context) error { return s.Delete(ctx, UserKey(user, "x"), ChallengeKey("c", "x")) },
		"Incr":       func(ctx context.Context) error { _, err := s.Incr(ctx, UserKey(user, "n"), time.Minute); return err },
		"IncrNoWin":  func(ctx context.Context) error { _, err := s.Incr(ctx, UserKey(user, "m"), 0); return err },
		"Advance":    func(ctx context.Context) error { _, err := s.Advance(ctx, UserKey(user, "step"), 1); return err },
		"Track":      func(ctx context.Context) error { return s.Track(ctx, g) },
		"Live":       func(ctx context.Context) error { _, err := s.Live(ctx, user, "s1"); return err },
		"Revoke":     func(ctx context.Context) error { return s.Revoke(ctx, user, "other") },
		"RevokeUser": func(ctx context.Context) error { return s.RevokeUser(ctx, "bob") },
		"Grants":     func(ctx context.Context) error { _, err := s.Grants(ctx, user); return err },
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range calls {
			if !yield(n) {
				return
			}
		}
	})
	// Get and Take find the record Put wrote before the outage.
	put := func() {
		t.Helper()
		if err := s.Put(ctx, key, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, UserKey(user, "taken"), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	put()

	srv.Stop()
	for _, name := range names {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		err := calls[name](ctx)
		cancel()
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
			t.Errorf("%s during the outage = %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v to fail; an outage must fail fast", name, d)
		}
	}

	srv.Restart() // empty: the outage lost everything, as a restarted cache would
	// The client's pool may wait up to a second before it dials again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Put(ctx, key, []byte("v"), 0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	put()
	for _, name := range names {
		if err := calls[name](ctx); err != nil {
			t.Errorf("%s after the outage: %v", name, err)
		}
	}
}

// TestRedisKeyLayout exercises every method for users whose names contain the hash
// tag's characters, then checks on the server that each user's keys carry the user's
// tag and so share one Cluster hash slot.
func TestRedisKeyLayout(t *testing.T) {
	c := redisClient(t, redistest.Addr(t))
	s := newRedis(t, c)
	prefix := strings.TrimSuffix(s.RedisKey(Key{}), "{}:")
	ctx := context.Background()

	users := []string{"alice", "al}ice", "{alice}", "a:l%ice"}
	wantTag := map[string]string{
		"alice": "u:alice", "al}ice": "u:al%7Dice", "{alice}": "u:%7Balice%7D", "a:l%ice": "u:a:l%25ice",
	}
	for _, u := range users {
		k := func(name string) Key { return UserKey(u, name) }
		mustDo(t, s.Put(ctx, k("totp"), []byte("v"), 0))
		_, err := s.PutNew(ctx, k("resend"), []byte("v"), time.Minute)
		mustDo(t, err)
		_, err = s.Incr(ctx, k("attempts"), time.Minute)
		mustDo(t, err)
		_, err = s.Incr(ctx, k("failures"), 0)
		mustDo(t, err)
		_, err = s.Advance(ctx, k("step"), 1)
		mustDo(t, err)
		for _, id := range []string{"s1", "t:1", "t}2"} {
			mustDo(t, s.Track(ctx, Grant{User: u, ID: id, Session: "s1", Expires: time.Now().Add(time.Minute)}))
		}
		mustDo(t, s.Revoke(ctx, u, "t:1"))
		_, err = s.Grants(ctx, u)
		mustDo(t, err)
	}

	keys, err := c.Keys(ctx, prefix+"*").Result() // fine on a test server's few keys
	mustDo(t, err)
	byUser := map[string][]string{}
	for _, key := range keys {
		tag := hashTag(key)
		for u, want := range wantTag {
			if tag == want {
				byUser[u] = append(byUser[u], key)
			}
		}
		if !strings.HasPrefix(key, prefix+"{") {
			t.Errorf("key %q does not start with the prefix and a hash tag", key)
		}
	}
	for _, u := range users {
		// totp, resend, attempts, failures, step, two grants, the grant set
		if got := len(byUser[u]); got != 8 {
			t.Errorf("user %q: %d keys carry its tag %q, want 8; all keys: %q", u, got, wantTag[u], keys)
		}
		slot := -1
		for _, key := range byUser[u] {
			if s := keySlot(key); slot == -1 {
				slot = s
			} else if s != slot {
				t.Errorf("user %q: key %q is in slot %d, others in %d", u, key, s, slot)
			}
		}
	}
	if n := len(byUser["alice"]) + len(byUser["al}ice"]) + len(byUser["{alice}"]) + len(byUser["a:l%ice"]); n != len(keys) {
		t.Errorf("%d keys carry no user's tag: %q", len(keys)-n, keys)
	}

	// A prefix cannot capture the hash tag.
	braced := NewRedis(c, "app{x}:")
	if got := braced.RedisKey(UserKey("alice", "totp")); hashTag(got) != "u:alice" {
		t.Errorf("with prefix \"app{x}:\" the key is %q, whose hash tag is %q", got, hashTag(got))
	}
}

// hashTag returns the part of key Redis Cluster hashes: the text between the first "{"
// and the next "}", if not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// keySlot is Redis Cluster's HASH_SLOT: CRC16-XMODEM of the hash tag, mod 16384.
func keySlot(key string) int {
	var crc uint16
	for _, b := range []byte(hashTag(key)) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestKeySlot(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{"123456789": 0x31C3, "foo": 12182, "{user1000}.following": 3443, "{user1000}.followers": 3443} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRedisCloseKeepsClient checks that Close leaves the shared client usable.
func TestRedisCloseKeepsClient(t *testing.T) {
	c := redisClient(t, redistest.Addr(t))
	s := newRedis(t, c)
	mustDo(t, s.Close())
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("client unusable after the store's Close: %v", err)
	}
	next := newRedis(t, c)
	mustDo(t, next.Put(context.Background(), UserKey("a", "b"), []byte("v"), 0))
}

func TestParseRedisURL(t *testing.T) {
	good := map[string]string{
		"redis://127.0.0.1:6379/0":                                          "*redis.Client",
		"rediss://user:secret@example.com:6380/2?dial_timeout=2s":           "*redis.Client",
		"unix:///run/redis.sock?db=1":                                       "*redis.Client",
		"redis://h:1?dialer_retries=3&context_timeout_enabled=false":        "*redis.Client",
		"redis+sentinel://s1:26379?master_name=main&addr=s2:26379":          "*redis.Client",
		"rediss+sentinel://s1:26379/1?master_name=main&password=x":          "*redis.Client",
		"redis+cluster://n1:7000?addr=n2:7000&addr=n3:7000":                 "*redis.ClusterClient",
		"rediss+cluster://user:secret@n1:7000?dialer_retries=2":             "*redis.ClusterClient",
		"redis+cluster://n1:7000?context_timeout_enabled=true&addr=n2:7000": "*redis.ClusterClient",
	}
	for raw, want := range good {
		c, err := ParseRedisURL(raw)
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", raw, err)
			continue
		}
		if got := typeName(c); got != want {
			t.Errorf("ParseRedisURL(%q) is a %s, want %s", raw, got, want)
		}
		c.Close()
	}

	bad := []string{
		"http://h:1",
		"redis+sentinel://s1:26379",           // no master_name
		"redis://h:1?bogus=1",                 // unknown option
		"redis://h:1?dialer_retries=0",        // not positive
		"redis://h:1?pool_size=9999999999999", // overflows int32: go-redis panics
		"redis://user:hunter2@h:port",         // bad port
		"redis://user:hunter2@h:1\x7f",        // control character
		"redis+cluster://user:hunter2@h:1?addr=nope",
		"unix+cluster:///x",
	}
	for _, raw := range bad {
		c, err := ParseRedisURL(raw)
		if err == nil {
			c.Close()
			t.Errorf("ParseRedisURL(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseRedisURL(%q) error reveals the password: %v", raw, err)
		}
	}
	// A password with an unencoded # is misread as the host: no part of it shows.
	for _, raw := range []string{"redis://:s3cr#et@h:6379", "redis://u:s3cr/et@h:6379", "redis://u:s3cr?et@h:6379"} {
		if c, err := ParseRedisURL(raw); err == nil {
			c.Close()
		} else if strings.Contains(err.Error(), "s3cr") {
			t.Errorf("ParseRedisURL(%q) error shows part of the password: %v", raw, err)
		}
	}
}

func typeName(c redis.UniversalClient) string {
	switch c.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}

func BenchmarkRedisLive(b *testing.B) {
	c := redisClient(b, redistest.Addr(b))
	s := newRedis(b, c)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for _, g := range []Grant{
		{User: "alice", ID: "sid", Session: "sid", Expires: exp},
		{User: "alice", ID: "jti", Session: "sid", Expires: exp},
	} {
		if err := s.Track(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	var st Store = s
	// uncached: the round trip every answer costs when the cache is off (the
	// revocation subscription down) or cold.
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			SetCache(s, false)
			if ok, err := st.Live(ctx, "alice", "sid", "jti"); !ok || err != nil {
				b.Fatal("not live", err)
			}
		}
	})
	// uncached-parallel: the same from many goroutines, as under load; on a machine
	// shared with redis-server it measures client and server CPU together.
	b.Run("uncached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		SetCache(s, false)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := st.Live(ctx, "alice", "sid", "jti"); !ok || err != nil {
					b.Error("not live", err)
					return
				}
			}
		})
	})
	SetCache(s, true)
	// serial and parallel: the hot path, answered from the cache.
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := st.Live(ctx, "alice", "sid", "jti"); !ok || err != nil {
				b.Fatal("not live", err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := st.Live(ctx, "alice", "sid", "jti"); !ok || err != nil {
					b.Fatal("not live", err)
				}
			}
		})
	})
}
