package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLoadSmoke runs the whole benchmark with tiny durations: the setup (upstream,
// Redis, Caddy, sign-in and TOTP binding through the gateway, 1,000 users made for
// protected-redis-100k, each sending its first request) must work, every scenario must serve requests without a single
// failure, and the propagation and memory measurements must run. The numbers are not
// checked: they mean nothing at this size. Without redis-server the Redis scenario is
// skipped, except with CI=true, where that fails the test.
func TestLoadSmoke(t *testing.T) {
	// A guard against a hang, not a timing: under -race, beside the other packages'
	// tests, the run takes 15 to 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	ci := os.Getenv("CI") == "true"
	rep, err := Run(ctx, Options{
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Conns: 2, Rounds: 1, RequireRedis: ci, Out: &out,
		Users: 1000, Propagation: 20, Memory: 200,
	})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allScenarios {
		r := rep.Get(name)
		switch {
		case r == nil:
			t.Errorf("%s: missing from the report", name)
		case r.Skipped != "":
			if ci || !slices.Contains(redisScenarios, name) {
				t.Errorf("%s: skipped: %s", name, r.Skipped)
			} else {
				t.Logf("%s: skipped: %s", name, r.Skipped)
			}
		case r.Requests == 0:
			t.Errorf("%s: no requests completed", name)
		case r.Errors != 0:
			t.Errorf("%s: %d failed requests: %v", name, r.Errors, r.ErrKinds)
		}
	}
	if r := rep.Get(scProtRedisMany); r != nil && r.Skipped == "" && (r.FirstSight == nil || r.FirstSight.Requests != 1000) {
		t.Errorf("first sight: %+v, want each of the 1,000 users' first request", r.FirstSight)
	}
	if r := rep.Get(scProtRedisMany); r != nil && r.Skipped == "" {
		for _, want := range []string{"revocation propagation", "Redis memory", "session (grant)", "live cache answered", "first sight"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the report does not say %q", want)
			}
		}
	}
}
