package challenge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// openPhone returns the user's bound number.
func (e *env) openPhone(user string) string {
	e.t.Helper()
	f, err := e.svc.Factors(e.ctx, user)
	if err != nil || f.Phone == nil {
		e.t.Fatalf("no phone bound for %s: %v", user, err)
	}
	n, err := e.svc.Sealer.Open(f.Phone.SealedNumber, phoneBoundTo(user))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(n)
}

func TestPhoneBindingFlow(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	c, err := e.svc.Begin(e.ctx, Challenge{User: "carol", Binding: "nonce", Purpose: policy.PurposeLogin, Methods: []policy.Method{policy.TOTP, policy.SMS}})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	sent, err := e.svc.StartPhoneBinding(e.ctx, c.ID, "nonce", " +44 20 7946 0123 ", testIP, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A code to a number being bound says so, whatever the challenge is for.
	if sent.To != testMasked || !sent.Expires.Equal(now.Add(5*time.Minute)) || out.last(t).To != testNumber || out.last(t).Purpose != policy.PurposeBind {
		t.Errorf("SentCode = %+v, sent %+v", sent, out.last(t))
	}
	code := out.lastCode(t)
	assertSealed(t, e, store.ChallengeKey(c.ID, pendingPhoneName), []byte(testNumber))
	if f, _ := e.svc.Factors(e.ctx, "carol"); f.Phone != nil {
		t.Fatal("bound before the code was typed")
	}
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, "other", code, testIP); !errors.Is(err, ErrNotYours) {
		t.Errorf("confirm with another binding: %v", err)
	}
	_, err = e.svc.ConfirmPhoneBinding(e.ctx, c.ID, "nonce", otherCode(code), testIP)
	wantWrong(t, err, 4)
	if f, _ := e.svc.Factors(e.ctx, "carol"); f.Phone != nil {
		t.Fatal("bound after a wrong code")
	}

	p, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, "nonce", code, testIP)
	if err != nil {
		t.Fatal(err)
	}
	if p.Challenge.ID != c.ID || p.Method != policy.SMS || strings.Join(p.AMR, ",") != "sms,mfa" || p.Challenge.Purpose != policy.PurposeLogin {
		t.Errorf("Passed = %+v", p)
	}
	f, err := e.svc.Factors(e.ctx, "carol")
	if err != nil || f.Phone == nil || f.Phone.Last4 != "0123" || f.Phone.Masked != testMasked || !f.Phone.BoundAt.Equal(now) || !slices.Equal(f.Bound(), []policy.Method{policy.SMS}) {
		t.Fatalf("Factors = %+v, %v", f, err)
	}
	if e.openPhone("carol") != testNumber {
		t.Error("wrong number bound")
	}
	assertSealed(t, e, store.UserKey("carol", factorsName), []byte(testNumber))
	for _, name := range []string{pendingPhoneName, smsCodeName, attemptsName} {
		if _, err := e.st.Get(e.ctx, store.ChallengeKey(c.ID, name)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s left behind: %v", name, err)
		}
	}
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, "nonce", code, testIP); !errors.Is(err, ErrChallengeEnded) {
		t.Errorf("confirm again: %v", err)
	}
	// The bound phone now answers challenges.
	op := e.beginWith("carol", policy.SMS)
	e.clock.Add(time.Minute)
	if _, err := e.send(op); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verifySMS(op, out.lastCode(t)); err != nil {
		t.Fatal(err)
	}
	// Bound: another phone only through a bind challenge.
	op = e.beginWith("carol", policy.SMS)
	if _, err := e.svc.StartPhoneBinding(e.ctx, op.ID, op.Binding, "+12015550147", testIP, nil); !errors.Is(err, ErrAlreadyBound) {
		t.Errorf("second binding on an operation challenge: %v", err)
	}
}

func TestPhoneBindingInvalidNumber(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	c := e.beginWith("carol", policy.SMS)
	_, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, "020 7946 0123", testIP, nil)
	var ip *InvalidPhoneError
	if !errors.As(err, &ip) || !strings.Contains(ip.Reason, "+44 20 7946 0123") {
		t.Fatalf("national number: %v", err)
	}
	if out.count() != 0 || e.counter(store.UserKey("carol", smsSendsName)) != 0 {
		t.Error("an invalid number was sent to or counted")
	}
	// The user corrects it at once: no resend wait was started.
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, "+44 20 7946 0123", testIP, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPhoneBindingCorrectedNumber(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	c := e.beginWith("carol", policy.SMS)
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, "+12015550147", testIP, nil); err != nil {
		t.Fatal(err)
	}
	codeA := out.lastCode(t)
	// The resend wait holds for a new number too.
	_, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil)
	wantLimited(t, err, SendLimitResend, e.clock.Now().Add(time.Minute))
	e.clock.Add(time.Minute)
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil); err != nil {
		t.Fatal(err)
	}
	codeB := out.lastCode(t)
	if codeA != codeB {
		// The first number's code no longer confirms anything.
		_, err = e.svc.ConfirmPhoneBinding(e.ctx, c.ID, c.Binding, codeA, testIP)
		wantWrong(t, err, 4)
	}
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, c.Binding, codeB, testIP); err != nil {
		t.Fatal(err)
	}
	if got := e.openPhone("carol"); got != testNumber {
		t.Errorf("bound %q", got)
	}
}

