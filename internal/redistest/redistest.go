// Package redistest gives tests a real Redis server: the shared one the test script
// starts, or a private redis-server owned by the test.
//
// Tests that only need "a Redis" call Addr and Prefix: with STEPUP_TEST_REDIS_ADDR set
// they all share that server, and the per-test key prefix keeps them apart without
// FLUSHDB. Fault tests that stop Redis mid-test call Start for a server of their own,
// and StartCluster gives a one-node Redis Cluster, which refuses the cross-slot
// operations a single server allows. ClusterAddrs gives a Cluster of three masters and
// three replicas (the test script's, shared); StartReplicatedCluster and StartSentinel
// give private ones whose nodes a test may kill.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis prints every failed dial to stderr, and the outage tests cause hundreds
// on purpose; what matters is asserted, not printed.
func init() { redis.SetLogger(quietRedis{}) }

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// EnvAddr names the environment variable holding the address (host:port) of a shared
// Redis server that tests use instead of starting their own.
const EnvAddr = "STEPUP_TEST_REDIS_ADDR"

// startTimeout bounds how long a fresh redis-server may take to answer.
const startTimeout = 10 * time.Second

// Addr returns the address of a Redis server for t: the shared one named by
// STEPUP_TEST_REDIS_ADDR, or else a private server that stops when t ends. Keys must be
// namespaced with Prefix, because the shared server is used by every test at once.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return addr
	}
	return Start(t).Addr()
}

// Prefix returns a key prefix unique to this call ("stepuptest:<hex>:"), so tests that
// share a server never see each other's keys.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	return "stepuptest:" + hex.EncodeToString(b[:]) + ":"
}

// A Server is a private redis-server process owned by one test. It keeps its port
// across Stop and Restart, so clients configured with Addr reconnect to the new process.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	addr    string
	cluster bool
	args    []string // more redis-server arguments
	// sentinel, for a sentinel, returns its config file for its address.
	sentinel func(addr string) string

	mu     sync.Mutex
	proc   *os.Process // nil while stopped
	exited chan error  // receives the process's exit status once
}

// Start runs a private redis-server on a free 127.0.0.1 port, without persistence, in
// a temporary directory, and returns once it answers. It is stopped when t ends.
//
// If redis-server is not installed the test is skipped, or fails when CI=true (the test
// script installs it there, so a missing binary is a broken environment).
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartWith is Start with more redis-server arguments, e.g. "--maxmemory", "1mb".
func StartWith(t testing.TB, args ...string) *Server {
	t.Helper()
	return start(t, false, args...)
}

// StartCluster is Start for a Redis Cluster of one node that serves every hash slot.
// Connect to it with a cluster client; it answers a command whose keys span slots
// with CROSSSLOT, as a real cluster does.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, cluster bool, args ...string) *Server {
	t.Helper()
	return startOn(t, freeAddr, cluster, args...)
}

// startOn starts a server on an address from pick, with more arguments.
func startOn(t testing.TB, pick func() (string, error), cluster bool, args ...string) *Server {
	t.Helper()
	return launch(t, &Server{cluster: cluster, args: args}, pick)
}

// launch starts the server s describes on an address from pick.
func launch(t testing.TB, s *Server, pick func() (string, error)) *Server {
	t.Helper()
	s.t, s.bin, s.dir = t, lookPath(t, "redis-server"), t.TempDir()
	t.Cleanup(s.Stop)

	// The port is free when we pick it but not reserved, so another process may take
	// it before redis-server binds; try a few ports before giving up.
	var err error
	for attempt := 0; ; attempt++ {
		s.addr, err = pick()
		if err == nil {
			err = s.start()
		}
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatalf("redistest: %v", err)
		}
	}
}

// lookPath finds a Redis binary. Without it the test is skipped, or fails when
// CI=true (the test script installs it there, so a missing binary is a broken
// environment).
func lookPath(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := "redistest: " + name + " not found; the test script installs it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// Addr returns the server's host:port. It stays the same across Stop and Restart.
func (s *Server) Addr() string { return s.addr }

// Socket returns the server's Unix socket, from its --unixsocket argument.
func (s *Server) Socket() string {
	if i := slices.Index(s.args, "--unixsocket"); i >= 0 && i+1 < len(s.args) {
		return s.args[i+1]
	}
	s.t.Fatal("redistest: the server has no --unixsocket")
	return ""
}

func (s *Server) port() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return port
}

// Stop kills the server and waits for it to exit, simulating an outage. The port stays
// with the Server for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited // the process is reaped; its "killed" status is expected
	s.proc, s.exited = nil, nil
}

