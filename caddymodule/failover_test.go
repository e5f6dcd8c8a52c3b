package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/internal/redistest"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// The failover tests kill the Redis master that holds a user's records while a browser
// keeps asking for a protected page and the store keeps writing what security depends
// on (revocations, TOTP replay steps, attempt counters and lockouts), then check that
// the page failed closed (503, nothing else) while no master served, that it served
// again soon after the replica was promoted, and that no write the store acknowledged
// was lost. The figures are printed; the bound asserted is loose, so the test does not
// flake on two busy cores under -race (the goal is 2 s after the promotion).
const (
	// failoverBound is how long after the promotion the gateway may take to serve
	// again before the test fails.
	failoverBound = 10 * time.Second
	// failoverGiveUp ends a run that never recovers.
	failoverGiveUp = 45 * time.Second
)

// TestClusterFailover kills the master of alice's slot in a Cluster of three masters
// and three replicas.
func TestClusterFailover(t *testing.T) {
	c := redistest.StartReplicatedCluster(t)
	master, replica := c.MasterOf("{u:alice}")
	runFailover(t, redistest.ClusterURL(c.Addrs()), func() failoverChecks {
		master.Stop()
		return failoverChecks{promoted: func() bool { return redistest.IsMaster(replica.Addr()) }}
	})
}

// TestSentinelFailover kills the master watched by three sentinels. The sentinels
// announce the new master once they have seen the replica report itself master, up to
// a second after it did.
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	runFailover(t, s.URL(), func() failoverChecks {
		s.Master.Stop()
		return failoverChecks{
			promoted:  func() bool { return redistest.IsMaster(s.Replica.Addr()) },
			announced: func() bool { a, err := s.MasterAddr(); return err == nil && a == s.Replica.Addr() },
		}
	})
}

// failoverChecks say when the replica became master and when clients could learn of
// it (for a Cluster, at once; behind Sentinel, when the sentinels announce it).
type failoverChecks struct{ promoted, announced func() bool }

// failoverRun is what the workers saw, with the time of each event.
type failoverRun struct {
	mu        sync.Mutex
	killed    time.Time
	promoted  time.Time
	announced time.Time
	statuses  map[int]int
	firstDown time.Time // the page's first 503
	lastDown  time.Time // and its last
	backUp    time.Time // the first 200 after the last 503
	// okWhileDown counts 200s to requests sent after what the live cache may still
	// answer (its 1 s, and some slack for a busy machine) and before the promotion: a
	// page served while no master could say it may be.
	okWhileDown int

	// Acknowledged security writes, to look for afterwards.
	revoked []string // grant ids of alice whose Revoke returned nil
	steps   map[string]int64
	counts  map[string]int64
	locked  []string
	// writesDown is the last failed security write, writesUp the first acknowledged
	// one after it.
	writesDown, writesUp time.Time
}

// acked records an acknowledged write.
func (r *failoverRun) acked(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
	if !r.writesDown.IsZero() && r.writesUp.IsZero() {
		r.writesUp = time.Now()
	}
}

// failed records a failed write, unless the test is ending.
func (r *failoverRun) failed(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writesDown, r.writesUp = time.Now(), time.Time{}
}

