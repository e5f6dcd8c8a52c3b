package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-stepup/stepup/store"
)

// storeOp is a store.Store method, as the operation label of the store metrics.
type storeOp int

const (
	opGet storeOp = iota
	opPut
	opPutNew
	opTake
	opDelete
	opIncr
	opAdvance
	opTrack
	opLive
	opRevoke
	opRevokeUser
	opGrants
	opAppend
	opRecent
	opAddUser
	opUsers
	opPing
	opSwap
	numStoreOps
)

// storeOps are the operation labels, by storeOp.
var storeOps = [numStoreOps]string{
	opGet: "get", opPut: "put", opPutNew: "put_new", opTake: "take", opDelete: "delete", opIncr: "incr",
	opAdvance: "advance", opTrack: "track", opLive: "live", opRevoke: "revoke", opRevokeUser: "revoke_user",
	opGrants: "grants", opAppend: "append", opRecent: "recent", opAddUser: "add_user", opUsers: "users", opPing: "ping",
	opSwap: "swap",
}

// The store metrics' series, resolved once: a store call does no label lookup.
var storeTimes, storeFailed = func() (t [numStoreOps]prometheus.Observer, f [numStoreOps]prometheus.Counter) {
	for op, name := range storeOps {
		t[op] = metrics.store.WithLabelValues(name)
		f[op] = metrics.storeFailures.WithLabelValues(name)
	}
	return t, f
}()

// timedStore is a store whose calls are timed and whose failures to answer are
// counted, by operation. It is a value: two wrappers of one store are equal, as the
// store is. A method it does not know (Close) goes to the store untimed.
type timedStore struct {
	store.Store
}

// timeStore wraps st so that its calls are measured.
func timeStore(st store.Store) store.Store {
	if st == nil {
		return nil
	}
	if _, ok := st.(timedStore); ok {
		return st
	}
	return timedStore{Store: st}
}

// storeEpoch is the origin of the store calls' clock: time.Since(storeEpoch) reads
// only the monotonic clock, half the cost of time.Now.
var storeEpoch = time.Now()

// storeClock is the time since storeEpoch.
func storeClock() time.Duration { return time.Since(storeEpoch) }

// done records a call of op that began at start (a clock reading) and ended with err.
func done(op storeOp, start time.Duration, err error) {
	storeTimes[op].Observe((storeClock() - start).Seconds())
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		storeFailed[op].Inc()
	}
}

// Get times store.Store.Get.
func (s timedStore) Get(ctx context.Context, key store.Key) ([]byte, error) {
	start := storeClock()
	v, err := s.Store.Get(ctx, key)
	done(opGet, start, err)
	return v, err
}

// Put times store.Store.Put.
func (s timedStore) Put(ctx context.Context, key store.Key, value []byte, ttl time.Duration) error {
	start := storeClock()
	err := s.Store.Put(ctx, key, value, ttl)
	done(opPut, start, err)
	return err
}

// PutNew times store.Store.PutNew.
func (s timedStore) PutNew(ctx context.Context, key store.Key, value []byte, ttl time.Duration) (bool, error) {
	start := storeClock()
	ok, err := s.Store.PutNew(ctx, key, value, ttl)
	done(opPutNew, start, err)
	return ok, err
}

// Take times store.Store.Take.
func (s timedStore) Take(ctx context.Context, key store.Key) ([]byte, error) {
	start := storeClock()
	v, err := s.Store.Take(ctx, key)
	done(opTake, start, err)
	return v, err
}

// Delete times store.Store.Delete.
func (s timedStore) Delete(ctx context.Context, keys ...store.Key) error {
	start := storeClock()
	err := s.Store.Delete(ctx, keys...)
	done(opDelete, start, err)
	return err
}

// Incr times store.Store.Incr.
func (s timedStore) Incr(ctx context.Context, key store.Key, window time.Duration) (int64, error) {
	start := storeClock()
	n, err := s.Store.Incr(ctx, key, window)
	done(opIncr, start, err)
	return n, err
}

// Advance times store.Store.Advance.
func (s timedStore) Advance(ctx context.Context, key store.Key, n int64) (bool, error) {
	start := storeClock()
	ok, err := s.Store.Advance(ctx, key, n)
	done(opAdvance, start, err)
	return ok, err
}

// Track times store.Store.Track.
func (s timedStore) Track(ctx context.Context, g store.Grant) error {
	start := storeClock()
	err := s.Store.Track(ctx, g)
	done(opTrack, start, err)
	return err
}

// Live times store.Store.Live.
func (s timedStore) Live(ctx context.Context, user string, ids ...string) (bool, error) {
	start := storeClock()
	ok, err := s.Store.Live(ctx, user, ids...)
	done(opLive, start, err)
	return ok, err
}

// Revoke times store.Store.Revoke.
func (s timedStore) Revoke(ctx context.Context, user, id string) error {
	start := storeClock()
	err := s.Store.Revoke(ctx, user, id)
	done(opRevoke, start, err)
	return err
}

// RevokeUser times store.Store.RevokeUser.
func (s timedStore) RevokeUser(ctx context.Context, user string) error {
	start := storeClock()
	err := s.Store.RevokeUser(ctx, user)
	done(opRevokeUser, start, err)
	return err
}

// Grants times store.Store.Grants.
func (s timedStore) Grants(ctx context.Context, user string) ([]store.Grant, error) {
	start := storeClock()
	g, err := s.Store.Grants(ctx, user)
	done(opGrants, start, err)
	return g, err
}

// Append times store.Store.Append.
func (s timedStore) Append(ctx context.Context, key store.Key, value []byte, keep int) error {
	start := storeClock()
	err := s.Store.Append(ctx, key, value, keep)
	done(opAppend, start, err)
	return err
}

// Recent times store.Store.Recent.
func (s timedStore) Recent(ctx context.Context, key store.Key, n int) ([][]byte, error) {
	start := storeClock()
	v, err := s.Store.Recent(ctx, key, n)
	done(opRecent, start, err)
	return v, err
}

// AddUser times store.Store.AddUser.
func (s timedStore) AddUser(ctx context.Context, user string) error {
	start := storeClock()
	err := s.Store.AddUser(ctx, user)
	done(opAddUser, start, err)
	return err
}

// Users times store.Store.Users.
func (s timedStore) Users(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	start := storeClock()
	u, err := s.Store.Users(ctx, prefix, after, limit)
	done(opUsers, start, err)
	return u, err
}

// Ping times store.Store.Ping.
func (s timedStore) Ping(ctx context.Context) error {
	start := storeClock()
	err := s.Store.Ping(ctx)
	done(opPing, start, err)
	return err
}
