package challenge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

const (
	testNumber = "+442079460123" // Ofcom's London drama range: valid, and nobody's
	testMasked = "+44 ••• ••• 0123"
)

// recordingSender is an SMSSender that records what it is asked to send and answers
// with fail. The real providers are tested against real HTTP servers in package sms.
type recordingSender struct {
	mu   sync.Mutex
	sent []CodeMessage
	fail error
}

func (r *recordingSender) Send(_ context.Context, m CodeMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return r.fail
}

func (r *recordingSender) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func (r *recordingSender) last(t testing.TB) CodeMessage {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		t.Fatal("no SMS sent")
	}
	return r.sent[len(r.sent)-1]
}

var codeInText = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode returns the code in the last message sent, checking that its text carries
// the code it names.
func (r *recordingSender) lastCode(t testing.TB) string {
	t.Helper()
	msg := r.last(t)
	m := codeInText.FindStringSubmatch(msg.Text)
	if m == nil || m[1] != msg.Code {
		t.Fatalf("the text %q does not carry the code %q", msg.Text, msg.Code)
	}
	return m[1]
}

// withSMS gives the service a recording sender.
func (e *env) withSMS() *recordingSender {
	r := new(recordingSender)
	e.svc.SMS = r
	return r
}

// bindPhone gives user a bound phone directly, as a finished binding would, keeping
// any other factor.
func (e *env) bindPhone(user, number string) {
	e.t.Helper()
	f, err := loadFactors(e.ctx, e.st, user)
	if err != nil {
		e.t.Fatal(err)
	}
	sealed, err := e.svc.Sealer.Seal([]byte(number), phoneBoundTo(user))
	if err != nil {
		e.t.Fatal(err)
	}
	f.Phone = &PhoneBinding{SealedNumber: sealed, Last4: number[len(number)-4:], Masked: MaskPhone(number), BoundAt: e.clock.Now()}
	if err := saveFactors(e.ctx, e.st, user, f); err != nil {
		e.t.Fatal(err)
	}
}

// beginWith begins an operation challenge for user offering methods.
func (e *env) beginWith(user string, methods ...policy.Method) Challenge {
	e.t.Helper()
	c, err := e.svc.Begin(e.ctx, Challenge{User: user, Binding: binding(user), Purpose: policy.PurposeOperation, Methods: methods})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) send(c Challenge) (SentCode, error) {
	return e.svc.SendSMSCode(e.ctx, c.ID, c.Binding, testIP, nil)
}

func (e *env) verifySMS(c Challenge, code string) (Passed, error) {
	return e.svc.VerifySMS(e.ctx, c.ID, c.Binding, code, testIP)
}

// otherCode returns a six-digit code other than code.
func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func wantLimited(t *testing.T, err error, reason string, retryAt time.Time) {
	t.Helper()
	var lim *SendLimitedError
	if !errors.As(err, &lim) || !errors.Is(err, ErrSendLimited) {
		t.Fatalf("err = %v, want a send limit", err)
	}
	if lim.Reason != reason || !lim.RetryAt.Equal(retryAt) {
		t.Fatalf("limited: %q until %v, want %q until %v", lim.Reason, lim.RetryAt, reason, retryAt)
	}
}

