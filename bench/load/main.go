// Command load is the project's load benchmark. In one process and one run it starts
// a tiny upstream ("the console"), an in-process Caddy with four loopback servers that
// all reverse_proxy to it (plain, stepup with the memory store, stepup with the Redis
// store), signs in and binds TOTP through the gateway the way a real client would, then
// drives keep-alive load at each scenario in interleaved rounds and prints throughput
// and latency as ratios against plain reverse_proxy, next to the targets of
// DESIGN.md "Performance targets".
//
//	go run ./bench/load                      # 3 rounds of 5 s per scenario
//	go run ./bench/load -short               # ~10 s smoke run
//	go run ./bench/load -scenarios protected-redis,protected-redis-100k
//	    # plain, Redis with one user, and Redis with 100,000 (-users); then revocation
//	    # propagation (-propagation samples) and Redis memory per record (-memory N)
//	go run ./bench/load -cpuprofile cpu.out  # then: go tool pprof -top cpu.out
//	go run ./bench/load -cpuprofile cpu.out -cpuprofile-each -rounds 1
//	    # cpu.out.<scenario>.r1, one per measured phase; then e.g.
//	    # go tool pprof -top -diff_base cpu.out.plain.r1 cpu.out.protected-memory.r1
//
// Redis: STEPUP_TEST_REDIS_ADDR (host:port) if set, else a private redis-server on a
// free loopback port, stopped at exit. Without redis-server the Redis scenario is
// skipped (and said so). Everything listens and connects on 127.0.0.1 only.
//
// Exit status: 0 when every request succeeded (a target MISS is reported, not fatal),
// 1 when any request failed or the setup failed, 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(realMain())
}

func realMain() int {
	var (
		opt       Options
		short     bool
		scenarios string
	)
	flag.DurationVar(&opt.Duration, "duration", 5*time.Second, "measured time per scenario per round")
	flag.DurationVar(&opt.Warmup, "warmup", time.Second, "warm-up before each measured run")
	flag.IntVar(&opt.Conns, "conns", 32, "keep-alive connections (one worker each)")
	flag.IntVar(&opt.Propagation, "propagation", 500, "revocations timed from one store instance to two others on the bench's Redis (0: none)")
	flag.IntVar(&opt.Memory, "memory", 10_000, "users, sessions, step-up tokens and challenges made to measure Redis memory per each (0: none)")
	flag.IntVar(&opt.Users, "users", 100_000, "distinct users of "+scProtRedisMany)
	flag.IntVar(&opt.Rounds, "rounds", 3, "interleaved rounds; the median per scenario is reported")
	flag.BoolVar(&short, "short", false, "smoke run of about 10 s (duration 1s, warmup 250ms, 2 rounds)")
	flag.StringVar(&scenarios, "scenarios", "", "comma-separated subset of "+strings.Join(allScenarios, ",")+" (plain always runs)")
	flag.StringVar(&opt.CPUProfile, "cpuprofile", "", "write a CPU profile of the load phase (whole process: Caddy, module, upstream, load generator) to this file")
	flag.StringVar(&opt.RedisQuery, "redis-query", "", "query appended to the stepup Redis URL, to compare client options (e.g. protocol=2)")
	flag.BoolVar(&opt.ProfileEach, "cpuprofile-each", false, "with -cpuprofile FILE: write FILE.<scenario>.r<round>, one profile per measured phase, instead of one file\n(compare: go tool pprof -top -diff_base FILE.plain.r1 FILE.protected-memory.r1)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "load: unexpected arguments %q\n", flag.Args())
		return 2
	}
	if short {
		opt.Duration, opt.Warmup, opt.Rounds = time.Second, 250*time.Millisecond, 2
		opt.Propagation, opt.Memory, opt.Users = min(opt.Propagation, 50), min(opt.Memory, 1000), min(opt.Users, 10_000)
	}
	if scenarios != "" {
		opt.Scenarios = strings.Split(scenarios, ",")
	}
	if err := opt.check(); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		return 2
	}
	opt.Out = os.Stdout
	opt.RequireRedis = os.Getenv("CI") == "true"

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, opt)
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		return 1
	}
	if rep.Errors() > 0 {
		fmt.Fprintf(os.Stderr, "load: INVALID RUN: %d requests failed (see the table); the numbers above mean nothing\n", rep.Errors())
		return 1
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return 1
	}
	return 0
}
