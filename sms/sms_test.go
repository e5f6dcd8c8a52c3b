package sms

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/stepup/challenge"
)

// recorded is one request a recorder received.
type recorded struct {
	Method, Path string
	Header       http.Header
	Body         string
	User, Pass   string
	BasicOK      bool
}

// recorder is a real HTTP server on loopback that records what it receives and
// answers with a fixed status and body.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	status int
	body   string
	delay  time.Duration
}

func newRecorder(t *testing.T, status int, body string) *recorder {
	t.Helper()
	r := &recorder{status: status, body: body}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	user, pass, ok := req.BasicAuth()
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{Method: req.Method, Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: string(b), User: user, Pass: pass, BasicOK: ok})
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-req.Context().Done():
			return
		case <-time.After(delay):
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	io.WriteString(w, r.body)
}

func (r *recorder) only(t *testing.T) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) != 1 {
		t.Fatalf("server received %d requests, want 1 (no retries)", len(r.reqs))
	}
	return r.reqs[0]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// provision provisions and validates a module as Caddy would.
func provision(t *testing.T, m interface {
	caddy.Provisioner
	caddy.Validator
}) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		return err
	}
	return m.Validate()
}

// wantSendError checks that err is a provider failure with the given status and a
// detail containing want, and that it does not leak secret.
func wantSendError(t *testing.T, err error, status int, want, secret string) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) || !errors.Is(err, challenge.ErrSendFailed) {
		t.Fatalf("err = %v, want a *SendError that is ErrSendFailed", err)
	}
	if se.Status != status {
		t.Errorf("Status = %d, want %d", se.Status, status)
	}
	if !strings.Contains(se.Detail, want) || !strings.Contains(err.Error(), want) {
		t.Errorf("Detail = %q, error = %q, want them to hold %q", se.Detail, err, want)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks a secret: %v", err)
	}
	return se
}

// message is a code message with only a number and a text, for the tests that look
// at neither the code nor its other parts.
func message(to, text string) challenge.CodeMessage {
	return challenge.CodeMessage{To: to, Text: text}
}

func TestSendErrorTruncatesDetail(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2000 bytes
	got := truncate(long, maxDetail)
	if len(got) > maxDetail+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("truncate: %d bytes, %q…", len(got), got[:10])
	}
	if !strings.HasPrefix(strings.TrimSuffix(got, "…"), strings.Repeat("é", 256)) {
		t.Error("cut inside a character")
	}
	if truncate(" short ", maxDetail) != "short" {
		t.Error("short detail changed")
	}
	e := &SendError{Provider: "webhook", Status: 503, Detail: "down"}
	if e.Error() != `sms: webhook: could not send the message: provider answered 503 Service Unavailable: "down"` {
		t.Errorf("Error() = %q", e.Error())
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
