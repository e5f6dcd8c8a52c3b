package challenge

import (
	"testing"
	"time"
)

// BenchmarkVerifyTOTP measures a whole challenge on the memory store: Begin, then
// VerifyTOTP with the right code (every store call, the unsealing and the replay guard).
// The design target is 5,000 verifications a second on one core (-cpu 1).
func BenchmarkVerifyTOTP(b *testing.B) {
	e := newEnv(b, Limits{BegunPerUser: 1 << 30}) // one user, a challenge per iteration
	secret := e.bind("alice")
	b.ReportAllocs()
	for b.Loop() {
		e.nextStep() // a new step each time, or the replay guard refuses the code
		c := e.begin("alice")
		if _, err := e.verify(c, e.code(secret)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// BenchmarkMatchTOTP measures checking one code against the three steps of the window.
func BenchmarkMatchTOTP(b *testing.B) {
	secret := rfcSecretSHA1
	now := time.Unix(1_700_000_015, 0)
	code := TOTPCode(secret, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := MatchTOTP(secret, code, now); !ok {
			b.Fatal("no match")
		}
	}
}
