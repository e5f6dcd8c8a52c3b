package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stepup/stepup/caddymodule"
	"github.com/caddy-stepup/stepup/token"
)

const (
	protectedPath   = "/api/protected/x"
	unprotectedPath = "/public/x"
	cookiesPath     = "/public/cookies"
	consoleCookie   = "console_session"
	benchUser       = "bench"
	upstreamBodyLen = 200
)

// env is everything a run needs: the upstream, Redis, Caddy, and the credentials a
// client obtained through each stepup server.
type env struct {
	out      io.Writer
	tmp      string
	upstream *http.Server
	redis    *redisServer // nil when skipped
	redisWhy string       // why the Redis scenario is skipped
	caddyUp  bool

	plainAddr, memAddr, redisAddr string
	memCookie, redisCookie        string // session + step-up token
	// signingKey is the Redis server's signing_key, redisPrefix its key prefix.
	signingKey, redisPrefix string
	// manyCookies are the users of protected-redis-100k (session + step-up token each).
	manyCookies []string
}

func setup(ctx context.Context, o Options, out io.Writer) (*env, error) {
	e := &env{out: out}
	var err error
	if e.tmp, err = os.MkdirTemp("", "stepup-bench-"); err != nil {
		return nil, err
	}

	upAddr, err := e.startUpstream()
	if err != nil {
		return e, fmt.Errorf("upstream: %w", err)
	}

	var redisURL, redisPrefix string
	if slices.ContainsFunc(redisScenarios, o.wants) {
		e.redis, err = startRedis(ctx, e.tmp)
		switch {
		case errors.Is(err, errNoRedis):
			if o.RequireRedis {
				return e, fmt.Errorf("%v; CI=true requires it (set %s or install redis-server)", err, envRedisAddr)
			}
			e.redisWhy = err.Error()
			fmt.Fprintf(out, "load: %v: skipping the Redis scenarios\n", err)
		case err != nil:
			return e, err
		default:
			redisURL = "redis://" + e.redis.addr + "/0"
			if o.RedisQuery != "" {
				redisURL += "?" + o.RedisQuery
			}
			redisPrefix = "stepupbench:" + randomHex(8) + ":"
			e.redis.prefix = redisPrefix // removed from a shared server at exit
			fmt.Fprintf(out, "load: redis %s (%s), store URL %s, key prefix %s\n", e.redis.addr, e.redis.origin, redisURL, redisPrefix)
		}
	}

	if err := e.startCaddy(upAddr, redisURL, redisPrefix); err != nil {
		return e, err
	}

	// Credentials the way a real client gets them: sign in through the gateway, hit the
	// protected route, bind TOTP on the challenge page, and keep the cookies.
	if e.memCookie, err = obtainCredentials(ctx, e.memAddr); err != nil {
		return e, fmt.Errorf("stepup-memory (%s): %w", e.memAddr, err)
	}
	if e.redis != nil {
		if e.redisCookie, err = obtainCredentials(ctx, e.redisAddr); err != nil {
			return e, fmt.Errorf("stepup-redis (%s): %w", e.redisAddr, err)
		}
	}
	if e.redis != nil && o.wants(scProtRedisMany) {
		n := cmp.Or(o.Users, 100_000)
		start := time.Now()
		if e.manyCookies, err = makeUsers(ctx, e.redis.addr, redisPrefix, []byte(e.signingKey), n); err != nil {
			return e, err
		}
		took := time.Since(start)
		fmt.Fprintf(out, "load: %s: %d users, each a gateway session and a step-up token, made in %v (%.0f users/s)\n",
			scProtRedisMany, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	}
	if err := e.sanityCheck(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// scenario returns the load target for name, or why it cannot run.
func (e *env) scenario(name string) (scenario, string) {
	switch name {
	case scPlain:
		// The same request bytes as the module scenarios: only the server differs.
		return scenario{name: name, addr: e.plainAddr, path: protectedPath, cookie: e.memCookie}, ""
	case scUnprotected:
		return scenario{name: name, addr: e.memAddr, path: unprotectedPath, cookie: e.memCookie}, ""
	case scProtMemory:
		return scenario{name: name, addr: e.memAddr, path: protectedPath, cookie: e.memCookie}, ""
	case scProtRedis, scUnprotBound:
		if e.redis == nil {
			return scenario{}, e.redisWhy
		}
		// protected-redis as before the console session feature: without the console's
		// cookie; the bound scenario with it, on an unprotected route.
		sc := scenario{name: name, addr: e.redisAddr, path: protectedPath, cookie: withoutConsole(e.redisCookie)}
		if name == scUnprotBound {
			sc.path, sc.cookie = unprotectedPath, e.redisCookie
		}
		if e.redis.cmd != nil {
			sc.childPid = e.redis.cmd.Process.Pid
		}
		return sc, ""
	case scProtRedisMany:
		if e.redis == nil {
			return scenario{}, e.redisWhy
		}
		sc := scenario{name: name, addr: e.redisAddr, path: protectedPath, cookies: e.manyCookies, scriptsAt: e.redis.addr}
		if e.redis.cmd != nil {
			sc.childPid = e.redis.cmd.Process.Pid
		}
		return sc, ""
	}
	return scenario{}, "unknown scenario"
}

func (e *env) close() {
	if e.caddyUp {
		if err := caddy.Stop(); err != nil {
			fmt.Fprintf(e.out, "load: stopping caddy: %v\n", err)
		}
	}
	if e.upstream != nil {
		_ = e.upstream.Close()
	}
	if e.redis != nil {
		e.redis.stop()
	}
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}

// startUpstream starts the "console": 200 and a fixed ~200-byte body for any path,
// except POST /login, a successful sign-in answered with 303.
func (e *env) startUpstream() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	body := bytes.Repeat([]byte("x"), upstreamBodyLen-1)
	body = append(body, '\n')
	copy(body, "caddy-stepup bench upstream: ")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/login" {
			_, _ = io.Copy(io.Discard, r.Body)
			http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: randomHex(16), Path: "/", HttpOnly: true})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if r.URL.Path == cookiesPath { // what reached the console, for the sanity check
			_, _ = io.WriteString(w, r.Header.Get("Cookie"))
			return
		}
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hd["Content-Length"] = []string{strconv.Itoa(len(body))}
		_, _ = w.Write(body)
	})
	e.upstream = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() { _ = e.upstream.Serve(ln) }()
	return ln.Addr().String(), nil
}