func TestSMSHappyPath(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	if out.count() != 0 {
		t.Fatal("a code was sent before the user asked")
	}
	now := e.clock.Now()
	sent, err := e.send(c)
	if err != nil {
		t.Fatal(err)
	}
	if sent.To != testMasked || !sent.ResendAt.Equal(now.Add(time.Minute)) || !sent.Expires.Equal(now.Add(5*time.Minute)) {
		t.Errorf("SentCode = %+v", sent)
	}
	msg := out.last(t)
	code := out.lastCode(t)
	want := CodeMessage{
		To: testNumber, Text: "Example Console verification code: " + code + ". It expires in 5 minutes. Use it to confirm an action. Do not share it.",
		Code: code, Purpose: policy.PurposeOperation, Lang: "en", ExpiresIn: 5 * time.Minute,
	}
	if msg != want {
		t.Errorf("sent %+v", msg)
	}
	// The page finds the waiting code (a reload, a wrong code) until it is used.
	e.clock.Add(10 * time.Second)
	if waiting, ok, err := e.svc.CodeSent(e.ctx, c.ID); err != nil || !ok || waiting.To != sent.To || !waiting.ResendAt.Equal(sent.ResendAt) || !waiting.Expires.Equal(sent.Expires) || waiting.NewPhone {
		t.Errorf("CodeSent = %+v, %v, %v; want %+v", waiting, ok, err, sent)
	}
	if _, err := e.verifySMS(c, otherCode(code)); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if _, ok, _ := e.svc.CodeSent(e.ctx, c.ID); !ok {
		t.Error("a wrong code hid the waiting code")
	}
	now = e.clock.Now()
	p, err := e.verifySMS(c, code)
	if err != nil {
		t.Fatal(err)
	}
	if p.Challenge.ID != c.ID || p.Method != policy.SMS || strings.Join(p.AMR, ",") != "sms,mfa" || !p.AuthTime.Equal(now) {
		t.Errorf("Passed = %+v", p)
	}
	// Single use: the challenge and the code are used up.
	if _, err := e.verifySMS(c, code); !errors.Is(err, ErrChallengeEnded) {
		t.Errorf("second verify: %v", err)
	}
	if _, err := e.st.Get(e.ctx, store.ChallengeKey(c.ID, smsCodeName)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("code record left behind: %v", err)
	}
	if _, ok, err := e.svc.CodeSent(e.ctx, c.ID); ok || err != nil {
		t.Errorf("CodeSent after use = %v, %v", ok, err)
	}
}

func TestSMSCodesAreRandom(t *testing.T) {
	e := newEnv(t, Limits{SendsPerUserHour: 100, SendsPerIPHour: 100, SendsPerNumberDay: 100})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	seen := map[string]bool{}
	for range 20 {
		if _, err := e.send(e.beginWith("alice", policy.SMS)); err != nil {
			t.Fatal(err)
		}
		seen[out.lastCode(t)] = true
	}
	if len(seen) < 19 {
		t.Errorf("%d distinct codes in 20 sends", len(seen))
	}
	// Values past the largest multiple of 10^6 are drawn again (no modulo bias).
	code, err := newSMSCode(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0x30, 0x39}))
	if err != nil || code != "012345" {
		t.Errorf("newSMSCode = %q, %v", code, err)
	}
	if _, err := newSMSCode(bytes.NewReader(nil)); err == nil {
		t.Error("no randomness accepted")
	}
}

func TestSMSWrongCodesShareTheBudgetWithTOTP(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	secret := e.bind("alice")
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.TOTP, policy.SMS)
	if _, err := e.send(c); err != nil {
		t.Fatal(err)
	}
	code := out.lastCode(t)
	wrongTOTP := e.wrongCode(secret)
	_, err := e.verifySMS(c, otherCode(code))
	wantWrong(t, err, 4)
	_, err = e.verify(c, wrongTOTP)
	wantWrong(t, err, 3)
	_, err = e.verifySMS(c, "12345") // malformed counts too
	wantWrong(t, err, 2)
	_, err = e.verify(c, wrongTOTP)
	wantWrong(t, err, 1)
	if n := e.counter(store.UserKey("alice", failuresName)); n != 4 {
		t.Errorf("user failures = %d, want 4", n)
	}
	_, err = e.verifySMS(c, otherCode(code))
	wantWrong(t, err, 0)
	// Five wrong codes of either method end the challenge: the right SMS code is too late.
	if _, err := e.verifySMS(c, code); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("right code after 5 wrong: %v", err)
	}
	// A right code on a new challenge resets the user's count.
	c = e.beginWith("alice", policy.SMS)
	e.send(c)
	if _, err := e.verifySMS(c, out.lastCode(t)); err != nil {
		t.Fatal(err)
	}
	if n := e.counter(store.UserKey("alice", failuresName)); n != 0 {
		t.Errorf("user failures after a pass = %d", n)
	}
}

