package redistest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvCluster names the environment variable holding the addresses (host:port,
// comma-separated) of the nodes of a shared Redis Cluster of three masters and three
// replicas, which the test script starts once per run.
const EnvCluster = "STEPUP_TEST_REDIS_CLUSTER"

// ClusterAddrs returns the node addresses of a Redis Cluster of three masters, each
// with a replica: the shared one named by STEPUP_TEST_REDIS_CLUSTER, or else a private
// one that stops when t ends. With CI=true the shared cluster must be there: the test
// script starts it, and a missing one is a broken environment, not a reason to skip.
// Keys must be namespaced with Prefix.
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv(EnvCluster); v != "" {
		return strings.Split(v, ",")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("redistest: %s is not set; the test script starts the shared Redis Cluster", EnvCluster)
	}
	return StartReplicatedCluster(t).Addrs()
}

// ClusterURL returns the redis+cluster:// URL of a cluster's nodes.
func ClusterURL(addrs []string) string {
	u := "redis+cluster://" + addrs[0]
	for i, a := range addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// A Cluster is a private Redis Cluster of three masters, each with one replica, owned
// by one test, which may kill its nodes.
type Cluster struct {
	t     testing.TB
	nodes []*Server
}

// clusterNodeTimeout is how long a private cluster's master may be silent before its
// replica takes over: short, so failover tests do not wait long, but not so short that
// a node descheduled on a busy machine is taken for dead.
const clusterNodeTimeout = 2000 * time.Millisecond

// StartReplicatedCluster starts six redis-servers in cluster mode on loopback, makes
// them a cluster of three masters and three replicas with redis-cli --cluster create,
// and returns once every slot is served and every replica is in sync. A master that
// stays silent for two seconds is replaced by its replica.
func StartReplicatedCluster(t testing.TB) *Cluster {
	t.Helper()
	cli := lookPath(t, "redis-cli")
	c := &Cluster{t: t}
	for range 6 {
		c.nodes = append(c.nodes, startOn(t, freeClusterAddr, false,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout.Milliseconds()))))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, out)
	}
	if err := WaitClusterReady(c.Addrs(), 30*time.Second); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return c
}

// Addrs returns the addresses of every node, dead or alive.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.Addr())
	}
	return out
}

// Node returns the node at addr.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	c.t.Fatalf("redistest: no node %s in the cluster", addr)
	return nil
}

// MasterOf returns the node that serves key's slot now, and its replica, waiting a
// little for a cluster that is still settling (a node another deems late).
func (c *Cluster) MasterOf(key string) (master, replica *Server) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, r, err := c.masterOf(key)
		if err == nil {
			return c.Node(m), c.Node(r)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("redistest: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) masterOf(key string) (master, replica string, err error) {
	slotText, err := c.ask("CLUSTER", "KEYSLOT", key)
	if err != nil {
		return "", "", err
	}
	slot, _ := strconv.Atoi(slotText)
	nodes, err := c.topology()
	if err != nil {
		return "", "", err
	}
	for _, n := range nodes {
		if n.master && !n.failed && n.serves(slot) {
			for _, r := range nodes {
				if !r.master && r.masterID == n.id && !r.failed {
					return n.addr, r.addr, nil
				}
			}
			return "", "", fmt.Errorf("the master of slot %d has no live replica", slot)
		}
	}
	return "", "", fmt.Errorf("no master serves slot %d", slot)
}

// IsMaster reports whether the node at addr says it is a master.
func IsMaster(addr string) bool {
	info, err := do(addr, "INFO", "replication")
	return err == nil && strings.Contains(info, "role:master")
}

// ask sends a command to the first node that answers.
func (c *Cluster) ask(args ...string) (string, error) {
	var err error
	for _, n := range c.nodes {
		var out string
		if out, err = do(n.Addr(), args...); err == nil {
			return out, nil
		}
	}
	return "", err
}

// clusterNode is a line of CLUSTER NODES.
type clusterNode struct {
	id, addr, masterID string
	master, failed     bool
	slots              [][2]int
}

func (n clusterNode) serves(slot int) bool {
	for _, r := range n.slots {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// topology reads CLUSTER NODES from a live node.
func (c *Cluster) topology() ([]clusterNode, error) {
	out, err := c.ask("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	return parseNodes(out), nil
}

// parseNodes reads CLUSTER NODES: id addr@bus flags master ping pong epoch link slots...
func parseNodes(out string) []clusterNode {
	var nodes []clusterNode
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		flags := "," + f[2] + ","
		n := clusterNode{id: f[0], addr: addr, masterID: f[3],
			master: strings.Contains(flags, ",master,"),
			failed: strings.Contains(flags, ",fail,")} // not "fail?": one node's suspicion
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, ok := strings.Cut(s, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, [2]int{a, b})
			}
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// WaitClusterReady waits until every node of a cluster says it is ok with every slot
// served, knows all the others, and every master streams to its replica.
func WaitClusterReady(addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := clusterReady(addrs)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster %v not ready within %v: %v", addrs, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func clusterReady(addrs []string) error {
	for _, a := range addrs {
		info, err := do(a, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
			!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(addrs))) {
			return fmt.Errorf("%s: %q", a, firstLines(info, 7))
		}
		repl, err := do(a, "INFO", "replication")
		if err != nil {
			return err
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") ||
			strings.Contains(repl, "role:master") && !strings.Contains(repl, ",state=online") {
			return fmt.Errorf("%s: replica not in sync", a)
		}
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], " ")
}

// freeClusterAddr returns a loopback address whose port, and the cluster bus port
// 10000 above it, were free a moment ago.
func freeClusterAddr() (string, error) {
	for range 50 {
		port := 20000 + rand.IntN(20000)
		a, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return "127.0.0.1:" + strconv.Itoa(port), nil
	}
	return "", fmt.Errorf("no free port pair for a cluster node")
}
