package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in Redis (6.2 or later), shared by every gateway instance that uses
// the same server and prefix. It works with a single node, Sentinel or Cluster.
//
// Keys are prefix + "{" + Scope + "}:" + Name, with "{", "}" and "%" in Scope
// percent-encoded. The braces are a Redis Cluster hash tag: all records of one scope
// (one user, one challenge) live in one hash slot, which is what lets a user's grants be
// revoked by one atomic script. In a user's scope the names "grants" (a set of grant
// ids) and "grant:<id>" (one grant, expiring with it) hold the grants; other records
// must not use them.
//
// Expiry runs on the Redis server's clock. Every failure to get an answer, including a
// cancelled context, is returned wrapped in ErrUnavailable.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	ack    ack
	closed atomic.Bool

	live      liveCache
	stop      context.CancelFunc
	watchDone chan struct{}
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store that keeps its records in c under keys that start with
// prefix (for example "stepup:"), whose security writes wait for a replica when
// their master has one (AutoReplicas). Braces in prefix are percent-encoded so it
// cannot capture the hash tag. NewRedis starts the subscription that keeps the live
// cache honest (a goroutine and a pub/sub connection): Close the store to end it.
//
// The store does not own c: Close leaves it open, so one client can serve the stores
// of successive configurations, and whoever created it closes it.
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	wait := DefaultWaitTimeout
	if read := readTimeout(c); read > 0 && wait >= read {
		wait = read / 2 // the wait must end before the exchange times out
	}
	r, _ := NewRedisWith(c, RedisOptions{Prefix: prefix, Replicas: AutoReplicas, WaitTimeout: wait})
	return r // these options fit any client
}

// NewRedisWith is NewRedis with options. It fails only on options the store could
// not honour with c.
func NewRedisWith(c redis.UniversalClient, o RedisOptions) (*Redis, error) {
	if err := checkAck(c, o); err != nil {
		return nil, err
	}
	prefix := strings.NewReplacer("{", "%7B", "}", "%7D").Replace(o.Prefix)
	r := &Redis{c: c, prefix: prefix, watchDone: make(chan struct{}),
		ack: ack{replicas: o.Replicas, timeout: cmpOr(o.WaitTimeout, DefaultWaitTimeout)}}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go r.watchRevocations(ctx)
	return r, nil
}

// key returns the Redis key of k.
func (r *Redis) key(k Key) string {
	return r.prefix + "{" + escapeScope(k.Scope) + "}:" + k.Name
}

// escapeScope percent-encodes what would end the hash tag early ("}"), start a second
// reading of it ("{"), or make the encoding ambiguous ("%"). ":" needs no escaping: the
// scope always ends at the first "}", so "u:a:b" cannot be confused with anything.
func escapeScope(s string) string {
	if !strings.ContainsAny(s, "{}%") {
		return s // the common case allocates nothing
	}
	return scopeEscaper.Replace(s)
}

var scopeEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// Grant keys. Their scope is the user's, so a user's grants and index share a slot.
func (r *Redis) grantsKey(user string) string    { return r.key(UserKey(user, "grants")) }
func (r *Redis) grantPrefix(user string) string  { return r.key(UserKey(user, "grant:")) }
func (r *Redis) grantKey(user, id string) string { return r.grantPrefix(user) + id }

// check refuses calls after Close.
func (r *Redis) check() error {
	if r.closed.Load() {
		return errClosed
	}
	return nil
}

// unavailable wraps a client error. Only the error's text is kept, never a key or
// value, and the text of go-redis errors holds neither.
func unavailable(err error) error {
	return fmt.Errorf("%w: redis: %v", ErrUnavailable, err)
}

// Ping reports whether Redis answers, with one PING.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Get returns the record at key, or ErrNotFound.
func (r *Redis) Get(ctx context.Context, key Key) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	v, err := r.c.Get(ctx, r.key(key)).Bytes()
	return value(v, err)
}

// Put stores value at key; a ttl of 0 makes it durable.
func (r *Redis) Put(ctx context.Context, key Key, value []byte, ttl time.Duration) error {
	if err := r.check(); err != nil {
		return err
	}
	if ttl < 0 { // go-redis would read -1 as KEEPTTL
		return invalid("negative ttl")
	}
	k := r.key(key)
	var cmd *redis.StatusCmd
	err := r.write(ctx, k, true, func(c redis.Cmdable) { cmd = c.Set(ctx, k, value, roundTTL(ttl)) })
	if err = firstErr(err, cmd); err != nil {
		return unavailable(err)
	}
	return nil
}