func TestSMSWrongCodesLockTheUser(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	var err error
	for n := 1; n <= 10; n++ {
		c := e.beginWith("alice", policy.SMS)
		_, err = e.verifySMS(c, "000000") // no code sent: wrong
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("10th wrong SMS code: %v", err)
	}
	// Locked: no code is even sent.
	if _, err := e.send(e.beginWith("alice", policy.SMS)); !errors.Is(err, ErrLocked) {
		t.Fatalf("send while locked: %v", err)
	}
	if out.count() != 0 {
		t.Error("a code was sent to a locked user")
	}
}

func TestSMSCodeBoundToChallengeAndNumber(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c1, c2 := e.beginWith("alice", policy.SMS), e.beginWith("alice", policy.SMS)
	if _, err := e.send(c1); err != nil {
		t.Fatal(err)
	}
	code1 := out.lastCode(t)
	// No code was sent for c2: c1's code is wrong there.
	_, err := e.verifySMS(c2, code1)
	wantWrong(t, err, 4)
	// Even with c1's record copied over, the MAC binds the challenge id.
	raw, _ := e.st.Get(e.ctx, store.ChallengeKey(c1.ID, smsCodeName))
	e.st.Put(e.ctx, store.ChallengeKey(c2.ID, smsCodeName), raw, time.Minute)
	_, err = e.verifySMS(c2, code1)
	wantWrong(t, err, 3)
	// A code sent for c2 does not pass c1 either (unless the six digits happen to match).
	if _, err := e.send(c2); err != nil {
		t.Fatal(err)
	}
	if code2 := out.lastCode(t); code2 != code1 {
		_, err = e.verifySMS(c1, code2)
		wantWrong(t, err, 4)
	}
	// The number changed since the code was sent: the code is for the old number.
	e.bindPhone("alice", "+12015550147")
	_, err = e.verifySMS(c1, code1)
	wantWrong(t, err, 3)
}

func TestSMSCodeExpires(t *testing.T) {
	e := newEnv(t, Limits{ChallengeTTL: 15 * time.Minute})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c1, c2 := e.beginWith("alice", policy.SMS), e.beginWith("alice", policy.SMS)
	e.send(c1)
	code1 := out.lastCode(t)
	e.send(c2)
	code2 := out.lastCode(t)
	e.clock.Add(5*time.Minute - time.Second)
	if _, err := e.verifySMS(c1, code1); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	e.clock.Add(time.Second)
	_, err := e.verifySMS(c2, code2)
	wantWrong(t, err, 4) // expired counts as wrong
	// A code never outlives its challenge, and the message says so.
	c3 := e.beginWith("alice", policy.SMS)
	e.clock.Add(14 * time.Minute)
	sent, err := e.send(c3)
	if err != nil {
		t.Fatal(err)
	}
	if !sent.Expires.Equal(c3.Expires) || !strings.Contains(out.last(t).Text, "It expires in 1 minute.") {
		t.Errorf("late code: %+v, %q", sent, out.last(t).Text)
	}
}

