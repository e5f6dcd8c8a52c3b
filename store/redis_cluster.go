package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Following a Cluster failover.
//
// go-redis's cluster client learns which node serves a slot from CLUSTER SLOTS, and
// asks again only when a node answers MOVED, ASK or READONLY, or once the map is older
// than ClusterStateReloadInterval (60 s by default). A master that dies answers
// nothing, so nothing tells the client that its replica took over: the client marks
// the dead node failing, but a write's node comes from the slot map, which ignores that
// mark, so every command for the dead master's slots dials its address again and fails
// until the periodic reload. Measured on loopback with a 3-master, 3-replica cluster:
// the replica was promoted 2.6 s after the master was killed, and the store failed for
// 57 s more (the issue saw 35 s: the wait is whatever is left of the 60 s).
//
// watchCluster makes every node client report a failure to get an answer from its
// node (a refused or timed-out dial, a reset connection, a read timeout), and an answer
// that says the map is stale (MOVED, READONLY, CLUSTERDOWN), as a reason to reload the
// map now. go-redis runs one reload at a time, at most one every 200 ms, from a random
// known node; while the master is down the reloads find the same map, and the first
// after the promotion finds the new master, so the store serves again within a fraction
// of a second of the promotion. The periodic reload is kept as a backstop, every 10 s.
const (
	clusterStateReload = 10 * time.Second
	// clusterDialTimeout bounds a dial to a node (go-redis: 5 s), so that a reload
	// that picks a dead host, or a request to one, does not hang.
	clusterDialTimeout = time.Second
)

// watchCluster returns a cluster client for o that reloads its slot map when a node
// fails.
func watchCluster(o *redis.ClusterOptions) *redis.ClusterClient {
	o.ClusterStateReloadInterval = clusterStateReload
	c := redis.NewClusterClient(o)
	c.OnNewNode(func(node *redis.Client) { node.AddHook(reloadOnLoss{c}) })
	return c
}

// reloadOnLoss is a node client's hook that asks the cluster client to reload its
// slot map when the node did not answer, or answered that the map is stale.
type reloadOnLoss struct{ cluster *redis.ClusterClient }

func (h reloadOnLoss) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnLoss) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h reloadOnLoss) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(err)
		for _, c := range cmds {
			h.check(c.Err())
		}
		return err
	}
}

func (h reloadOnLoss) check(err error) {
	if nodeLost(err) {
		h.cluster.ReloadState(context.Background()) // asynchronous, and coalesced
	}
}

// nodeLost reports whether err says the node is gone or the slot map stale, rather
// than being the node's answer (a missing key, a script's error) or the caller giving
// up.
func nodeLost(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		msg := err.Error()
		for _, stale := range []string{"MOVED ", "ASK ", "READONLY ", "CLUSTERDOWN ", "LOADING "} {
			if strings.HasPrefix(msg, stale) {
				return true
			}
		}
		return false
	}
	return true
}
