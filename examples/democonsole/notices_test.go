package democonsole

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/notify"
)

const noticeTestSecret = "Nq4X8vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP7="

// signedNotice is a notice's body and its signature header, signed at t.
func signedNotice(t *testing.T, n notify.Notice, secret string, at time.Time) (string, map[string]string) {
	t.Helper()
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), map[string]string{notify.SignatureHeader: notify.Sign([]byte(secret), b, at), "Content-Type": "application/json"}
}

func TestNoticesPage(t *testing.T) {
	c := newConsole("", "", newState()).withNotices([]byte(noticeTestSecret))

	res := do(t, c, req{method: "GET", path: "/notices", accept: browser})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	mustContain(t, res.body, `id="notices"`, "Security notices (development)", `id="notices-empty"`)
	mustContain(t, do(t, c, req{method: "GET", path: "/login", accept: browser}).body, `<a id="nav-notices" href="/notices">`)

	at := time.Date(2026, 12, 2, 10, 32, 0, 0, time.UTC)
	en := notify.Notice{ID: "a1", Kind: notify.FactorBound, User: "alice", Method: "totp", Actor: "alice", Time: at, Lang: "en",
		Text: "Demo Console: an authenticator app was set up for your <account>."}
	zh := notify.Notice{ID: "b2", Kind: notify.Lockout, User: "carol", Actor: "gateway", Time: at.Add(time.Minute), Lang: "zh-Hans",
		Text: "【Demo Console】12月2日 10:33 UTC，您的账户因多次输错验证码被锁定。"}
	for _, n := range []notify.Notice{en, zh, en} { // the same notice twice, as a retry would
		body, h := signedNotice(t, n, noticeTestSecret, time.Now())
		if res := do(t, c, req{method: "POST", path: NoticesPath, body: body, header: h}); res.StatusCode != http.StatusNoContent {
			t.Fatalf("POST %s: %d %s", n.ID, res.StatusCode, res.body)
		}
	}
	res = do(t, c, req{method: "GET", path: "/notices", accept: browser})
	if n := strings.Count(res.body, `class="notice"`); n != 2 {
		t.Errorf("%d notices shown, want 2:\n%s", n, res.body)
	}
	mustContain(t, res.body, `lang="zh-Hans"`, "您的账户因多次输错验证码被锁定", "factor_bound (totp)", "&lt;account&gt;")
	if strings.Index(res.body, "carol") > strings.Index(res.body, "alice") {
		t.Error("not latest first")
	}

	// Refused: a wrong secret, an old signature, an altered body, no signature, not a notice.
	bad := notify.Notice{ID: "c3", Kind: notify.Lockout, User: "mallory", Time: at, Text: "forged"}
	body, h := signedNotice(t, bad, strings.Repeat("k", 44), time.Now())
	if res := do(t, c, req{method: "POST", path: NoticesPath, body: body, header: h}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", res.StatusCode)
	}
	body, h = signedNotice(t, bad, noticeTestSecret, time.Now().Add(-time.Hour))
	if res := do(t, c, req{method: "POST", path: NoticesPath, body: body, header: h}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("old signature: %d", res.StatusCode)
	}
	body, h = signedNotice(t, bad, noticeTestSecret, time.Now())
	if res := do(t, c, req{method: "POST", path: NoticesPath, body: strings.Replace(body, "mallory", "alice", 1), header: h}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("altered body: %d", res.StatusCode)
	}
	if res := do(t, c, req{method: "POST", path: NoticesPath, body: body}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %d", res.StatusCode)
	}
	h = map[string]string{notify.SignatureHeader: notify.Sign([]byte(noticeTestSecret), []byte("[1,2]"), time.Now())}
	if res := do(t, c, req{method: "POST", path: NoticesPath, body: "[1,2]", header: h}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("not a notice: %d", res.StatusCode)
	}
	if res := do(t, c, req{method: "GET", path: "/notices", accept: browser}); strings.Contains(res.body, "mallory") {
		t.Error("a refused notice is shown")
	}
}

func TestNoNoticesByDefault(t *testing.T) {
	c := newConsole("", "", newState())
	if res := do(t, c, req{method: "GET", path: "/login", accept: browser}); strings.Contains(res.body, "nav-notices") {
		t.Error("notices linked without a secret configured")
	}
	// Without a secret, both are ordinary private paths.
	if res := do(t, c, req{method: "GET", path: "/notices", accept: browser}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /notices: %d", res.StatusCode)
	}
	body, h := signedNotice(t, notify.Notice{ID: "x"}, noticeTestSecret, time.Now())
	if res := do(t, c, req{method: "POST", path: NoticesPath, body: body, header: h}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST %s: %d", NoticesPath, res.StatusCode)
	}
}

// The gateway's own webhook notifier and the console agree: a notice sent by it is
// taken and shown.
func TestNoticesFromTheWebhookNotifier(t *testing.T) {
	c := newConsole("", "", newState()).withNotices([]byte(noticeTestSecret))
	srv := httptest.NewServer(c)
	defer srv.Close()
	w := &notify.Webhook{URL: srv.URL + NoticesPath, Secret: noticeTestSecret, Attempts: 1}
	if err := w.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	n := notify.Notice{ID: "d4", Kind: notify.AdminUnlock, User: "carol", Actor: "bob", Time: time.Now(), Lang: "en", Text: "Demo Console: an administrator unlocked it."}
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mustContain(t, do(t, c, req{method: "GET", path: "/notices", accept: browser}).body, "admin_unlock", "an administrator unlocked it")
}

func TestNoticesCaddyfile(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("democonsole {\n\tnotices {env.STEPUP_TEST_NOTICES}\n}")); err != nil {
		t.Fatal(err)
	}
	if h.NoticeSecret != "{env.STEPUP_TEST_NOTICES}" {
		t.Errorf("secret %q", h.NoticeSecret)
	}
	if err := h.provision(context.Background(), zap.NewNop()); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("unset secret: %v", err)
	}
	t.Setenv("STEPUP_TEST_NOTICES", noticeTestSecret)
	if err := h.provision(context.Background(), zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	if string(h.console.noticeSecret) != noticeTestSecret {
		t.Error("secret not replaced")
	}
	var bad Handler
	if err := bad.UnmarshalCaddyfile(caddyfile.NewTestDispenser("democonsole {\n\tnotices\n}")); err == nil || !strings.Contains(err.Error(), "notices: expected the secret") {
		t.Errorf("no secret: %v", err)
	}
}
