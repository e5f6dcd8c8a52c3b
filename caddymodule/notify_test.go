package caddymodule

import (
	"encoding/base32"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/notify"
	"github.com/caddy-stepup/stepup/sms"
)

// noticeSecret signs the test notices.
const noticeSecret = "Nq4X8vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP7="

// noticeReceiver is a loopback webhook receiver that records what it receives, after
// sleeping delay.
type noticeReceiver struct {
	srv   *httptest.Server
	delay time.Duration

	mu  sync.Mutex
	got []noticeReceived
}

type noticeReceived struct {
	signature string
	body      []byte
}

func newNoticeReceiver(t *testing.T, delay time.Duration) *noticeReceiver {
	t.Helper()
	r := &noticeReceiver{delay: delay}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-req.Context().Done():
			}
		}
		r.mu.Lock()
		r.got = append(r.got, noticeReceived{signature: req.Header.Get(notify.SignatureHeader), body: body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the notices received once there are n, or fails after timeout.
func (r *noticeReceiver) wait(t *testing.T, n int, timeout time.Duration) []noticeReceived {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		got := append([]noticeReceived(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notices received after %v, want %d", len(got), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// notifyBlock is the demo block with a webhook notifier to url.
func notifyBlock(url, extra string) string {
	return strings.Replace(demoBlock, "stepup {", "stepup {\n\tissuer \"Demo Console\"\n\tnotify webhook "+url+" {\n\t\tsecret "+noticeSecret+
		"\n\t\tbackoff 10ms\n\t}\n"+extra, 1)
}

// checkNotice verifies a received notice as a receiver would and returns its body.
func checkNotice(t *testing.T, r noticeReceived) notify.Notice {
	t.Helper()
	if err := notify.Verify([]byte(noticeSecret), r.signature, r.body, time.Now(), 0); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var n notify.Notice
	if err := json.Unmarshal(r.body, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A user binds an authenticator through the real handler; the signed notice reaches the
// loopback webhook in the background.
func TestBindingSendsANotice(t *testing.T) {
	rec := newNoticeReceiver(t, 0)
	g := newGateway(t, notifyBlock(rec.srv.URL+"/notices", ""))
	c := g.client()
	c.login("alice")
	c.bindTOTP()
	got := rec.wait(t, 1, 5*time.Second)
	n := checkNotice(t, got[0])
	if n.Kind != notify.FactorBound || n.Method != "totp" || n.User != "alice" || n.Actor != "alice" || n.Lang != "en" || len(n.ID) != 32 ||
		time.Since(n.Time) > time.Minute {
		t.Errorf("notice %+v", n)
	}
	if !strings.HasPrefix(n.Text, "Demo Console: an authenticator app was set up for your account on ") {
		t.Errorf("text %q", n.Text)
	}
	// Cleanup sends what waits and stops the queue; another Cleanup changes nothing.
	if err := g.h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := g.h.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// A receiver that takes two seconds to answer does not slow the request that caused the
// notice: the request only queues it.
func TestSlowNotifierNeverSlowsTheRequest(t *testing.T) {
	const receiverDelay = 2 * time.Second
	rec := newNoticeReceiver(t, receiverDelay)
	g := newGateway(t, notifyBlock(rec.srv.URL, ""))
	c := g.client()
	c.login("alice")
	took := noticeBindTOTP(t, c, "en")
	// Well under the receiver's delay: it was not waited for. (Not a timing test: the
	// bound only tells "queued" from "waited two seconds".)
	if took > 500*time.Millisecond {
		t.Errorf("the binding request took %v while the notice's receiver sleeps %v", took, receiverDelay)
	}
	// The notice still arrives, once the receiver answers.
	if n := checkNotice(t, rec.wait(t, 1, 10*time.Second)[0]); n.Kind != notify.FactorBound {
		t.Errorf("notice %+v", n)
	}
}

// A user who reads the pages in Chinese gets the notice in Chinese, signature first.
func TestNoticeInTheUsersLanguage(t *testing.T) {
	rec := newNoticeReceiver(t, 0)
	g := newGateway(t, notifyBlock(rec.srv.URL, ""))
	c := g.client()
	c.login("carol")
	// The language the user last read the pages in, as the settings page records it.
	if err := g.h.challenges.RememberLang(t.Context(), "carol", "zh-Hans"); err != nil {
		t.Fatal(err)
	}
	noticeBindTOTP(t, c, "zh-CN,zh;q=0.9")
	n := checkNotice(t, rec.wait(t, 1, 5*time.Second)[0])
	if n.Lang != "zh-Hans" || !strings.HasPrefix(n.Text, "【Demo Console】") || !strings.Contains(n.Text, "您的账户绑定了身份验证器应用") {
		t.Errorf("notice %q: %q", n.Lang, n.Text)
	}
}

// noticeBindTOTP binds an authenticator through the settings pages as bindTOTP does,
// read in the language acceptLanguage asks for, and returns how long the request that
// binds it took.
func noticeBindTOTP(t *testing.T, c *client, acceptLanguage string) time.Duration {
	t.Helper()
	page := func(method, path string, form url.Values) response {
		h := []string{"Accept", "text/html", "Accept-Language", acceptLanguage, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
			h = append(h, "Content-Type", "application/x-www-form-urlencoded", "Origin", c.g.srv.URL)
		}
		return c.do(method, path, body, h...)
	}
	settings := page("GET", "/.stepup/", nil)
	start := page("POST", "/.stepup/totp/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	loc := start.Header.Get("Location")
	bind := page("GET", loc, nil)
	key, err := decodeBase32(strings.ReplaceAll(match(t, secretRE, bind.Body), " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	form := url.Values{"csrf": {match(t, csrfRE, bind.Body)}, "code1": {challenge.TOTPCode(key, now.Add(-30*time.Second))}, "code2": {challenge.TOTPCode(key, now)}}
	began := time.Now()
	done := page("POST", loc, form)
	took := time.Since(began)
	if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != "/.stepup/?saved=totp" {
		t.Fatalf("binding: %d %q", done.StatusCode, done.Header.Get("Location"))
	}
	return took
}

// With `notify sms` a user who binds a phone gets the notice by text, through the
// configured (log) SMS provider, at the phone just bound.
func TestSMSNoticeThroughTheProvider(t *testing.T) {
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	rec := newNoticeReceiver(t, 0)
	g := newGateway(t, notifyBlock(rec.srv.URL, "\tsms log "+outbox+"\n\tnotify sms\n"))
	c := g.client()
	c.login("carol")
	noticeBindPhone(t, c, outbox)
	checkNotice(t, rec.wait(t, 1, 5*time.Second)[0])
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, err := sms.ReadOutbox(outbox, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 2 { // the code, then the notice
			if m := msgs[0]; m.To != "+442079460123" || !strings.HasPrefix(m.Message, "Demo Console: a phone was set up for codes on your account on ") {
				t.Errorf("notice by SMS: %+v", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox: %+v", msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var noticeCodeRE = regexp.MustCompile(`\b(\d{6})\b`)

// noticeBindPhone binds +44 20 7946 0123 through the settings pages, reading the code
// from the outbox.
func noticeBindPhone(t *testing.T, c *client, outbox string) {
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	start := c.page("POST", "/.stepup/phone/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	loc := start.Header.Get("Location")
	if start.StatusCode != http.StatusSeeOther || loc == "" {
		t.Fatalf("start binding a phone: %d", start.StatusCode)
	}
	page := c.page("GET", loc, nil)
	csrf := match(t, csrfRE, page.Body)
	if sent := c.page("POST", loc+"/phone", url.Values{"csrf": {csrf}, "number": {"+44 20 7946 0123"}}); sent.StatusCode != http.StatusSeeOther {
		t.Fatalf("send to the new phone: %d", sent.StatusCode)
	}
	msgs, err := sms.ReadOutbox(outbox, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("outbox: %v %v", msgs, err)
	}
	code := noticeCodeRE.FindStringSubmatch(msgs[0].Message)
	if code == nil {
		t.Fatalf("no code in %q", msgs[0].Message)
	}
	if done := c.page("POST", loc, url.Values{"csrf": {csrf}, "phone_code": {code[1]}}); done.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm the phone: %d %s", done.StatusCode, done.Body)
	}
}

// Reloads (a new config provisioned, then the old one cleaned up) leave no queue's
// workers behind.
func TestNoticeQueueReloadsLeakNothing(t *testing.T) {
	rec := newNoticeReceiver(t, 0)
	block := notifyBlock(rec.srv.URL, "")
	settle := func() int {
		n := runtime.NumGoroutine()
		for range 100 {
			time.Sleep(20 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				return n
			}
			n = m
		}
		return n
	}
	before := settle()
	old := provisionUnmanaged(t, block)
	for range 5 {
		next := provisionUnmanaged(t, block)
		if old.notices == nil || next.notices == old.notices {
			t.Fatal("each config has its own queue")
		}
		if err := old.Cleanup(); err != nil {
			t.Fatal(err)
		}
		old = next
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if after := settle(); after > before {
		t.Fatalf("goroutines: %d before, %d after the last config went away", before, after)
	}
}

func TestNotifyConfig(t *testing.T) {
	t.Setenv("STEPUP_TEST_WEAK_NOTIFY_SECRET", "password")
	for _, tt := range []struct {
		block string
		line  int
		want  string
	}{
		{"stepup {\n\tnotify\n}", 3, "notify needs a notifier"},
		{"stepup {\n\tnotify email x@example.com\n}", 3, `unknown notifier "email"`},
		{"stepup {\n\tnotify webhook https://relay.example/n\n}", 3, "needs `secret <secret>`"},
		{"stepup {\n\tnotify webhook https://relay.example/n {\n\t\tsecret short\n\t}\n}", 4, "the secret is 5 bytes"},
		{"stepup {\n\tnotify webhook https://relay.example/n {\n\t\tsecret {env.STEPUP_TEST_WEAK_NOTIFY_SECRET}\n\t}\n}", 4, "notify webhook: the secret"},
		{"stepup {\n\tnotify webhook https://relay.example/n {\n\t\tsecret " + noticeSecret + "\n\t\tattempts 99\n\t}\n}", 5, "attempts: expected 1 to 10"},
		{"stepup {\n\tnotify sms {\n\t\tlimit lots\n\t}\n}", 4, "expected a number of notices"},
		{"stepup {\n\tnotify limit\n}", 3, "expected `limit <notices> [<window>]`"},
		{"stepup {\n\tnotify limit 5 1h\n\tnotify limit 6 1h\n}", 4, "notify limit is set twice"},
		{"stepup {\n\tnotify sms\n\tnotify sms {\n\t\tlimit 1\n\t}\n}", 4, "notify sms is set twice"},
	} {
		_, err := adapt(t, "Caddyfile", "http://:8080 {\n"+tt.block+"\n}\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "Caddyfile:"+itoa(tt.line)) {
			t.Errorf("%q: %v, want %q at Caddyfile:%d", tt.block, err, tt.want, tt.line)
		}
		if err != nil && strings.Contains(err.Error(), "password") {
			t.Errorf("%q: the error shows the secret: %v", tt.block, err)
		}
	}

	// Checked at load: the SMS notifier needs the SMS provider; a limit alone sends
	// nothing.
	for block, want := range map[string]string{
		"stepup {\n\tnotify sms\n}":        "notify sms texts through the sms provider, which is not configured",
		"stepup {\n\tnotify limit 5 1h\n}": "notify needs a notifier",
	} {
		h := new(Handler)
		if err := h.UnmarshalCaddyfile(newDispenser(block)); err != nil {
			t.Fatalf("%q: %v", block, err)
		}
		h.setDefaults()
		h.setNotifyDefaults()
		if err := h.checkNotify(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", block, err, want)
		}
	}

	// Several notifiers and a limit, as JSON.
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(newDispenser("stepup {\n\tsms log\n\tnotify webhook https://relay.example/n {\n\t\tsecret {env.X}\n\t}\n\tnotify sms {\n\t\tlimit 2 12h\n\t}\n\tnotify limit 4 30m\n}")); err == nil {
		t.Fatal("an unset secret placeholder passed")
	}
	if err := h.UnmarshalCaddyfile(newDispenser("stepup {\n\tsms log\n\tnotify webhook https://relay.example/n {\n\t\tsecret " + noticeSecret + "\n\t}\n\tnotify sms {\n\t\tlimit 2 12h\n\t}\n\tnotify limit 4 30m\n}")); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(h.Notify)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"notifiers":[{"notifier":"webhook","secret":"` + noticeSecret + `","url":"https://relay.example/n"},{"limit":2,"notifier":"sms","window":43200000000000}],"user_limit":4,"user_window":1800000000000}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}

// The queue's outcomes reach the Prometheus counters.
func TestNoticeMetrics(t *testing.T) {
	value := func(c prometheus.Counter) float64 {
		var m dto.Metric
		if err := c.(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	full := noticeMetrics.dropped.WithLabelValues("queue_full")
	sent := noticeMetrics.delivered.WithLabelValues("webhook", "sent")
	f0, s0 := value(full), value(sent)
	noticeCounts{}.Dropped("queue_full")
	noticeCounts{}.Delivered("webhook", "sent")
	if value(full) != f0+1 || value(sent) != s0+1 {
		t.Errorf("counters did not move: %v %v", value(full)-f0, value(sent)-s0)
	}
	reg := prometheus.NewRegistry()
	if err := registerNotifyMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := registerNotifyMetrics(reg); err != nil { // a reload
		t.Fatal(err)
	}
}

func decodeBase32(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

func newDispenser(block string) *caddyfile.Dispenser { return caddyfile.NewTestDispenser(block) }

// Every notice the gateway's audit trail calls for is a kind the notifiers know, so
// none falls back to a generic sentence by a typo in its name.
func TestEveryNoticeKindIsKnown(t *testing.T) {
	known := map[notify.Kind]bool{}
	for _, k := range notify.Kinds() {
		known[k] = true
	}
	seen := map[string]bool{}
	for _, action := range []string{"totp.bound", "phone.bound", "totp.unbound", "phone.removed", "reset.totp", "reset.phone",
		"recovery.revoked", "unlock", "lockout", "recovery.used", "protection.login.off", "protection.operation.off"} {
		n, ok := gateway.NoticeFor(gateway.Event{Actor: "bob", Target: "alice", Action: action, Result: "ok"})
		if !ok {
			t.Errorf("%s calls for no notice", action)
			continue
		}
		if !known[notify.Kind(n.Kind)] {
			t.Errorf("%s calls for notice kind %q, which package notify does not know", action, n.Kind)
		}
		seen[n.Kind] = true
	}
	for k := range known {
		if !seen[string(k)] {
			t.Errorf("notify knows kind %q, which no audited action calls for", k)
		}
	}
}
