package stores

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/store"
)

// TestSharedAcrossReloads: configs that name the same store share it; each lets it
// go once however often it asks, and the last one closes it.
func TestSharedAcrossReloads(t *testing.T) {
	opens := 0
	open := func() (store.Store, error) { opens++; return store.NewMemory("") }
	a, releaseA, err := Shared("test:shared", open)
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := Shared("test:shared", open)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || opens != 1 {
		t.Fatalf("two stores (%d opened) for one key", opens)
	}
	ctx := context.Background()
	mustOK(t, releaseA())
	mustOK(t, releaseA()) // a second release must not take b's hold
	mustOK(t, b.Put(ctx, store.UserKey("a", "b"), []byte("v"), 0))
	mustOK(t, releaseB())
	if err := b.Put(ctx, store.UserKey("a", "b"), []byte("v"), 0); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the last release left the store open: %v", err)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRedisCaddyfile(t *testing.T) {
	one := 1
	for src, want := range map[string]Redis{
		"redis redis://h:1/0":    {URL: "redis://h:1/0"},
		"redis redis://h:1/0 p:": {URL: "redis://h:1/0", Prefix: "p:"},
		"redis {env.REDIS_URL} {\n prefix p:\n replicas 1\n wait_timeout 1s\n}": {URL: "{env.REDIS_URL}", Prefix: "p:", Replicas: &one, WaitTimeout: caddy.Duration(time.Second)},
		"redis redis+cluster://h:1?addr=h:2 {\n replicas auto\n}":               {URL: "redis+cluster://h:1?addr=h:2"},
	} {
		var r Redis
		if err := r.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		if r.URL != want.URL || r.Prefix != want.Prefix || r.WaitTimeout != want.WaitTimeout ||
			(r.Replicas == nil) != (want.Replicas == nil) || r.Replicas != nil && *r.Replicas != *want.Replicas {
			t.Errorf("%q: got %+v, want %+v", src, r, want)
		}
	}
}

// TestRedisDefaults: provisioning sets the prefix and the wait, and opens no
// connection.
func TestRedisDefaults(t *testing.T) {
	r := Redis{URL: "redis://127.0.0.1:1/0"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mustOK(t, r.Provision(ctx))
	defer r.Cleanup()
	if r.Prefix != "stepup:" || time.Duration(r.WaitTimeout) != store.DefaultWaitTimeout {
		t.Fatalf("defaults: %+v", r)
	}
	if r.Store() == nil {
		t.Fatal("no store")
	}
}

// TestRetainOutlivesTheModule: the handler's hold keeps the store open after the
// module lets go first, and the last hold closes it.
func TestRetainOutlivesTheModule(t *testing.T) {
	st, releaseModule, err := Shared("test:hold", func() (store.Store, error) { return store.NewMemory("") })
	mustOK(t, err)
	releaseHandler, ok := Retain(st)
	if !ok {
		t.Fatal("Retain did not find a store Shared made")
	}
	ctx := context.Background()
	mustOK(t, releaseModule())
	mustOK(t, st.Put(ctx, store.UserKey("a", "b"), []byte("v"), 0))
	mustOK(t, releaseHandler())
	mustOK(t, releaseHandler())
	if err := st.Put(ctx, store.UserKey("a", "b"), []byte("v"), 0); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the last hold left the store open: %v", err)
	}
	if _, ok := Retain(st); ok {
		t.Fatal("Retain took a closed store")
	}
	other, _ := store.NewMemory("")
	defer other.Close()
	if _, ok := Retain(other); ok {
		t.Fatal("Retain took a store Shared did not make")
	}
}