var caddyfileTmpl = template.Must(template.New("Caddyfile").Parse(`{
	admin off
	persist_config off
	auto_https off
	storage file_system {{.Storage}}
	log default {
		output stderr
		level ERROR
	}
}

# a. plain reverse_proxy
http://:{{.PlainPort}} {
	bind 127.0.0.1
	reverse_proxy {{.Upstream}}
}

# b. stepup, memory store (demo mode: random keys)
http://:{{.MemPort}} {
	bind 127.0.0.1
	stepup {
		store memory
		login /login {
			success_status 303
		}
		protect /api/protected/* {
			max_age 5m
		}
		token_lifetime 1h
	}
	reverse_proxy {{.Upstream}}
}
{{if .RedisURL}}
# c. stepup, Redis store
http://:{{.RedisPort}} {
	bind 127.0.0.1
	stepup {
		store redis {{.RedisURL}} {{.RedisPrefix}}
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
		token_lifetime 1h
	}
	reverse_proxy {{.Upstream}}
}
{{end}}`))

func (e *env) startCaddy(upstream, redisURL, redisPrefix string) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // free ports can be taken before Caddy binds them
		ports, err := freePorts(3)
		if err != nil {
			return err
		}
		e.signingKey, e.redisPrefix = hmacKey(), redisPrefix
		data := map[string]any{
			"Storage": e.tmp, "Upstream": upstream,
			"PlainPort": ports[0], "MemPort": ports[1], "RedisPort": ports[2],
			"RedisURL": redisURL, "RedisPrefix": redisPrefix,
			"SigningKey": e.signingKey, "EncryptionKey": hmacKey(),
		}
		var cf bytes.Buffer
		if err := caddyfileTmpl.Execute(&cf, data); err != nil {
			return err
		}
		cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(cf.Bytes(), map[string]any{"filename": "bench.Caddyfile"})
		if err != nil {
			return fmt.Errorf("adapting the Caddyfile: %w", err)
		}
		for _, w := range warnings {
			fmt.Fprintf(e.out, "load: caddyfile warning: %s:%d: %s\n", w.File, w.Line, w.Message)
		}
		if lastErr = caddy.Load(cfg, true); lastErr == nil {
			e.caddyUp = true
			e.plainAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
			e.memAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
			e.redisAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
			return nil
		}
	}
	return fmt.Errorf("starting caddy: %w", lastErr)
}

