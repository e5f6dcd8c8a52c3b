package token

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
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
	tk.cache.max = 256 << 10
	ctx := context.Background()
	var first string
	n := 2 * tk.cache.max / (entryOverhead + 60) // comfortably more than fit
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
	if size > tk.cache.max || entries >= n || entries < n/4 {
		t.Fatalf("cache holds %d of %d tokens in %d bytes (bound %d)", entries, n, size, tk.cache.max)
	}
	if _, err := tk.Parse(Session, first); err != nil {
		t.Fatalf("evicted token no longer parses: %v", err)
	}
}

// TestCacheEntrySize checks entryOverhead against the heap: the bound on the cache
// must hold in real memory, not only in the count kept.
func TestCacheEntrySize(t *testing.T) {
	const n = 50_000
	claims := Claims{Kind: StepUp, ID: "AAAAAAAAAAAAAAAAAAAAAA", User: "user-0000000", Session: "BBBBBBBBBBBBBBBBBBBBBB",
		ACR: "stepup:otp", AMR: []string{"pwd", "otp"}, IssuedAt: time.Unix(1e9, 0), Expires: time.Unix(1e9+300, 0), AuthTime: time.Unix(1e9, 0)}
	raws := make([]string, n)
	for i := range raws {
		raws[i] = fmt.Sprintf("token-%d", i)
	}
	var c verifiedCache
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, raw := range raws {
		c.put(raw, claims)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(c.m) != n {
		t.Fatalf("%d entries, want %d", len(c.m), n)
	}
	perEntry := int(after.HeapAlloc-before.HeapAlloc) / n
	counted := c.bytes / n
	t.Logf("heap per entry %d bytes, counted %d", perEntry, counted)
	if perEntry > counted {
		t.Errorf("an entry takes %d bytes of heap but is counted as %d: raise entryOverhead", perEntry, counted)
	}
	if counted > 2*perEntry {
		t.Errorf("an entry takes %d bytes of heap but is counted as %d: the cache holds far fewer tokens than it could", perEntry, counted)
	}
	runtime.KeepAlive(raws)
}

func TestCachePacking(t *testing.T) {
	c := Claims{Kind: Session, ID: "id", User: "ünïcode user", Session: "id", AMR: []string{"pwd"},
		IssuedAt: time.Unix(100, 0).UTC(), Expires: time.Unix(200, 0).UTC(), AuthTime: time.Unix(90, 0).UTC()}
	for _, tc := range []Claims{c, func() Claims { d := c; d.AMR = nil; d.ACR = "acr"; return d }()} {
		v, ok := pack(tc)
		if !ok {
			t.Fatalf("%+v not packed", tc)
		}
		if got := v.claims(); !reflect.DeepEqual(got, tc) {
			t.Errorf("unpacked %+v, want %+v", got, tc)
		}
	}
	many := c
	many.AMR = []string{"a", "b", "c", "d", "e"}
	if _, ok := pack(many); ok {
		t.Error("a token with more amr values than an entry holds was packed")
	}
}
