package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/store/storetest"
)

// fakeClock is a stopped clock that moves only when told, installed as the memory
// store's clock for one test. Tests that use it must not run in parallel.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func useFakeClock(t testing.TB) *fakeClock {
	c := &fakeClock{t: time.Now()}
	SetNow(t, c.Now)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryConformance(t *testing.T) {
	clock := useFakeClock(t)
	storetest.Run(t, func(t *testing.T) Store {
		m, err := NewMemory("")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, clock)
}

// The suite again, with every durable change also written to a file.
func TestMemoryWithFileConformance(t *testing.T) {
	clock := useFakeClock(t)
	storetest.Run(t, func(t *testing.T) Store {
		m, err := NewMemory(filepath.Join(t.TempDir(), "store.json"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, clock)
}

func TestMemoryFilePersistence(t *testing.T) {
	clock := useFakeClock(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state", "store.json") // the directory is created
	m, err := NewMemory(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file exists before any durable change: %v", err)
	}

	k := func(name string) Key { return UserKey("alice}", name) }
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(m.Put(ctx, k("totp"), []byte{0, 1, 2, 255}, 0))
	check(m.Put(ctx, k("empty"), nil, 0))
	check(m.Put(ctx, k("gone"), []byte("deleted later"), 0))
	check(m.Put(ctx, k("taken"), []byte("taken later"), 0))
	check(m.Put(ctx, k("challenge"), []byte("short"), time.Minute))
	_, err = m.Advance(ctx, k("step"), 1<<62+1)
	check(err)
	_, err = m.Incr(ctx, k("durable-count"), 0)
	check(err)
	_, err = m.Incr(ctx, k("attempts"), time.Minute)
	check(err)
	check(m.Track(ctx, Grant{User: "alice}", ID: "s1", Session: "s1", Expires: clock.Now().Add(time.Hour)}))
	check(m.Delete(ctx, k("gone")))
	_, err = m.Take(ctx, k("taken"))
	check(err)
	check(m.Close())

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("file mode %v, want 0600", perm)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the store file (no temporary files left)", len(entries))
	}

	m, err = NewMemory(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := map[string]string{"totp": "\x00\x01\x02\xff", "empty": "", "step": "4611686018427387905", "durable-count": "1"}
	for name, v := range want {
		got, err := m.Get(ctx, k(name))
		if err != nil || string(got) != v {
			t.Errorf("after reopen Get(%s) = %q, %v; want %q", name, got, err, v)
		}
	}
	for _, name := range []string{"gone", "taken", "challenge", "attempts"} {
		if _, err := m.Get(ctx, k(name)); !errors.Is(err, ErrNotFound) {
			t.Errorf("after reopen Get(%s) = %v, want ErrNotFound (not durable)", name, err)
		}
	}
	if live, _ := m.Live(ctx, "alice}", "s1"); live {
		t.Error("a grant survived the reopen; grants are not durable")
	}
	// The replay guard still refuses the step it accepted before the restart.
	if ok, err := m.Advance(ctx, k("step"), 1<<62+1); err != nil || ok {
		t.Errorf("Advance to the persisted step after reopen = %v, %v; want false", ok, err)
	}
}

func TestMemoryFileShortLivedOverwritesDurable(t *testing.T) {
	useFakeClock(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.json")
	m, err := NewMemory(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, UserKey("a", "x"), []byte("durable"), 0); err != nil {
		t.Fatal(err)
	}
	// Replacing a durable record with a short-lived one removes it from the file.
	if err := m.Put(ctx, UserKey("a", "x"), []byte("short"), time.Minute); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m, err = NewMemory(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Get(ctx, UserKey("a", "x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

func TestMemoryFileDamaged(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage":     "not json",
		"old version": `{"version":99,"records":[]}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewMemory(path); err == nil {
			t.Errorf("%s: NewMemory succeeded on a damaged file", name)
		}
	}
	// A path that cannot be read (a directory) is an error too.
	if _, err := NewMemory(dir); err == nil {
		t.Error("NewMemory succeeded on a directory")
	}
}

func TestMemoryFileWriteFails(t *testing.T) {
	useFakeClock(t)
	ctx := context.Background()
	dir := t.TempDir()
	m, err := NewMemory(filepath.Join(dir, "store.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Make the directory unwritable; root ignores permissions, so use a path whose
	// parent is a regular file instead.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m.SetFilePath(filepath.Join(blocker, "store.json"))
	err = m.Put(ctx, UserKey("a", "totp"), []byte("v"), 0)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put with an unwritable file = %v, want ErrUnavailable", err)
	}
	// Short-lived records never touch the file.
	if err := m.Put(ctx, UserKey("a", "c"), []byte("v"), time.Minute); err != nil {
		t.Fatalf("short-lived Put touched the file: %v", err)
	}
}

func TestMemorySweep(t *testing.T) {
	clock := useFakeClock(t)
	ctx := context.Background()
	m, _ := NewMemory("")
	defer m.Close()
	for i := range 100 {
		m.Put(ctx, ChallengeKey(string(rune('a'+i%26))+string(rune(i)), "held"), []byte("v"), time.Second)
		m.Track(ctx, Grant{User: string(rune(i)), ID: "s", Session: "s", Expires: clock.Now().Add(time.Second)})
	}
	m.Put(ctx, UserKey("a", "totp"), []byte("v"), 0)
	clock.Advance(SweepEvery)
	m.Put(ctx, UserKey("a", "other"), []byte("v"), 0) // a write triggers the sweep
	if records, users := m.Sizes(); records != 2 || users != 0 {
		t.Fatalf("after the sweep %d records and %d users with grants remain, want 2 and 0", records, users)
	}
}

func BenchmarkMemoryLive(b *testing.B) {
	clock := useFakeClock(b)
	ctx := context.Background()
	m, _ := NewMemory("")
	defer m.Close()
	exp := clock.Now().Add(time.Hour)
	for i := range 1000 { // other users, so the maps are not trivially small
		m.Track(ctx, Grant{User: "user" + string(rune(i)), ID: "s", Session: "s", Expires: exp})
	}
	m.Track(ctx, Grant{User: "alice", ID: "sid", Session: "sid", Expires: exp})
	m.Track(ctx, Grant{User: "alice", ID: "jti", Session: "sid", Expires: exp})
	var s Store = m // called through the interface, as the handler does
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := s.Live(ctx, "alice", "sid", "jti"); !ok || err != nil {
				b.Fatal("not live")
			}
		}
	})
}

// BenchmarkMemoryAdvance is the store's share of a TOTP verification: the replay guard.
// With a file every accepted step is a durable change and so a file write (with an
// fsync); concurrent callers share writes, so throughput grows with concurrency.
func BenchmarkMemoryAdvance(b *testing.B) {
	useFakeClock(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name        string
		file        bool
		parallelism int // goroutines per GOMAXPROCS
	}{
		{"nofile", false, 1},
		{"file", true, 1},
		{"file-64", true, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := ""
			if bc.file {
				path = filepath.Join(b.TempDir(), "store.json")
			}
			m, err := NewMemory(path)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			// 1000 users with a binding each, so a file write is of realistic size.
			for i := range 1000 {
				m.Put(ctx, UserKey(fmt.Sprint("user", i), "totp"), make([]byte, 64), 0)
			}
			var step atomic.Int64
			b.SetParallelism(bc.parallelism)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := step.Add(1)
					if _, err := m.Advance(ctx, UserKey(fmt.Sprint("user", n%1000), "step"), n); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
