package democonsole

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// waitFor bounds the waits of these tests; the announcer tries every
// announceInterval, so a few seconds is plenty.
const waitFor = 10 * time.Second

// observed returns a logger whose Info lines the test can read.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return zap.New(core), logs
}

// announcerGoroutines counts the goroutines running the announcer's loop.
func announcerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "democonsole.startAnnouncer.func")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// cleanupAndCheck cleans h up and makes sure its announcer goroutine is gone.
func cleanupAndCheck(t *testing.T, h *Handler) {
	t.Helper()
	a := h.announcer
	if a == nil {
		t.Fatal("no announcer running")
	}
	cleaned := make(chan error, 1)
	go func() { cleaned <- h.Cleanup() }()
	select {
	case err := <-cleaned:
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Cleanup did not return")
	}
	select {
	case <-a.done:
	default:
		t.Error("Cleanup returned before the announcer stopped")
	}
	if h.announcer != nil {
		t.Error("Cleanup kept the announcer")
	}
	// The goroutine closes done as it returns; give it a moment to be gone.
	deadline := time.Now().Add(waitFor)
	for announcerGoroutines() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d announcer goroutines left after Cleanup", announcerGoroutines())
		}
		runtime.Gosched()
	}
}

// provisionQuickly provisions h and fails if that blocks. h is cleaned up
// when the test ends, whatever happens (Cleanup may run twice).
func provisionQuickly(t *testing.T, h *Handler, logger *zap.Logger) {
	t.Helper()
	t.Cleanup(func() { _ = h.Cleanup() })
	provisioned := make(chan error, 1)
	go func() { provisioned <- h.provision(context.Background(), logger) }()
	select {
	case err := <-provisioned:
		if err != nil {
			t.Fatalf("provision: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Provision blocked")
	}
}

// TestAnnounceWhenReady: Provision returns at once while the URL does not
// answer yet; once it answers, the log says so once, with the URL and the
// accounts, and the announcer is done.
func TestAnnounceWhenReady(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1: // the first try hangs until the test lets it go
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusBadGateway) // not ready yet
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default: // a console not signed in to: off to its login page
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		}
	}))
	defer srv.Close()
	before := announcerGoroutines()

	logger, logs := observed()
	h := &Handler{Announce: srv.URL}
	provisionQuickly(t, h, logger)
	if h.announcer == nil {
		t.Fatal("no announcer started")
	}
	if n := announcerGoroutines(); n != before+1 {
		t.Errorf("%d announcer goroutines, want %d", n, before+1)
	}
	if logs.Len() != 0 {
		t.Fatalf("announced before the URL answered: %v", logs.All())
	}
	close(release)

	select {
	case <-h.announcer.done:
	case <-time.After(waitFor):
		t.Fatalf("no announcement after %d tries", hits.Load())
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("%d tries, want 3 (two not ready, then ready)", n)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(entries), entries)
	}
	e := entries[0]
	if e.Level != zap.InfoLevel || e.Message != "demo ready: open "+srv.URL {
		t.Errorf("log line %s %q", e.Level, e.Message)
	}
	fields := e.ContextMap()
	if fields["url"] != srv.URL {
		t.Errorf("url field %v", fields["url"])
	}
	list, ok := fields["accounts"].([]any)
	if !ok || len(list) != len(demoUsers) {
		t.Fatalf("accounts field %#v", fields["accounts"])
	}
	shows := map[string]string{
		"alice": "operation protection by SMS",
		"bob":   "login protection required",
		"carol": "plain user",
	}
	for i, u := range demoUsers {
		a, _ := list[i].(map[string]any)
		if a["name"] != u.Name || a["password"] != u.Password || a["role"] != u.Role {
			t.Errorf("account %d: %v, want %s / %s (%s)", i, a, u.Name, u.Password, u.Role)
		}
		if s, _ := a["shows"].(string); shows[u.Name] == "" || !strings.Contains(s, shows[u.Name]) {
			t.Errorf("%s shows %q, want it to mention %q", u.Name, s, shows[u.Name])
		}
	}
	cleanupAndCheck(t, h)
	if logs.Len() != 1 {
		t.Errorf("%d log lines after Cleanup, want 1", logs.Len())
	}
}

// TestAnnounceNeverReady: a URL that only answers server errors is never
// announced, and Cleanup stops the tries.
func TestAnnounceNeverReady(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()

	logger, logs := observed()
	h := &Handler{Announce: srv.URL}
	provisionQuickly(t, h, logger)
	deadline := time.Now().Add(waitFor)
	for hits.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d tries", hits.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling, with a deadline
	}
	cleanupAndCheck(t, h)
	if logs.Len() != 0 {
		t.Errorf("announced a URL that never answered: %v", logs.All())
	}
}

