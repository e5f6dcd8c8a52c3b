package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/caddy-stepup/stepup/store"
)

// countingStore counts the calls made to a real store.
type countingStore struct {
	store.Store
	calls atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, k store.Key) ([]byte, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, k)
}
func (c *countingStore) Put(ctx context.Context, k store.Key, v []byte, ttl time.Duration) error {
	c.calls.Add(1)
	return c.Store.Put(ctx, k, v, ttl)
}
func (c *countingStore) Take(ctx context.Context, k store.Key) ([]byte, error) {
	c.calls.Add(1)
	return c.Store.Take(ctx, k)
}
func (c *countingStore) Incr(ctx context.Context, k store.Key, w time.Duration) (int64, error) {
	c.calls.Add(1)
	return c.Store.Incr(ctx, k, w)
}
func (c *countingStore) Live(ctx context.Context, user string, ids ...string) (bool, error) {
	c.calls.Add(1)
	return c.Store.Live(ctx, user, ids...)
}
func (c *countingStore) Track(ctx context.Context, g store.Grant) error {
	c.calls.Add(1)
	return c.Store.Track(ctx, g)
}
