package token

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-stepup/stepup/store"
)

const (
	testIssuer   = "Example Console"
	testAudience = "console.example.com"
)

// Fixed keys, so that fuzz corpus entries replay the same way in every run.
var (
	testHMACKey = func() []byte { s := sha256.Sum256([]byte("caddy-stepup token test key")); return s[:] }()
	testEdKey   = ed25519.NewKeyFromSeed(testHMACKey)
)

// algs names the two configurations every round-trip test runs against.
var algs = []string{"HS256", "EdDSA"}

// setClock makes the package clock read at and restores it when the test ends.
// Tests that use it must not run in parallel.
func setClock(tb testing.TB, at time.Time) {
	tb.Helper()
	old := now
	now = func() time.Time { return at }
	tb.Cleanup(func() { now = old })
}

// startClock sets the clock to a whole second near the real time: the memory store
// judges grant expiry by the real clock, so tokens must not look expired to it.
func startClock(tb testing.TB) time.Time {
	tb.Helper()
	at := time.Now().Truncate(time.Second).Add(time.Second)
	setClock(tb, at)
	return at
}

func testConfig(alg string) Config {
	cfg := Config{Issuer: testIssuer, Audience: testAudience, ACR: "stepup:otp"}
	switch alg {
	case "HS256":
		cfg.HMACKey = testHMACKey
	case "EdDSA":
		cfg.Ed25519Key = testEdKey
	default:
		panic("unknown alg " + alg)
	}
	return cfg
}

// newTokens returns Tokens for alg over a fresh memory store.
func newTokens(tb testing.TB, alg string) (*Tokens, *store.Memory) {
	tb.Helper()
	return newTokensWith(tb, testConfig(alg))
}

func newTokensWith(tb testing.TB, cfg Config) (*Tokens, *store.Memory) {
	tb.Helper()
	st, err := store.NewMemory("")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	tk, err := New(cfg, st)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return tk, st
}

// issuePair issues a session for alice and a step-up token in it.
func issuePair(tb testing.TB, tk *Tokens) (sessRaw string, sess Claims, upRaw string, up Claims) {
	tb.Helper()
	ctx := context.Background()
	at := now()
	sessRaw, sess, err := tk.Issue(ctx, Session, "alice", "", []string{"pwd"}, at)
	if err != nil {
		tb.Fatalf("Issue session: %v", err)
	}
	upRaw, up, err = tk.Issue(ctx, StepUp, "alice", sess.Session, []string{"otp"}, at)
	if err != nil {
		tb.Fatalf("Issue step-up: %v", err)
	}
	return sessRaw, sess, upRaw, up
}

// wireMap returns the claims a valid token of kind from tk would carry, as a map a
// test can alter before signing it with forge.
func wireMap(tk *Tokens, kind Kind) jwt.MapClaims {
	t := now()
	m := jwt.MapClaims{
		"iss":       tk.issuer,
		"aud":       tk.audience,
		"sub":       "alice",
		"sid":       "c2Vzc2lvbi1pZC0wMDAwMA",
		"jti":       "dG9rZW4taWQtMDAwMDAwMA",
		"iat":       t.Unix(),
		"exp":       t.Add(time.Minute).Unix(),
		"auth_time": t.Unix(),
		"amr":       []string{"otp"},
	}
	if kind == Session {
		m["jti"] = m["sid"]
	}
	return m
}

// forge signs claims with method and key under a header of typ kind (and tk's kid,
// if it has one), then applies edit to the header before signing.
func forge(tb testing.TB, tk *Tokens, method jwt.SigningMethod, key any, kind Kind, claims jwt.MapClaims, edit func(h map[string]any)) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = string(kind)
	if tk.kid != "" {
		tok.Header["kid"] = tk.kid
	}
	if edit != nil {
		edit(tok.Header)
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("forge: %v", err)
	}
	return raw
}

// mustRefuse asserts that Parse refuses raw as kind with ErrInvalid, for the reason
// named (a substring of the error), and that the error quotes no part of raw.
func mustRefuse(tb testing.TB, tk *Tokens, kind Kind, raw, why string) {
	tb.Helper()
	c, err := tk.Parse(kind, raw)
	if err == nil {
		tb.Fatalf("Parse accepted a bad token (want %q): %+v", why, c)
	}
	if !strings.HasPrefix(err.Error(), ErrInvalid.Error()) || !errors.Is(err, ErrInvalid) {
		tb.Fatalf("error %q does not wrap ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), why) {
		tb.Fatalf("error %q, want reason %q", err, why)
	}
	leaksToken(tb, err, raw)
}

// leaksToken fails if err's text holds any segment of raw.
func leaksToken(tb testing.TB, err error, raw string) {
	tb.Helper()
	for _, seg := range strings.Split(raw, ".") {
		if len(seg) >= 8 && strings.Contains(err.Error(), seg) {
			tb.Fatalf("error %q quotes the token", err)
		}
	}
}
