package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/internal/redistest"
)

// reloads is how many configs the test loads through the admin API under load.
const reloads = 50

var reloadTmpl = template.Must(template.New("Caddyfile").Parse(`{
	admin {{.Admin}}
	persist_config off
	auto_https off
	storage file_system {{.Storage}}
	log default {
		output stderr
		level ERROR
	}
}

http://:{{.Port}} {
	bind 127.0.0.1
	stepup {
		store redis {{.RedisURL}} {{.Prefix}}
		signing_key {{.SigningKey}}
		encryption_key {{.EncryptionKey}}
		login /login {
			success_status 303
			success_cookie console_session
		}
		bind_console_session
		protect /api/protected/* {
			max_age 5m
		}
		token_lifetime {{.TokenLifetime}}
	}
	# Caddy cleans an old config's modules up while its server still finishes the
	# requests it has (a reload does not wait for them), so the connections its
	# reverse_proxy had in use then stay idle in the old transport until the
	# keep-alive timeout, 2 minutes by default: short here, so that what the goroutine
	# count measures after the reloads is what stays.
	reverse_proxy {{.Upstream}} {
		transport http {
			keepalive 300ms
		}
	}
}
`))

// TestReloadsUnderLoad loads 50 configs through Caddy's admin API (POST /load) while
// the load generator drives a Redis-backed stepup server with idempotent GETs and with
// POSTs on keep-alive connections. No GET may fail: one whose connection a reload
// closed before it was answered is sent again on a new one, as a browser does (RFC
// 9110 §9.2.2). A POST may fail that way by HTTP's rules, and is counted apart. No
// goroutine and no Redis connection may be left over: the configs share one store,
// one client and one subscriber, and the last config takes them with it.
func TestReloadsUnderLoad(t *testing.T) {
	srv := redistest.Start(t) // private: its connections are ours alone
	probe := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { probe.Close() })
	redisConns := func() int {
		list, err := probe.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "\n") - 1 // the probe's own is not ours
	}

	var out bytes.Buffer
	e := &env{out: &out}
	var err error
	if e.tmp, err = os.MkdirTemp("", "stepup-reload-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(e.tmp) })
	upstream, err := e.startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.upstream.Close() })

	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	admin, addr := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	data := map[string]any{
		"Admin": admin, "Storage": e.tmp, "Port": ports[1], "Upstream": upstream,
		"RedisURL": "redis://" + srv.Addr() + "/0", "Prefix": redistest.Prefix(t),
		"SigningKey": hmacKey(), "EncryptionKey": hmacKey(), "TokenLifetime": "1h",
	}
	config := func(i int) []byte {
		data["TokenLifetime"] = []string{"1h", "59m"}[i%2] // each reload changes the config
		var b bytes.Buffer
		if err := reloadTmpl.Execute(&b, data); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}

	goroutinesAtStart := settledGoroutines()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(config(0), map[string]any{"filename": "reload.Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	caddyUp := true
	t.Cleanup(func() {
		if caddyUp {
			_ = caddy.Stop()
		}
	})
	ctx := context.Background()
	cookie, err := obtainCredentials(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	get := scenario{name: "get", addr: addr, path: protectedPath, cookie: cookie}
	post := scenario{name: "post", method: "POST", addr: addr, path: protectedPath, cookie: cookie}

	// Warm up, so the pools hold what this load needs, then measure.
	warm := newGenerator(8, time.Second)
	if r := warm.run(ctx, get, 0, 0, time.Second); r.Errors != 0 || r.Requests == 0 {
		t.Fatalf("warm-up: %d requests, %d failed: %v", r.Requests, r.Errors, r.ErrKinds)
	}
	goroutinesBefore, connsBefore := settledGoroutines(), redisConns()

	loadCtx, stopLoad := context.WithCancel(ctx)
	var gets, posts segmentResult
	var wg sync.WaitGroup
	wg.Go(func() { gets = newGenerator(6, time.Second).run(loadCtx, get, 0, 0, 5*time.Minute) })
	wg.Go(func() { posts = newGenerator(2, time.Second).run(loadCtx, post, 0, 0, 5*time.Minute) })
	started := time.Now()
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 1; i <= reloads; i++ {
		req, _ := http.NewRequest("POST", "http://"+admin+"/load", bytes.NewReader(config(i)))
		req.Header.Set("Content-Type", "text/caddyfile")
		resp, err := client.Do(req)
		if err != nil {
			stopLoad()
			wg.Wait()
			t.Fatalf("reload %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			stopLoad()
			wg.Wait()
			t.Fatalf("reload %d: %d %s", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let load run on each config
	}
	reloadTime := time.Since(started)
	stopLoad()
	wg.Wait()
	goroutinesAfter, connsAfter := settledGoroutines(), redisConns()

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	caddyUp = false
	goroutinesAtEnd, connsAtEnd := settledGoroutines(), redisConns()

	t.Logf("%d reloads in %.1fs under load: GET %d requests, %d failed, %d sent again after a reload closed their connection unanswered; POST %d requests, %d failed %v; connections reset while being made (nothing sent) and made again: %d GET, %d POST; goroutines %d before, %d after (%d before Caddy, %d after it stopped); Redis connections %d before, %d after (%d after Caddy stopped)",
		reloads, reloadTime.Seconds(), gets.Requests, gets.Errors, gets.Retries, posts.Requests, posts.Errors, errKinds(posts.ErrKinds), gets.Redials, posts.Redials,
		goroutinesBefore, goroutinesAfter, goroutinesAtStart, goroutinesAtEnd, connsBefore, connsAfter, connsAtEnd)
	if gets.Requests == 0 || posts.Requests == 0 {
		t.Fatal("the load generator sent nothing")
	}
	if gets.Errors != 0 {
		t.Errorf("%d idempotent requests failed across reloads: %v", gets.Errors, gets.ErrKinds)
	}
	for kind := range posts.ErrKinds {
		if !strings.Contains(kind, errNoAnswer.Error()) {
			t.Errorf("a POST failed otherwise than by its connection closing unanswered: %s", kind)
		}
	}
	// A leak grows with the reloads. One client's pool may keep up to its size of
	// idle connections (go-redis: 10 per CPU), plus the revocation subscriber's,
	// after serving more load at once than the warm-up did; a second client would not
	// fit beside them for long, and fifty would not.
	if goroutinesAfter > goroutinesBefore+8 {
		t.Errorf("goroutines: %d before %d reloads, %d after", goroutinesBefore, reloads, goroutinesAfter)
	}
	if onePool := 10*runtime.GOMAXPROCS(0) + 1; connsAfter > max(connsBefore, onePool) {
		t.Errorf("Redis connections: %d before %d reloads, %d after; one client holds at most %d", connsBefore, reloads, connsAfter, onePool)
	}
	if connsAtEnd != 0 {
		t.Errorf("%d Redis connections left once Caddy stopped", connsAtEnd)
	}
	if goroutinesAtEnd > goroutinesAtStart+2 {
		t.Errorf("goroutines: %d before Caddy started, %d after it stopped", goroutinesAtStart, goroutinesAtEnd)
	}
}

// errKinds sums failures by kind, without the connections' addresses.
func errKinds(kinds map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, n := range kinds {
		out[addrs.ReplaceAllString(k, "")] += n
	}
	return out
}

var addrs = regexp.MustCompile(` tcp [0-9.:]+->[0-9.:]+`)

// settledGoroutines waits until the number of goroutines stops changing (timers and
// closing connections finish) and returns it.
func settledGoroutines() int {
	n, stable := runtime.NumGoroutine(), 0
	for i := 0; i < 500 && stable < 50; i++ { // unchanged for a second, within ten
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			stable++
		} else {
			n, stable = m, 0
		}
	}
	return n
}