func TestSMSResendWait(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	start := e.clock.Now()
	if _, err := e.send(c); err != nil {
		t.Fatal(err)
	}
	old := out.lastCode(t)
	_, err := e.send(c)
	wantLimited(t, err, SendLimitResend, start.Add(time.Minute))
	if !strings.Contains(err.Error(), "try again at") {
		t.Errorf("error: %v", err)
	}
	e.clock.Add(59 * time.Second)
	_, err = e.send(c)
	wantLimited(t, err, SendLimitResend, start.Add(time.Minute))
	if out.count() != 1 {
		t.Fatalf("%d messages sent", out.count())
	}
	// The store still holds the wait (its clock has not moved), but by the Service's
	// clock it is over.
	e.clock.Add(time.Second)
	sent, err := e.send(c)
	if err != nil {
		t.Fatal(err)
	}
	if !sent.ResendAt.Equal(e.clock.Now().Add(time.Minute)) {
		t.Errorf("ResendAt = %v", sent.ResendAt)
	}
	_, err = e.send(c)
	wantLimited(t, err, SendLimitResend, e.clock.Now().Add(time.Minute))
	// The new code replaced the old one.
	if code := out.lastCode(t); code != old {
		_, err := e.verifySMS(c, old)
		wantWrong(t, err, 4)
		if _, err := e.verifySMS(c, code); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSMSConcurrentSendsSendOnce(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := e.send(c); err != nil && !errors.Is(err, ErrSendLimited) {
				t.Errorf("send: %v", err)
			}
		})
	}
	wg.Wait()
	if out.count() != 1 {
		t.Fatalf("%d messages for one challenge at once", out.count())
	}
}

func TestSMSUserHourlyLimit(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	start := e.clock.Now()
	c := e.beginWith("alice", policy.SMS)
	for i := range 5 {
		if i == 3 {
			c = e.beginWith("alice", policy.SMS) // across challenges too
		}
		if _, err := e.send(c); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
		e.clock.Add(time.Minute)
	}
	_, err := e.send(c)
	wantLimited(t, err, SendLimitUser, start.Add(time.Hour))
	if out.count() != 5 {
		t.Errorf("%d sent", out.count())
	}
	// Another user on another number is not affected.
	e.bindPhone("bob", "+12015550147")
	if _, err := e.send(e.beginWith("bob", policy.SMS)); err != nil {
		t.Fatal(err)
	}
}