// runFailover serves the demo console through a gateway on the store at url, with
// alice signed in and past a second factor, starts the workers, calls kill (which
// stops the master and returns a check for the promotion), waits until the page
// serves and the store writes again, and checks what was lost.
func runFailover(t *testing.T, url string, kill func() failoverChecks) {
	prefix := redistest.Prefix(t)
	g := newGateway(t, strings.Replace(redisBlock("x", "y"), "store redis redis://x/0 y", "store redis "+url+" "+prefix, 1))
	browser := g.client()
	browser.login("alice")
	sessionClaims, err := g.h.tokens.Parse(token.Session, browser.cookie("stepup_session"))
	if err != nil {
		t.Fatal(err)
	}
	stepUp, _, err := g.h.tokens.Issue(t.Context(), token.StepUp, "alice", sessionClaims.ID, []string{"otp"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	browser.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: "stepup_token", Value: stepUp}})
	if r := browser.page("GET", "/instances/i-1001/delete", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("the protected page before the failover: %d %s", r.StatusCode, r.Body)
	}

	run := &failoverRun{statuses: map[int]int{}, steps: map[string]int64{}, counts: map[string]int64{}}
	st := g.h.store
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	page := g.srv.URL + "/instances/i-1001/delete"
	cookies := browser.jar.Cookies(mustURL(g.srv.URL))
	wg.Go(func() { probePage(ctx, page, cookies, run) })
	wg.Go(func() { revokeGrants(ctx, st, run) })
	wg.Go(func() { advanceSteps(ctx, st, run) })
	wg.Go(func() { countFailures(ctx, st, run) })

	time.Sleep(500 * time.Millisecond) // writes acknowledged before the kill
	run.mu.Lock()
	run.killed = time.Now()
	run.mu.Unlock()
	checks := kill()
	deadline := time.Now().Add(failoverGiveUp)
	for time.Now().Before(deadline) {
		run.mu.Lock()
		if run.promoted.IsZero() && checks.promoted() {
			run.promoted = time.Now()
		}
		if run.announced.IsZero() && !run.promoted.IsZero() && (checks.announced == nil || checks.announced()) {
			run.announced = time.Now()
		}
		done := !run.announced.IsZero() && !run.backUp.IsZero() && !run.writesUp.IsZero() &&
			time.Since(run.announced) > 500*time.Millisecond && len(run.locked) > 0
		run.mu.Unlock()
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()

	run.mu.Lock()
	defer run.mu.Unlock()
	if run.promoted.IsZero() {
		t.Fatalf("the replica was not promoted within %v", failoverGiveUp)
	}
	sec := func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "never"
		}
		return fmt.Sprintf("%.2fs", a.Sub(b).Seconds())
	}
	t.Logf("failover: promoted %s after the kill (announced %s after); the page answered 503 from %s to %s after the kill and served again %s after the kill, %s after the promotion; security writes failed until %s after the kill and resumed %s after the promotion; statuses %v; acknowledged: %d revocations, %d replay steps, %d counters, %d lockouts",
		sec(run.promoted, run.killed), sec(run.announced, run.promoted), sec(run.firstDown, run.killed), sec(run.lastDown, run.killed),
		sec(run.backUp, run.killed), sec(run.backUp, run.promoted), sec(run.writesDown, run.killed), sec(run.writesUp, run.promoted),
		run.statuses, len(run.revoked), len(run.steps), len(run.counts), len(run.locked))
	if run.okWhileDown > 0 {
		t.Errorf("the page was served %d times while no master served", run.okWhileDown)
	}

	for status := range run.statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("the protected page answered %d during the failover; only 200 and 503 (closed) are right", status)
		}
	}
	if run.statuses[http.StatusServiceUnavailable] == 0 {
		t.Error("the page never failed closed: the test killed nothing it uses")
	}
	if run.backUp.IsZero() || run.backUp.Sub(run.promoted) > failoverBound {
		t.Errorf("the page served again %s after the promotion; the bound is %v", sec(run.backUp, run.promoted), failoverBound)
	}
	if run.writesUp.IsZero() || run.writesUp.Sub(run.promoted) > failoverBound {
		t.Errorf("security writes resumed %s after the promotion; the bound is %v", sec(run.writesUp, run.promoted), failoverBound)
	}
	checkNothingLost(t, st, run)
}

