// Package totptest is an authenticator app for tests: it holds a TOTP secret, as a
// user's phone does after scanning the binding page, and shows the codes the gateway
// accepts, computed with the gateway's own challenge.TOTPCode.
//
// It also keeps track of the gateway's replay guard. The gateway records the time step
// of every code it accepts (binding records the step of the second code) and refuses
// any later code for that step or an earlier one (RFC 6238 §5.2). A test runs far
// faster than a person, so it usually wants its next code within the same 30-second
// step as the last accepted one, whose code would be refused as a replay. The gateway
// accepts one step of clock skew either way, so Next then gives the next step's code
// (what a real app shows a moment later), and waits for the step to change only when
// that one is used up too.
//
// An App is not safe for concurrent use: like a phone, it belongs to one user.
package totptest

import (
	"context"
	"encoding/base32"
	"fmt"
	"time"

	"github.com/caddy-stepup/stepup/challenge"
)

// Period is the TOTP time step the gateway issues (RFC 6238's 30 seconds).
const Period = 30 * time.Second

// MinSecretSize is the smallest secret FromBase32 accepts, in bytes: 128 bits, the
// least RFC 4226 allows (the gateway issues 160).
const MinSecretSize = 16

// App is an authenticator app holding one secret.
type App struct {
	secret []byte
	last   int64 // the last step the gateway accepted a code for; 0 before binding

	// now and after are the clock, replaced in this package's tests.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// New returns an app holding secret (the raw key bytes). Any secret makes codes: a
// test may give an attacker an app with a secret of its own.
func New(secret []byte) *App {
	return &App{secret: append([]byte(nil), secret...), now: time.Now, after: time.After}
}

// FromBase32 returns an app holding the secret shown on a binding page or carried in
// a key URI: base32 without padding, of at least MinSecretSize bytes.
func FromBase32(s string) (*App, error) {
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("totptest: secret %q is not base32 without padding: %w", s, err)
	}
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("totptest: secret %q is %d bytes, want %d or more", s, len(secret), MinSecretSize)
	}
	return New(secret), nil
}

// Secret returns a copy of the app's secret.
func (a *App) Secret() []byte { return append([]byte(nil), a.secret...) }

// Code returns the code the app shows at time at. It does not count as used: tests
// that send it themselves keep the replay guard in mind.
func (a *App) Code(at time.Time) string { return challenge.TOTPCode(a.secret, at) }

// codeAt returns the code of time step step.
func (a *App) codeAt(step int64) string { return a.Code(time.Unix(step*periodSeconds, 0)) }

const periodSeconds = int64(Period / time.Second)

func stepOf(t time.Time) int64 { return t.Unix() / periodSeconds }

// BindingCodes returns two consecutive codes, as the binding page asks for them:
// code1 of the step before now and code2 of now. It records now's step as used, as the
// gateway does when it accepts them.
func (a *App) BindingCodes() (code1, code2 string) {
	now := a.now()
	a.last = stepOf(now)
	return a.Code(now.Add(-Period)), a.Code(now)
}

// Next returns a code the gateway accepts now and records its step as used: a code of
// a step after the last one used (the replay guard) and at most one step ahead of the
// clock (the skew window). When both the current and the next step are used up it
// waits for the step to change, or until ctx is done.
func (a *App) Next(ctx context.Context) (string, error) {
	for {
		cur := stepOf(a.now())
		next := max(a.last+1, cur)
		if next <= cur+1 {
			a.last = next
			return a.codeAt(next), nil
		}
		// Two codes already used in this step: wait for the next one.
		wait := time.Unix((cur+1)*periodSeconds, 0).Sub(a.now()) + 50*time.Millisecond
		select {
		case <-a.after(wait):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Wrong returns six digits that the gateway refuses as the app's code: the code of no
// step from two before now to two after, so its ±1-step window refuses them even if
// the step changes while the test submits them. They pass a form's [0-9]{6} pattern.
func (a *App) Wrong() string {
	now := a.now()
	for n := 123456; ; n = (n + 111111) % 1000000 {
		c := fmt.Sprintf("%06d", n)
		matches := false
		for _, at := range []time.Time{now.Add(-Period), now, now.Add(Period)} {
			if _, ok := challenge.MatchTOTP(a.secret, c, at); ok {
				matches = true
			}
		}
		if !matches {
			return c
		}
	}
}
