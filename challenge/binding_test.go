package challenge

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

func TestBindingFlow(t *testing.T) {
	e := newEnv(t, Limits{})
	c, err := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "nonce", Purpose: policy.PurposeLogin, Methods: []policy.Method{policy.TOTP}})
	if err != nil {
		t.Fatal(err)
	}
	en1, err := e.svc.StartTOTPBinding(e.ctx, c.ID, "nonce")
	if err != nil {
		t.Fatal(err)
	}
	en2, err := e.svc.StartTOTPBinding(e.ctx, c.ID, "nonce")
	if err != nil {
		t.Fatal(err)
	}
	if en1.Secret != en2.Secret || en1.URI != en2.URI || len(en1.Secret) != 32 {
		t.Fatal("a reload shows another secret")
	}
	if !strings.HasPrefix(en1.URI, "otpauth://totp/Example%20Console:alice?secret="+en1.Secret+"&") || !bytes.HasPrefix(en1.QRPNG, []byte("\x89PNG")) {
		t.Errorf("enrollment: %s", en1.URI)
	}
	if _, err := e.svc.StartTOTPBinding(e.ctx, c.ID, "other"); !errors.Is(err, ErrNotYours) {
		t.Errorf("start with another binding: %v", err)
	}
	secret, err := b32.DecodeString(en1.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// The pending secret is sealed at rest.
	assertSealed(t, e, store.ChallengeKey(c.ID, pendingTOTPName), secret)

	now := e.clock.Now()
	prev, cur, next := TOTPCode(secret, now.Add(-30*time.Second)), TOTPCode(secret, now), TOTPCode(secret, now.Add(30*time.Second))
	confirm := func(code1, code2 string) (Passed, error) {
		return e.svc.ConfirmTOTPBinding(e.ctx, c.ID, "nonce", code1, code2, testIP)
	}
	// Not consecutive, or reversed: refused and counted.
	_, err = confirm(prev, next)
	wantWrong(t, err, 4)
	_, err = confirm(cur, prev)
	wantWrong(t, err, 3)
	if f, _ := e.svc.Factors(e.ctx, "alice"); f.TOTP != nil {
		t.Fatal("bound after a wrong pair")
	}

	p, err := confirm(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	if p.Challenge.ID != c.ID || p.Method != policy.TOTP || p.Challenge.Purpose != policy.PurposeLogin {
		t.Errorf("Passed = %+v", p)
	}
	f, err := e.svc.Factors(e.ctx, "alice")
	if err != nil || f.TOTP == nil || !f.TOTP.BoundAt.Equal(now) || !slices.Equal(f.Bound(), []policy.Method{policy.TOTP}) {
		t.Fatalf("Factors = %+v, %v", f, err)
	}
	assertSealed(t, e, store.UserKey("alice", factorsName), secret)
	if _, err := e.st.Get(e.ctx, store.ChallengeKey(c.ID, pendingTOTPName)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending secret left behind: %v", err)
	}
	// The challenge is used; the codes typed cannot pass another challenge.
	if _, err := confirm(prev, cur); !errors.Is(err, ErrChallengeEnded) {
		t.Errorf("confirm again: %v", err)
	}
	if _, err := e.verify(e.begin("alice"), cur); !errors.Is(err, ErrWrongCode) {
		t.Errorf("binding code replayed: %v", err)
	}
	e.nextStep()
	if _, err := e.verify(e.begin("alice"), e.code(secret)); err != nil {
		t.Fatalf("bound app does not verify: %v", err)
	}
	// Now bound: no second binding.
	if _, err := e.svc.StartTOTPBinding(e.ctx, e.begin("alice").ID, binding("alice")); !errors.Is(err, ErrAlreadyBound) {
		t.Errorf("second binding: %v", err)
	}
}

func TestConfirmWithoutStart(t *testing.T) {
	e := newEnv(t, Limits{})
	c := e.begin("alice")
	if _, err := e.svc.ConfirmTOTPBinding(e.ctx, c.ID, c.Binding, "123456", "654321", testIP); !errors.Is(err, ErrNotBound) {
		t.Fatalf("confirm without start: %v", err)
	}
}

func TestBindingPairEnteredLate(t *testing.T) {
	e := newEnv(t, Limits{})
	c := e.begin("alice")
	en, _ := e.svc.StartTOTPBinding(e.ctx, c.ID, c.Binding)
	secret, _ := b32.DecodeString(en.Secret)
	code1, code2 := e.code(secret), TOTPCode(secret, e.clock.Now().Add(30*time.Second))
	e.clock.Add(90 * time.Second) // code2's step is now two behind
	if _, err := e.svc.ConfirmTOTPBinding(e.ctx, c.ID, c.Binding, code1, code2, testIP); err != nil {
		t.Fatal(err)
	}
	// The replay guard is at code2's step, which is in the past: the current code passes.
	if _, err := e.verify(e.begin("alice"), e.code(secret)); err != nil {
		t.Fatal(err)
	}
}

// assertSealed checks that the raw record at key shows the secret in no usual encoding.
func assertSealed(t *testing.T, e *env, key store.Key, secret []byte) {
	t.Helper()
	raw, err := e.st.Get(e.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{
		string(secret),
		base32.StdEncoding.EncodeToString(secret),
		b32.EncodeToString(secret),
		base64.StdEncoding.EncodeToString(secret),
		base64.RawStdEncoding.EncodeToString(secret),
		base64.RawURLEncoding.EncodeToString(secret),
		hex.EncodeToString(secret),
	} {
		if bytes.Contains(raw, []byte(form)) {
			t.Fatalf("record %v holds the secret (%q)", key, form)
		}
	}
}

func TestSealedFactorsCopiedToAnotherUser(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	raw, err := e.st.Get(e.ctx, store.UserKey("alice", factorsName))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Put(e.ctx, store.UserKey("mallory", factorsName), raw, 0); err != nil {
		t.Fatal(err)
	}
	// Mallory holds Alice's app, but the copied record does not open for Mallory.
	_, err = e.verify(e.begin("mallory"), e.code(secret))
	if err == nil || !errors.Is(err, ErrUnsealable) || errors.Is(err, ErrWrongCode) {
		t.Fatalf("copied record: %v", err)
	}
	if err := e.svc.UnbindTOTP(e.ctx, "mallory", e.code(secret), testIP); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("unbind with copied record: %v", err)
	}
}

func TestPendingSecretCopiedToAnotherChallenge(t *testing.T) {
	e := newEnv(t, Limits{})
	c1, c2 := e.begin("alice"), e.begin("mallory")
	en, _ := e.svc.StartTOTPBinding(e.ctx, c1.ID, c1.Binding)
	raw, _ := e.st.Get(e.ctx, store.ChallengeKey(c1.ID, pendingTOTPName))
	e.st.Put(e.ctx, store.ChallengeKey(c2.ID, pendingTOTPName), raw, time.Minute)
	secret, _ := b32.DecodeString(en.Secret)
	code1, code2 := TOTPCode(secret, e.clock.Now().Add(-30*time.Second)), e.code(secret)
	if _, err := e.svc.ConfirmTOTPBinding(e.ctx, c2.ID, c2.Binding, code1, code2, testIP); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("copied pending secret: %v", err)
	}
	if _, err := e.svc.StartTOTPBinding(e.ctx, c2.ID, c2.Binding); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("start with copied pending secret: %v", err)
	}
}