// checkNothingLost reads back every acknowledged security write from the promoted
// master.
func checkNothingLost(t *testing.T, st store.Store, run *failoverRun) {
	ctx := context.Background()
	if len(run.revoked) == 0 || len(run.steps) == 0 || len(run.counts) == 0 || len(run.locked) == 0 {
		t.Fatalf("too few acknowledged writes to judge: %d revocations, %d steps, %d counters, %d lockouts",
			len(run.revoked), len(run.steps), len(run.counts), len(run.locked))
	}
	for _, id := range run.revoked {
		if live, err := st.Live(ctx, "alice", id); err != nil || live {
			t.Errorf("revocation of grant %s lost: live %v, %v", id, live, err)
		}
	}
	for name, step := range run.steps {
		if advanced, err := st.Advance(ctx, store.UserKey("alice", name), step); err != nil || advanced {
			t.Errorf("replay step %s = %d lost: the step was accepted again (%v, %v)", name, step, advanced, err)
		}
	}
	for name, n := range run.counts {
		v, err := st.Get(ctx, store.UserKey("alice", name))
		var got int64
		if err == nil {
			_, err = fmt.Sscan(string(v), &got)
		}
		if err != nil || got < n {
			t.Errorf("attempt counter %s lost counts: %d acknowledged, %d kept (%v)", name, n, got, err)
		}
	}
	for _, name := range run.locked {
		if _, err := st.Get(ctx, store.UserKey("alice", name)); err != nil {
			t.Errorf("lockout %s lost: %v", name, err)
		}
	}
}

// probePage asks for the protected page every 20 ms with alice's cookies, as a
// browser reloading it.
func probePage(ctx context.Context, url string, cookies []*http.Cookie, run *failoverRun) {
	client := &http.Client{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		sent := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Accept", "text/html")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		resp, err := client.Do(req)
		if err != nil {
			continue // the test is ending
		}
		resp.Body.Close()
		now := time.Now()
		run.mu.Lock()
		run.statuses[resp.StatusCode]++
		switch {
		case resp.StatusCode != http.StatusOK:
			if run.firstDown.IsZero() {
				run.firstDown = now
			}
			run.lastDown, run.backUp = now, time.Time{}
		case !run.lastDown.IsZero() && run.backUp.IsZero():
			run.backUp = now
		}
		if resp.StatusCode == http.StatusOK && !run.killed.IsZero() && sent.Sub(run.killed) > 1500*time.Millisecond &&
			run.promoted.IsZero() { // promoted: seen by the polling loop, 20 ms late at most
			run.okWhileDown++
		}
		run.mu.Unlock()
		sleep(ctx, 20*time.Millisecond)
	}
}

// revokeGrants tracks a grant of alice and revokes it, again and again.
func revokeGrants(ctx context.Context, st store.Store, run *failoverRun) {
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("failover-%d", i)
		if st.Track(ctx, store.Grant{User: "alice", ID: id, Session: id, Expires: time.Now().Add(time.Hour)}) == nil {
			if st.Revoke(ctx, "alice", id) == nil {
				run.acked(func() { run.revoked = append(run.revoked, id) })
			} else {
				run.failed(ctx)
			}
		}
		sleep(ctx, 5*time.Millisecond)
	}
}

// advanceSteps raises TOTP replay steps, as accepted codes do.
func advanceSteps(ctx context.Context, st store.Store, run *failoverRun) {
	for i := int64(1); ctx.Err() == nil; i++ {
		name := fmt.Sprintf("totp-step-%d", i%7)
		switch ok, err := st.Advance(ctx, store.UserKey("alice", name), i); {
		case err != nil:
			run.failed(ctx)
		case ok:
			run.acked(func() { run.steps[name] = i })
		}
		sleep(ctx, 5*time.Millisecond)
	}
}

// countFailures counts wrong codes, ten to a lockout, as the challenge service does.
func countFailures(ctx context.Context, st store.Store, run *failoverRun) {
	for k := 0; ctx.Err() == nil; {
		name := fmt.Sprintf("failures-%d", k)
		n, err := st.Incr(ctx, store.UserKey("alice", name), time.Hour)
		if err != nil {
			run.failed(ctx)
		} else {
			run.acked(func() { run.counts[name] = max(run.counts[name], n) })
		}
		if err == nil && n >= 10 {
			lock := fmt.Sprintf("locked-%d", k)
			if _, err := st.PutNew(ctx, store.UserKey("alice", lock), []byte("until"), time.Hour); err == nil {
				run.acked(func() { run.locked = append(run.locked, lock) })
				k++
			}
		}
		sleep(ctx, 5*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
