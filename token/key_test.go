package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/store"
)

func TestCheckHMACKey(t *testing.T) {
	random := func() []byte {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		key  string
		why  string // "" means the key must pass
	}{
		{"empty", "", "is 0 bytes; it needs at least 32 random bytes"},
		{"short", "secret", "is 6 bytes; it needs at least 32 random bytes, e.g. `openssl rand -base64 32`"},
		{"31 random bytes", string(random()[:31]), "is 31 bytes"},
		{"password", "password", "is 8 bytes"},
		{"password repeated", "passwordpasswordpasswordpassword", "only 7 different byte values"},
		{"password pattern", "Pa55word-2024!Pa55word-2024!Pa55word-2024!", "repeats a short pattern"},
		{"few values", "Password123!Password123!Password123!", "only 11 different byte values"},
		{"words with spaces", "correct horse battery staple correct horse", "looks like words"},
		{"words with dashes", "correct-horse-battery-staple-correct-horse", "looks like words"},
		{"capitalised words", "CorrectHorseBatteryStapleCorrectHorseBattery", "looks like words"},
		{"shouted words", "CORRECT_HORSE_BATTERY_STAPLE_CORRECT_HORSE", "looks like words"},
		{"words and a year", "MySuperSecretSigningKey2024ForTheGateway!!", "looks like words"},
		{"sentence with digits", "my signing key for 2024, nobody will guess it", "looks like words"},
		{"all the same byte", strings.Repeat("\x00", 32), "only 1 different byte values"},
		{"all a", strings.Repeat("a", 64), "only 1 different byte values"},
		{"alphabet", "abcdefghijklmnopqrstuvwxyz0123456789", "simple sequence"},
		{"byte ramp", string(func() []byte {
			b := make([]byte, 40)
			for i := range b {
				b[i] = byte(3 * i)
			}
			return b
		}()), "simple sequence"},
		{"pattern of 16", strings.Repeat("0123456789abcdef", 3), "repeats a short pattern"},
		{"hex of 16 bytes", "3f9a0c7e51b84d26e0a7c93f5d1b8246", "32 hex digits, too few for 256 random bits; it needs at least 64"},
		{"base64 of 24 bytes", base64.StdEncoding.EncodeToString(random()[:24]), "32 base64 characters, too few"},

		{"32 random bytes", string(random()), ""},
		{"32 random bytes again", string(random()), ""},
		{"base64 of 32 random bytes", base64.StdEncoding.EncodeToString(random()), ""},
		{"base64url of 32 random bytes", base64.RawURLEncoding.EncodeToString(random()), ""},
		{"base64 with a newline from a file", base64.StdEncoding.EncodeToString(random()) + "\n", ""},
		{"hex of 32 random bytes", hex.EncodeToString(random()), ""},
		{"upper-case hex of 32 random bytes", strings.ToUpper(hex.EncodeToString(random())), ""},
		{"fixed test key", string(testHMACKey), ""},
		// Fixed examples of random keys, so the must-pass cases do not depend on luck.
		{"openssl rand -base64 32", "HphVGczPYeT5Z+FoYk9K1ReHKhmOaPgrkthW/tUX1kk=", ""},
		{"openssl rand -hex 32", "fc75c4e038c6b9e27186794ce54b7232ec5973460786351c017c69dd73b88dc5", ""},
	} {
		err := CheckHMACKey([]byte(tc.key))
		switch {
		case tc.why == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.why != "" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.why != "" && !strings.Contains(err.Error(), tc.why):
			t.Errorf("%s: error %q, want it to say %q", tc.name, err, tc.why)
		}
		if err != nil && len(tc.key) >= 4 && strings.Contains(err.Error(), strings.TrimSpace(tc.key)) {
			t.Errorf("%s: error quotes the key", tc.name)
		}
	}
}

