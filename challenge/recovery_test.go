package challenge

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

var recoveryCodeShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)

func TestRecoveryCodes(t *testing.T) {
	e := newEnv(t, Limits{})
	if _, err := e.svc.CreateRecoveryCodes(e.ctx, "alice"); !errors.Is(err, ErrNotBound) {
		t.Fatalf("codes with nothing bound: %v", err)
	}
	e.bind("alice")
	codes, err := e.svc.CreateRecoveryCodes(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryCodeShape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: wrong shape or repeated", c)
		}
		seen[c] = true
	}
	// Stored only as salted hashes: no code, with or without its dashes, in the record.
	raw, err := e.svc.Store.Get(e.ctx, store.UserKey("alice", factorsName))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if strings.Contains(string(raw), c) || strings.Contains(string(raw), strings.ReplaceAll(c, "-", "")) {
			t.Fatalf("the record holds a code in clear: %s", raw)
		}
	}

	// A code passes once, typed any way people type it, with its own amr.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	p, err := e.svc.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), typed, testIP)
	if err != nil {
		t.Fatalf("a recovery code: %v", err)
	}
	if p.Method != policy.Recovery || !slices.Equal(p.AMR, []string{"recovery", "mfa"}) {
		t.Fatalf("passed with %s %v", p.Method, p.AMR)
	}
	f, _ := e.svc.Factors(e.ctx, "alice")
	if f.Recovery.Left() != RecoveryCodeCount-1 || f.Recovery.LastUsed.IsZero() {
		t.Fatalf("after one use: %d left, last used %v", f.Recovery.Left(), f.Recovery.LastUsed)
	}
	// Not twice: a used code is a wrong code, counted, and said to be used.
	_, err = e.svc.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), codes[3], testIP)
	var wrong *WrongCodeError
	if !errors.As(err, &wrong) || !wrong.Reused {
		t.Fatalf("the same code again: %v", err)
	}
	if n, _ := e.svc.RecentFailures(e.ctx, "alice"); n != 1 {
		t.Fatalf("a used code counts as a wrong code: %d failures", n)
	}
	// A wrong code counts toward the same limits.
	if _, err := e.svc.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), "0000-0000-0000", testIP); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("a wrong code: %v", err)
	}
	if n, _ := e.svc.RecentFailures(e.ctx, "alice"); n != 2 {
		t.Fatalf("wrong codes counted: %d", n)
	}
	// Not through a challenge that binds a factor.
	bind, _ := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeBind, Methods: []policy.Method{policy.TOTP}})
	if _, err := e.svc.VerifyRecovery(e.ctx, bind.ID, binding("alice"), codes[4], testIP); !errors.Is(err, ErrNotOffered) {
		t.Fatalf("a recovery code on a bind challenge: %v", err)
	}

	// A new set ends the old one.
	fresh, err := e.svc.CreateRecoveryCodes(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), codes[5], testIP); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("an old set's code: %v", err)
	}
	if _, err := e.svc.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), fresh[0], testIP); err != nil {
		t.Fatalf("a new set's code: %v", err)
	}

	// Revoked: no code left.
	if err := e.svc.RevokeRecoveryCodes(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), fresh[1], testIP); !errors.Is(err, ErrNotBound) {
		t.Fatalf("after revoking: %v", err)
	}
}

// Two requests with one code at once: one passes.
func TestRecoveryCodeSingleUseUnderRace(t *testing.T) {
	e := newEnv(t, Limits{})
	e.bind("alice")
	codes, err := e.svc.CreateRecoveryCodes(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	results := make(chan error, n)
	for range n {
		c := e.begin("alice")
		go func() {
			_, err := e.svc.VerifyRecovery(e.ctx, c.ID, c.Binding, codes[0], testIP)
			results <- err
		}()
	}
	passed := 0
	for range n {
		if err := <-results; err == nil {
			passed++
		}
	}
	if passed != 1 {
		t.Fatalf("%d of %d concurrent uses of one code passed, want 1", passed, n)
	}
}

// Recovery codes end with the last factor they stand in for.
func TestRecoveryCodesEndWithTheLastFactor(t *testing.T) {
	e := newEnv(t, Limits{})
	e.bind("alice")
	if _, err := e.svc.CreateRecoveryCodes(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetTOTP(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.svc.Factors(e.ctx, "alice"); f.Recovery != nil {
		t.Fatalf("codes outlived the last factor: %+v", f.Recovery)
	}
}

func TestNormalizeRecovery(t *testing.T) {
	for in, want := range map[string]string{"ab0c-1DEF-ghjk": "ab0c1defghjk", "AB O C": "ab0c", "il": "11", "ab!c": "", "u": ""} {
		if got := normalizeRecovery(in); got != want {
			t.Errorf("normalizeRecovery(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecoveryCodesShownOnce(t *testing.T) {
	e := newEnv(t, Limits{})
	e.bind("alice")
	codes, err := e.svc.CreateRecoveryCodes(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.svc.HoldForShowing(e.ctx, "alice", codes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TakeShown(e.ctx, "bob", id); err == nil {
		t.Fatal("another user took alice's codes")
	}
	got, err := e.svc.TakeShown(e.ctx, "alice", id)
	if err != nil || !slices.Equal(got, codes) {
		t.Fatalf("shown: %v %v", got, err)
	}
	if _, err := e.svc.TakeShown(e.ctx, "alice", id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("shown twice: %v", err)
	}
	// A challenge for what only a real factor may do refuses recovery codes.
	c, _ := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}, NoRecovery: true})
	if _, err := e.svc.VerifyRecovery(e.ctx, c.ID, c.Binding, codes[0], testIP); !errors.Is(err, ErrNotOffered) {
		t.Fatalf("a recovery code on a NoRecovery challenge: %v", err)
	}
}

// The recovery hashes are sealed: a copy of the record alone holds nothing to guess
// against, and an encryption key rotation reseals them without the codes.
func TestRecoveryCodesAcrossKeyRotation(t *testing.T) {
	e := newEnv(t, Limits{})
	e.bind("alice")
	codes, err := e.svc.CreateRecoveryCodes(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := e.svc.Factors(e.ctx, "alice")
	if SealedWith(f.Recovery.SealedHashes) != e.svc.Sealer.KeyIDs()[0] {
		t.Fatalf("the hashes are not sealed with the current key")
	}
	raw, _ := e.svc.Store.Get(e.ctx, store.UserKey("alice", factorsName))
	if strings.Contains(string(raw), `"hashes"`) {
		t.Fatalf("the record holds the hashes in clear: %s", raw)
	}
	during, _ := e.rotated(nextKey, testKey)
	if _, err := during.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), codes[0], testIP); err != nil {
		t.Fatalf("a code with the new key first: %v", err)
	}
	f, _ = during.Factors(e.ctx, "alice")
	if SealedWith(f.Recovery.SealedHashes) != during.Sealer.KeyIDs()[0] {
		t.Fatal("the hashes were not resealed with the new key on use")
	}
	after, _ := e.rotated(nextKey)
	if _, err := after.VerifyRecovery(e.ctx, e.begin("alice").ID, binding("alice"), codes[1], testIP); err != nil {
		t.Fatalf("a code once the old key is gone: %v", err)
	}
}
