package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Security writes wait for replicas.
//
// Redis replicates asynchronously: a master answers a write before any replica has
// it, and if the master dies then, the replica promoted in its place never had it. For
// a session or a step-up token that is an inconvenience (the user signs in again); for
// a revocation, a TOTP replay step, a single-use mark, an attempt counter or a lockout
// it is a hole. So the Redis store follows every such write (Put, PutNew, Take,
// Delete, Incr, Advance, Revoke, RevokeUser) with WAIT on the same connection, and
// fails it with ErrUnavailable when fewer replicas than required acknowledge it in
// time: the gateway then answers 503, closed. Track, Append and AddUser do not wait.
//
// WAIT counts the replicas that acknowledged this connection's writes, so it must
// follow the write on the connection that carried it. On a single server or behind
// Sentinel the store pipelines the write and WAIT on one connection of its client; on
// a Cluster it pipelines them on the client of the master that serves the key's slot,
// since a cluster client would send a keyless WAIT to any node.

// AutoReplicas, as RedisOptions.Replicas, requires one replica's acknowledgement
// from a master that has a replica online, and none from a master that has none (a
// single server, or a replica just promoted whose old master is gone).
const AutoReplicas = -1

// DefaultWaitTimeout is how long a security write waits for replicas unless told.
const DefaultWaitTimeout = 500 * time.Millisecond

// replicasRecheck is how long an automatic count of a master's replicas is trusted.
const replicasRecheck = time.Second

// RedisOptions are the Redis store's settings.
type RedisOptions struct {
	// Prefix starts every key, e.g. "stepup:".
	Prefix string

	// Replicas is how many replicas must acknowledge a security write before it
	// counts: AutoReplicas, 0 (never wait) or a number. Fewer within WaitTimeout fail
	// the write with ErrUnavailable.
	Replicas int

	// WaitTimeout bounds the wait for replicas. It must be shorter than the client's
	// read timeout, which bounds the whole exchange. Default DefaultWaitTimeout.
	WaitTimeout time.Duration
}

// ack is what the store requires of security writes.
type ack struct {
	replicas int // AutoReplicas, 0 or more
	timeout  time.Duration

	mu     sync.Mutex
	counts map[string]replicaCount // master's address → its replicas online
}

type replicaCount struct {
	n    int
	read time.Time
}

// checkAck refuses options the store could not honour with client c.
func checkAck(c redis.UniversalClient, o RedisOptions) error {
	if o.Replicas < AutoReplicas {
		return fmt.Errorf("stepup/store: replicas must be auto, 0 or more, got %d", o.Replicas)
	}
	if o.WaitTimeout < 0 {
		return fmt.Errorf("stepup/store: negative wait timeout %v", o.WaitTimeout)
	}
	if wait, read := cmpOr(o.WaitTimeout, DefaultWaitTimeout), readTimeout(c); read > 0 && wait >= read {
		return fmt.Errorf("stepup/store: the wait for replicas (%v) must be shorter than the client's read_timeout (%v)", wait, read)
	}
	return nil
}

// readTimeout is how long c waits for an answer; 0 or less for ever.
func readTimeout(c redis.UniversalClient) time.Duration {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ReadTimeout
	case *redis.ClusterClient:
		return c.Options().ReadTimeout
	}
	return 0
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// write runs a write. queue queues its commands on c, and the caller reads their
// results after write returns. A security write (secure) is followed by WAIT on the
// same connection and fails unless enough replicas acknowledged it; the error then
// says how many did. Any other write runs on the store's client as it is.
func (r *Redis) write(ctx context.Context, key string, secure bool, queue func(c redis.Cmdable)) error {
	if !secure || r.ack.replicas == 0 {
		queue(r.c)
		return nil
	}
	node := redis.UniversalClient(r.c)
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		var err error
		if node, err = cc.MasterForKey(ctx, key); err != nil {
			return err
		}
	}
	need, err := r.replicasNeeded(ctx, node, false)
	if err != nil {
		return err
	}
	if need == 0 {
		queue(r.c) // through the cluster client, which follows redirects
		return nil
	}
	acked, err := r.pipelineWait(ctx, node, need, queue)
	if err != nil || acked >= need {
		return err
	}
	if r.ack.replicas == AutoReplicas {
		// The master may have lost its replica, or another master may stand at its
		// address (a Sentinel failover): count again before failing the write.
		if need, err = r.replicasNeeded(ctx, node, true); err == nil && acked >= need {
			return nil
		}
	}
	return fmt.Errorf("the write was acknowledged by %d of %d replicas within %v", acked, need, r.ack.timeout)
}

// pipelineWait sends the queued commands and WAIT in one pipeline on node, and
// returns how many replicas acknowledged them. A script the node does not know yet
// (NOSCRIPT: nothing ran) is loaded and the pipeline sent again, once.
func (r *Redis) pipelineWait(ctx context.Context, node redis.UniversalClient, need int, queue func(c redis.Cmdable)) (int, error) {
	for attempt := 0; ; attempt++ {
		var wait *redis.IntCmd
		// Pipelined's error is the first command's; the write's is the caller's to
		// read, and a failed exchange fails WAIT too.
		cmds, _ := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			queue(p)
			wait = redis.NewIntCmd(ctx, "wait", need, r.ack.timeout.Milliseconds())
			_ = p.Process(ctx, wait)
			return nil
		})
		if attempt == 0 && noScript(cmds) {
			for _, s := range writeScripts {
				if err := s.Load(ctx, node).Err(); err != nil {
					return 0, err
				}
			}
			continue
		}
		if err := wait.Err(); err != nil {
			return 0, err
		}
		return int(wait.Val()), nil
	}
}

// writeScripts are the scripts security writes run.
var writeScripts = []*redis.Script{incrScript, advanceScript, revokeScript, revokeUserScript}

func noScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// replicasNeeded returns how many replicas must acknowledge a write on node: the
// configured number, or in auto mode one if the master has a replica online. The count
// is read with ROLE at most once a second per master, or now when recount is set.
func (r *Redis) replicasNeeded(ctx context.Context, node redis.UniversalClient, recount bool) (int, error) {
	if r.ack.replicas != AutoReplicas {
		return r.ack.replicas, nil
	}
	addr := ""
	if c, ok := node.(*redis.Client); ok && r.c != node {
		addr = c.Options().Addr // a cluster node; a single or Sentinel client has one entry
	}
	r.ack.mu.Lock()
	got, ok := r.ack.counts[addr]
	r.ack.mu.Unlock()
	if ok && !recount && time.Since(got.read) < replicasRecheck {
		return min(got.n, 1), nil
	}
	n, err := onlineReplicas(ctx, node)
	if err != nil {
		return 0, err
	}
	r.ack.mu.Lock()
	if r.ack.counts == nil {
		r.ack.counts = make(map[string]replicaCount)
	}
	r.ack.counts[addr] = replicaCount{n: n, read: time.Now()}
	r.ack.mu.Unlock()
	return min(n, 1), nil
}

// onlineReplicas asks a master (ROLE) how many replicas it streams to. A node that is
// not a master has none: a write to it fails anyway.
func onlineReplicas(ctx context.Context, node redis.UniversalClient) (int, error) {
	v, err := node.Do(ctx, "ROLE").Slice()
	if err != nil {
		return 0, err
	}
	if len(v) < 3 || v[0] != "master" {
		return 0, nil
	}
	replicas, ok := v[2].([]any)
	if !ok {
		return 0, errors.New("malformed ROLE reply")
	}
	return len(replicas), nil
}
