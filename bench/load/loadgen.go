package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The load generator is a minimal HTTP/1.1 keep-alive client on raw TCP: one
// pre-built request, a response parser that only looks at the status line and the
// framing headers, and the body discarded. It shares the CPU with Caddy and the
// upstream, so it is kept lean: its cost is the same in every scenario and dilutes
// every ratio toward 1, the less of it the stricter the comparison.

const (
	// samplesPerSecond bounds the latency samples kept per measured second (all
	// connections together); beyond it requests are counted but not timed.
	samplesPerSecond = 200_000
	dialTimeout      = 5 * time.Second
	// ioGrace bounds any single request past the end of a phase: a hung server fails
	// the run instead of hanging it.
	ioGrace = 10 * time.Second
)

// segmentResult is one measured run of one scenario.
type segmentResult struct {
	Requests int64 // completed in the measured phase, failed ones included
	Errors   int64 // failed requests, warm-up included
	// Retries counts idempotent requests sent again on a new connection because the
	// server closed theirs before answering (RFC 9110 §9.2.2 allows it);
	// Redials, connections the server reset while they were being made, with nothing
	// sent, and made again.
	Retries, Redials int64
	ErrKinds         map[string]int64
	Elapsed          time.Duration
	RPS              float64 // successful requests per second
	P50, P99         time.Duration
	Truncated        bool // some latencies were not recorded (sample buffer full)
	// CPU is the CPU time this process (load generator, Caddy, upstream) used in the
	// measured phase, ChildCPU that of the private redis-server, if the scenario uses it.
	CPU, ChildCPU time.Duration
	CPUPerReq     time.Duration // (CPU + ChildCPU) per successful request
	// Scripts is how many scripts Redis ran in the measured phase, for a scenario that
	// counts them (scenario.scriptsAt): one per Live question the cache did not answer.
	// -1 when they could not be counted.
	Scripts int64
}

type generator struct {
	workers []*worker
	all     []time.Duration // merge buffer for percentiles
	// measureHook, if set, runs right before and right after each measured phase.
	measureHook func(sc scenario, round int, begin bool)
}

type worker struct {
	cl      client
	samples []time.Duration // preallocated; len reset every phase
	n, errs int64
	retries int64
	kinds   map[string]int64
	full    bool
}

func newGenerator(conns int, d time.Duration) *generator {
	capTotal := max(int(d.Seconds()*samplesPerSecond), 10_000)
	per := capTotal/conns + 1
	g := &generator{all: make([]time.Duration, 0, per*conns)}
	for range conns {
		g.workers = append(g.workers, &worker{samples: make([]time.Duration, 0, per)})
	}
	return g
}

// run drives sc with every worker: warm-up, then the measured phase. Connections are
// dialed once per run and closed at its end.
func (g *generator) run(ctx context.Context, sc scenario, round int, warmup, d time.Duration) segmentResult {
	g.connect(sc, round, nil)
	if warmup > 0 {
		g.phase(ctx, warmup, false)
	}
	return g.measure(ctx, sc, round, d)
}

// firstSight sends every one of sc.cookies once, spread over the workers, and
// measures that as a phase: each user's first request, the one no cache of the
// gateway can answer. It gives up after limit.
func (g *generator) firstSight(ctx context.Context, sc scenario, limit time.Duration) segmentResult {
	var next atomic.Int64
	g.connect(sc, 0, &next)
	return g.measure(ctx, sc, -1, limit)
}

// connect points every worker at sc, with the cookies taken at random or, with
// next, each once in turn.
func (g *generator) connect(sc scenario, round int, next *atomic.Int64) {
	req := buildRequest(sc)
	var head []byte
	if len(sc.cookies) > 0 {
		head = buildRequest(scenario{method: sc.method, addr: sc.addr, path: sc.path})
		head = head[:len(head)-2] // without the blank line that ends the header
	}
	for i, w := range g.workers {
		w.cl.close()
		w.cl = client{addr: sc.addr, req: req, idempotent: sc.method == "" || sc.method == "GET",
			head: head, cookies: sc.cookies, next: next, rng: rand.New(rand.NewPCG(uint64(round), uint64(i)))}
		w.kinds = map[string]int64{}
		w.errs = 0
		w.retries = 0
	}
}

