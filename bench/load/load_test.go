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
// Redis, Caddy, sign-in and TOTP binding through the gateway, 5,000 users made for
// protected-redis-100k) must work, every scenario must serve requests without a single
// failure, and the propagation and memory measurements must run. The numbers are not
// checked: they mean nothing at this size. Without redis-server the Redis scenario is
// skipped, except with CI=true, where that fails the test.
func TestLoadSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	ci := os.Getenv("CI") == "true"
	rep, err := Run(ctx, Options{
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Conns: 2, Rounds: 1, RequireRedis: ci, Out: &out,
		Users: 5000, Propagation: 20, Memory: 200,
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
	if r := rep.Get(scProtRedisMany); r != nil && r.Skipped == "" {
		for _, want := range []string{"revocation propagation", "Redis memory", "session (grant)", "live cache answered", "first sight"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the report does not say %q", want)
			}
		}
	}
}