func TestSMSNumberDailyLimit(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	start := e.clock.Now()
	for _, u := range []string{"alice", "bob", "carol"} {
		e.bindPhone(u, testNumber)
	}
	e.bindPhone("dave", "+12015550147")
	for i := range 10 {
		user := "alice"
		if i >= 5 {
			user = "bob"
		}
		if _, err := e.send(e.beginWith(user, policy.SMS)); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	_, err := e.send(e.beginWith("carol", policy.SMS))
	wantLimited(t, err, SendLimitNumber, start.Add(24*time.Hour))
	if out.count() != 10 {
		t.Errorf("%d sent", out.count())
	}
	if _, err := e.send(e.beginWith("dave", policy.SMS)); err != nil {
		t.Fatalf("another number: %v", err)
	}
}

func TestSMSIPLimit(t *testing.T) {
	e := newEnv(t, Limits{SendsPerIPHour: 3})
	out := e.withSMS()
	start := e.clock.Now()
	users := []string{"a", "b", "c", "d", "e"}
	for i, u := range users {
		e.bindPhone(u, fmt.Sprintf("+120155501%02d", i))
	}
	send := func(user, ip string) error {
		c := e.beginWith(user, policy.SMS)
		_, err := e.svc.SendSMSCode(e.ctx, c.ID, c.Binding, ip, nil)
		return err
	}
	// One IPv6 /64 is one network, whatever the user.
	for i, ip := range []string{"2001:db8::1", "[2001:db8::2]:443", "2001:db8::3"} {
		if err := send(users[i], ip); err != nil {
			t.Fatal(err)
		}
	}
	err := send("d", "2001:db8::4")
	wantLimited(t, err, SendLimitNetwork, start.Add(time.Hour))
	if err := send("d", "2001:db8:1::1"); err != nil {
		t.Fatalf("another network: %v", err)
	}
	if err := send("e", ""); err == nil || errors.Is(err, ErrSendLimited) {
		t.Fatalf("no client address: %v", err)
	}
	if out.count() != 4 {
		t.Errorf("%d sent", out.count())
	}
	// A network refused for wrong codes gets no codes sent either.
	e2 := newEnv(t, Limits{IPFailures: 1})
	e2.withSMS()
	e2.bindPhone("alice", testNumber)
	e2.verifySMS(e2.beginWith("alice", policy.SMS), "000000")
	if _, err := e2.send(e2.beginWith("alice", policy.SMS)); !errors.Is(err, ErrIPLimited) {
		t.Fatalf("send from a refused network: %v", err)
	}
}

func TestSMSNewSendKeepsFailures(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	e.send(c)
	for left := 4; left >= 3; left-- {
		_, err := e.verifySMS(c, otherCode(out.lastCode(t)))
		wantWrong(t, err, left)
	}
	e.clock.Add(time.Minute)
	if _, err := e.send(c); err != nil {
		t.Fatal(err)
	}
	if a, f := e.counter(store.ChallengeKey(c.ID, attemptsName)), e.counter(store.UserKey("alice", failuresName)); a != 2 || f != 2 {
		t.Fatalf("after a new send: attempts %d, failures %d; want 2, 2", a, f)
	}
	_, err := e.verifySMS(c, otherCode(out.lastCode(t)))
	wantWrong(t, err, 2)
}

func TestSMSProviderFailure(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	out.fail = errors.New(`sms: twilio: could not send the message: provider answered 400 Bad Request: "{\"code\": 21211}"`)
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	_, err := e.send(c)
	if !errors.Is(err, ErrSendFailed) || !strings.Contains(err.Error(), "21211") {
		t.Fatalf("err = %v, want ErrSendFailed with the provider's answer", err)
	}
	code := out.lastCode(t)
	if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), "2079460123") {
		t.Errorf("error holds the code or the number: %v", err)
	}
	if _, err := e.st.Get(e.ctx, store.ChallengeKey(c.ID, smsCodeName)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the unsent code is stored: %v", err)
	}
	// The code the provider was given does not pass.
	_, err = e.verifySMS(c, code)
	wantWrong(t, err, 4)
	// The failed send counted: the resend wait applies.
	_, err = e.send(c)
	wantLimited(t, err, SendLimitResend, e.clock.Now().Add(time.Minute))
	out.fail = nil
	e.clock.Add(time.Minute)
	if _, err := e.send(c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verifySMS(c, out.lastCode(t)); err != nil {
		t.Fatal(err)
	}
	if n := e.counter(store.UserKey("alice", smsSendsName)); n != 2 {
		t.Errorf("user send count = %d, want 2 (failed sends count)", n)
	}
}

func TestSMSNotConfiguredNotBoundNotOffered(t *testing.T) {
	e := newEnv(t, Limits{})
	c := e.beginWith("alice", policy.SMS)
	if _, err := e.send(c); !errors.Is(err, ErrSMSUnavailable) {
		t.Errorf("no provider: %v", err)
	}
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, testNumber, testIP, nil); !errors.Is(err, ErrSMSUnavailable) {
		t.Errorf("binding without a provider: %v", err)
	}
	out := e.withSMS()
	if _, err := e.send(c); !errors.Is(err, ErrNotBound) {
		t.Errorf("no phone: %v", err)
	}
	if _, err := e.verifySMS(c, "123456"); !errors.Is(err, ErrNotBound) {
		t.Errorf("verify without a phone: %v", err)
	}
	e.bindPhone("alice", testNumber)
	totp := e.beginWith("alice", policy.TOTP)
	if _, err := e.send(totp); !errors.Is(err, ErrNotOffered) {
		t.Errorf("send on a TOTP-only challenge: %v", err)
	}
	if _, err := e.verifySMS(totp, "123456"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("verify SMS on a TOTP-only challenge: %v", err)
	}
	if _, err := e.svc.SendSMSCode(e.ctx, c.ID, "someone else", testIP, nil); !errors.Is(err, ErrNotYours) {
		t.Errorf("send with another binding: %v", err)
	}
	if out.count() != 0 {
		t.Errorf("%d sent", out.count())
	}
	// None of these counted anything.
	if n := e.counter(store.ChallengeKey(c.ID, attemptsName)); n != 0 {
		t.Errorf("attempts = %d", n)
	}
}

