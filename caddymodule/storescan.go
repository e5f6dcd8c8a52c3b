package caddymodule

import (
	"context"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/store"
)

// A timed store keeps what the store can do for resealing after an encryption key
// rotation: Swap (timed, as the gateway calls it when a secret sealed with a previous
// key is used) and Scan (the reseal command's walk, not timed).
var (
	_ store.Swapper = timedStore{}
	_ store.Scanner = timedStore{}
)

// Swap times the store's Swap.
func (s timedStore) Swap(ctx context.Context, key store.Key, old, value []byte) (bool, error) {
	sw, ok := s.Store.(store.Swapper)
	if !ok {
		return false, challenge.ErrCannotReseal
	}
	start := storeClock()
	swapped, err := sw.Swap(ctx, key, old, value)
	done(opSwap, start, err)
	return swapped, err
}

// Scan walks the store with its own Scan.
func (s timedStore) Scan(ctx context.Context, scopePrefix, name string, fn func(store.Key) error) error {
	sc, ok := s.Store.(store.Scanner)
	if !ok {
		return challenge.ErrCannotReseal
	}
	return sc.Scan(ctx, scopePrefix, name, fn)
}
