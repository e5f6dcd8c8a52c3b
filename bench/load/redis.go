package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// envRedisAddr names a shared Redis (host:port on loopback), as the project's tests use.
const envRedisAddr = "STEPUP_TEST_REDIS_ADDR"

var errNoRedis = errors.New("redis-server not found in PATH and " + envRedisAddr + " not set")

type redisServer struct {
	addr   string
	origin string    // "private redis-server" or the environment variable
	cmd    *exec.Cmd // nil for a shared server
	exited chan struct{}
	stderr bytes.Buffer
	prefix string // keys to delete from a shared server at exit
}

// startRedis returns the shared Redis named by STEPUP_TEST_REDIS_ADDR, or starts a
// private redis-server on a free loopback port, without persistence.
func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	if addr := os.Getenv(envRedisAddr); addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %v", envRedisAddr, addr, err)
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("%s=%q: the benchmark only uses loopback addresses", envRedisAddr, addr)
		}
		s := &redisServer{addr: net.JoinHostPort(host, port), origin: envRedisAddr}
		if err := waitRedis(ctx, s.addr, 3*time.Second, nil); err != nil {
			return nil, fmt.Errorf("%s=%s: %v", envRedisAddr, addr, err)
		}
		return s, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		s := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(ports[0]), origin: "private redis-server", exited: make(chan struct{})}
		s.cmd = exec.Command(bin,
			"--bind", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--daemonize", "no", "--loglevel", "warning")
		s.cmd.Stdout = &s.stderr
		s.cmd.Stderr = &s.stderr
		setPdeathsig(s.cmd)
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting redis-server: %w", err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		if lastErr = waitRedis(ctx, s.addr, 10*time.Second, s.exited); lastErr == nil {
			return s, nil
		}
		s.stop()
		lastErr = fmt.Errorf("redis-server on %s: %v: %s", s.addr, lastErr, bytes.TrimSpace(s.stderr.Bytes()))
	}
	return nil, lastErr
}

// waitRedis waits until addr answers PING.
func waitRedis(ctx context.Context, addr string, timeout time.Duration, exited <-chan struct{}) error {
	end := time.Now().Add(timeout)
	for {
		err := ping(addr)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(end) {
			return fmt.Errorf("no answer to PING within %v: %v", timeout, err)
		}
	}
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// stop kills a private server, or removes this run's keys from a shared one.
func (s *redisServer) stop() {
	if s.cmd == nil {
		if s.prefix != "" {
			s.deleteKeys()
		}
		return
	}
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *redisServer) deleteKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	iter := c.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			c.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}
