package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Scenario names, in the order they run within a round (rotated each round).
const (
	scPlain       = "plain"
	scUnprotected = "unprotected"
	scProtMemory  = "protected-memory"
	scProtRedis   = "protected-redis"
	// scUnprotBound is an unprotected route of the Redis server, which has
	// bind_console_session on, with the console's session cookie: every request has
	// its console session checked against the gateway session.
	scUnprotBound = "unprotected-bound-redis"
	// scProtRedisMany is the protected route of the Redis server with every request
	// from one of Options.Users distinct users (users.go). Before the first round each
	// user makes one request, measured and reported apart (ScenarioResult.FirstSight):
	// the cost of a user no cache of the gateway knows yet, tokens verified and Redis
	// asked. The rounds then measure a gateway these users are all active on: each
	// request from one of them at random, as their browsers come back.
	scProtRedisMany = "protected-redis-100k"
)

var allScenarios = []string{scPlain, scUnprotected, scProtMemory, scProtRedis, scUnprotBound, scProtRedisMany}

// redisScenarios are those that need Redis.
var redisScenarios = []string{scProtRedis, scUnprotBound, scProtRedisMany}

// Options configures a run.
type Options struct {
	Duration time.Duration // measured time per scenario per round
	Warmup   time.Duration // unmeasured load before each measured run
	Conns    int           // keep-alive connections, one worker each
	Rounds   int
	// Users is how many distinct users protected-redis-100k spreads its requests over
	// (100,000 when zero).
	Users int
	// Propagation is how many revocations to time from one store instance to two
	// others (0: none); Memory how many users, sessions, step-up tokens and challenges
	// to make to measure Redis memory per each (0: none). Both need Redis.
	Propagation, Memory int
	// Scenarios restricts the run to these (plain always runs: it is the baseline).
	Scenarios []string
	// RequireRedis makes a missing redis-server an error instead of a skipped scenario.
	RequireRedis bool
	// RedisQuery is appended to the Redis URL (e.g. "protocol=2"), to compare client
	// options.
	RedisQuery string
	CPUProfile string
	// ProfileEach writes CPUProfile.<scenario>.r<round> for each measured phase instead
	// of one profile of the whole load phase.
	ProfileEach bool
	Out         io.Writer // the report; progress goes here too
}

func (o *Options) check() error {
	switch {
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return fmt.Errorf("-duration must be in (0, 10m], got %v", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return fmt.Errorf("-warmup must be in [0, 1m], got %v", o.Warmup)
	case o.Conns < 1 || o.Conns > 1024:
		return fmt.Errorf("-conns must be in [1, 1024], got %d", o.Conns)
	case o.Rounds < 1 || o.Rounds > 50:
		return fmt.Errorf("-rounds must be in [1, 50], got %d", o.Rounds)
	case o.Propagation < 0 || o.Propagation > 100_000:
		return fmt.Errorf("-propagation must be in [0, 100000], got %d", o.Propagation)
	case o.Memory < 0 || o.Memory > 1_000_000:
		return fmt.Errorf("-memory must be in [0, 1000000], got %d", o.Memory)
	case o.Users < 0 || o.Users > 10_000_000:
		return fmt.Errorf("-users must be in [1, 10000000], got %d", o.Users)
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("unknown scenario %q (expected %v)", s, allScenarios)
		}
	}
	return nil
}

func (o *Options) wants(s string) bool {
	return s == scPlain || len(o.Scenarios) == 0 || slices.Contains(o.Scenarios, s)
}

// scenario is one load target: a server, a path and the cookies to send.
type scenario struct {
	name   string
	method string // "" for GET
	addr   string // 127.0.0.1:port
	path   string
	cookie string // Cookie header value, "" for none
	// childPid is the private redis-server the scenario uses (its CPU is counted), or 0.
	childPid int
	// cookies, when set, replaces cookie: each request carries one of them at random.
	cookies []string
	// scriptsAt is the Redis server whose script runs are counted, or "".
	scriptsAt string
}

// Report is the outcome of a run.
type Report struct {
	Scenarios []*ScenarioResult
}

