package token

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParse: Parse never panics, every refusal wraps ErrInvalid without quoting the
// input, and the only strings it accepts are tokens Issue produced.
//
// Keys, clock and randomness are fixed, so the issued tokens, and so any corpus entry
// the fuzzer saves, are the same in every run.
func FuzzParse(f *testing.F) {
	setClock(f, time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)) // after the real clock: the store keeps the grants
	oldRand := randReader
	randReader = mrand.NewChaCha8([32]byte{'f', 'u', 'z', 'z'})
	f.Cleanup(func() { randReader = oldRand })

	type config struct {
		tk     *Tokens
		issued map[Kind]map[string]bool
	}
	var configs []config
	ctx := context.Background()
	for _, alg := range algs {
		tk, _ := newTokens(f, alg)
		c := config{tk, map[Kind]map[string]bool{Session: {}, StepUp: {}}}
		for _, user := range []string{"alice", "bob", ""} {
			if user == "" {
				user = strings.Repeat("u", 300)
			}
			sessRaw, sess, err := tk.Issue(ctx, Session, user, "", []string{"pwd"}, now())
			if err != nil {
				f.Fatal(err)
			}
			upRaw, _, err := tk.Issue(ctx, StepUp, user, sess.Session, []string{"otp", "mfa"}, now())
			if err != nil {
				f.Fatal(err)
			}
			c.issued[Session][sessRaw] = true
			c.issued[StepUp][upRaw] = true
			f.Add(sessRaw)
			f.Add(upRaw)
			// Near misses: right key, wrong shape.
			m := wireMap(tk, StepUp)
			f.Add(forge(f, tk, tk.method, tk.signKey, Session, m, nil))
			f.Add(forge(f, tk, jwt.SigningMethodHS256, []byte(tk.issuer+tk.audience), StepUp, m, nil))
		}
		configs = append(configs, c)
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat("A", MaxSize+1)} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		for _, c := range configs {
			for _, kind := range []Kind{Session, StepUp, "JWT"} {
				claims, err := c.tk.Parse(kind, raw)
				if err == nil {
					if !c.issued[kind][raw] {
						t.Fatalf("accepted a token Issue did not produce as %s: %q -> %+v", kind, raw, claims)
					}
					if claims.Kind != kind || claims.User == "" || claims.ID == "" || claims.Session == "" {
						t.Fatalf("accepted with incomplete claims: %+v", claims)
					}
					continue
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				leaksToken(t, err, raw)
			}
		}
	})
}
