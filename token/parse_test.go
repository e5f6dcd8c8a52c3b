package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestForgeControl proves the forging helpers make tokens Parse accepts, so every
// refusal below is caused by the one thing each test changes.
func TestForgeControl(t *testing.T) {
	startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		for _, kind := range []Kind{Session, StepUp} {
			raw := forge(t, tk, tk.method, tk.signKey, kind, wireMap(tk, kind), nil)
			if _, err := tk.Parse(kind, raw); err != nil {
				t.Fatalf("%s %s: control token refused: %v", alg, kind, err)
			}
		}
	}
}

func TestKindConfusion(t *testing.T) {
	startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		sessRaw, _, upRaw, _ := issuePair(t, tk)
		mustRefuse(t, tk, StepUp, sessRaw, "wrong kind")
		mustRefuse(t, tk, Session, upRaw, "wrong kind")
		mustRefuse(t, tk, "JWT", upRaw, "unknown kind")
		mustRefuse(t, tk, "", upRaw, "unknown kind")

		for _, typ := range []any{"JWT", "stepup+JWT", "", nil, 1} {
			raw := forge(t, tk, tk.method, tk.signKey, StepUp, wireMap(tk, StepUp), func(h map[string]any) {
				if typ == nil {
					delete(h, "typ")
				} else {
					h["typ"] = typ
				}
			})
			mustRefuse(t, tk, StepUp, raw, "wrong kind")
		}
	}
}

func TestAlgNone(t *testing.T) {
	startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		raw := forge(t, tk, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, StepUp, wireMap(tk, StepUp), nil)
		mustRefuse(t, tk, StepUp, raw, "malformed") // empty signature segment

		// With some signature attached, and in other spellings.
		for _, none := range []string{"none", "None", "NONE", "nOnE"} {
			_, payload, _ := strings.Cut(raw, ".")
			payload, _, _ = strings.Cut(payload, ".")
			h := `{"alg":"` + none + `","typ":"` + string(StepUp) + `"}`
			forged := b64(h) + "." + payload + ".AAAA"
			mustRefuse(t, tk, StepUp, forged, "bad algorithm or signature")
		}
	}
}

// TestKeyConfusion: an attacker who knows the EdDSA public key signs an HS256 token
// with its bytes as the HMAC secret, the classic RS256→HS256 attack (RFC 8725 §2.1).
func TestKeyConfusion(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "EdDSA")
	pub := []byte(tk.verifyKeys[tk.kid].(ed25519.PublicKey))
	x := []byte(base64.RawURLEncoding.EncodeToString(pub)) // as published in the JWKS
	for _, secret := range [][]byte{pub, x, tk.JWKS()} {
		raw := forge(t, tk, jwt.SigningMethodHS256, secret, StepUp, wireMap(tk, StepUp), nil)
		mustRefuse(t, tk, StepUp, raw, "bad algorithm or signature")
	}
}

func TestOtherAlgorithms(t *testing.T) {
	startClock(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		for _, m := range []struct {
			method jwt.SigningMethod
			key    any
		}{
			{jwt.SigningMethodRS256, rsaKey},
			{jwt.SigningMethodPS256, rsaKey},
			{jwt.SigningMethodES256, ecKey},
			{jwt.SigningMethodHS512, testHMACKey},
			{jwt.SigningMethodHS384, testHMACKey},
		} {
			raw := forge(t, tk, m.method, m.key, StepUp, wireMap(tk, StepUp), nil)
			mustRefuse(t, tk, StepUp, raw, "bad algorithm or signature")
		}
	}
	// The other pinned algorithm, with the right key material, is refused too.
	hs, _ := newTokens(t, "HS256")
	ed, _ := newTokens(t, "EdDSA")
	mustRefuse(t, hs, StepUp, forge(t, hs, jwt.SigningMethodEdDSA, testEdKey, StepUp, wireMap(hs, StepUp), nil), "bad algorithm or signature")
	mustRefuse(t, ed, StepUp, forge(t, ed, jwt.SigningMethodHS256, testHMACKey, StepUp, wireMap(ed, StepUp), nil), "bad algorithm or signature")
}