// Errors is the number of failed requests over every scenario and round.
func (r *Report) Errors() int64 {
	var n int64
	for _, s := range r.Scenarios {
		n += s.Errors
	}
	return n
}

// Get returns the result of the named scenario, or nil.
func (r *Report) Get(name string) *ScenarioResult {
	for _, s := range r.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ScenarioResult aggregates one scenario over the rounds (medians).
type ScenarioResult struct {
	Name    string
	Skipped string // why the scenario did not run, or ""
	Rounds  []segmentResult

	Requests int64   // over all rounds (measured phases only)
	Errors   int64   // over all rounds, warm-up included
	RPS      float64 // median over rounds
	Ratio    float64 // median over rounds of RPS / plain RPS in the same round
	P50, P99 time.Duration
	P99Added time.Duration // median over rounds of p99 - plain p99 in the same round
	// CPUPerReq is the median CPU time per request (this process, plus the private
	// redis-server for the Redis scenario); CPURatio the median over rounds of plain's
	// CPUPerReq / this one's: the capacity ratio if CPU were the only limit. It depends
	// far less on other work on the machine than throughput does.
	CPUPerReq time.Duration
	CPURatio  float64
	ErrKinds  map[string]int64
	// LiveHits is the median over rounds of the share of requests whose Live question
	// the cache answered (1 - scripts run / requests), or -1 when not counted.
	LiveHits float64
	// FirstSight, for protected-redis-100k, is the pass before the rounds in which
	// every user made one request; its errors are in Errors. HeapGrowth is how much
	// the process's live heap grew over it: what the gateway keeps about that many
	// users (its live cache and verified tokens).
	FirstSight *segmentResult
	HeapGrowth int64
}

// firstSightLimit bounds the pass in which every user of protected-redis-100k makes
// its first request.
const firstSightLimit = 5 * time.Minute

// Run sets everything up, runs the rounds, prints the report to o.Out and tears
// everything down. It returns an error only when the benchmark could not run.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	env, err := setup(ctx, o, out)
	if env != nil {
		defer env.close()
	}
	if err != nil {
		return nil, err
	}

	var scs []scenario
	results := map[string]*ScenarioResult{}
	rep := &Report{}
	for _, name := range allScenarios {
		if !o.wants(name) {
			continue
		}
		r := &ScenarioResult{Name: name, ErrKinds: map[string]int64{}}
		rep.Scenarios = append(rep.Scenarios, r)
		results[name] = r
		sc, why := env.scenario(name)
		if why != "" {
			r.Skipped = why
			continue
		}
		scs = append(scs, sc)
	}

	fmt.Fprintf(out, "load: %d scenarios x %d rounds x (%v warm-up + %v measured), %d connections, GOMAXPROCS=%d, NumCPU=%d, %s%s\n",
		len(scs), o.Rounds, o.Warmup, o.Duration, o.Conns, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), loadavg())

	g := newGenerator(o.Conns, o.Duration)
	switch {
	case o.CPUProfile != "" && o.ProfileEach:
		// One profile per scenario and round, of the measured phase only.
		var f *os.File
		var profErr error
		g.measureHook = func(sc scenario, round int, begin bool) {
			if !begin {
				pprof.StopCPUProfile()
				f.Close()
				return
			}
			if f, profErr = os.Create(fmt.Sprintf("%s.%s.r%d", o.CPUProfile, sc.name, round+1)); profErr == nil {
				if profErr = pprof.StartCPUProfile(f); profErr != nil {
					f.Close()
				}
			}
			if profErr != nil {
				fmt.Fprintf(out, "load: cpu profile: %v\n", profErr)
				f = nil
			}
		}
	case o.CPUProfile != "":
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	for _, sc := range scs {
		if sc.name != scProtRedisMany {
			continue
		}
		fmt.Fprintf(out, "first sight: each of the %d users of %s makes one request:", len(sc.cookies), sc.name)
		before := liveHeap()
		seg := g.firstSight(ctx, sc, firstSightLimit)
		r := results[sc.name]
		r.FirstSight = &seg
		r.HeapGrowth = int64(liveHeap()) - int64(before)
		r.Errors += seg.Errors
		for k, v := range seg.ErrKinds {
			r.ErrKinds[k] += v
		}
		fmt.Fprintf(out, " %d in %.1fs, %.0f/s\n", seg.Requests, seg.Elapsed.Seconds(), seg.RPS)
		if seg.Requests != int64(len(sc.cookies)) && ctx.Err() == nil {
			return nil, fmt.Errorf("first sight: %d of %d users made their request within %v", seg.Requests, len(sc.cookies), firstSightLimit)
		}
	}
	for round := 0; round < o.Rounds; round++ {
		fmt.Fprintf(out, "round %d/%d:", round+1, o.Rounds)
		for i := range scs {
			sc := scs[(i+round)%len(scs)] // rotate the order so no scenario always goes first
			if ctx.Err() != nil {
				fmt.Fprintln(out)
				return nil, ctx.Err()
			}
			runtime.GC() // every scenario starts from the same heap state
			seg := g.run(ctx, sc, round, o.Warmup, o.Duration)
			r := results[sc.name]
			r.Rounds = append(r.Rounds, seg)
			r.Requests += seg.Requests
			r.Errors += seg.Errors
			for k, v := range seg.ErrKinds {
				r.ErrKinds[k] += v
			}
			fmt.Fprintf(out, " %s %.0f/s", sc.name, seg.RPS)
		}
		fmt.Fprintln(out)
	}
	if o.CPUProfile != "" && !o.ProfileEach {
		pprof.StopCPUProfile()
	}
	aggregate(rep, results[scPlain])
	printReport(out, rep, o, env)
	if env.redis != nil && o.Propagation > 0 {
		if err := measurePropagation(ctx, out, env.redis.addr, o.Propagation); err != nil {
			return nil, fmt.Errorf("revocation propagation: %w", err)
		}
	}
	if env.redis != nil && o.Memory > 0 {
		if err := measureMemory(ctx, out, env.redis.addr, o.Memory); err != nil {
			return nil, fmt.Errorf("redis memory: %w", err)
		}
	}
	if la := loadavg(); la != "" {
		fmt.Fprintf(out, "at the end:%s\n", la)
	}
	return rep, nil
}