func TestUnbindTOTP(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	wrong := e.wrongCode(secret)
	err := e.svc.UnbindTOTP(e.ctx, "alice", wrong, testIP)
	wantWrong(t, err, 9) // counts toward the lock
	if f, _ := e.svc.Factors(e.ctx, "alice"); f.TOTP == nil {
		t.Fatal("unbound by a wrong code")
	}
	code := e.code(secret)
	if err := e.svc.UnbindTOTP(e.ctx, "alice", code, testIP); err != nil {
		t.Fatal(err)
	}
	if f, err := e.svc.Factors(e.ctx, "alice"); err != nil || f.TOTP != nil || len(f.Bound()) != 0 {
		t.Fatalf("after unbind: %+v, %v", f, err)
	}
	if err := e.svc.UnbindTOTP(e.ctx, "alice", code, testIP); !errors.Is(err, ErrNotBound) {
		t.Errorf("unbind again: %v", err)
	}
	if _, err := e.verify(e.begin("alice"), code); !errors.Is(err, ErrNotBound) {
		t.Errorf("verify after unbind: %v", err)
	}
	// Unbinding with a used code is refused.
	secret = e.bind("bob")
	code = e.code(secret)
	if _, err := e.verify(e.begin("bob"), code); err != nil {
		t.Fatal(err)
	}
	var w *WrongCodeError
	if err := e.svc.UnbindTOTP(e.ctx, "bob", code, testIP); !errors.As(err, &w) || !w.Reused {
		t.Errorf("unbind with a used code: %v", err)
	}
}

func TestResetFactors(t *testing.T) {
	e := newEnv(t, Limits{LockAfter: 2})
	secret := e.bind("alice")
	c := e.begin("alice")
	e.verify(c, e.wrongCode(secret))
	if _, err := e.verify(c, e.wrongCode(secret)); !errors.Is(err, ErrLocked) {
		t.Fatal(err)
	}
	if err := e.svc.ResetFactors(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.svc.Factors(e.ctx, "alice"); f.TOTP != nil {
		t.Fatal("still bound")
	}
	// Lock cleared: a new binding (after a lost device) works right away.
	c = e.begin("alice")
	en, err := e.svc.StartTOTPBinding(e.ctx, c.ID, c.Binding)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ = b32.DecodeString(en.Secret)
	if _, err := e.svc.ConfirmTOTPBinding(e.ctx, c.ID, c.Binding, TOTPCode(secret, e.clock.Now().Add(-30*time.Second)), e.code(secret), testIP); err != nil {
		t.Fatal(err)
	}
}