// TestCheckHMACKeyRandom: many random keys in each usual encoding all pass.
func TestCheckHMACKeyRandom(t *testing.T) {
	for range 2000 {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{string(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b)} {
			if err := CheckHMACKey([]byte(k)); err != nil {
				t.Fatalf("random key refused: %v (key %q)", err, k)
			}
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	st, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bad := ed25519.PrivateKey(bytes.Clone(testEdKey))
	bad[40] ^= 1 // public half no longer matches the seed
	for _, tc := range []struct {
		name string
		cfg  Config
		st   store.Store
		why  string
	}{
		{"no store", testConfig("HS256"), nil, "store is required"},
		{"no issuer", Config{HMACKey: testHMACKey}, st, "issuer is required"},
		{"no key", Config{Issuer: testIssuer}, st, "signing key is required"},
		{"both keys", Config{Issuer: testIssuer, HMACKey: testHMACKey, Ed25519Key: testEdKey}, st, "not both"},
		{"weak HMAC key", Config{Issuer: testIssuer, HMACKey: []byte("password")}, st, "is 8 bytes"},
		{"short Ed25519 key", Config{Issuer: testIssuer, Ed25519Key: testEdKey[:32]}, st, "is 32 bytes, want 64"},
		{"mismatched Ed25519 key", Config{Issuer: testIssuer, Ed25519Key: bad}, st, "does not match"},
		{"negative lifetime", Config{Issuer: testIssuer, HMACKey: testHMACKey, Lifetime: -1}, st, "at least one second"},
		{"tiny session lifetime", Config{Issuer: testIssuer, HMACKey: testHMACKey, SessionLifetime: 1}, st, "at least one second"},
	} {
		_, err := New(tc.cfg, tc.st)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: New error %v, want %q", tc.name, err, tc.why)
		}
	}
}

func TestNewCopiesKey(t *testing.T) {
	start := startClock(t)
	key := bytes.Clone(testHMACKey)
	tk, _ := newTokensWith(t, Config{Issuer: testIssuer, HMACKey: key})
	raw, _, err := tk.Issue(t.Context(), Session, "alice", "", nil, start)
	if err != nil {
		t.Fatal(err)
	}
	clear(key) // the caller wipes its copy
	if _, err := tk.Parse(Session, raw); err != nil {
		t.Fatalf("Tokens depends on the caller's key slice: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	start := startClock(t)
	tk, _ := newTokensWith(t, Config{Issuer: testIssuer, HMACKey: testHMACKey, Lifetime: 90e9})
	if tk.audience != testIssuer {
		t.Errorf("audience %q, want the issuer", tk.audience)
	}
	_, sess, _, up := issuePair(t, tk)
	if got := up.Expires.Sub(start); got != 90e9 {
		t.Errorf("step-up lifetime %v, want 1m30s", got)
	}
	if got := sess.Expires.Sub(start); got != DefaultSessionLifetime {
		t.Errorf("session lifetime %v, want %v", got, DefaultSessionLifetime)
	}
	if up.ACR != "" {
		t.Errorf("acr %q without ACR configured", up.ACR)
	}
}

func TestLoadEd25519Key(t *testing.T) {
	der, err := x509.MarshalPKCS8PrivateKey(testEdKey)
	if err != nil {
		t.Fatal(err)
	}
	good := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	k, err := LoadEd25519Key(good)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(testEdKey) {
		t.Fatal("loaded key differs")
	}
	if _, err := LoadEd25519Key(append([]byte("\n"), append(good, "\n\n"...)...)); err != nil {
		t.Fatalf("surrounding whitespace refused: %v", err)
	}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(testEdKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		why  string
	}{
		{"empty", nil, "no PEM block"},
		{"raw base64", []byte(base64.StdEncoding.EncodeToString(der)), "no PEM block"},
		{"two blocks", append(bytes.Clone(good), good...), "more than one PEM block"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), "encrypted"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), `"PUBLIC KEY"`},
		{"EC key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "not an Ed25519 key"},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nonsense")}), "Ed25519 key:"},
	} {
		_, err := LoadEd25519Key(tc.pem)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.why)
		}
	}
}
