package notify

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/sms"
)

// phoneBook is who has which phone bound.
type phoneBook map[string]string

func (p phoneBook) PhoneNumber(_ context.Context, user string) (string, bool, error) {
	if user == "broken" {
		return "", false, errors.New("challenge: reading factors: store down")
	}
	n, ok := p[user]
	return n, ok, nil
}

// logProvider is the real development SMS provider, writing to an outbox in a
// temporary directory.
func logProvider(t *testing.T) (*sms.Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	p := &sms.Log{Outbox: path}
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return p, path
}

func newSMSNotifier(t *testing.T, sender challenge.SMSSender) *SMS {
	t.Helper()
	s := &SMS{}
	if err := s.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s.Use(phoneBook{"alice": "+15551234567", "li": "+8613800138000"}, sender)
	return s
}

func TestSMSNotifierThroughTheLogProvider(t *testing.T) {
	provider, outbox := logProvider(t)
	s := newSMSNotifier(t, provider)
	n := lockout("alice")
	n.Text, n.Lang = "Demo Console: too many wrong codes locked the second factor of your account on 2 Dec 10:32 UTC.", "en"
	if err := s.Notify(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	// No phone: skipped, nothing sent.
	if err := s.Notify(t.Context(), lockout("bob")); !errors.Is(err, ErrSkipped) {
		t.Errorf("no phone: %v, want ErrSkipped", err)
	}
	// The phone cannot be read: an error without a number.
	if err := s.Notify(t.Context(), lockout("broken")); err == nil || errors.Is(err, ErrSkipped) {
		t.Errorf("unreadable factors: %v", err)
	}
	msgs, err := sms.ReadOutbox(outbox, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].To != "+15551234567" || msgs[0].Message != n.Text {
		t.Fatalf("outbox %+v", msgs)
	}
	if lim := s.UserLimit(); lim.Max != 3 || lim.Window != 24*time.Hour {
		t.Errorf("default limit %+v", lim)
	}
}

// recordingSender keeps the messages a provider is handed.
type recordingSender struct{ got []challenge.CodeMessage }

func (r *recordingSender) Send(_ context.Context, m challenge.CodeMessage) error {
	r.got = append(r.got, m)
	return nil
}

func TestSMSNotifierMessage(t *testing.T) {
	out := &recordingSender{}
	s := newSMSNotifier(t, out)
	n := lockout("li")
	n.Lang, n.Text = "zh-Hans", "【Demo Console】12月2日 10:32 UTC，您的账户因多次输错验证码被锁定。如非本人操作，请联系管理员。"
	if err := s.Notify(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	want := challenge.CodeMessage{To: "+8613800138000", Text: n.Text, Purpose: PurposeNotice, Lang: "zh-Hans"}
	if len(out.got) != 1 || out.got[0] != want {
		t.Errorf("sent %+v, want %+v", out.got, want)
	}
	// Not wired to a provider: an error, not a crash.
	if err := (&SMS{}).Notify(t.Context(), n); err == nil {
		t.Error("no provider, no error")
	}
}

// Lockouts triggered again and again by someone guessing codes send the user at most
// three texts a day, through the real queue, store and provider: the operator's SMS
// bill does not grow with the attack.
func TestRepeatedLockoutsSendAtMostThreeTexts(t *testing.T) {
	provider, outbox := logProvider(t)
	s := newSMSNotifier(t, provider)
	q := newTestQueue(t, Config{
		Targets: []Target{{Name: "sms", Notifier: s, Limit: s.UserLimit()}},
		Limit:   Limit{Max: 5, Window: time.Hour}, Counter: memStore(t), Workers: 2,
	})
	for range 20 {
		q.Enqueue(lockout("alice"))
	}
	q.Close()
	msgs, err := sms.ReadOutbox(outbox, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d texts, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.To != "+15551234567" || !strings.Contains(m.Message, "too many wrong codes") || !strings.HasPrefix(m.Message, "Demo Console: ") {
			t.Errorf("text %+v", m)
		}
	}
}

func TestSMSNotifierConfig(t *testing.T) {
	for src, want := range map[string]SMS{
		"sms":                          {},
		"sms {\n\tlimit 5\n}":          {Limit: 5, Window: caddy.Duration(24 * time.Hour)},
		"sms {\n\tlimit 1 12h\n}":      {Limit: 1, Window: caddy.Duration(12 * time.Hour)},
		"sms {\n}":                     {},
		"sms {\n\tlimit 10 168h\n}\n":  {Limit: 10, Window: caddy.Duration(168 * time.Hour)},
		"sms {\n\tlimit 2 1h\n}\n\n\n": {Limit: 2, Window: caddy.Duration(time.Hour)},
	} {
		var s SMS
		if err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil || s.Limit != want.Limit || s.Window != want.Window {
			t.Errorf("%q: %+v, %v; want %+v", src, s, err, want)
		}
	}
	for src, want := range map[string]string{
		"sms +15551234567":             "takes no argument",
		"sms {\n\tlimit\n}":            "expected `limit <notices> [<window>]`",
		"sms {\n\tlimit none\n}":       "expected a number of notices",
		"sms {\n\tlimit 0\n}":          "expected a number of notices",
		"sms {\n\tlimit 3 daily\n}":    "expected a positive window",
		"sms {\n\tlimit 3 1h 2h\n}":    "expected `limit <notices> [<window>]`",
		"sms {\n\tper_day 3\n}":        `unknown notify sms option "per_day"`,
		"sms {\n\tlimit 3 -1h\n}":      "expected a positive window",
		"sms {\n\tlimit 3.5 1h\n}\n\n": "expected a number of notices",
	} {
		var s SMS
		if err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
	if err := (&SMS{Limit: -1, Window: caddy.Duration(time.Hour)}).Validate(); err == nil {
		t.Error("a negative limit passed")
	}
}

func TestCheckSMSLength(t *testing.T) {
	for _, issuer := range []string{"Demo Console", "caddy-stepup", "Example Cloud", ""} {
		if err := CheckSMSLength(issuer); err != nil {
			t.Errorf("%q: %v", issuer, err)
		}
	}
	// A Chinese name makes the English texts UCS-2, 70 a segment: too long, said.
	if err := CheckSMSLength("示例云控制台"); err == nil || !strings.Contains(err.Error(), " in en") {
		t.Errorf("Chinese name: %v", err)
	}
	if err := CheckSMSLength("Example Corporation Cloud Infrastructure Management Console"); err == nil || !strings.Contains(err.Error(), "2 SMS segments") {
		t.Errorf("long name: %v", err)
	}
}