// PutNew stores value at key unless a live record is there (SET NX), and reports
// whether it did.
func (r *Redis) PutNew(ctx context.Context, key Key, value []byte, ttl time.Duration) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	if ttl < 0 {
		return false, invalid("negative ttl")
	}
	k := r.key(key)
	var cmd *redis.BoolCmd
	err := r.write(ctx, k, true, func(c redis.Cmdable) { cmd = c.SetNX(ctx, k, value, roundTTL(ttl)) })
	if err = firstErr(err, cmd); err != nil {
		return false, unavailable(err)
	}
	return cmd.Val(), nil
}

// Take returns the record at key and deletes it (GETDEL), or ErrNotFound.
func (r *Redis) Take(ctx context.Context, key Key) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	k := r.key(key)
	var cmd *redis.StringCmd
	if err := r.write(ctx, k, true, func(c redis.Cmdable) { cmd = c.GetDel(ctx, k) }); err != nil {
		return nil, unavailable(err)
	}
	return value(cmd.Bytes())
}

// Delete removes the records at keys. Keys of one scope go in one DEL; keys of several
// scopes are pipelined one DEL per scope, since a Cluster refuses a DEL across slots.
// The deletion is therefore atomic per scope only.
func (r *Redis) Delete(ctx context.Context, keys ...Key) error {
	if err := r.check(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	byScope := make(map[string][]string, 1)
	scopes := make([]string, 0, 1) // in first-seen order, for a predictable pipeline
	for _, k := range keys {
		if _, ok := byScope[k.Scope]; !ok {
			scopes = append(scopes, k.Scope)
		}
		byScope[k.Scope] = append(byScope[k.Scope], r.key(k))
	}
	if len(scopes) > 1 && r.ack.replicas == 0 {
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, s := range scopes {
				p.Del(ctx, byScope[s]...)
			}
			return nil
		})
		if err != nil {
			return unavailable(err)
		}
		return nil
	}
	// A deletion that waits for replicas waits on each scope's master in turn.
	for _, s := range scopes {
		ks := byScope[s]
		var cmd *redis.IntCmd
		err := r.write(ctx, ks[0], true, func(c redis.Cmdable) { cmd = c.Del(ctx, ks...) })
		if err = firstErr(err, cmd); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// firstErr returns err, or else the error of cmd, which ran.
func firstErr(err error, cmd redis.Cmder) error {
	if err != nil {
		return err
	}
	return cmd.Err()
}

// incrScript starts the window only on the increment that creates the counter, so later
// increments do not extend it (a fixed window, not a sliding one).
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// Incr adds one to the counter at key and returns the count.
func (r *Redis) Incr(ctx context.Context, key Key, window time.Duration) (int64, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	if window < 0 {
		return 0, invalid("negative window")
	}
	k := r.key(key)
	var incr *redis.IntCmd // without a window
	var run *redis.Cmd     // with one
	err := r.write(ctx, k, true, func(c redis.Cmdable) {
		if window == 0 {
			incr = c.Incr(ctx, k)
		} else {
			run = incrScript.Run(ctx, c, []string{k}, roundTTL(window).Milliseconds())
		}
	})
	var n int64
	if err == nil && incr != nil {
		n, err = incr.Result()
	} else if err == nil {
		n, err = run.Int64()
	}
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// advanceScript compares decimal strings instead of Lua numbers, which are doubles and
// would lose the low digits of large int64 values.
var advanceScript = redis.NewScript(`
local function less(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na end
  if na then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a < #b end
  return a < b
end
local cur = redis.call('GET', KEYS[1])
if cur then
  if not cur:match('^%-?%d+$') then return redis.error_reply('stored value is not a number') end
  if not less(cur, ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// Advance raises the number at key to n if n is greater, and reports whether it did.
func (r *Redis) Advance(ctx context.Context, key Key, n int64) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	// strconv's form is canonical (no "+", no leading zeros, no "-0"), which the
	// script's string comparison relies on.
	k := r.key(key)
	var run *redis.Cmd
	err := r.write(ctx, k, true, func(c redis.Cmdable) {
		run = advanceScript.Run(ctx, c, []string{k}, strconv.FormatInt(n, 10))
	})
	var ok int64
	if err == nil {
		ok, err = run.Int64()
	}
	if err != nil {
		return false, unavailable(err)
	}
	return ok == 1, nil
}

// serverNow is the Lua prelude that reads the server clock in milliseconds, the clock
// Redis expires keys by.
const serverNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// A grant's key holds "<expiry in unix ms>:<session id>" and expires at that time. The
// expiry is in the value because reading it back from the key (TIME + PTTL) drifts by
// however long the server was descheduled between the two, and PEXPIRETIME needs
// Redis 7.

// trackScript stores a grant and indexes it in the user's set, whose expiry is kept
// after every member's. It also drops members whose grant is gone, so the set of a
// user who never signs out stays small. Grant keys built from ARGV share KEYS[2]'s hash
// slot (the user's tag), so the script stays on one Cluster node.
// Tracking a grant again with an earlier expiry, or one already past, shortens or ends
// it: the script then publishes the user's name, as a revocation does, so no instance
// keeps a cached "live" past the new expiry; it returns 0 when the grant ended, 2 when
// it was shortened, 1 otherwise.
// KEYS: grant, set. ARGV: id, session, expiry (unix ms), grant key prefix, channel, user.
var trackScript = redis.NewScript(serverNow + `
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[4] .. m) == 0 then redis.call('SREM', KEYS[2], m) end
end
local exp = tonumber(ARGV[3])
local old = redis.call('GET', KEYS[1])
local shorter = false
if old then
  local oldExp = tonumber(old:sub(1, (old:find(':', 1, true) or (#old + 1)) - 1))
  shorter = not oldExp or exp < oldExp
end
if exp <= now then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  if old then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
  return 0
end
if shorter then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
redis.call('SET', KEYS[1], ARGV[3] .. ':' .. ARGV[2], 'PXAT', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
-- now + PTTL estimates the set's expiry only to within the time the script has run
-- (Redis versions differ in which clock PTTL reads), so the set is kept a second
-- past its last grant rather than risk it ending first.
local keep = exp + 1000
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 or now + ttl < keep then redis.call('PEXPIREAT', KEYS[2], keep) end
if shorter then return 2 end
return 1
`)

// Track records g as live until g.Expires (to the millisecond). A grant that has
// already expired ends any grant of the same id.
func (r *Redis) Track(ctx context.Context, g Grant) error {
	if err := r.check(); err != nil {
		return err
	}
	if g.ID == "" {
		return invalid("grant without id")
	}
	keys := []string{r.grantKey(g.User, g.ID), r.grantsKey(g.User)}
	res, err := trackScript.Run(ctx, r.c, keys, g.ID, g.Session, g.Expires.UnixMilli(), r.grantPrefix(g.User),
		r.revokedChannel(), g.User).Int64()
	if res != 1 {
		// Ended or shortened (or unknown): what this instance cached about the user goes
		// before Track returns, as after Revoke.
		r.live.drop(g.User)
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Live reports whether every one of ids is a live grant of user, in one EXISTS. With no
// ids it reports false, so a caller that forgot to pass any is not let through.
func (r *Redis) Live(ctx context.Context, user string, ids ...string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	if len(ids) == 0 {
		return false, nil
	}
	q, cacheable := question(ids)
	now := time.Now()
	if cacheable && r.live.hit(user, q, now) {
		return true, nil
	}
	gen := r.live.gen.Load()
	// Duplicates are dropped first; ids are a session and a token, and a quadratic
	// scan beats a map at that size.
	keys := make([]string, 0, len(ids))
	for i, id := range ids {
		if !slices.Contains(ids[:i], id) {
			keys = append(keys, r.grantKey(user, id))
		}
	}
	left, err := liveScript.Run(ctx, r.c, keys).Int64()
	if err != nil {
		return false, unavailable(err)
	}
	live := left > 0
	if live && cacheable {
		r.live.put(user, q, gen, now, time.Duration(left)*time.Millisecond)
	}
	return live, nil
}

// liveScript answers whether every key exists, as the time until the first of them
// expires (ms), or 0 when one is missing: a cached "live" never outlasts a grant.
var liveScript = redis.NewScript(`
local left = -1
for _, k in ipairs(KEYS) do
  local t = redis.call('PTTL', k)
  if t == -2 or t == 0 then return 0 end
  if t > 0 and (left < 0 or t < left) then left = t end
end
if left < 0 then return 86400000 end
return left
`)

// revokeScript ends a grant and the grants of the session it names, and drops dead
// members on the way. KEYS: set, grant. ARGV: grant key prefix, id.
var revokeScript = redis.NewScript(`
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[2])
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. m
  local v = redis.call('GET', k)
  if not v or v:sub((v:find(':', 1, true) or 0) + 1) == ARGV[2] then
    redis.call('DEL', k)
    redis.call('SREM', KEYS[1], m)
  end
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 0
`)

// Revoke ends the grant id of user and every grant of user whose Session is id, at once.
func (r *Redis) Revoke(ctx context.Context, user, id string) error {
	if err := r.check(); err != nil {
		return err
	}
	keys := []string{r.grantsKey(user), r.grantKey(user, id)}
	// The script publishes the user's name, so every instance drops what it cached.
	var run *redis.Cmd
	err := r.write(ctx, keys[0], true, func(c redis.Cmdable) {
		run = revokeScript.Run(ctx, c, keys, r.grantPrefix(user), id, r.revokedChannel(), user)
	})
	err = firstErr(err, run)
	r.live.drop(user)
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// revokeUserScript ends every grant in the user's set, then the set. KEYS: set.
// ARGV: grant key prefix.
var revokeUserScript = redis.NewScript(`
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('DEL', ARGV[1] .. m) end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 0
`)

// RevokeUser ends every grant of user at once.
func (r *Redis) RevokeUser(ctx context.Context, user string) error {
	if err := r.check(); err != nil {
		return err
	}
	k := r.grantsKey(user)
	var run *redis.Cmd
	err := r.write(ctx, k, true, func(c redis.Cmdable) {
		run = revokeUserScript.Run(ctx, c, []string{k}, r.grantPrefix(user), r.revokedChannel(), user)
	})
	err = firstErr(err, run)
	r.live.drop(user)
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// grantsScript returns the id and value of each live grant in the set, dropping
// members whose grant is gone. KEYS: set. ARGV: grant key prefix.
var grantsScript = redis.NewScript(`
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. m)
  if v then
    out[#out + 1] = m
    out[#out + 1] = v
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return out
`)

// Grants lists the live grants of user, soonest to expire first.
func (r *Redis) Grants(ctx context.Context, user string) ([]Grant, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	res, err := grantsScript.Run(ctx, r.c, []string{r.grantsKey(user)}, r.grantPrefix(user)).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	malformed := unavailable(errors.New("grants script returned a malformed reply"))
	if len(res)%2 != 0 {
		return nil, malformed
	}
	var out []Grant
	for i := 0; i < len(res); i += 2 {
		id, ok1 := res[i].(string)
		v, ok2 := res[i+1].(string)
		exp, session, ok3 := strings.Cut(v, ":")
		ms, err := strconv.ParseInt(exp, 10, 64)
		if !ok1 || !ok2 || !ok3 || err != nil {
			return nil, malformed
		}
		out = append(out, Grant{User: user, ID: id, Session: session, Expires: time.UnixMilli(ms)})
	}
	sortGrants(out)
	return out, nil
}

// Close makes later calls fail with ErrUnavailable. It does not close the client,
// which belongs to the caller (see NewRedis).
func (r *Redis) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.stop()
	<-r.watchDone // the subscriber is gone before the client may be closed
	r.live.flush(true)
	return nil
}

// value turns a GET-like reply into the Store's answer.
func value(v []byte, err error) ([]byte, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return nil, ErrNotFound
	case err != nil:
		return nil, unavailable(err)
	case v == nil:
		return []byte{}, nil // an empty record, not an absent one
	}
	return v, nil
}

// roundTTL rounds a positive duration up to whole milliseconds, Redis's resolution,
// so a sub-millisecond ttl still expires rather than being refused or made durable.
func roundTTL(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}
