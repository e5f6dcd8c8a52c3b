package caddymodule

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-stepup/stepup/token"
)

// BenchmarkFastPath measures the module's own cost on the requests that must stay
// cheap: a protected operation with a fresh, live step-up token (the gate's fast
// path), and a request to an unprotected route. The console is a handler that does
// nothing, the writer is reused, and the request carries Caddy's replacer, so what
// is measured is the module: routing, token checks, the store's liveness check,
// hiding the gateway's cookies, and the metrics.
func BenchmarkFastPath(b *testing.B) {
	h := provisionBench(b, demoBlock)
	ctx := context.Background()
	authTime := time.Now().Add(-10 * time.Second)
	session, sc, err := h.tokens.Issue(ctx, token.Session, "alice", "", []string{"pwd"}, authTime)
	if err != nil {
		b.Fatal(err)
	}
	stepUp, _, err := h.tokens.Issue(ctx, token.StepUp, "alice", sc.ID, []string{"otp", "mfa"}, authTime)
	if err != nil {
		b.Fatal(err)
	}
	cookie := "console_session=c0ffee; stepup_session=" + session + "; stepup_token=" + stepUp
	// protected-100k-users: each request from one of 100,000 users the gateway has
	// seen, as on a busy gateway, where the caches are far larger than the CPU's.
	var many []string
	if !testing.Short() {
		many = make([]string, 100_000)
		for i := range many {
			user := "user-" + strconv.Itoa(i)
			session, sc, err := h.tokens.Issue(ctx, token.Session, user, "", []string{"pwd"}, authTime)
			if err != nil {
				b.Fatal(err)
			}
			stepUp, _, err := h.tokens.Issue(ctx, token.StepUp, user, sc.ID, []string{"otp", "mfa"}, authTime)
			if err != nil {
				b.Fatal(err)
			}
			many[i] = "console_session=c0ffee; stepup_session=" + session + "; stepup_token=" + stepUp
		}
	}

	for _, bc := range []struct {
		name, method, path string
		cookies            []string
	}{
		{"protected", http.MethodPost, "/billing/pay", []string{cookie}},
		{"protected-100k-users", http.MethodPost, "/billing/pay", many},
		{"unprotected", http.MethodGet, "/instances", []string{cookie}},
	} {
		if len(bc.cookies) == 0 {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			var reached int
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				reached++
				return nil
			})
			repl := caddy.NewReplacer()
			r := (&http.Request{
				Method: bc.method, URL: &url.URL{Path: bc.path}, Host: "console.test", RemoteAddr: "127.0.0.1:40000",
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Accept": {"application/json"}},
			}).WithContext(context.WithValue(ctx, caddy.ReplacerCtxKey, repl))
			lines := []string{""}
			w := &discardWriter{header: http.Header{}}
			serve := func(cookie string) {
				lines[0] = cookie // the gateway strips its own cookies from the request
				r.Header["Cookie"] = lines
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range bc.cookies { // every user seen once, as in steady state
				serve(c)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve(bc.cookies[rng.IntN(len(bc.cookies))])
			}
			b.StopTimer()
			if reached == 0 || w.status != 0 {
				b.Fatalf("the console was reached %d times; the gateway answered %d itself", reached, w.status)
			}
		})
	}
}

// provisionBench provisions a stepup block for a benchmark, with Caddy's cleanup.
func provisionBench(b *testing.B, block string) *Handler {
	b.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		b.Fatalf("parse: %v", err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(func() {
		cancel()
		_ = h.Cleanup()
	})
	if err := h.Provision(ctx); err != nil {
		b.Fatalf("provision: %v", err)
	}
	if err := h.Validate(); err != nil {
		b.Fatalf("validate: %v", err)
	}
	return h
}

// discardWriter is a ResponseWriter that keeps only the status a handler wrote.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
