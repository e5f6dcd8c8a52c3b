package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// testSecret passes the signing-key checks.
const testSecret = "q3X9vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP2="

// received is one request a recorder took.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// recorder is a loopback receiver that records every request and answers the n-th
// (from 0) with status(n), after delay.
type recorder struct {
	t      *testing.T
	srv    *httptest.Server
	status func(n int) int
	delay  time.Duration

	mu  sync.Mutex
	got []received
}

func newRecorder(t *testing.T, status func(n int) int) *recorder {
	t.Helper()
	r := &recorder{t: t, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, at: time.Now()})
		r.mu.Unlock()
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(r.status(n))
		_, _ = io.WriteString(w, "answer "+http.StatusText(r.status(n)))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func always(status int) func(int) int { return func(int) int { return status } }

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// newWebhook is a provisioned webhook notifier to url, retrying after backoff.
func newWebhook(t *testing.T, url string, attempts int, backoff time.Duration) *Webhook {
	t.Helper()
	w := &Webhook{URL: url, Secret: testSecret, Attempts: attempts, Backoff: caddy.Duration(backoff), Timeout: caddy.Duration(2 * time.Second)}
	if err := w.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	return w
}

var testNotice = Notice{ID: "0123456789abcdef0123456789abcdef", Kind: FactorBound, User: "alice", Method: "totp", Actor: "alice",
	Time: time.Date(2026, 12, 2, 10, 32, 0, 0, time.UTC), Lang: "en", Text: "Demo Console: an authenticator app was set up for your account on 2 Dec 10:32 UTC."}

