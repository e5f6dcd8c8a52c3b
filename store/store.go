// Package store keeps the gateway's state: durable per-user records (second-factor
// bindings), short-lived records (challenges, held responses), counters (attempts,
// lockouts, send limits), the replay guard and the live grants (gateway sessions and
// step-up tokens) that can be revoked at once on every instance.
//
// Two implementations satisfy Store: Memory (in-process, the embedded default, with an
// optional file for durable records) and Redis (go-redis UniversalClient: single node,
// Sentinel or Cluster). Both pass the same conformance suite in storetest. Package
// stores makes them Caddy modules.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist or has expired.
var ErrNotFound = errors.New("stepup/store: not found")

// ErrUnavailable wraps every failure to reach the backing store. Callers fail closed
// on it: protected routes answer 503, nothing passes unchecked.
var ErrUnavailable = errors.New("stepup/store: unavailable")

// A Key names a record. Records that share a Scope live together: in Redis Cluster they
// share a hash slot, so an operation on several of them stays on one node. Scopes are
// things like "u:alice" (a user) or "c:<id>" (a challenge); Name says which record of
// the scope ("totp", "attempts"). Implementations escape Scope, so any user name is safe.
type Key struct {
	Scope string
	Name  string
}

// UserKey returns the key of a user's record called name.
func UserKey(user, name string) Key { return Key{Scope: "u:" + user, Name: name} }

// ChallengeKey returns the key of a challenge's record called name.
func ChallengeKey(id, name string) Key { return Key{Scope: "c:" + id, Name: name} }

// A Grant is a live, revocable credential: a gateway session (Session == ID) or a
// step-up token issued within a session (Session names that session).
type Grant struct {
	User    string    `json:"user"`
	ID      string    `json:"id"`
	Session string    `json:"session"`
	Expires time.Time `json:"expires"`
}

// Store is the gateway's state. Every method is safe for concurrent use. Any error
// other than ErrNotFound means the store could not answer and wraps ErrUnavailable;
// so does a call the store refuses as a caller's bug (a negative ttl), since failing
// closed is right for that too.
//
// Security writes (Put, PutNew, Take, Delete, Incr, Advance, Revoke, RevokeUser) hold
// what a failover must not lose: bindings, single-use marks, counters, lockouts, replay
// steps, revocations. A store that keeps copies reports such a write done only once it
// is as safe as the store promises (the Redis store: acknowledged by its replicas),
// and fails it otherwise. Track, Append and AddUser may be lost with a failed node: a
// lost grant signs its user out, a lost event or index entry is cosmetic.
type Store interface {
	// Get returns the record at key, or ErrNotFound.
	Get(ctx context.Context, key Key) ([]byte, error)

	// Put stores value at key. A ttl of 0 keeps it until deleted (a durable record,
	// which the memory store also writes to its file when one is configured). A
	// negative ttl is an error. The store keeps its own copy of value.
	Put(ctx context.Context, key Key, value []byte, ttl time.Duration) error

	// PutNew stores value at key only if no live record is there; it reports whether
	// it stored. Used for "at most once per interval" guards.
	PutNew(ctx context.Context, key Key, value []byte, ttl time.Duration) (bool, error)

	// Take returns the record at key and deletes it in one atomic step, so a
	// single-use record is used at most once even across instances. ErrNotFound if absent.
	Take(ctx context.Context, key Key) ([]byte, error)

	// Delete removes the records; missing ones are not an error.
	Delete(ctx context.Context, keys ...Key) error

	// Incr adds one to the counter at key and returns the new count. The first
	// increment starts a window of the given length; the counter vanishes when it ends
	// (fixed window). A window of 0 keeps the counter until deleted. The count is a
	// record holding decimal text (Get reads it, Delete resets it); Incr of a record
	// that is not such a number, or a negative window, is an error.
	Incr(ctx context.Context, key Key, window time.Duration) (int64, error)

	// Advance raises the number at key to n if n is greater than the number stored
	// (or nothing is stored) and reports whether it did, atomically. The number is
	// durable. This is the TOTP replay guard: a step at or before the last accepted
	// one is refused, even when two instances see the same code at once. Like a
	// counter, the number is a record holding decimal text.
	Advance(ctx context.Context, key Key, n int64) (bool, error)

	// Track records a live grant until its Expires, kept to the millisecond. Tracking
	// an id again replaces its grant; an Expires already past ends it. An empty ID is
	// an error.
	Track(ctx context.Context, g Grant) error

	// Live reports whether every one of ids is a live grant of user. With no ids it
	// reports false: an empty check proves nothing.
	Live(ctx context.Context, user string, ids ...string) (bool, error)

	// Revoke ends the grant id of user and every grant whose Session is id (revoking a
	// session revokes the step-up tokens issued in it).
	Revoke(ctx context.Context, user, id string) error

	// RevokeUser ends every grant of user ("sign out everywhere", MFA reset).
	RevokeUser(ctx context.Context, user string) error

	// Grants lists the live grants of user, soonest to expire first (then by ID).
	Grants(ctx context.Context, user string) ([]Grant, error)

	// Append adds value at the front of the list at key and keeps the newest keep
	// entries, in one atomic step. The list is durable (the memory store writes it to
	// its file). Used for a user's recent events.
	Append(ctx context.Context, key Key, value []byte, keep int) error

	// Recent returns up to n entries of the list at key, newest first; none is not an
	// error.
	Recent(ctx context.Context, key Key, n int) ([][]byte, error)

	// AddUser records user in the index of users, idempotently. The index is durable
	// and, in Redis, spread over many keys (by the first two bytes of the name), so no
	// key is hot and it holds millions of users on a Cluster.
	AddUser(ctx context.Context, user string) error

	// Users returns up to limit user names of the index that start with prefix and
	// sort after after (exclusive; "" for the first page), in byte order.
	Users(ctx context.Context, prefix, after string, limit int) ([]string, error)

	// Ping reports whether the store answers now: nil, or an error wrapping
	// ErrUnavailable. A step that must not begin unless it can be finished (a console
	// login the gateway may have to hold) asks first.
	Ping(ctx context.Context) error

	// Close releases what the store holds; later calls fail with ErrUnavailable.
	// Closing twice is harmless. The Redis store does not close its client.
	Close() error
}
