package token

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// benchmarkParse measures a step-up token's first verification ("verify": JSON
// decoding and the signature) and its later uses ("cached").
func benchmarkParse(b *testing.B, alg string) {
	start := time.Now().Truncate(time.Second)
	setClock(b, start)
	tk, _ := newTokens(b, alg)
	_, _, raw, _ := issuePair(b, tk)
	setClock(b, start.Add(time.Minute))
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tk.verify(StepUp, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tk.Parse(StepUp, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseHS256(b *testing.B) { benchmarkParse(b, "HS256") }
func BenchmarkParseEdDSA(b *testing.B) { benchmarkParse(b, "EdDSA") }

// BenchmarkIssue issues a step-up token and tracks it in the memory store. Each
// iteration is another user, as in real traffic (one user's grants are few).
func BenchmarkIssue(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			tk, _ := newTokens(b, alg)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, _, err := tk.Issue(ctx, StepUp, "user-"+strconv.Itoa(i), "c2Vzc2lvbi1pZC0wMDAwMA", []string{"otp"}, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLive is the store half of the hot path: one call for both cookies.
func BenchmarkLive(b *testing.B) {
	startClock(b)
	tk, _ := newTokens(b, "HS256")
	_, sess, _, up := issuePair(b, tk)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := tk.Live(ctx, sess, up); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