func TestWebhookSignedBody(t *testing.T) {
	rec := newRecorder(t, always(http.StatusNoContent))
	w := newWebhook(t, rec.srv.URL+"/hook", 4, 10*time.Millisecond)
	if err := w.Notify(t.Context(), testNotice); err != nil {
		t.Fatal(err)
	}
	got := rec.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": testNotice.ID, "kind": "factor_bound", "user": "alice", "method": "totp", "actor": "alice",
		"time": "2026-12-02T10:32:00Z", "lang": "en", "text": testNotice.Text}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body %s = %v, want %v", k, body[k], v)
		}
	}
	if _, ok := body["protection"]; ok {
		t.Error("protection sent for a factor notice")
	}

	// The receiver's check: the signature holds for this body and secret, now.
	sig := r.header.Get(SignatureHeader)
	if !strings.HasPrefix(sig, "t=") || !strings.Contains(sig, ",v1=") {
		t.Fatalf("signature header %q", sig)
	}
	if err := Verify([]byte(testSecret), sig, r.body, time.Now(), 0); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	for name, bad := range map[string]func() error{
		"altered body": func() error {
			return Verify([]byte(testSecret), sig, []byte(strings.Replace(string(r.body), "alice", "mallory", 1)), time.Now(), 0)
		},
		"other secret": func() error { return Verify([]byte(strings.Repeat("x", 44)), sig, r.body, time.Now(), 0) },
		"too old":      func() error { return Verify([]byte(testSecret), sig, r.body, time.Now().Add(6*time.Minute), 0) },
		"from ahead":   func() error { return Verify([]byte(testSecret), sig, r.body, time.Now().Add(-6*time.Minute), 0) },
		"no time": func() error {
			return Verify([]byte(testSecret), sig[strings.Index(sig, ",")+1:], r.body, time.Now(), 0)
		},
		"empty": func() error { return Verify([]byte(testSecret), "", r.body, time.Now(), 0) },
	} {
		if err := bad(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	// A receiver replacing its secret accepts either.
	two := sig + ",v1=" + strings.Repeat("00", 32)
	if err := Verify([]byte(testSecret), two, r.body, time.Now(), 0); err != nil {
		t.Errorf("two signatures: %v", err)
	}
	// The signature is over "<t>.<body>", as documented.
	ts := strings.TrimPrefix(sig[:strings.Index(sig, ",")], "t=")
	if sig != "t="+ts+",v1="+hexMAC(testSecret, ts+"."+string(r.body)) {
		t.Errorf("signature %q is not HMAC-SHA256(secret, t.body)", sig)
	}
}

func TestWebhookRetriesWithBackoff(t *testing.T) {
	// 503, 503, then taken: three requests, the same notice each time, each signed,
	// the waits growing.
	rec := newRecorder(t, func(n int) int {
		if n < 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	const backoff = 60 * time.Millisecond
	w := newWebhook(t, rec.srv.URL, 4, backoff)
	if err := w.Notify(t.Context(), testNotice); err != nil {
		t.Fatal(err)
	}
	got := rec.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, r := range got {
		if string(r.body) != string(got[0].body) {
			t.Errorf("attempt %d sent another body", i+1)
		}
		if err := Verify([]byte(testSecret), r.header.Get(SignatureHeader), r.body, time.Now(), 0); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	// Waits are between half and one and a half times backoff, then twice that.
	if gap := got[1].at.Sub(got[0].at); gap < backoff/2 {
		t.Errorf("first retry after %v, want at least %v", gap, backoff/2)
	}
	if gap := got[2].at.Sub(got[1].at); gap < backoff {
		t.Errorf("second retry after %v, want at least %v", gap, backoff)
	}

	// 429 is retried too.
	rec = newRecorder(t, func(n int) int {
		if n == 0 {
			return http.StatusTooManyRequests
		}
		return http.StatusAccepted
	})
	if err := newWebhook(t, rec.srv.URL, 4, time.Millisecond).Notify(t.Context(), testNotice); err != nil || len(rec.requests()) != 2 {
		t.Errorf("429 then 202: %v after %d requests", err, len(rec.requests()))
	}
}

func TestWebhookJitter(t *testing.T) {
	// The waits are spread: with jitter at its ends they are half and one and a half
	// times the backoff.
	rec := newRecorder(t, always(http.StatusBadGateway))
	w := newWebhook(t, rec.srv.URL, 3, 100*time.Millisecond)
	w.jitter = func() float64 { return 0 }
	start := time.Now()
	if err := w.Notify(t.Context(), testNotice); err == nil {
		t.Fatal("502 every time, yet no error")
	}
	// 50ms then 100ms.
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("three attempts took %v, want about 150ms", d)
	}
	if n := len(rec.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestWebhookNoRetry(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusFound} {
		rec := newRecorder(t, always(status))
		err := newWebhook(t, rec.srv.URL+"/hook?key=SECRETINURL", 4, time.Millisecond).Notify(t.Context(), testNotice)
		if err == nil {
			t.Errorf("%d: no error", status)
			continue
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("%d: %d requests, want 1 (no retry)", status, n)
		}
		if !strings.Contains(err.Error(), http.StatusText(status)) || strings.Contains(err.Error(), "SECRETINURL") {
			t.Errorf("%d: error %q", status, err)
		}
	}
}

func TestWebhookGivesUp(t *testing.T) {
	rec := newRecorder(t, always(http.StatusInternalServerError))
	err := newWebhook(t, rec.srv.URL, 3, time.Millisecond).Notify(t.Context(), testNotice)
	if err == nil || !strings.Contains(err.Error(), "attempt 3 of 3") {
		t.Errorf("error %v", err)
	}
	if n := len(rec.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	// A receiver that does not answer: network errors are retried, and the error never
	// shows the URL, which may carry a key.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/hook?key=SECRETINURL"
	dead.Close()
	err = newWebhook(t, url, 2, time.Millisecond).Notify(t.Context(), testNotice)
	if err == nil || !strings.Contains(err.Error(), "attempt 2 of 2") || strings.Contains(err.Error(), "SECRETINURL") {
		t.Errorf("unreachable receiver: %v", err)
	}
}

func TestWebhookStopsWhenCancelled(t *testing.T) {
	// A long wait before the retry ends with the context (the config unloading).
	rec := newRecorder(t, always(http.StatusServiceUnavailable))
	w := newWebhook(t, rec.srv.URL, 4, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := w.Notify(ctx, testNotice)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want the cancellation", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v after the cancel", d)
	}

	// So does a slow receiver's attempt, which also stops at the attempt's timeout.
	slow := newRecorder(t, always(http.StatusOK))
	slow.delay = 5 * time.Second
	w = newWebhook(t, slow.srv.URL, 1, time.Millisecond)
	w.client.Timeout = 100 * time.Millisecond
	start = time.Now()
	if err := w.Notify(t.Context(), testNotice); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("slow receiver: %v after %v", err, time.Since(start))
	}
}

func TestWebhookConfig(t *testing.T) {
	t.Setenv("STEPUP_TEST_NOTIFY_SECRET", testSecret)
	t.Setenv("STEPUP_TEST_WEAK_SECRET", "password")
	ok := map[string]Webhook{
		"webhook https://relay.example/notices {\n\tsecret {env.STEPUP_TEST_NOTIFY_SECRET}\n}": {URL: "https://relay.example/notices", Secret: "{env.STEPUP_TEST_NOTIFY_SECRET}"},
		"webhook http://127.0.0.1:9/n {\n\tsecret " + testSecret + "\n\ttimeout 3s\n\tattempts 2\n\tbackoff 250ms\n}": {URL: "http://127.0.0.1:9/n", Secret: testSecret,
			Timeout: caddy.Duration(3 * time.Second), Attempts: 2, Backoff: caddy.Duration(250 * time.Millisecond)},
	}
	for src, want := range ok {
		var w Webhook
		if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		if w.URL != want.URL || w.Secret != want.Secret || w.Timeout != want.Timeout || w.Attempts != want.Attempts || w.Backoff != want.Backoff {
			t.Errorf("%q: got %+v", src, w)
		}
	}
	bad := map[string]string{
		"webhook": "needs a URL",
		"webhook https://a.example https://b.example":                                    "one URL",
		"webhook https://a.example":                                                      "needs `secret <secret>`",
		"webhook https://a.example {\n\tsecret\n}":                                       "secret needs a value",
		"webhook https://a.example {\n\tsecret short\n}":                                 "the secret is 5 bytes",
		"webhook https://a.example {\n\tsecret {env.STEPUP_TEST_WEAK_SECRET}\n}":         "the secret",
		"webhook https://a.example {\n\tsecret {env.STEPUP_TEST_UNSET_SECRET}\n}":        "is empty (is the variable set?)",
		"webhook https://a.example {\n\tsecret " + testSecret + "\n\tattempts 0\n}":      "attempts: expected 1 to 10",
		"webhook https://a.example {\n\tsecret " + testSecret + "\n\tattempts many\n}":   "expected a whole number",
		"webhook https://a.example {\n\tsecret " + testSecret + "\n\tbackoff soon\n}":    "backoff: expected a positive duration",
		"webhook https://a.example {\n\tsecret " + testSecret + "\n\tretry forever\n}":   `unknown notify webhook option "retry"`,
		"webhook https://a.example {\n\tsecret " + testSecret + "\n\ttimeout 1s 2s\n}":   "timeout takes one value",
		"webhook https://a.example {\n\tsecret " + testSecret + " " + testSecret + "\n}": "secret takes one value",
	}
	for src, want := range bad {
		var w Webhook
		err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
			continue
		}
		if strings.Contains(err.Error(), "password") {
			t.Errorf("%q: the error shows the secret: %v", src, err)
		}
	}

	// JSON configs are checked at Validate, naming neither the URL nor the secret.
	for _, tc := range []struct {
		w    Webhook
		want string
	}{
		{Webhook{Secret: testSecret}, "the URL is empty"},
		{Webhook{URL: "ftp://relay.example/?key=SECRETINURL", Secret: testSecret}, "absolute http or https URL"},
		{Webhook{URL: "relay.example", Secret: testSecret}, "absolute http or https URL"},
		{Webhook{URL: "https://relay.example"}, "a secret is required"},
		{Webhook{URL: "https://relay.example", Secret: "{env.STEPUP_TEST_WEAK_SECRET}"}, "the secret"},
		{Webhook{URL: "https://relay.example", Secret: testSecret, Attempts: 11}, "attempts must be 1 to 10"},
	} {
		w := tc.w
		if err := w.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		err := w.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "SECRETINURL") || strings.Contains(err.Error(), "password") {
			t.Errorf("%+v: %v, want %q", tc.w, err, tc.want)
		}
	}
	// Defaults.
	w := Webhook{URL: "https://relay.example", Secret: "{env.STEPUP_TEST_NOTIFY_SECRET}"}
	if err := w.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	if w.Attempts != 4 || time.Duration(w.Backoff) != time.Second || time.Duration(w.Timeout) != 10*time.Second || string(w.secret) != testSecret {
		t.Errorf("defaults: %+v", w)
	}
}

// hexMAC is HMAC-SHA256(key, msg) in hex, computed here as a receiver would.
func hexMAC(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}
