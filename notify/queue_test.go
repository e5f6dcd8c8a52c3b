package notify

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/store"
)

// fakeNotifier records what it is handed. With block set it waits for it (or the
// context) before answering; with err it fails.
type fakeNotifier struct {
	block chan struct{}
	sleep time.Duration
	err   error

	mu  sync.Mutex
	got []Notice
}

func (f *fakeNotifier) Notify(ctx context.Context, n Notice) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.sleep > 0 {
		time.Sleep(f.sleep)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, n)
	return f.err
}

func (f *fakeNotifier) notices() []Notice {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Notice(nil), f.got...)
}

// countMetrics counts like the Prometheus counters do.
type countMetrics struct {
	mu        sync.Mutex
	dropped   map[string]int
	delivered map[string]int // "notifier outcome"
}

func newCountMetrics() *countMetrics {
	return &countMetrics{dropped: map[string]int{}, delivered: map[string]int{}}
}

func (m *countMetrics) Dropped(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropped[reason]++
}

func (m *countMetrics) Delivered(notifier, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delivered[notifier+" "+outcome]++
}

func (m *countMetrics) get(reason string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped[reason]
}

func (m *countMetrics) out(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.delivered[key]
}

func memStore(t *testing.T) *store.Memory {
	t.Helper()
	st, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newTestQueue(t *testing.T, c Config) *Queue {
	t.Helper()
	if c.Logger == nil {
		c.Logger = zaptest.NewLogger(t)
	}
	if c.Issuer == "" {
		c.Issuer = "Demo Console"
	}
	q, err := NewQueue(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

func lockout(user string) Notice {
	return Notice{Kind: Lockout, User: user, Actor: "gateway", Time: time.Date(2026, 12, 2, 10, 32, 0, 0, time.UTC)}
}

func TestQueueSendsInTheUsersLanguage(t *testing.T) {
	hook := &fakeNotifier{}
	q := newTestQueue(t, Config{
		Targets: []Target{{Name: "webhook", Notifier: hook}},
		Lang: func(_ context.Context, user string) (string, error) {
			switch user {
			case "li":
				return "zh-Hans", nil
			case "broken":
				return "", errors.New("store down")
			}
			return "", nil
		},
		Default: locale.English,
	})
	for _, u := range []string{"li", "alice", "broken"} {
		n := lockout(u)
		n.Kind, n.Method = FactorBound, "totp"
		if !q.Enqueue(n) {
			t.Fatalf("%s not queued", u)
		}
	}
	q.Close()
	got := map[string]Notice{}
	for _, n := range hook.notices() {
		got[n.User] = n
		if len(n.ID) != 32 {
			t.Errorf("%s: id %q", n.User, n.ID)
		}
	}
	if n := got["li"]; n.Lang != "zh-Hans" || n.Text != "【Demo Console】12月2日 10:32 UTC，您的账户绑定了身份验证器应用。如非本人操作，请联系管理员。" {
		t.Errorf("Chinese user: %q %q", n.Lang, n.Text)
	}
	if n := got["alice"]; n.Lang != "en" || n.Text != "Demo Console: an authenticator app was set up for your account on 2 Dec 10:32 UTC. If this was not you, contact your administrator." {
		t.Errorf("English user: %q %q", n.Lang, n.Text)
	}
	if n := got["broken"]; n.Lang != "en" || !strings.HasPrefix(n.Text, "Demo Console: ") {
		t.Errorf("language unknown: %q %q", n.Lang, n.Text)
	}
}

func TestEnqueueNeverBlocksAndFullQueueDrops(t *testing.T) {
	// One worker stuck on a receiver that does not answer, two places in the queue: the
	// requests that cause notices go on, and what does not fit is dropped and counted.
	hook := &fakeNotifier{block: make(chan struct{})}
	m := newCountMetrics()
	q := newTestQueue(t, Config{Targets: []Target{{Name: "webhook", Notifier: hook}}, Size: 2, Workers: 1, Metrics: m})
	accepted := 0
	for i := range 10 {
		start := time.Now()
		if q.Enqueue(lockout("alice")) {
			accepted++
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("Enqueue %d took %v", i, d)
		}
	}
	if accepted < 2 || accepted > 3 { // the queue's two, and one the worker may hold
		t.Errorf("%d accepted, want 2 or 3", accepted)
	}
	if n := m.get("queue_full"); n != 10-accepted {
		t.Errorf("queue_full counted %d, want %d", n, 10-accepted)
	}
	close(hook.block)
	q.Close()
	if n := len(hook.notices()); n != accepted {
		t.Errorf("%d sent, want the %d accepted", n, accepted)
	}
	if m.out("webhook sent") != accepted {
		t.Errorf("sent counted %d", m.out("webhook sent"))
	}
}

func TestQueueUserLimits(t *testing.T) {
	// Lockouts triggered again and again: at most 5 notices a user an hour reach the
	// webhook, and at most 3 the SMS notifier; another user has their own counts.
	st := memStore(t)
	hook, text := &fakeNotifier{}, &fakeNotifier{}
	m := newCountMetrics()
	q := newTestQueue(t, Config{
		Targets: []Target{{Name: "webhook", Notifier: hook}, {Name: "sms", Notifier: text, Limit: Limit{Max: 3, Window: 24 * time.Hour}}},
		Limit:   Limit{Max: 5, Window: time.Hour}, Counter: st, Metrics: m, Workers: 1,
	})
	for range 12 {
		q.Enqueue(lockout("alice"))
	}
	q.Enqueue(lockout("bob"))
	q.Close()
	count := func(f *fakeNotifier, user string) int {
		n := 0
		for _, x := range f.notices() {
			if x.User == user {
				n++
			}
		}
		return n
	}
	if a, b := count(hook, "alice"), count(hook, "bob"); a != 5 || b != 1 {
		t.Errorf("webhook: alice %d, bob %d; want 5 and 1", a, b)
	}
	if a, b := count(text, "alice"), count(text, "bob"); a != 3 || b != 1 {
		t.Errorf("sms: alice %d, bob %d; want 3 and 1", a, b)
	}
	if n := m.get("rate_limited"); n != 7 {
		t.Errorf("rate_limited drops %d, want 7", n)
	}
	if n := m.out("sms rate_limited"); n != 2 {
		t.Errorf("sms rate_limited %d, want 2", n)
	}
	// The counts live in the store, so another instance (another queue) sees them.
	other := &fakeNotifier{}
	q2 := newTestQueue(t, Config{Targets: []Target{{Name: "webhook", Notifier: other}}, Limit: Limit{Max: 5, Window: time.Hour}, Counter: st})
	q2.Enqueue(lockout("alice"))
	q2.Close()
	if n := len(other.notices()); n != 0 {
		t.Errorf("another instance sent %d past alice's limit", n)
	}
}

// failingCounter is a store that cannot count.
type failingCounter struct{}

func (failingCounter) Incr(context.Context, store.Key, time.Duration) (int64, error) {
	return 0, store.ErrUnavailable
}

func TestQueueStoreDown(t *testing.T) {
	hook := &fakeNotifier{}
	m := newCountMetrics()
	q := newTestQueue(t, Config{Targets: []Target{{Name: "webhook", Notifier: hook}}, Limit: Limit{Max: 5, Window: time.Hour}, Counter: failingCounter{}, Metrics: m})
	q.Enqueue(lockout("alice"))
	q.Close()
	if len(hook.notices()) != 0 || m.get("store_error") != 1 {
		t.Errorf("sent %d, store_error %d", len(hook.notices()), m.get("store_error"))
	}
}

func TestQueueOutcomes(t *testing.T) {
	ok, skip, fail := &fakeNotifier{}, &fakeNotifier{err: ErrSkipped}, &fakeNotifier{err: errors.New("relay down")}
	m := newCountMetrics()
	q := newTestQueue(t, Config{Targets: []Target{{Name: "a", Notifier: fail}, {Name: "b", Notifier: skip}, {Name: "c", Notifier: ok}}, Metrics: m})
	q.Enqueue(lockout("alice"))
	q.Close()
	// A failing notifier does not keep the notice from the next.
	if m.out("a failed") != 1 || m.out("b skipped") != 1 || m.out("c sent") != 1 || len(ok.notices()) != 1 {
		t.Errorf("outcomes %v", m.delivered)
	}
}

func TestQueueCloseDrains(t *testing.T) {
	hook := &fakeNotifier{sleep: 20 * time.Millisecond}
	q := newTestQueue(t, Config{Targets: []Target{{Name: "webhook", Notifier: hook}}, Workers: 2})
	for range 6 {
		q.Enqueue(lockout("alice"))
	}
	q.Close()
	if n := len(hook.notices()); n != 6 {
		t.Errorf("%d of 6 sent before Close returned", n)
	}
	q.Close() // twice: harmless
	m := newCountMetrics()
	q.cfg.Metrics = m
	if q.Enqueue(lockout("alice")) || m.get("closed") != 1 {
		t.Error("a closed queue took a notice")
	}
}

func TestQueueCloseGivesUp(t *testing.T) {
	// A receiver that never answers: Close waits the drain time, then stops the sends
	// and drops what waits, and returns.
	hook := &fakeNotifier{block: make(chan struct{})}
	m := newCountMetrics()
	q := newTestQueue(t, Config{Targets: []Target{{Name: "webhook", Notifier: hook}}, Workers: 1, Drain: 100 * time.Millisecond, Metrics: m})
	for range 3 {
		q.Enqueue(lockout("alice"))
	}
	start := time.Now()
	q.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if m.out("webhook failed") != 1 || m.get("closed") != 2 {
		t.Errorf("failed %d, closed %d; want 1 and 2", m.out("webhook failed"), m.get("closed"))
	}
}

// A queue made and closed, again and again as config reloads do, leaves no goroutine.
func TestQueueLeaksNoGoroutines(t *testing.T) {
	settle := func() int {
		n := runtime.NumGoroutine()
		for range 100 {
			time.Sleep(10 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				return n
			}
			n = m
		}
		return n
	}
	before := settle()
	for range 20 {
		hook := &fakeNotifier{}
		q, err := NewQueue(Config{Targets: []Target{{Name: "webhook", Notifier: hook}}, Workers: 4})
		if err != nil {
			t.Fatal(err)
		}
		q.Enqueue(lockout("alice"))
		q.Close()
	}
	if after := settle(); after > before {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}

func TestNewQueueChecks(t *testing.T) {
	hook := &fakeNotifier{}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "at least one notifier"},
		{Config{Targets: []Target{{Notifier: hook}}}, "needs a name"},
		{Config{Targets: []Target{{Name: "w", Notifier: hook}}, Limit: Limit{Max: 5}}, "positive window"},
		{Config{Targets: []Target{{Name: "w", Notifier: hook, Limit: Limit{Max: 1, Window: time.Hour}}}}, "a store to count in"},
		{Config{Targets: []Target{{Name: "w", Notifier: hook}}, Size: -1}, "must not be negative"},
	} {
		if q, err := NewQueue(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			if q != nil {
				q.Close()
			}
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}