func TestWrongKey(t *testing.T) {
	startClock(t)
	hs, _ := newTokens(t, "HS256")
	other := append([]byte(nil), testHMACKey...)
	other[0] ^= 1
	mustRefuse(t, hs, StepUp, forge(t, hs, jwt.SigningMethodHS256, other, StepUp, wireMap(hs, StepUp), nil), "bad algorithm or signature")

	ed, _ := newTokens(t, "EdDSA")
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, ed, StepUp, forge(t, ed, jwt.SigningMethodEdDSA, otherEd, StepUp, wireMap(ed, StepUp), nil), "bad algorithm or signature")
}

func TestHeaderParameters(t *testing.T) {
	startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		for name, edit := range map[string]func(map[string]any){
			"kid not text": func(h map[string]any) { h["kid"] = 7 },
			"jku":          func(h map[string]any) { h["jku"] = "https://attacker.example/jwks.json" },
			"crit":         func(h map[string]any) { h["crit"] = []string{"exp"} },
			"cty":          func(h map[string]any) { h["cty"] = "JWT" },
		} {
			raw := forge(t, tk, tk.method, tk.signKey, StepUp, wireMap(tk, StepUp), edit)
			if _, err := tk.Parse(StepUp, raw); err == nil {
				t.Errorf("%s: token with %s accepted", alg, name)
			} else {
				mustRefuse(t, tk, StepUp, raw, "unexpected header")
			}
		}
		// A kid naming no configured key is refused, whatever the signature.
		raw := forge(t, tk, tk.method, tk.signKey, StepUp, wireMap(tk, StepUp), func(h map[string]any) { h["kid"] = "another-key" })
		mustRefuse(t, tk, StepUp, raw, "unknown key id")
	}
	// An EdDSA token must name our key.
	ed, _ := newTokens(t, "EdDSA")
	raw := forge(t, ed, ed.method, ed.signKey, StepUp, wireMap(ed, StepUp), func(h map[string]any) { delete(h, "kid") })
	mustRefuse(t, ed, StepUp, raw, "unexpected header")
}

func TestClaimChecks(t *testing.T) {
	start := startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		for _, tc := range []struct {
			name string
			kind Kind
			edit func(jwt.MapClaims)
			why  string
		}{
			{"wrong iss", StepUp, func(m jwt.MapClaims) { m["iss"] = "Other Console" }, "wrong issuer"},
			{"no iss", StepUp, func(m jwt.MapClaims) { delete(m, "iss") }, "missing claim"},
			{"wrong aud", StepUp, func(m jwt.MapClaims) { m["aud"] = "other.example.com" }, "wrong audience"},
			{"wrong aud list", StepUp, func(m jwt.MapClaims) { m["aud"] = []string{"a", "b"} }, "wrong audience"},
			{"no aud", StepUp, func(m jwt.MapClaims) { delete(m, "aud") }, "missing claim"},
			{"no exp", StepUp, func(m jwt.MapClaims) { delete(m, "exp") }, "missing claim"},
			{"expired", StepUp, func(m jwt.MapClaims) { m["exp"] = start.Add(-time.Second).Unix() }, "expired"},
			{"exp now", StepUp, func(m jwt.MapClaims) { m["exp"] = start.Unix() }, "expired"},
			{"exp as string", StepUp, func(m jwt.MapClaims) { m["exp"] = "soon" }, "malformed"},
			{"nbf later", StepUp, func(m jwt.MapClaims) { m["nbf"] = start.Add(time.Minute).Unix() }, "not valid yet"},
			{"no sub", StepUp, func(m jwt.MapClaims) { delete(m, "sub") }, "missing claim"},
			{"empty sub", StepUp, func(m jwt.MapClaims) { m["sub"] = "" }, "missing claim"},
			{"no sid", StepUp, func(m jwt.MapClaims) { delete(m, "sid") }, "missing claim"},
			{"no jti", StepUp, func(m jwt.MapClaims) { delete(m, "jti") }, "missing claim"},
			{"no iat", StepUp, func(m jwt.MapClaims) { delete(m, "iat") }, "missing claim"},
			{"no auth_time", StepUp, func(m jwt.MapClaims) { delete(m, "auth_time") }, "missing claim"},
			{"iat in the future", StepUp, func(m jwt.MapClaims) { m["iat"] = start.Add(clockSkew + time.Second).Unix() }, "issued in the future"},
			{"exp at iat", StepUp, func(m jwt.MapClaims) { m["iat"] = start.Add(time.Minute).Unix() }, "exp not after iat"},
			{"auth_time after iat", StepUp, func(m jwt.MapClaims) { m["auth_time"] = start.Add(time.Second).Unix() }, "auth_time after iat"},
			{"session jti != sid", Session, func(m jwt.MapClaims) { m["jti"] = "b3RoZXItaWQtMDAwMDAwMA" }, "session id mismatch"},
		} {
			m := wireMap(tk, tc.kind)
			tc.edit(m)
			raw := forge(t, tk, tk.method, tk.signKey, tc.kind, m, nil)
			if _, err := tk.Parse(tc.kind, raw); err == nil {
				t.Fatalf("%s %s: accepted", alg, tc.name)
			}
			mustRefuse(t, tk, tc.kind, raw, tc.why)
		}

		// Within the clock allowance, a slightly early iat is fine.
		m := wireMap(tk, StepUp)
		m["iat"], m["auth_time"] = start.Add(clockSkew).Unix(), start.Unix()
		if _, err := tk.Parse(StepUp, forge(t, tk, tk.method, tk.signKey, StepUp, m, nil)); err != nil {
			t.Fatalf("%s: iat within the clock allowance refused: %v", alg, err)
		}
	}
}