// TestAnnounceCleanupCancels: Cleanup interrupts a try in flight at once,
// rather than waiting for its timeout, and a URL nobody listens on is never
// announced.
func TestAnnounceCleanupCancels(t *testing.T) {
	t.Run("hanging", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case arrived <- struct{}{}:
			default:
			}
			<-r.Context().Done() // never answers
		}))
		defer srv.Close()

		logger, logs := observed()
		h := &Handler{Announce: srv.URL}
		provisionQuickly(t, h, logger)
		select {
		case <-arrived:
		case <-time.After(waitFor):
			t.Fatal("the announcer never tried")
		}
		start := time.Now()
		cleanupAndCheck(t, h)
		if d := time.Since(start); d >= announceTimeout/2 {
			t.Errorf("Cleanup took %v: the try in flight was not cancelled", d)
		}
		if logs.Len() != 0 {
			t.Errorf("announced: %v", logs.All())
		}
	})
	t.Run("nobody listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ln.Close()

		logger, logs := observed()
		h := &Handler{Announce: url}
		provisionQuickly(t, h, logger)
		cleanupAndCheck(t, h)
		if logs.Len() != 0 {
			t.Errorf("announced: %v", logs.All())
		}
	})
}

// TestAnnounceStopsWithContext: the announcer also stops when the context
// it was provisioned with (Caddy's, for the config) is cancelled.
func TestAnnounceStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	logger, _ := observed()
	h := &Handler{Announce: "http://127.0.0.1:1"}
	if err := h.provision(ctx, logger); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	cancel()
	select {
	case <-h.announcer.done:
	case <-time.After(waitFor):
		t.Fatal("the announcer outlived its context")
	}
}

func TestNoAnnounceByDefault(t *testing.T) {
	logger, _ := observed()
	h := &Handler{}
	if err := h.provision(context.Background(), logger); err != nil {
		t.Fatal(err)
	}
	if h.announcer != nil {
		t.Error("an announcer without a URL")
	}
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

func TestAnnounceProvisionErrors(t *testing.T) {
	logger, logs := observed()
	t.Setenv("TEST_ANNOUNCE_URL", "localhost:8080")
	for _, u := range []string{"{env.TEST_ANNOUNCE_URL}", "ftp://localhost/", "http://", "/relative"} {
		h := &Handler{Announce: u}
		err := h.provision(context.Background(), logger)
		if err == nil || !strings.Contains(err.Error(), "expected an http:// or https:// URL") {
			t.Errorf("%q: err = %v", u, err)
		}
		if h.announcer != nil || h.holding {
			t.Errorf("%q: a failed provision left the announcer or state behind", u)
		}
	}
	// A placeholder is replaced first.
	t.Setenv("TEST_ANNOUNCE_URL", "http://127.0.0.1:1")
	h := &Handler{Announce: "{env.TEST_ANNOUNCE_URL}"}
	provisionQuickly(t, h, logger)
	cleanupAndCheck(t, h)
	if logs.Len() != 0 {
		t.Errorf("log lines: %v", logs.All())
	}
}

func TestAnnounceCaddyfile(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("democonsole {\n\tannounce http://localhost:8080\n\ttitle Acme\n}")); err != nil || h.Announce != "http://localhost:8080" {
		t.Fatalf("announce: %v, %q", err, h.Announce)
	}
	if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("democonsole {\n\tannounce {env.DEMO_URL}\n}")); err != nil {
		t.Errorf("a placeholder is checked at provisioning, not here: %v", err)
	}
	for src, want := range map[string]string{
		"democonsole {\n\tannounce\n}":                         "announce: expected the URL to open",
		"democonsole {\n\tannounce http://a http://b\n}":       `announce: expected one argument, the URL to open, e.g. announce http://localhost:8080; got also "http://b"`,
		"democonsole {\n\tannounce localhost:8080\n}":          "announce: expected an http:// or https:// URL",
		"democonsole {\n\tannounce https://\n}":                "announce: expected an http:// or https:// URL",
		"democonsole {\n\ttitle\n}":                            "title: expected a console name",
		"democonsole {\n\toutbox a b\n}":                       "outbox: expected one argument",
		"democonsole {\n\tannounces http://localhost:8080\n}":  "expected title, outbox, announce or notices",
		"democonsole http://localhost:8080":                    "expected no argument",
		"democonsole {\n\tannounce http://localhost:8080 x\n}": "expected one argument",
	} {
		err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to say %q", src, err, want)
		}
	}
	out, err := adapt(t, ":9000 {\n\tdemoconsole {\n\t\tannounce http://localhost:8080\n\t}\n}\n")
	if err != nil || !strings.Contains(out, `{"announce":"http://localhost:8080","handler":"democonsole"}`) {
		t.Errorf("adapt: %v\n%s", err, out)
	}
}
