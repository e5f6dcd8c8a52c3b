package redistest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the name the sentinels of StartSentinel monitor.
const SentinelMaster = "stepup"

// A Sentinel is a private Redis Sentinel setup owned by one test: a master, its
// replica, and three sentinels watching them.
type Sentinel struct {
	t               testing.TB
	Master, Replica *Server
	sentinels       []*Server
	downAfter       time.Duration
}

// sentinelDownAfter is how long the master may be silent before the sentinels deem it
// down and promote the replica: short, so failover tests do not wait long, but not so
// short that a master descheduled on a busy machine is taken for dead.
const sentinelDownAfter = 2000 * time.Millisecond

// StartSentinel starts a master, a replica of it and three sentinels (quorum two) on
// loopback, and returns once the sentinels know the replica and one another.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{t: t, downAfter: sentinelDownAfter}
	s.Master = Start(t)
	s.Replica = StartReplica(t, s.Master)
	host, port, _ := net.SplitHostPort(s.Master.Addr())
	conf := func(string) string {
		return fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
			"sentinel down-after-milliseconds %[1]s %[4]d\n"+
			"sentinel failover-timeout %[1]s 10000\n",
			SentinelMaster, host, port, s.downAfter.Milliseconds())
	}
	for range 3 {
		s.sentinels = append(s.sentinels, launch(t, &Server{sentinel: conf}, freeAddr))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.ready()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinels not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready reports whether every sentinel sees the master ok, with its replica and the
// two other sentinels.
func (s *Sentinel) ready() error {
	for _, sn := range s.sentinels {
		info, err := do(sn.Addr(), "INFO", "sentinel")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "status=ok") || !strings.Contains(info, "slaves=1,sentinels=3") {
			return fmt.Errorf("%s: %q", sn.Addr(), info)
		}
	}
	return nil
}

// Addrs returns the sentinels' addresses.
func (s *Sentinel) Addrs() []string {
	var out []string
	for _, sn := range s.sentinels {
		out = append(out, sn.Addr())
	}
	return out
}

// URL returns the redis+sentinel:// URL of the setup.
func (s *Sentinel) URL() string {
	addrs := s.Addrs()
	u := "redis+sentinel://" + addrs[0] + "?master_name=" + SentinelMaster
	for _, a := range addrs[1:] {
		u += "&addr=" + a
	}
	return u
}

// MasterAddr returns the master's address as the first sentinel that answers knows
// it.
func (s *Sentinel) MasterAddr() (string, error) {
	var err error
	for _, sn := range s.sentinels {
		var out string
		if out, err = do(sn.Addr(), "SENTINEL", "get-master-addr-by-name", SentinelMaster); err == nil {
			host, port, _ := strings.Cut(out, "\n")
			return net.JoinHostPort(host, port), nil
		}
	}
	return "", err
}

// StartReplica starts a private redis-server replicating master, and returns once the
// master counts it online.
func StartReplica(t testing.TB, master *Server) *Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr())
	r := startOn(t, freeAddr, false, "--replicaof", host, port)
	deadline := time.Now().Add(startTimeout)
	for {
		// In sync as the master sees it: the replica is online and acknowledging.
		info, err := do(master.Addr(), "INFO", "replication")
		if err == nil && strings.Contains(info, "port="+r.port()+",state=online") {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s of %s not in sync: %v %q", r.Addr(), master.Addr(), err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
