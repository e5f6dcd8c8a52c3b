package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
	. "github.com/caddy-stepup/stepup/store"
)

// waitCalls returns how many WAIT commands the server at addr has run.
func waitCalls(t testing.TB, addr string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_wait:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// TestRedisSecurityWritesWaitForReplica: with a replica online, each security write is
// on the replica when it returns, and counts only once the replica acknowledged it. A
// hung replica fails security writes closed within the wait, and nothing else; a
// replica that is gone stops the automatic wait but not a required one.
func TestRedisSecurityWritesWaitForReplica(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	c := redisClient(t, master.Addr())
	// Automatic: one replica while the master has one. The wait is longer than the
	// default so a busy test machine (the browser suite runs alongside) does not fail
	// an acknowledgement that is only slow; the hung replica below uses a short one.
	s, err := NewRedisWith(c, RedisOptions{Prefix: redistest.Prefix(t), Replicas: AutoReplicas, WaitTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteKeys(c, redistest.Prefix(t)); s.Close() })
	required, err := NewRedisWith(c, RedisOptions{Prefix: redistest.Prefix(t), Replicas: 1, WaitTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { required.Close() })
	onReplica := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { onReplica.Close() })
	ctx := context.Background()
	user := "alice"
	g := Grant{User: user, ID: "s1", Session: "s1", Expires: time.Now().Add(time.Hour)}

	// Security writes wait; tracking a grant does not.
	before := waitCalls(t, master.Addr())
	mustDo(t, s.Track(ctx, g))
	if n := waitCalls(t, master.Addr()); n != before {
		t.Fatalf("Track waited for replicas (%d WAITs)", n-before)
	}
	writes := map[string]func(context.Context, *Redis) error{
		"Put": func(ctx context.Context, s *Redis) error {
			return s.Put(ctx, UserKey(user, "totp"), []byte("sealed"), 0)
		},
		"PutNew": func(ctx context.Context, s *Redis) error {
			_, err := s.PutNew(ctx, UserKey(user, "lock"), []byte("1"), time.Minute)
			return err
		},
		"Take": func(ctx context.Context, s *Redis) error { _, err := s.Take(ctx, UserKey(user, "code")); return err },
		"Delete": func(ctx context.Context, s *Redis) error {
			return s.Delete(ctx, UserKey(user, "x"), ChallengeKey("c1", "x"))
		},
		"Incr": func(ctx context.Context, s *Redis) error {
			_, err := s.Incr(ctx, UserKey(user, "failures"), time.Minute)
			return err
		},
		"IncrNoWin": func(ctx context.Context, s *Redis) error { _, err := s.Incr(ctx, UserKey(user, "n"), 0); return err },
		"Advance": func(ctx context.Context, s *Redis) error {
			_, err := s.Advance(ctx, UserKey(user, "step"), time.Now().UnixNano())
			return err
		},
		"Revoke":     func(ctx context.Context, s *Redis) error { return s.Revoke(ctx, user, "other") },
		"RevokeUser": func(ctx context.Context, s *Redis) error { return s.RevokeUser(ctx, "bob") },
	}
	for name, w := range writes {
		before := waitCalls(t, master.Addr())
		if err := w(ctx, s); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v", name, err)
		}
		if n := waitCalls(t, master.Addr()) - before; n < 1 {
			t.Errorf("%s did not wait for the replica", name)
		}
	}
	if v, err := onReplica.Get(ctx, s.RedisKey(UserKey(user, "totp"))).Result(); err != nil || v != "sealed" {
		t.Fatalf("an acknowledged Put is not on the replica: %q %v", v, err)
	}

	// A hung replica: security writes fail closed within the wait, reads and grants go on.
	replica.Pause()
	for _, w := range []struct {
		st   *Redis
		wait time.Duration
	}{{s, 2 * time.Second}, {required, 200 * time.Millisecond}} {
		st := w.st
		start := time.Now()
		_, err := st.Advance(ctx, UserKey(user, "step"), time.Now().UnixNano())
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of 1 replicas") {
			t.Fatalf("a write no replica acknowledged = %v, want ErrUnavailable saying so", err)
		}
		// Within its own wait, plus slack for a busy machine.
		if d := time.Since(start); d > w.wait+time.Second {
			t.Errorf("the write took %v to fail (wait %v)", d, w.wait)
		}
	}
	if live, err := s.Live(ctx, user, "s1"); err != nil || !live {
		t.Fatalf("Live while the replica hangs: %v %v", live, err)
	}
	mustDo(t, s.Track(ctx, Grant{User: user, ID: "s2", Session: "s2", Expires: time.Now().Add(time.Hour)}))
	replica.Resume()
	mustDo(t, required.Put(ctx, UserKey(user, "totp"), []byte("again"), 0))

	// The replica gone: the automatic wait stops (the master has no replica to lose a
	// write to), a required one fails closed.
	replica.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for s.Put(ctx, UserKey(user, "totp"), []byte("alone"), 0) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the automatic wait did not notice the replica was gone")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := required.Put(ctx, UserKey(user, "totp"), []byte("alone"), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a required replica gone: %v, want ErrUnavailable", err)
	}
}

// TestRedisNeverWaits: with Replicas 0 no write waits, replica or not.
func TestRedisNeverWaits(t *testing.T) {
	master := redistest.Start(t)
	redistest.StartReplica(t, master)
	c := redisClient(t, master.Addr())
	s, err := NewRedisWith(c, RedisOptions{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	before := waitCalls(t, master.Addr())
	mustDo(t, s.Put(ctx, UserKey("a", "b"), []byte("v"), 0))
	mustDo(t, s.Revoke(ctx, "a", "x"))
	if n := waitCalls(t, master.Addr()) - before; n != 0 {
		t.Fatalf("%d WAITs with replicas 0", n)
	}
}

func TestRedisOptionsChecked(t *testing.T) {
	c, err := ParseRedisURL("redis://127.0.0.1:1?read_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, o := range []RedisOptions{
		{Replicas: -2},
		{Replicas: 1, WaitTimeout: -time.Second},
		{Replicas: 1, WaitTimeout: time.Second}, // not shorter than the read timeout
	} {
		if s, err := NewRedisWith(c, o); err == nil {
			s.Close()
			t.Errorf("NewRedisWith(%+v) accepted", o)
		}
	}
}

// BenchmarkRedisSecurityWrite measures what waiting for a replica costs a security
// write: Advance (the TOTP replay guard, one script) and Revoke (a script that also
// publishes), on a master with one replica on loopback, never waiting and waiting for
// the replica, one writer at a time and many at once.
func BenchmarkRedisSecurityWrite(b *testing.B) {
	master := redistest.Start(b)
	redistest.StartReplica(b, master)
	c := redisClient(b, master.Addr())
	ctx := context.Background()
	for _, mode := range []struct {
		name     string
		replicas int
	}{{"no-wait", 0}, {"wait-1", 1}} {
		s, err := NewRedisWith(c, RedisOptions{Prefix: redistest.Prefix(b), Replicas: mode.replicas})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		b.Run("Advance/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			n := int64(0)
			for b.Loop() {
				n++
				if _, err := s.Advance(ctx, UserKey("alice", "step"), n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Advance/"+mode.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var next atomicCounter
			b.RunParallel(func(pb *testing.PB) {
				user := "u" + strconv.FormatInt(next.add(), 10)
				n := int64(0)
				for pb.Next() {
					n++
					if _, err := s.Advance(ctx, UserKey(user, "step"), n); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("Revoke/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Revoke(ctx, "alice", "sid"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add() int64 { return c.n.Add(1) }
