package democonsole

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/sms"
)

// writeOutbox writes messages through the real log provider, oldest first.
func writeOutbox(t *testing.T, path string, msgs ...[2]string) {
	t.Helper()
	l := &sms.Log{Outbox: path}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := l.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := l.Send(context.Background(), challenge.CodeMessage{To: m[0], Text: m[1]}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutboxPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	c := newConsole("", path, newState())

	// Before anything was sent: an empty page, no session needed.
	res := do(t, c, req{method: "GET", path: "/outbox", accept: browser})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	mustContain(t, res.body, `id="outbox"`, "SMS outbox (development)", `id="outbox-empty"`)

	writeOutbox(t, path,
		[2]string{"+447700900123", "Example Console verification code: 111111. It expires in 5 minutes. Do not share it."},
		[2]string{"+15551234567", "Example Console verification code: 222222. It expires in 5 minutes. Do not share <it>."},
	)
	res = do(t, c, req{method: "GET", path: "/outbox", accept: browser})
	mustContain(t, res.body, `class="outbox-message"`, `class="outbox-to mono">&#43;15551234567<`, "222222", "&lt;it&gt;")
	if strings.Count(res.body, `class="outbox-message"`) != 2 {
		t.Errorf("want 2 messages:\n%s", res.body)
	}
	if strings.Index(res.body, "222222") > strings.Index(res.body, "111111") {
		t.Error("not latest first")
	}
	if strings.Contains(res.body, "<it>") {
		t.Error("message not escaped")
	}

	// The login page links it.
	res = do(t, c, req{method: "GET", path: "/login", accept: browser})
	mustContain(t, res.body, `<a id="nav-outbox" href="/outbox">SMS outbox (development)</a>`)

	// An unreadable outbox shows an error, not a crash.
	os.Remove(path)
	os.Mkdir(path, 0o700)
	res = do(t, c, req{method: "GET", path: "/outbox", accept: browser})
	mustContain(t, res.body, `id="outbox-error"`)
}

func TestNoOutboxByDefault(t *testing.T) {
	c := New()
	if res := do(t, c, req{method: "GET", path: "/login", accept: browser}); strings.Contains(res.body, "nav-outbox") {
		t.Error("outbox linked without one configured")
	}
	// Without an outbox, /outbox is an ordinary private path.
	if res := do(t, c, req{method: "GET", path: "/outbox", accept: browser}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("/outbox without an outbox: %d", res.StatusCode)
	}
}

func TestOutboxCaddyfile(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("democonsole {\n\ttitle Acme\n\toutbox /tmp/o.jsonl\n}")); err != nil || h.Outbox != "/tmp/o.jsonl" {
		t.Fatalf("outbox: %v, %q", err, h.Outbox)
	}
	for _, src := range []string{"democonsole {\n\toutbox\n}", "democonsole {\n\toutbox a b\n}"} {
		if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err == nil {
			t.Errorf("%q accepted", src)
		}
	}
	out, err := adapt(t, ":9000 {\n\tdemoconsole {\n\t\toutbox {env.HOME}/o.jsonl\n\t}\n}\n")
	if err != nil || !strings.Contains(out, `{"handler":"democonsole","outbox":"{env.HOME}/o.jsonl"}`) {
		t.Errorf("adapt: %v\n%s", err, out)
	}
	// Placeholders are replaced at provisioning.
	t.Setenv("TEST_OUTBOX_DIR", "/srv/dev")
	h = Handler{Outbox: "{env.TEST_OUTBOX_DIR}/o.jsonl"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	if h.console.outbox != "/srv/dev/o.jsonl" {
		t.Errorf("outbox path %q", h.console.outbox)
	}
}