// Restart starts the server again on the same port, empty (nothing is persisted; a
// cluster node keeps its slots), and returns once it answers. It fails the test if the
// server cannot start.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// start launches redis-server on s.addr and waits until it answers.
func (s *Server) start() error {
	host, port, _ := net.SplitHostPort(s.addr)
	logFile := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command(s.bin,
		"--bind", host,
		"--port", port,
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", logFile,
	)
	if s.sentinel == nil {
		// A replica gets its data at once, rather than after Redis 7's 5 s of
		// diskless-sync delay.
		cmd.Args = append(cmd.Args, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	} else {
		// A sentinel reads, and rewrites, a config file of its own.
		conf := filepath.Join(s.dir, "sentinel.conf")
		if _, err := os.Stat(conf); err != nil {
			if err := os.WriteFile(conf, []byte(s.sentinel(s.addr)), 0o600); err != nil {
				return err
			}
		}
		cmd.Args = append([]string{s.bin, conf, "--sentinel"}, cmd.Args[1:]...)
	}
	if s.cluster {
		cmd.Args = append(cmd.Args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes-"+port+".conf"))
	}
	cmd.Args = append(cmd.Args, s.args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %v", err)
	}
	// One goroutine waits for the process, so both a startup failure and Stop learn
	// of its exit from the channel.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(startTimeout)
	for !s.answers(cmd.Process.Pid) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on %s exited during startup (%v): %s", s.addr, err, tail(logFile))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer within %v: %s", s.addr, startTimeout, tail(logFile))
		}
	}
	s.mu.Lock()
	s.proc, s.exited = cmd.Process, exited
	s.mu.Unlock()
	if s.cluster {
		if err := s.serveAllSlots(deadline); err != nil {
			s.Stop()
			return fmt.Errorf("redis-server on %s: %v: %s", s.addr, err, tail(logFile))
		}
	}
	return nil
}

// serveAllSlots gives this node every hash slot, unless its config file already did
// (on Restart), and waits until the cluster reports itself ok.
func (s *Server) serveAllSlots(deadline time.Time) error {
	info, err := do(s.addr, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_slots_assigned:16384") {
		// ADDSLOTS rather than ADDSLOTSRANGE, which needs Redis 7.
		args := []string{"CLUSTER", "ADDSLOTS"}
		for slot := range 16384 {
			args = append(args, strconv.Itoa(slot))
		}
		if _, err := do(s.addr, args...); err != nil {
			return err
		}
	}
	for {
		info, err := do(s.addr, "CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok in time (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server on s.addr is the process pid, so a stranger that
// took the port first is not mistaken for ours.
func (s *Server) answers(pid int) bool {
	info, err := do(s.addr, "INFO", "server")
	if err != nil {
		return false
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			got, err := strconv.Atoi(v)
			return err == nil && got == pid
		}
	}
	return false
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// do sends one command in the Redis protocol and returns a status, integer or bulk
// reply as text, and an array as its elements' text, one a line (nested arrays
// flattened), so the harness needs no Redis client of its own.
func do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, req.String()); err != nil {
		return "", err
	}
	reply, err := readReply(bufio.NewReader(c))
	if err != nil {
		var re replyError
		if errors.As(err, &re) {
			return "", fmt.Errorf("%s %s: %s", args[0], args[1%len(args)], string(re))
		}
	}
	return reply, err
}

// replyError is an error reply of the server.
type replyError string

func (e replyError) Error() string { return string(e) }

// readReply reads one reply of any type.
func readReply(r *bufio.Reader) (string, error) {
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	head = strings.TrimSuffix(head, "\r\n")
	if head == "" {
		return "", errors.New("empty reply")
	}
	switch head[0] {
	case '+', ':':
		return head[1:], nil
	case '-':
		return "", replyError(head[1:])
	case '$':
		n, err := strconv.Atoi(head[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk reply %q", head)
		}
		if n < 0 {
			return "", nil // a nil bulk string
		}
		body := make([]byte, n+2) // and its CRLF
		_, err = io.ReadFull(r, body)
		return string(body[:n]), err
	case '*':
		n, err := strconv.Atoi(head[1:])
		if err != nil {
			return "", fmt.Errorf("bad array reply %q", head)
		}
		var out []string
		for range max(n, 0) {
			e, err := readReply(r)
			if err != nil {
				return "", err
			}
			out = append(out, e)
		}
		return strings.Join(out, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", head)
}

// tail returns the end of the server log, to explain a failed start.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "log: " + strconv.Quote(string(b))
}