// measure runs the measured phase of sc (round -1: not a round, no profile).
func (g *generator) measure(ctx context.Context, sc scenario, round int, d time.Duration) segmentResult {
	hook := g.measureHook != nil && round >= 0
	if hook {
		g.measureHook(sc, round, true)
	}
	scripts0 := scriptsAt(sc.scriptsAt)
	cpu0, child0 := processCPU(), childCPUOf(sc.childPid)
	start := time.Now()
	g.phase(ctx, d, true)
	elapsed := time.Since(start)
	cpu, child := processCPU()-cpu0, childCPUOf(sc.childPid)-child0
	scripts := scriptsAt(sc.scriptsAt)
	if hook {
		g.measureHook(sc, round, false)
	}

	res := segmentResult{ErrKinds: map[string]int64{}, Elapsed: elapsed, CPU: cpu, ChildCPU: child, Scripts: -1}
	if scripts0 >= 0 && scripts >= 0 {
		res.Scripts = scripts - scripts0
	}
	g.all = g.all[:0]
	for _, w := range g.workers {
		w.cl.close()
		res.Requests += w.n
		res.Errors += w.errs
		res.Retries += w.cl.retries
		res.Redials += w.cl.redials
		res.Truncated = res.Truncated || w.full
		for k, v := range w.kinds {
			res.ErrKinds[k] += v
		}
		g.all = append(g.all, w.samples...)
	}
	slices.Sort(g.all)
	res.P50 = percentile(g.all, 0.50)
	res.P99 = percentile(g.all, 0.99)
	ok := int64(len(g.all))
	if res.Truncated {
		ok = res.Requests // errors in a truncated run are rare and fail it anyway
	}
	res.RPS = float64(ok) / elapsed.Seconds()
	if ok > 0 {
		res.CPUPerReq = (cpu + child) / time.Duration(ok)
	}
	return res
}

// scriptsAt returns scriptCalls(addr), or -1 without an address or an answer.
func scriptsAt(addr string) int64 {
	if addr == "" {
		return -1
	}
	n, err := scriptCalls(addr)
	if err != nil {
		return -1
	}
	return n
}

func childCPUOf(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	return childCPU(pid)
}