// TestExpiry: a token is good until the instant before exp and refused at exp
// (RFC 7519 §4.1.4), with no leeway.
func TestExpiry(t *testing.T) {
	start := startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		setClock(t, start)
		sessRaw, sess, upRaw, up := issuePair(t, tk)
		for _, tc := range []struct {
			kind Kind
			raw  string
			c    Claims
		}{{Session, sessRaw, sess}, {StepUp, upRaw, up}} {
			setClock(t, tc.c.Expires.Add(-time.Nanosecond))
			if _, err := tk.Parse(tc.kind, tc.raw); err != nil {
				t.Fatalf("%s %s refused just before exp: %v", alg, tc.kind, err)
			}
			setClock(t, tc.c.Expires)
			mustRefuse(t, tk, tc.kind, tc.raw, "expired")
			setClock(t, tc.c.Expires.Add(time.Hour))
			mustRefuse(t, tk, tc.kind, tc.raw, "expired")
		}
	}
}

func TestTampering(t *testing.T) {
	startClock(t)
	for _, alg := range algs {
		tk, _ := newTokens(t, alg)
		_, _, raw, _ := issuePair(t, tk)
		parts := strings.Split(raw, ".")

		// Payload: another user, everything else the same.
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		evil := strings.Replace(string(payload), `"sub":"alice"`, `"sub":"admin"`, 1)
		if evil == string(payload) {
			t.Fatal("test did not change the payload")
		}
		mustRefuse(t, tk, StepUp, parts[0]+"."+b64(evil)+"."+parts[2], "bad algorithm or signature")

		// Signature: every single-character change, including ones that only touch
		// the unused low bits of the last character (same bytes, if decoded loosely).
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		sig := parts[2]
		for i := range sig {
			for _, c := range []byte(alphabet) {
				if sig[i] == c || (i != len(sig)-1 && !strings.ContainsRune("AQgw_", rune(c))) {
					continue // every character at the end, a sample elsewhere
				}
				bad := sig[:i] + string(c) + sig[i+1:]
				if _, err := tk.Parse(StepUp, parts[0]+"."+parts[1]+"."+bad); err == nil {
					t.Fatalf("%s: signature changed at %d of %d accepted", alg, i, len(sig))
				}
			}
		}
		mustRefuse(t, tk, StepUp, parts[0]+"."+parts[1]+"."+sig[:len(sig)-4], "")
		mustRefuse(t, tk, StepUp, parts[0]+"."+parts[1]+"."+sig+"AA", "")

		// Header: turn the step-up token into a session token by rewriting its typ;
		// the signature covers the header too.
		header, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		asSession := strings.Replace(string(header), string(StepUp), string(Session), 1)
		if asSession == string(header) {
			t.Fatal("test did not change the header")
		}
		mustRefuse(t, tk, Session, b64(asSession)+"."+parts[1]+"."+parts[2], "bad algorithm or signature")

		// Spellings of the same bytes: padding, line breaks, spaces.
		for _, v := range []string{
			raw + "=", raw + "\n", " " + raw, raw[:10] + "\n" + raw[10:],
			parts[0] + "." + parts[1] + "." + sig[:8] + "\r\n" + sig[8:],
			parts[0] + "=." + parts[1] + "." + sig,
		} {
			mustRefuse(t, tk, StepUp, v, "malformed")
		}
	}
}

