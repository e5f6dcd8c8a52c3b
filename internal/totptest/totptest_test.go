package totptest

import (
	"context"
	"encoding/base32"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
)

// rfcSecret is the SHA-1 key of RFC 6238's test vectors.
var rfcSecret = []byte("12345678901234567890")

// fakeClock stands in for the app's clock: waiting moves it forward at once.
type fakeClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) install(a *App) {
	a.now = func() time.Time { return c.now }
	a.after = func(d time.Duration) <-chan time.Time {
		c.waits = append(c.waits, d)
		c.now = c.now.Add(d)
		ch := make(chan time.Time, 1)
		ch <- c.now
		return ch
	}
}

func stepAccepted(t *testing.T, a *App, code string, now time.Time) int64 {
	t.Helper()
	step, ok := challenge.MatchTOTP(a.secret, code, now)
	if !ok {
		t.Fatalf("the gateway would refuse %q at %s", code, now)
	}
	return step
}

func TestCodeIsTheGatewaysCode(t *testing.T) {
	a := New(rfcSecret)
	// RFC 6238, Appendix B: 94287082 at T=59 (SHA-1), six digits of it.
	if got := a.Code(time.Unix(59, 0)); got != "287082" {
		t.Fatalf("Code at 59 = %s, want 287082", got)
	}
	at := time.Unix(1111111109, 0)
	if got, want := a.Code(at), challenge.TOTPCode(rfcSecret, at); got != want {
		t.Fatalf("Code = %s, challenge.TOTPCode = %s", got, want)
	}
}

func TestFromBase32(t *testing.T) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	secret := []byte("0123456789abcdefghij") // 20 bytes, as the gateway issues
	a, err := FromBase32(enc.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Secret(); string(got) != string(secret) {
		t.Fatalf("Secret = %q, want %q", got, secret)
	}
	for _, bad := range []string{
		"",
		enc.EncodeToString(secret[:MinSecretSize-1]),   // too short
		base32.StdEncoding.EncodeToString(secret[:19]), // padded
		"not base32!",
	} {
		if _, err := FromBase32(bad); err == nil {
			t.Errorf("FromBase32(%q) accepted it", bad)
		}
	}
}

func TestBindingCodes(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_017, 0)}
	a := New(rfcSecret)
	clock.install(a)
	code1, code2 := a.BindingCodes()
	step, ok := challenge.MatchConsecutive(rfcSecret, code1, code2, clock.now)
	if !ok || step != stepOf(clock.now) {
		t.Fatalf("binding with %s %s: step %d ok %v, want the current step %d", code1, code2, step, ok, stepOf(clock.now))
	}
	if code2 != a.Code(clock.now) || code1 != a.Code(clock.now.Add(-Period)) {
		t.Fatal("the binding codes are not the previous and the current code")
	}
}

// TestNextFollowsTheReplayGuard: after binding, Next gives the next step's code at
// once; a third code in the same step waits for the step to change; every code is
// accepted by the gateway's window and moves past the last one used.
func TestNextFollowsTheReplayGuard(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_017, 0)}
	a := New(rfcSecret)
	clock.install(a)
	ctx := context.Background()

	_, _ = a.BindingCodes()
	bound := stepOf(clock.now)

	code, err := a.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(clock.waits) != 0 {
		t.Fatalf("Next waited %v with the next step free", clock.waits)
	}
	first := stepAccepted(t, a, code, clock.now)
	if first != bound+1 {
		t.Fatalf("Next after binding matched step %d, want the next step %d", first, bound+1)
	}

	code, err = a.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(clock.waits) != 1 || clock.waits[0] <= 0 || clock.waits[0] > Period+time.Second {
		t.Fatalf("Next with both steps used waited %v, want one wait for the step to change", clock.waits)
	}
	if stepOf(clock.now) != bound+1 {
		t.Fatalf("Next waited until step %d, want %d", stepOf(clock.now), bound+1)
	}
	if second := stepAccepted(t, a, code, clock.now); second != first+1 {
		t.Fatalf("the third code matched step %d, want %d", second, first+1)
	}
}

func TestNextBeforeBindingIsTheCurrentCode(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_017, 0)}
	a := New(rfcSecret)
	clock.install(a)
	code, err := a.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if code != a.Code(clock.now) {
		t.Fatalf("Next = %s, want the current code %s", code, a.Code(clock.now))
	}
}

func TestNextStopsWithItsContext(t *testing.T) {
	a := New(rfcSecret)
	now := time.Unix(1_700_000_017, 0)
	a.now = func() time.Time { return now }
	a.after = func(time.Duration) <-chan time.Time { return nil } // the step never changes
	a.last = stepOf(now) + 1                                      // both steps used
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code, err := a.Next(ctx); !errors.Is(err, context.Canceled) || code != "" {
		t.Fatalf("Next with a done context = %q, %v; want context.Canceled", code, err)
	}
}

func TestWrongMatchesNoStepNearNow(t *testing.T) {
	sixDigits := regexp.MustCompile(`^[0-9]{6}$`)
	for i := range 200 {
		secret := []byte{byte(i), byte(i >> 8), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
		a := New(secret)
		now := time.Unix(1_700_000_000+int64(i)*7919, 0)
		a.now = func() time.Time { return now }
		code := a.Wrong()
		if !sixDigits.MatchString(code) {
			t.Fatalf("Wrong = %q, want six digits", code)
		}
		for s := stepOf(now) - 2; s <= stepOf(now)+2; s++ {
			if code == a.codeAt(s) {
				t.Fatalf("Wrong = %s, the code of step %d (now is %d)", code, s, stepOf(now))
			}
		}
	}
}