// phase runs every worker until d has passed, ctx ends or every worker has run out
// of requests to send. Latencies of successful requests are recorded when measure is
// set.
func (g *generator) phase(ctx context.Context, d time.Duration, measure bool) {
	var stop atomic.Bool
	deadline := time.Now().Add(d + ioGrace)
	var wg sync.WaitGroup
	for _, w := range g.workers {
		w.samples, w.n, w.full = w.samples[:0], 0, false
		wg.Go(func() { w.loop(&stop, deadline, measure) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-allDone:
	}
	t.Stop()
	stop.Store(true)
	<-allDone
	if !measure {
		for _, w := range g.workers {
			w.n = 0
		}
	}
}

func (w *worker) loop(stop *atomic.Bool, deadline time.Time, measure bool) {
	for !stop.Load() {
		t0 := time.Now()
		status, err := w.cl.do(deadline)
		lat := time.Since(t0)
		if errors.Is(err, errAllSent) {
			return
		}
		w.n++
		switch {
		case err != nil:
			w.fail("transport: " + err.Error())
			if errors.Is(err, errDial) {
				// Nothing listens: do not spin; the run is invalid anyway.
				time.Sleep(10 * time.Millisecond)
			}
		case status != 200:
			w.fail("status " + strconv.Itoa(status))
		case !measure:
		case len(w.samples) < cap(w.samples):
			w.samples = append(w.samples, lat)
		default:
			w.full = true
		}
	}
}

func (w *worker) fail(kind string) {
	w.errs++
	if len(w.kinds) < 20 || w.kinds[kind] > 0 {
		w.kinds[kind]++
	}
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func buildRequest(sc scenario) []byte {
	var b bytes.Buffer
	method := sc.method
	if method == "" {
		method = "GET"
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: stepup-bench/1\r\nAccept: application/json\r\n", method, sc.path, sc.addr)
	if method != "GET" {
		fmt.Fprintf(&b, "Content-Length: 0\r\nOrigin: http://%s\r\n", sc.addr)
	}
	if sc.cookie != "" {
		fmt.Fprintf(&b, "Cookie: %s\r\n", sc.cookie)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// client is one keep-alive connection, redialed after an error or Connection: close.
type client struct {
	addr string
	req  []byte
	c    net.Conn
	br   *bufio.Reader
	dl   time.Time // deadline set on c
	// idempotent requests are sent again, once, on a new connection when the server
	// closed theirs before any byte of an answer (RFC 9110 §9.2.2).
	idempotent bool
	retries    int64
	redials    int64
	// cookies, when set, makes each request carry one of them, at random or, with
	// next, each once in turn: head is the request without its Cookie header and
	// final blank line, buf where it is built.
	cookies []string
	next    *atomic.Int64
	head    []byte
	buf     []byte
	rng     *rand.Rand
}

var (
	errDial = errors.New("dial")
	// errNoAnswer: the connection failed before any byte of a response came back.
	errNoAnswer = errors.New("connection closed before any response")
	// errAllSent: every cookie was sent once (client.next); nothing was sent.
	errAllSent = errors.New("every cookie sent")
)

func (cl *client) close() {
	if cl.c != nil {
		cl.c.Close()
		cl.c = nil
	}
}

func (cl *client) do(deadline time.Time) (int, error) {
	if len(cl.cookies) > 0 {
		b := append(cl.buf[:0], cl.head...)
		b = append(b, "Cookie: "...)
		var i int
		if cl.next != nil {
			n := cl.next.Add(1) - 1
			if n >= int64(len(cl.cookies)) {
				return 0, errAllSent
			}
			i = int(n)
		} else {
			i = cl.rng.IntN(len(cl.cookies))
		}
		b = append(b, cl.cookies[i]...)
		b = append(b, "\r\n\r\n"...)
		cl.buf, cl.req = b, b
	}
	status, err := cl.once(deadline)
	for again := 0; err != nil && again < maxAgain; again++ {
		switch {
		case errors.Is(err, errDial) && errors.Is(err, syscall.ECONNRESET):
			// Reset while being made (a listener closing with the connection in its
			// queue): nothing was sent, so any request may be sent again.
			cl.redials++
		case cl.idempotent && errors.Is(err, errNoAnswer):
			cl.retries++
		default:
			return status, err
		}
		status, err = cl.once(deadline)
	}
	return status, err
}

// maxAgain bounds how often one request is sent again.
const maxAgain = 2

func (cl *client) once(deadline time.Time) (int, error) {
	if cl.c == nil {
		c, err := net.DialTimeout("tcp", cl.addr, dialTimeout)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errDial, err)
		}
		cl.c, cl.dl = c, time.Time{}
		if cl.br == nil {
			cl.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			cl.br.Reset(c)
		}
	}
	if !cl.dl.Equal(deadline) { // once per phase, not per request
		if err := cl.c.SetDeadline(deadline); err != nil {
			cl.close()
			return 0, err
		}
		cl.dl = deadline
	}
	if _, err := cl.c.Write(cl.req); err != nil {
		cl.close()
		return 0, fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	status, closeConn, err := readResponse(cl.br)
	if err != nil || closeConn {
		cl.close()
	}
	return status, err
}

// readResponse reads one response, discarding its body, and says whether the server
// will close the connection.
func readResponse(br *bufio.Reader) (status int, closeConn bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 {
			err = fmt.Errorf("%w: %v", errNoAnswer, err)
		}
		return 0, true, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, true, fmt.Errorf("bad status line %q", trimCRLF(line))
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, true, fmt.Errorf("bad status line %q", trimCRLF(line))
	}
	closeConn = line[7] == '0' // HTTP/1.0
	length, chunked := int64(-1), false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return status, true, err
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return status, true, fmt.Errorf("bad header line %q", line)
		}
		name, val := line[:i], bytes.TrimSpace(line[i+1:])
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.ParseInt(string(val), 10, 64); err != nil || length < 0 {
				return status, true, fmt.Errorf("bad Content-Length %q", val)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case asciiEqualFold(name, "Connection"):
			closeConn = closeConn || asciiEqualFold(val, "close")
		}
	}
	switch {
	case status/100 == 1 || status == 204 || status == 304:
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
	default: // body until close
		_, err = io.Copy(io.Discard, br)
		closeConn = true
	}
	if err != nil {
		return status, true, err
	}
	return status, closeConn, nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = trimCRLF(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(trimCRLF(line)) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}

func trimCRLF(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n")
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
