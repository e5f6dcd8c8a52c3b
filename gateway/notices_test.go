package gateway

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/store"
)

func TestNoticeFor(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 32, 0, 0, time.UTC)
	for _, tc := range []struct {
		action, result string
		want           *Notice
	}{
		{"totp.bound", "ok", &Notice{Kind: "factor_bound", Method: "totp"}},
		{"phone.bound", "ok", &Notice{Kind: "factor_bound", Method: "sms"}},
		{"totp.unbound", "ok", &Notice{Kind: "factor_removed", Method: "totp"}},
		{"phone.removed", "ok", &Notice{Kind: "factor_removed", Method: "sms"}},
		{"reset.totp", "ok", &Notice{Kind: "admin_reset", Method: "totp"}},
		{"reset.phone", "ok", &Notice{Kind: "admin_reset", Method: "sms"}},
		{"recovery.revoked", "ok", &Notice{Kind: "admin_reset", Method: "recovery"}},
		{"unlock", "ok", &Notice{Kind: "admin_unlock"}},
		{"lockout", "ok", &Notice{Kind: "lockout"}},
		{"recovery.used", "ok", &Notice{Kind: "recovery_code_used"}},
		{"protection.login.off", "ok", &Notice{Kind: "protection_off", Protection: "login"}},
		{"protection.operation.off", "ok", &Notice{Kind: "protection_off", Protection: "operation"}},
		// Not notices: turning protection on, a sign-out, a refused attempt, new codes.
		{"protection.login.on", "ok", nil},
		{"protection.operation.off", "refused", nil},
		{"reset.totp", "refused", nil},
		{"signout.everywhere", "ok", nil},
		{"recovery.created", "ok", nil},
		{"protection..off", "ok", nil},
		{"x.protection.login.off", "ok", nil},
		{"", "ok", nil},
	} {
		got, ok := NoticeFor(Event{Time: at, Actor: "bob", Target: "alice", Action: tc.action, Result: tc.result})
		if tc.want == nil {
			if ok {
				t.Errorf("%s %s: notice %+v, want none", tc.action, tc.result, got)
			}
			continue
		}
		want := *tc.want
		want.User, want.Actor, want.Time = "alice", "bob", at
		if !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", tc.action, got, ok, want)
		}
	}
}

// The audit trail hands each notice-worthy event to the hook as it records it, with
// the event's time.
func TestAuditHandsNotices(t *testing.T) {
	st, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 2, 10, 32, 0, 0, time.UTC)
	var got []Notice
	a := &Audit{log: zap.NewNop(), store: st, now: func() time.Time { return at }, notify: func(n Notice) { got = append(got, n) }}
	ctx := context.Background()
	a.Record(ctx, Event{Actor: "alice", Target: "alice", Action: "totp.bound", Result: "ok"})
	a.Record(ctx, Event{Actor: "alice", Target: "alice", Action: "signout.everywhere", Result: "ok"})
	a.Record(ctx, Event{Actor: "bob", Target: "alice", Action: "unlock", Result: "ok"})
	want := []Notice{
		{Kind: "factor_bound", User: "alice", Method: "totp", Actor: "alice", Time: at},
		{Kind: "admin_unlock", User: "alice", Actor: "bob", Time: at},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("notices %+v, want %+v", got, want)
	}
	// Without a hook, nothing is sent and nothing breaks.
	a.notify = nil
	a.Record(ctx, Event{Actor: "gateway", Target: "alice", Action: "lockout", Result: "ok"})
}
