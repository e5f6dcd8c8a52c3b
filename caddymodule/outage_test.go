package caddymodule

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
)

const (
	testSigningKey    = "Zq3X9vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP2"
	testEncryptionKey = "Hh8Jj2Kk4Ll6Mm8Nn0Pp2Qq4Rr6Ss8Tt0Uu2Vv4Ww6X"
)

func redisBlock(addr, prefix string) string {
	return strings.Replace(demoBlock, "stepup {", "stepup {\n\tstore redis redis://"+addr+"/0 "+prefix+
		"\n\tsigning_key "+testSigningKey+"\n\tencryption_key "+testEncryptionKey, 1)
}

// TestReloadsLeakNothing provisions and cleans up a Redis-backed config again and
// again, as config reloads do: the shared client, its connections and the store's
// revocation subscriber must all go away with the last config.
func TestReloadsLeakNothing(t *testing.T) {
	srv := redistest.Start(t) // private: its client count is ours alone
	block := redisBlock(srv.Addr(), redistest.Prefix(t))
	probe := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer probe.Close()
	clients := func() int {
		info, err := probe.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(info, "\n") // one line per connection, the probe's included
	}
	settle := func() int {
		n := runtime.NumGoroutine()
		for i := 0; i < 100; i++ {
			time.Sleep(20 * time.Millisecond)
			if m := runtime.NumGoroutine(); m == n {
				return n
			} else {
				n = m
			}
		}
		return n
	}
	before := settle()
	old := provisionUnmanaged(t, block)
	for i := 0; i < 5; i++ {
		next := provisionUnmanaged(t, block) // the new config comes up first...
		if next.store != old.store {
			t.Fatal("a reload made a second Redis store")
		}
		unload(old) // ...then the old one is cleaned up
		unload(old) // and a second cleanup changes nothing
		old = next
	}
	if live, err := old.store.Live(t.Context(), "nobody", "x"); err != nil || live {
		t.Fatalf("the store died with an earlier config: %v %v", live, err)
	}
	unload(old)
	if after := settle(); after > before {
		t.Fatalf("goroutines: %d before, %d after the last config went away", before, after)
	}
	if n := clients(); n != 1 {
		t.Fatalf("%d connections to Redis after the last config went away, want only the probe's", n)
	}
}

// provisionUnmanaged is provision for tests that unload configs themselves, as
// reloads do; whatever they leave is unloaded when the test ends.
func provisionUnmanaged(t *testing.T, block string) *Handler {
	t.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	unloads.Store(h, cancel)
	t.Cleanup(func() { unload(h) })
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}