func TestSMSConcurrentVerifyPassesOnce(t *testing.T) {
	e := newEnv(t, Limits{MaxAttempts: 100, LockAfter: 1000, IPFailures: 1000})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	c := e.beginWith("alice", policy.SMS)
	e.send(c)
	code := out.lastCode(t)
	// Every request reads the code before any goes on.
	bs := newBarrier(e.st, smsCodeName, 16)
	e.svc.Store = bs
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		passes int
	)
	for range 16 {
		wg.Go(func() {
			_, err := e.verifySMS(c, code)
			switch {
			case err == nil:
				mu.Lock()
				passes++
				mu.Unlock()
			case !errors.Is(err, ErrWrongCode) && !errors.Is(err, ErrChallengeEnded):
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	if passes != 1 {
		t.Fatalf("%d passes of one code", passes)
	}
}

func TestBothMethodsEitherPasses(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	secret := e.bind("alice")
	e.bindPhone("alice", testNumber)
	f, err := e.svc.Factors(e.ctx, "alice")
	if err != nil || !slices.Equal(f.Bound(), []policy.Method{policy.TOTP, policy.SMS}) {
		t.Fatalf("Bound = %v, %v", f.Bound(), err)
	}
	c1 := e.beginWith("alice", policy.TOTP, policy.SMS)
	if p, err := e.verify(c1, e.code(secret)); err != nil || p.Method != policy.TOTP {
		t.Fatalf("TOTP on a challenge offering both: %+v, %v", p, err)
	}
	c2 := e.beginWith("alice", policy.TOTP, policy.SMS)
	e.send(c2)
	if p, err := e.verifySMS(c2, out.lastCode(t)); err != nil || p.Method != policy.SMS {
		t.Fatalf("SMS on a challenge offering both: %+v, %v", p, err)
	}
	// After an SMS code was sent, TOTP still passes the challenge, and then the SMS code
	// is no use.
	c3 := e.beginWith("alice", policy.TOTP, policy.SMS)
	e.send(c3)
	e.nextStep()
	if _, err := e.verify(c3, e.code(secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verifySMS(c3, out.lastCode(t)); !errors.Is(err, ErrChallengeEnded) {
		t.Fatalf("SMS code after TOTP passed: %v", err)
	}
}

func TestSMSText(t *testing.T) {
	en, zh := locale.English, locale.Chinese
	login, op, bind := policy.PurposeLogin, policy.PurposeOperation, policy.PurposeBind
	for _, tc := range []struct {
		lang    *locale.Lang
		purpose policy.Purpose
		issuer  string
		d       time.Duration
		want    string
	}{
		{en, op, "Example Console", 5 * time.Minute, "Example Console verification code: 123456. It expires in 5 minutes. Use it to confirm an action. Do not share it."},
		{en, login, "Example Console", 10 * time.Minute, "Example Console verification code: 123456. It expires in 10 minutes. Use it to sign in. Do not share it."},
		{en, bind, "Example Console", 5 * time.Minute, "Example Console verification code: 123456. It expires in 5 minutes. Use it to add this phone to your account. Do not share it."},
		{en, op, "", 5 * time.Minute, "Your verification code: 123456. It expires in 5 minutes. Use it to confirm an action. Do not share it."},
		{en, op, "Acme\nCloud\t", 90 * time.Second, "Acme Cloud verification code: 123456. It expires in 1 minute. Use it to confirm an action. Do not share it."},
		{en, op, "X", 30 * time.Second, "X verification code: 123456. It expires in 30 seconds. Use it to confirm an action. Do not share it."},
		{en, op, "X", 0, "X verification code: 123456. It expires in 1 second. Use it to confirm an action. Do not share it."},
		{en, "", "X", time.Minute, "X verification code: 123456. It expires in 1 minute. Use it to confirm an action. Do not share it."},
		{zh, login, "示例云控制台", 5 * time.Minute, "【示例云控制台】验证码 123456，用于登录，5 分钟内有效，请勿泄露给他人。"},
		{zh, op, "示例云控制台", 10 * time.Minute, "【示例云控制台】验证码 123456，用于确认操作，10 分钟内有效，请勿泄露给他人。"},
		{zh, bind, "Example Console", 59 * time.Second, "【Example Console】验证码 123456，用于绑定手机号，59 秒内有效，请勿泄露给他人。"},
		{zh, login, "", 1 * time.Minute, "【身份验证】验证码 123456，用于登录，1 分钟内有效，请勿泄露给他人。"},
		{zh, login, "【伪】签名", 1 * time.Minute, "【伪签名】验证码 123456，用于登录，1 分钟内有效，请勿泄露给他人。"}, // no early end of the signature
	} {
		if got := smsText(tc.lang, tc.purpose, tc.issuer, "123456", tc.d); got != tc.want {
			t.Errorf("smsText(%s, %q, %q, %v) = %q", tc.lang.Code(), tc.purpose, tc.issuer, tc.d, got)
		}
	}
}

// A code goes out in the language of the page that asked for it, English when none
// did (an API client), with its parts beside the text.
func TestSMSLanguage(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	e.bindPhone("alice", testNumber)
	for _, tc := range []struct {
		lang     *locale.Lang
		purpose  policy.Purpose
		wantLang string
		wantText string
	}{
		{locale.Chinese, policy.PurposeLogin, "zh-Hans", "【Example Console】验证码 %s，用于登录，5 分钟内有效，请勿泄露给他人。"},
		{locale.Chinese, policy.PurposeOperation, "zh-Hans", "【Example Console】验证码 %s，用于确认操作，5 分钟内有效，请勿泄露给他人。"},
		{nil, policy.PurposeLogin, "en", "Example Console verification code: %s. It expires in 5 minutes. Use it to sign in. Do not share it."},
		{locale.English, policy.PurposeOperation, "en", "Example Console verification code: %s. It expires in 5 minutes. Use it to confirm an action. Do not share it."},
	} {
		c, err := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: tc.purpose, Methods: []policy.Method{policy.SMS}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SendSMSCode(e.ctx, c.ID, c.Binding, testIP, tc.lang); err != nil {
			t.Fatal(err)
		}
		msg := out.last(t)
		want := CodeMessage{To: testNumber, Text: fmt.Sprintf(tc.wantText, msg.Code), Code: msg.Code, Purpose: tc.purpose, Lang: tc.wantLang, ExpiresIn: 5 * time.Minute}
		if msg != want || out.lastCode(t) == "" {
			t.Errorf("sent %+v, want %+v", msg, want)
		}
		e.clock.Add(time.Minute) // the next challenge's send is not limited by this one's
	}

	// Binding a phone from a Chinese page: the new number gets the Chinese text.
	c, err := e.svc.Begin(e.ctx, Challenge{User: "bob", Binding: binding("bob"), Purpose: policy.PurposeLogin, Methods: []policy.Method{policy.SMS}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, "+44 20 7946 0999", testIP, locale.Chinese); err != nil {
		t.Fatal(err)
	}
	if msg := out.last(t); msg.Lang != "zh-Hans" || msg.Purpose != policy.PurposeBind || msg.To != "+442079460999" ||
		msg.Text != "【Example Console】验证码 "+msg.Code+"，用于绑定手机号，5 分钟内有效，请勿泄露给他人。" {
		t.Errorf("binding sent %+v", msg)
	}
}

func TestSealerMAC(t *testing.T) {
	s1, _ := NewSealer(testKey)
	s2, _ := NewSealer(bytes.Repeat([]byte("j"), 32))
	a := s1.MAC([]byte("data"), "p")
	if len(a) != 32 || !bytes.Equal(a, s1.MAC([]byte("data"), "p")) {
		t.Fatal("MAC not deterministic or not 32 bytes")
	}
	for name, other := range map[string][]byte{
		"other purpose": s1.MAC([]byte("data"), "q"),
		"other data":    s1.MAC([]byte("datb"), "p"),
		"other key":     s2.MAC([]byte("data"), "p"),
		"shifted":       s1.MAC([]byte("pdata"), ""),
	} {
		if bytes.Equal(a, other) {
			t.Errorf("%s: same MAC", name)
		}
	}
	// The MAC key is derived, not the configured key: a MAC with the configured key
	// itself differs.
	if bytes.Equal(a, hmacSHA256(testKey, append([]byte{1, 'p'}, "data"...))) {
		t.Error("MAC key is the configured key")
	}
}

// writeSpy records every key and value written to the store.
type writeSpy struct {
	store.Store
	mu     sync.Mutex
	keys   []store.Key
	values [][]byte
}

func (w *writeSpy) note(k store.Key, v []byte) {
	w.mu.Lock()
	w.keys = append(w.keys, k)
	w.values = append(w.values, bytes.Clone(v))
	w.mu.Unlock()
}

func (w *writeSpy) Put(ctx context.Context, k store.Key, v []byte, ttl time.Duration) error {
	w.note(k, v)
	return w.Store.Put(ctx, k, v, ttl)
}

func (w *writeSpy) PutNew(ctx context.Context, k store.Key, v []byte, ttl time.Duration) (bool, error) {
	w.note(k, v)
	return w.Store.PutNew(ctx, k, v, ttl)
}

func (w *writeSpy) Incr(ctx context.Context, k store.Key, window time.Duration) (int64, error) {
	w.note(k, nil)
	return w.Store.Incr(ctx, k, window)
}

func (w *writeSpy) Advance(ctx context.Context, k store.Key, n int64) (bool, error) {
	w.note(k, nil)
	return w.Store.Advance(ctx, k, n)
}

// The store sees neither a code nor a phone number, in keys or values.
func TestSMSStoreHoldsOnlyMACs(t *testing.T) {
	mem, _ := store.NewMemory("")
	defer mem.Close()
	spy := &writeSpy{Store: mem}
	e := newEnvWith(t, spy, Limits{})
	out := e.withSMS()
	var codes []string
	// Bind a phone, then send codes and verify one.
	c := e.beginWith("carol", policy.SMS)
	if _, err := e.svc.StartPhoneBinding(e.ctx, c.ID, c.Binding, "+44 20 7946 0123", testIP, nil); err != nil {
		t.Fatal(err)
	}
	codes = append(codes, out.lastCode(t))
	if _, err := e.svc.ConfirmPhoneBinding(e.ctx, c.ID, c.Binding, out.lastCode(t), testIP); err != nil {
		t.Fatal(err)
	}
	c = e.beginWith("carol", policy.SMS)
	e.send(c)
	codes = append(codes, out.lastCode(t))
	e.clock.Add(time.Minute)
	e.send(c)
	codes = append(codes, out.lastCode(t))
	if _, err := e.verifySMS(c, out.lastCode(t)); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"+442079460123", "442079460123", "2079460123", "20 7946 0123"}
	for _, code := range codes {
		secrets = append(secrets, code)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.values) < 10 {
		t.Fatalf("only %d writes seen", len(spy.values))
	}
	for i, k := range spy.keys {
		for _, s := range secrets {
			if strings.Contains(k.Scope+"/"+k.Name, s) {
				t.Errorf("key %v holds %q", k, s)
			}
			if bytes.Contains(spy.values[i], []byte(s)) {
				t.Errorf("record %v holds %q: %q", k, s, spy.values[i])
			}
		}
	}
}
