package token

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/store"
)

var (
	nextHMACKey = func() []byte { s := sha256.Sum256([]byte("caddy-stepup next token test key")); return s[:] }()
	nextEdKey   = ed25519.NewKeyFromSeed(nextHMACKey)
)

// rotation is one store seen by Tokens of three configurations in turn: before (the
// old key alone), during (the new key first, the old one after it) and after (the old
// key dropped).
type rotation struct {
	before, during, after *Tokens
}

func newRotation(t *testing.T, alg string) rotation {
	t.Helper()
	st, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk := func(cfg Config) *Tokens {
		tk, err := New(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	before, during, after := testConfig(alg), testConfig(alg), testConfig(alg)
	switch alg {
	case "HS256":
		during.HMACKey, during.PreviousHMACKeys = nextHMACKey, [][]byte{testHMACKey}
		after.HMACKey = nextHMACKey
	case "EdDSA":
		during.Ed25519Key, during.PreviousEd25519Keys = nextEdKey, []ed25519.PublicKey{testEdKey.Public().(ed25519.PublicKey)}
		after.Ed25519Key = nextEdKey
	}
	return rotation{mk(before), mk(during), mk(after)}
}

func headerKid(t *testing.T, raw string) any {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"]
}

// TestRotation: the new key signs, the old one still verifies what it signed, and once
// it is dropped its tokens are refused for naming an unknown key.
func TestRotation(t *testing.T) {
	start := startClock(t)
	ctx := context.Background()
	for _, alg := range algs {
		r := newRotation(t, alg)
		oldKid, newKid := r.before.kid, r.after.kid
		if oldKid == newKid || r.during.kid != newKid {
			t.Fatalf("%s: kids %q %q %q", alg, oldKid, r.during.kid, newKid)
		}
		if alg == "HS256" && (oldKid != keyring.IDOf(testHMACKey).String() || newKid != keyring.IDOf(nextHMACKey).String()) {
			t.Errorf("HS256 kids are not the keys' IDs")
		}
		if got := r.during.KeyIDs(); len(got) != 2 || got[0] != newKid || got[1] != oldKid {
			t.Errorf("%s: KeyIDs %v", alg, got)
		}

		oldSession, _, err := r.before.Issue(ctx, Session, "alice", "", []string{"pwd"}, start)
		if err != nil {
			t.Fatal(err)
		}
		if headerKid(t, oldSession) != oldKid {
			t.Fatalf("%s: the old session does not name the old key", alg)
		}
		// During the rotation: the old session still works, new tokens name the new key.
		sess, err := r.during.Parse(Session, oldSession)
		if err != nil {
			t.Fatalf("%s: the old key's session during the rotation: %v", alg, err)
		}
		stepUp, _, err := r.during.Issue(ctx, StepUp, "alice", sess.Session, []string{"otp", "mfa"}, start)
		if err != nil {
			t.Fatal(err)
		}
		if headerKid(t, stepUp) != newKid {
			t.Errorf("%s: a new token does not name the new key", alg)
		}
		if _, err := r.during.Parse(StepUp, stepUp); err != nil {
			t.Errorf("%s: the new key's token: %v", alg, err)
		}
		// Instances still on the old configuration cannot read the new key's tokens:
		// the rollout adds the new key after the old one first (see the README).
		mustRefuse(t, r.before, StepUp, stepUp, "unknown key id")

		// After: the old key's tokens are refused, the new key's still work.
		mustRefuse(t, r.after, Session, oldSession, "unknown key id")
		if _, err := r.after.Parse(StepUp, stepUp); err != nil {
			t.Errorf("%s: the new key's token after the old key is dropped: %v", alg, err)
		}

		// A kid names a key, it does not vouch for a signature: the old kid on a token
		// signed by the new key (or the other way round) is refused.
		other := r.during.signKey
		if alg == "HS256" {
			other = testHMACKey
		} else {
			other = testEdKey
		}
		swapped := forge(t, r.during, r.during.method, other, StepUp, wireMap(r.during, StepUp), nil) // new kid, old key
		mustRefuse(t, r.during, StepUp, swapped, "bad algorithm or signature")
		swapped = forge(t, r.during, r.during.method, r.during.signKey, StepUp, wireMap(r.during, StepUp), func(h map[string]any) { h["kid"] = oldKid })
		mustRefuse(t, r.during, StepUp, swapped, "bad algorithm or signature")
	}
}

// TestTokensWithoutKid: HS256 tokens issued before tokens named their key carry no
// kid; they verify against every configured HMAC key while one of them signed it.
func TestTokensWithoutKid(t *testing.T) {
	startClock(t)
	r := newRotation(t, "HS256")
	legacy := forge(t, r.before, jwt.SigningMethodHS256, testHMACKey, StepUp, wireMap(r.before, StepUp), func(h map[string]any) { delete(h, "kid") })
	for name, tk := range map[string]*Tokens{"before": r.before, "during": r.during} {
		if _, err := tk.Parse(StepUp, legacy); err != nil {
			t.Errorf("%s: a token without kid from the old key: %v", name, err)
		}
	}
	mustRefuse(t, r.after, StepUp, legacy, "bad algorithm or signature")
	forged := forge(t, r.before, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), StepUp, wireMap(r.before, StepUp), func(h map[string]any) { delete(h, "kid") })
	mustRefuse(t, r.during, StepUp, forged, "bad algorithm or signature")

	// EdDSA tokens always named their key: one without kid is refused.
	ed := newRotation(t, "EdDSA")
	raw := forge(t, ed.during, jwt.SigningMethodEdDSA, nextEdKey, StepUp, wireMap(ed.during, StepUp), func(h map[string]any) { delete(h, "kid") })
	mustRefuse(t, ed.during, StepUp, raw, "unexpected header")
}

// TestJWKSRotation: the key set lists every public key, current first, each with its
// kid, and a dropped key leaves it.
func TestJWKSRotation(t *testing.T) {
	r := newRotation(t, "EdDSA")
	var set struct {
		Keys []struct{ Kid, X string }
	}
	if err := json.Unmarshal(r.during.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	x := func(k ed25519.PrivateKey) string {
		return base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != r.after.kid || set.Keys[0].X != x(nextEdKey) ||
		set.Keys[1].Kid != r.before.kid || set.Keys[1].X != x(testEdKey) {
		t.Errorf("key set during the rotation: %s", r.during.JWKS())
	}
	if err := json.Unmarshal(r.after.JWKS(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].Kid != r.after.kid {
		t.Errorf("key set after: %s", r.after.JWKS())
	}
	hs := newRotation(t, "HS256")
	if hs.during.JWKS() != nil {
		t.Error("HMAC keys published")
	}
}

func TestRotationConfigRefused(t *testing.T) {
	st, _ := store.NewMemory("")
	defer st.Close()
	edPub := testEdKey.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"previous equal to current", Config{Issuer: testIssuer, HMACKey: testHMACKey, PreviousHMACKeys: [][]byte{append([]byte(nil), testHMACKey...)}}, "same as an earlier one"},
		{"previous twice", Config{Issuer: testIssuer, HMACKey: nextHMACKey, PreviousHMACKeys: [][]byte{testHMACKey, testHMACKey}}, "same as an earlier one"},
		{"weak previous", Config{Issuer: testIssuer, HMACKey: nextHMACKey, PreviousHMACKeys: [][]byte{[]byte("password")}}, "previous signing key 1"},
		{"previous Ed25519 equal to current", Config{Issuer: testIssuer, Ed25519Key: testEdKey, PreviousEd25519Keys: []ed25519.PublicKey{edPub}}, "same as an earlier one"},
		{"short previous Ed25519", Config{Issuer: testIssuer, Ed25519Key: nextEdKey, PreviousEd25519Keys: []ed25519.PublicKey{edPub[:31]}}, "31 bytes"},
		{"HMAC after Ed25519", Config{Issuer: testIssuer, Ed25519Key: nextEdKey, PreviousHMACKeys: [][]byte{testHMACKey}}, "algorithm"},
		{"Ed25519 after HMAC", Config{Issuer: testIssuer, HMACKey: nextHMACKey, PreviousEd25519Keys: []ed25519.PublicKey{edPub}}, "algorithm"},
	} {
		_, err := New(tc.cfg, st)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), string(testHMACKey)) {
			t.Errorf("%s: the error holds the key", tc.name)
		}
	}
}
