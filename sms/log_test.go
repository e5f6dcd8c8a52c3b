package sms

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
)

func TestLogProvider(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TEST_SMS_DIR", dir)
	l := &Log{Outbox: "{env.TEST_SMS_DIR}/sub/outbox.jsonl"}
	if err := provision(t, l); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sub", "outbox.jsonl")
	if l.Path() != path {
		t.Fatalf("Path = %q, want %q", l.Path(), path)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	l.logger = zap.New(core)

	for i := 1; i <= 3; i++ {
		if err := l.Send(context.Background(), message(fmt.Sprintf("+1555000000%d", i), fmt.Sprintf("code %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("outbox mode %v, want 0600", info.Mode().Perm())
	}
	entries := logs.FilterMessage("sms (log provider): message not sent, written to the outbox").All()
	if len(entries) != 3 || entries[2].ContextMap()["to"] != "+15550000003" || entries[2].ContextMap()["message"] != "code 3" {
		t.Errorf("log entries: %+v", entries)
	}

	msgs, err := ReadOutbox(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].To != "+15550000003" || msgs[0].Message != "code 3" || msgs[2].Message != "code 1" || msgs[0].Time.IsZero() {
		t.Fatalf("ReadOutbox = %+v", msgs)
	}
	msgs, _ = ReadOutbox(path, 2)
	if len(msgs) != 2 || msgs[0].Message != "code 3" || msgs[1].Message != "code 2" {
		t.Errorf("ReadOutbox(2) = %+v", msgs)
	}

	// A line cut short is skipped; later messages still read.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","to":"+1`)
	f.Close()
	if err := l.Send(context.Background(), message("+15550000004", "code 4")); err == nil {
		// The cut line and the new one share a line: both are unreadable, which is fine;
		// the one after reads.
		l.Send(context.Background(), message("+15550000005", "code 5"))
	}
	msgs, err = ReadOutbox(path, 1)
	if err != nil || len(msgs) != 1 || msgs[0].Message != "code 5" {
		t.Errorf("after a damaged line: %+v, %v", msgs, err)
	}

	// A file made wider by someone else is restricted again.
	os.Chmod(path, 0o644)
	l.Send(context.Background(), message("+15550000006", "code 6"))
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("outbox mode %v after a send, want 0600", info.Mode().Perm())
	}
}

// A Chinese text reaches the outbox as the demo console reads it, the whole text and
// nothing else of the message; the log names its purpose and language.
func TestLogProviderChinese(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	l := &Log{Outbox: path}
	if err := provision(t, l); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	l.logger = zap.New(core)
	text := "【示例云控制台】验证码 123456，用于登录，5 分钟内有效，请勿泄露给他人。"
	err := l.Send(context.Background(), challenge.CodeMessage{
		To: "+8613800138000", Text: text, Code: "123456", Purpose: policy.PurposeLogin, Lang: "zh-Hans", ExpiresIn: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ReadOutbox(path, 0)
	if err != nil || len(msgs) != 1 || msgs[0].To != "+8613800138000" || msgs[0].Message != text {
		t.Fatalf("ReadOutbox = %+v, %v", msgs, err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "purpose") || strings.Count(string(raw), "123456") != 1 {
		t.Errorf("outbox line %s: want the text alone", raw)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].ContextMap()["purpose"] != "login" || entries[0].ContextMap()["lang"] != "zh-Hans" || entries[0].ContextMap()["message"] != text {
		t.Errorf("log entries: %+v", entries)
	}
}

func TestReadOutboxMissing(t *testing.T) {
	msgs, err := ReadOutbox(filepath.Join(t.TempDir(), "none.jsonl"), 10)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("missing outbox: %v, %v", msgs, err)
	}
}

func TestReadOutboxLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.jsonl")
	var b strings.Builder
	for i := range 30000 { // > 1 MiB
		fmt.Fprintf(&b, `{"time":"2026-01-01T00:00:00Z","to":"+15550000000","message":"message %05d"}`+"\n", i)
	}
	os.WriteFile(path, []byte(b.String()), 0o600)
	msgs, err := ReadOutbox(path, 5)
	if err != nil || len(msgs) != 5 || msgs[0].Message != "message 29999" || msgs[4].Message != "message 29995" {
		t.Fatalf("large outbox: %+v, %v", msgs, err)
	}
}

func TestLogOutboxUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	l := &Log{Outbox: filepath.Join(blocker, "outbox.jsonl")} // a file as its directory
	if err := provision(t, l); err != nil {
		t.Fatal(err)
	}
	l.logger = zap.NewNop()
	if err := l.Send(context.Background(), message("+15550000000", "x")); !errorsAs(err, new(*SendError)) {
		t.Fatalf("err = %v, want a *SendError", err)
	}
}

func TestLogDefaultOutbox(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	l := new(Log)
	if err := provision(t, l); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(os.Getenv("XDG_DATA_HOME"), "caddy", DefaultOutboxName); l.Path() != want {
		t.Errorf("default outbox %q, want %q", l.Path(), want)
	}
}

func TestLogCaddyfile(t *testing.T) {
	for input, want := range map[string]string{
		"log":                            "",
		"log /tmp/outbox.jsonl":          "/tmp/outbox.jsonl",
		"log {\n outbox /var/o.jsonl\n}": "/var/o.jsonl",
		"log {env.HOME}/o.jsonl":         "{env.HOME}/o.jsonl",
	} {
		l := new(Log)
		if err := l.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil || l.Outbox != want {
			t.Errorf("%q: %v, outbox %q", input, err, l.Outbox)
		}
	}
	for input, want := range map[string]string{
		"log a b":               "wrong argument count",
		"log a {\n outbox b\n}": "given twice",
		"log {\n keep 5\n}":     "Testfile:2",
		"log {\n outbox\n}":     "wrong argument count",
	} {
		err := new(Log).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", input, err, want)
		}
	}
}