// aggregate fills the medians. Ratios and added latency are taken per round against
// plain in the same round, then the median over rounds: drifts of the machine between
// rounds cancel out.
func aggregate(rep *Report, plain *ScenarioResult) {
	for _, r := range rep.Scenarios {
		n := len(r.Rounds)
		if n == 0 {
			continue
		}
		var rps, ratio, cpuRatio []float64
		var p50, p99, added, cpu []time.Duration
		for i, seg := range r.Rounds {
			rps = append(rps, seg.RPS)
			p50 = append(p50, seg.P50)
			p99 = append(p99, seg.P99)
			cpu = append(cpu, seg.CPUPerReq)
			if plain != nil && i < len(plain.Rounds) && plain.Rounds[i].RPS > 0 {
				ratio = append(ratio, seg.RPS/plain.Rounds[i].RPS)
				added = append(added, seg.P99-plain.Rounds[i].P99)
				if seg.CPUPerReq > 0 {
					cpuRatio = append(cpuRatio, float64(plain.Rounds[i].CPUPerReq)/float64(seg.CPUPerReq))
				}
			}
		}
		r.CPUPerReq = median(cpu)
		r.CPURatio = median(cpuRatio)
		r.RPS = median(rps)
		r.Ratio = median(ratio)
		r.P50 = median(p50)
		r.P99 = median(p99)
		r.P99Added = median(added)
		var hits []float64
		for _, seg := range r.Rounds {
			if seg.Scripts >= 0 && seg.Requests > 0 {
				hits = append(hits, max(0, 1-float64(seg.Scripts)/float64(seg.Requests)))
			}
		}
		r.LiveHits = -1
		if len(hits) > 0 {
			r.LiveHits = median(hits)
		}
	}
}

// liveHeap returns the bytes of heap in use right after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// loadavg returns ", load average X Y Z" where the OS tells it: other work on the
// machine during the run skews every number, ratios included.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return " load average " + strings.Join(f[:3], " ")
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
