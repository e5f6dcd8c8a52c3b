package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// TestLoadSmoke runs the whole benchmark with tiny durations: the setup (upstream,
// Redis, Caddy, sign-in and TOTP binding through the gateway) must work and every
// scenario must serve requests without a single failure. The numbers are not
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
			if ci || name != scProtRedis {
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
}
