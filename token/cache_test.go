package token

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCacheKeepsChecks(t *testing.T) {
	start := startClock(t)
	tk, _ := newTokens(t, "EdDSA")
	sessRaw, sess, upRaw, _ := issuePair(t, tk)

	first, err := tk.Parse(Session, sessRaw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tk.cache.get(sessRaw); !ok {
		t.Fatal("verified token not cached")
	}
	first.AMR[0] = "changed by the caller"
	again, err := tk.Parse(Session, sessRaw)
	if err != nil || again.AMR[0] != "pwd" {
		t.Fatalf("cached claims changed through a returned slice: %v, %v", again.AMR, err)
	}

	// A cached session token is still no step-up token.
	mustRefuse(t, tk, StepUp, sessRaw, "wrong kind")

	// Expiry and iat are judged at each use.
	setClock(t, sess.Expires)
	mustRefuse(t, tk, Session, sessRaw, "expired")
	setClock(t, sess.IssuedAt.Add(-clockSkew-time.Second))
	mustRefuse(t, tk, Session, sessRaw, "issued in the future")
	setClock(t, start)

	// Refused tokens are not remembered.
	mustRefuse(t, tk, Session, upRaw, "wrong kind")
	// A changed signature character (always a different one: "AA" appended could
	// equal what it replaces).
	i := strings.LastIndexByte(sessRaw, '.') + 5
	c := byte('A')
	if sessRaw[i] == 'A' {
		c = 'B'
	}
	bad := sessRaw[:i] + string(c) + sessRaw[i+1:]
	mustRefuse(t, tk, Session, bad, "")
	for _, raw := range []string{upRaw, bad} {
		if _, ok := tk.cache.get(raw); ok {
			t.Fatal("refused token cached")
		}
	}
}

func TestCacheBounded(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	ctx := context.Background()
	var first string
	n := 2 * cacheBytes / 600 // comfortably more than fit
	for i := range n {
		raw, _, err := tk.Issue(ctx, Session, fmt.Sprintf("user-%d", i), "", []string{"pwd"}, now())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = raw
		}
		if _, err := tk.Parse(Session, raw); err != nil {
			t.Fatal(err)
		}
	}
	tk.cache.mu.RLock()
	entries, size := len(tk.cache.m), tk.cache.bytes
	tk.cache.mu.RUnlock()
	if size > cacheBytes || entries >= n || entries < n/4 {
		t.Fatalf("cache holds %d of %d tokens in %d bytes (bound %d)", entries, n, size, cacheBytes)
	}
	if _, err := tk.Parse(Session, first); err != nil {
		t.Fatalf("evicted token no longer parses: %v", err)
	}
}