// sanityCheck makes sure each scenario measures what it claims: every request
// reaches the upstream, and the protected route really is protected (refused without
// the step-up token).
func (e *env) sanityCheck(ctx context.Context) error {
	type check struct {
		addr, path, cookie string
		want               int
	}
	checks := []check{
		{e.plainAddr, protectedPath, "", 200},
		{e.memAddr, unprotectedPath, "", 200},
		{e.memAddr, protectedPath, e.memCookie, 200},
		{e.memAddr, protectedPath, onlySession(e.memCookie), 401},
	}
	if e.redis != nil {
		checks = append(checks,
			check{e.redisAddr, protectedPath, e.redisCookie, 200},
			check{e.redisAddr, protectedPath, onlySession(e.redisCookie), 401})
	}
	if n := len(e.manyCookies); n > 0 {
		for _, c := range []string{e.manyCookies[0], e.manyCookies[n-1]} {
			checks = append(checks,
				check{e.redisAddr, protectedPath, c, 200},
				check{e.redisAddr, protectedPath, onlySession(c), 401})
		}
	}
	if e.redis != nil {
		// The bound scenario measures the check: the console cookie reaches the console
		// beside its gateway session, and never without it.
		console := consoleOnly(e.redisCookie)
		for _, c := range []struct {
			cookie string
			want   bool
		}{{e.redisCookie, true}, {console, false}} {
			_, body, err := do(ctx, http.MethodGet, "http://"+e.redisAddr+cookiesPath, nil, map[string]string{"Cookie": c.cookie})
			if err != nil {
				return err
			}
			if got := strings.Contains(string(body), console); console == "" || got != c.want {
				return fmt.Errorf("sanity check: bind_console_session: console cookie %q reached the console %v, want %v (sent %q)", console, got, c.want, c.cookie)
			}
		}
	}
	for _, c := range checks {
		resp, body, err := do(ctx, http.MethodGet, "http://"+c.addr+c.path, nil, map[string]string{"Accept": "application/json", "Cookie": c.cookie})
		if err != nil {
			return err
		}
		if resp.StatusCode != c.want {
			return fmt.Errorf("sanity check: GET http://%s%s: status %d, want %d: %.200s", c.addr, c.path, resp.StatusCode, c.want, body)
		}
		if c.want == 200 && len(body) != upstreamBodyLen {
			return fmt.Errorf("sanity check: GET http://%s%s: %d-byte body, not the upstream's", c.addr, c.path, len(body))
		}
	}
	return nil
}

func onlySession(cookie string) string {
	s, _, _ := strings.Cut(cookie, "; ")
	return s
}

// consoleOnly and withoutConsole split the console's session cookie from a Cookie
// header value.
func consoleOnly(cookie string) string {
	for part := range strings.SplitSeq(cookie, "; ") {
		if strings.HasPrefix(part, consoleCookie+"=") {
			return part
		}
	}
	return ""
}

func withoutConsole(cookie string) string {
	var kept []string
	for part := range strings.SplitSeq(cookie, "; ") {
		if !strings.HasPrefix(part, consoleCookie+"=") {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "; ")
}

func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// hmacKey returns 32 random bytes in base64, as `openssl rand -base64 32` would.
func hmacKey() string {
	for {
		var b [32]byte
		_, _ = rand.Read(b[:])
		k := base64.StdEncoding.EncodeToString(b[:])
		if token.CheckHMACKey([]byte(k)) == nil { // random keys practically always pass
			return k
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