func TestPhoneCodeForPendingNumberOnly(t *testing.T) {
	// A code sent to the bound phone does not confirm a new number on the same challenge.
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c, _ := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: policy.PurposeBind, Methods: []policy.Method{policy.SMS}})
	e.svc.SendSMSCode(e.ctx, c.ID, "b", testIP, nil)
	codeBound := out.lastCode(t)
	e.clock.Add(time.Minute)
	e.svc.StartPhoneBinding(e.ctx, c.ID, "b", "+12015550147", testIP, nil)
	if codeNew := out.lastCode(t); codeNew != codeBound {
		_, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, "b", codeBound, testIP)
		wantWrong(t, err, 4)
	}
}

func TestChangePhoneNeedsBindChallenge(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bind("alice")
	e.bindPhone("alice", testNumber)
	// An operation or login challenge cannot change (or add) a factor.
	for _, purpose := range []policy.Purpose{policy.PurposeOperation, policy.PurposeLogin} {
		c, _ := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: purpose, Methods: []policy.Method{policy.SMS}})
		if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, "b", "+12015550147", testIP, nil); !errors.Is(err, ErrAlreadyBound) {
			t.Errorf("%s challenge: %v", purpose, err)
		}
	}
	// Adding a phone when only an app is bound also needs one.
	e.bind("bob")
	c := e.beginWith("bob", policy.SMS)
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, "+12015550147", testIP, nil); !errors.Is(err, ErrAlreadyBound) {
		t.Errorf("adding a phone on an operation challenge: %v", err)
	}
	// A bind challenge, begun after a fresh second factor, changes the number.
	c, _ = e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: policy.PurposeBind, Methods: []policy.Method{policy.SMS}})
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, "b", "+1 201 555 0147", testIP, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, "b", out.lastCode(t), testIP); err != nil {
		t.Fatal(err)
	}
	f, _ := e.svc.Factors(e.ctx, "alice")
	if e.openPhone("alice") != "+12015550147" || f.TOTP == nil || f.Phone.Last4 != "0147" {
		t.Errorf("after the change: %+v", f)
	}
	// A bind challenge (begun after a fresh second factor) may replace the bound app:
	// a lost phone's app, after a recovery code. An operation challenge may not.
	c, _ = e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: policy.PurposeBind, Methods: []policy.Method{policy.TOTP}})
	if _, err := e.svc.StartTOTPBinding(e.ctx, c.ID, "b"); err != nil {
		t.Errorf("replacing the app through a bind challenge: %v", err)
	}
	c, _ = e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := e.svc.StartTOTPBinding(e.ctx, c.ID, "b"); !errors.Is(err, ErrAlreadyBound) {
		t.Errorf("a second app through an operation challenge: %v", err)
	}
}

func TestConfirmPhoneWithoutStart(t *testing.T) {
	e := newEnv(t, Limits{})
	e.withSMS()
	c := e.beginWith("carol", policy.SMS)
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, c.Binding, "123456", testIP); !errors.Is(err, ErrNotBound) {
		t.Fatalf("confirm without start: %v", err)
	}
	if e.counter(store.ChallengeKey(c.ID, attemptsName)) != 0 {
		t.Error("counted")
	}
	c = e.beginWith("carol", policy.TOTP)
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil); !errors.Is(err, ErrNotOffered) {
		t.Fatalf("phone binding on a TOTP-only challenge: %v", err)
	}
}

func TestPendingPhoneCopiedToAnotherChallenge(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	c1, c2 := e.beginWith("carol", policy.SMS), e.beginWith("mallory", policy.SMS)
	e.svc.StartPhoneBinding(e.ctx, c1.ID, c1.Binding, testNumber, testIP, nil)
	for _, name := range []string{pendingPhoneName, smsCodeName} {
		raw, _ := e.st.Get(e.ctx, store.ChallengeKey(c1.ID, name))
		e.st.Put(e.ctx, store.ChallengeKey(c2.ID, name), raw, time.Minute)
	}
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c2.ID, c2.Binding, out.lastCode(t), testIP); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("copied pending number: %v", err)
	}
}

func TestSealedPhoneCopiedToAnotherUser(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	raw, _ := e.st.Get(e.ctx, store.UserKey("alice", factorsName))
	e.st.Put(e.ctx, store.UserKey("mallory", factorsName), raw, 0)
	c := e.beginWith("mallory", policy.SMS)
	if _, err := e.send(c); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("send with a copied record: %v", err)
	}
	if out.count() != 0 {
		t.Error("sent to alice's phone for mallory")
	}
	if _, err := e.verifySMS(c, "123456"); !errors.Is(err, ErrUnsealable) || errors.Is(err, ErrWrongCode) {
		t.Fatalf("verify with a copied record: %v", err)
	}
}