func TestGarbage(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	_, _, raw, _ := issuePair(t, tk)
	for _, g := range []string{
		"", ".", "..", "...", "a.b", "a.b.c", "a.b.c.d", "a..c", ".b.c", "a.b.",
		"not a token", "Bearer " + raw, raw + "." + raw, "\x00\x01\x02",
		"eyJ.eyJ.sig", b64("{}") + "." + b64("{}") + ".AAAA",
		b64("[]") + "." + b64("{}") + ".AAAA", b64("null") + "." + b64("null") + ".AAAA",
		b64(`{"alg":"HS256","typ":"stepup+jwt"}`) + "." + b64("not json") + ".AAAA",
		b64(`{"alg":"HS256","typ":"stepup+jwt"}`) + "." + b64(`{"sub":1}`) + ".AAAA",
		strings.Repeat("A", 100) + ".." + "B",
	} {
		mustRefuse(t, tk, StepUp, g, "")
	}
}

func TestOversize(t *testing.T) {
	startClock(t)
	tk, _ := newTokens(t, "HS256")
	m := wireMap(tk, StepUp)
	m["pad"] = strings.Repeat("x", MaxSize)
	raw := forge(t, tk, tk.method, tk.signKey, StepUp, m, nil)
	mustRefuse(t, tk, StepUp, raw, "too long")
	mustRefuse(t, tk, StepUp, strings.Repeat("A", MaxSize+1), "too long")

	// Just under the bound, a valid token still parses.
	m["pad"] = ""
	base := len(forge(t, tk, tk.method, tk.signKey, StepUp, m, nil))
	m["pad"] = strings.Repeat("x", (MaxSize-base)*3/4-2)
	raw = forge(t, tk, tk.method, tk.signKey, StepUp, m, nil)
	if len(raw) > MaxSize || len(raw) < MaxSize-8 {
		t.Fatalf("test token is %d bytes, want just under %d", len(raw), MaxSize)
	}
	if _, err := tk.Parse(StepUp, raw); err != nil {
		t.Fatalf("token of %d bytes refused: %v", len(raw), err)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestKeyForPinsMethod: the key function hands out the key only for the pinned
// method, even were WithValidMethods missing from the parser.
func TestKeyForPinsMethod(t *testing.T) {
	tk, _ := newTokens(t, "HS256")
	header := map[string]any{"alg": "HS256", "typ": string(StepUp)}
	if key, err := tk.keyFor(StepUp)(&jwt.Token{Method: jwt.SigningMethodHS256, Header: header}); err != nil || key == nil {
		t.Fatalf("pinned method: %v, %v", key, err)
	}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS384, jwt.SigningMethodEdDSA, jwt.SigningMethodNone} {
		if key, err := tk.keyFor(StepUp)(&jwt.Token{Method: m, Header: header}); err == nil || key != nil {
			t.Errorf("%s: key handed out", m.Alg())
		}
	}
}