func TestRemovePhone(t *testing.T) {
	e := newEnv(t, Limits{})
	e.withSMS()
	secret := e.bind("alice")
	e.bindPhone("alice", testNumber)
	if err := e.svc.RemovePhone(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.Factors(e.ctx, "alice")
	if err != nil || f.Phone != nil || f.TOTP == nil || !slices.Equal(f.Bound(), []policy.Method{policy.TOTP}) {
		t.Fatalf("after removal: %+v, %v", f, err)
	}
	if err := e.svc.RemovePhone(e.ctx, "alice"); !errors.Is(err, ErrNotBound) {
		t.Errorf("remove again: %v", err)
	}
	c := e.beginWith("alice", policy.TOTP, policy.SMS)
	if _, err := e.send(c); !errors.Is(err, ErrNotBound) {
		t.Errorf("send after removal: %v", err)
	}
	if _, err := e.verify(c, e.code(secret)); err != nil {
		t.Fatal(err)
	}
	// Removing the only factor leaves no record.
	e.bindPhone("bob", testNumber)
	if err := e.svc.RemovePhone(e.ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Get(e.ctx, store.UserKey("bob", factorsName)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty factors record kept: %v", err)
	}
	// ResetFactors removes a phone too.
	e.bindPhone("carol", testNumber)
	e.svc.ResetFactors(e.ctx, "carol")
	if f, _ := e.svc.Factors(e.ctx, "carol"); f.Phone != nil {
		t.Error("phone survived a reset")
	}
}

func TestPhoneBindingSendLimits(t *testing.T) {
	e := newEnv(t, Limits{})
	e.withSMS()
	start := e.clock.Now()
	for i := range 5 {
		c := e.beginWith("carol", policy.SMS)
		if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	c := e.beginWith("carol", policy.SMS)
	_, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil)
	wantLimited(t, err, SendLimitUser, start.Add(time.Hour))
}

// Every store call of the SMS operations, failed in turn, fails the operation with the
// store's error.
func TestSMSStoreFailurePropagates(t *testing.T) {
	verify := func(right bool) faultOp {
		return func(e *env, fs *faultStore) error {
			out := e.withSMS()
			e.bindPhone("alice", testNumber)
			c := e.beginWith("alice", policy.TOTP, policy.SMS)
			if _, err := e.send(c); err != nil {
				return err
			}
			code := out.lastCode(e.t)
			if !right {
				code = otherCode(code)
			}
			fs.arm()
			_, err := e.verifySMS(c, code)
			return err
		}
	}
	checkStoreFaults(t, map[string]faultOp{
		"send": func(e *env, fs *faultStore) error {
			e.withSMS()
			e.bindPhone("alice", testNumber)
			c := e.beginWith("alice", policy.SMS)
			fs.arm()
			_, err := e.send(c)
			return err
		},
		"send after the resend wait": func(e *env, fs *faultStore) error {
			e.withSMS()
			e.bindPhone("alice", testNumber)
			c := e.beginWith("alice", policy.SMS)
			if _, err := e.send(c); err != nil {
				return err
			}
			e.clock.Add(time.Minute)
			fs.arm()
			_, err := e.send(c)
			return err
		},
		"send over a limit": func(e *env, fs *faultStore) error {
			e.withSMS()
			e.bindPhone("alice", testNumber)
			for range 5 {
				if _, err := e.send(e.beginWith("alice", policy.SMS)); err != nil {
					return err
				}
			}
			c := e.beginWith("alice", policy.SMS)
			fs.arm()
			_, err := e.send(c)
			return err
		},
		"verify right SMS code": verify(true),
		"verify wrong SMS code": verify(false),
		"start phone binding": func(e *env, fs *faultStore) error {
			e.withSMS()
			c := e.beginWith("carol", policy.SMS)
			fs.arm()
			_, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil)
			return err
		},
		"confirm phone binding": func(e *env, fs *faultStore) error {
			out := e.withSMS()
			c := e.beginWith("carol", policy.SMS)
			if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil); err != nil {
				return err
			}
			fs.arm()
			_, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, c.Binding, out.lastCode(e.t), testIP)
			return err
		},
		"remove phone": func(e *env, fs *faultStore) error {
			e.bindPhone("alice", testNumber)
			fs.arm()
			return e.svc.RemovePhone(e.ctx, "alice")
		},
	})
}

// A provider failure followed by a store failure reports both.
func TestSMSProviderAndStoreFailure(t *testing.T) {
	mem, _ := store.NewMemory("")
	defer mem.Close()
	fs := &faultStore{Store: mem}
	e := newEnvWith(t, fs, Limits{})
	out := e.withSMS()
	out.fail = errors.New("provider down")
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	fs.next = 1
	// Fail the store call after the send: the Delete of the unsent code.
	e.svc.SMS = senderFunc(func() error {
		fs.arm()
		return out.fail
	})
	_, err := e.send(c)
	if !errors.Is(err, ErrSendFailed) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want both the send and the store failure", err)
	}
}

// senderFunc is an SMSSender that runs f.
type senderFunc func() error

func (f senderFunc) Send(context.Context, CodeMessage) error { return f() }
