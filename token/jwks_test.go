package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestJWKS(t *testing.T) {
	startClock(t)
	hs, _ := newTokens(t, "HS256")
	if got := hs.JWKS(); got != nil {
		t.Fatalf("HS256 publishes a key set: %s", got)
	}

	ed, _ := newTokens(t, "EdDSA")
	raw := ed.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	pub := testEdKey.Public().(ed25519.PublicKey)
	want := map[string]any{
		"kty": "OKP",
		"crv": "Ed25519",
		"x":   base64.RawURLEncoding.EncodeToString(pub),
		"kid": ed.kid,
		"alg": "EdDSA",
		"use": "sig",
	}
	if len(set.Keys) != 1 || !reflect.DeepEqual(set.Keys[0], want) {
		t.Fatalf("JWKS %s\nwant one key %v", raw, want)
	}
	if _, ok := set.Keys[0]["d"]; ok {
		t.Fatal("JWKS publishes the private key")
	}

	// A verifier that knows only the published key accepts our tokens.
	_, _, upRaw, _ := issuePair(t, ed)
	x, err := base64.RawURLEncoding.DecodeString(set.Keys[0]["x"].(string))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse(upRaw, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != set.Keys[0]["kid"] {
			t.Errorf("token kid %v, JWKS kid %v", tok.Header["kid"], set.Keys[0]["kid"])
		}
		return ed25519.PublicKey(x), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(now))
	if err != nil || !tok.Valid {
		t.Fatalf("published key does not verify our token: %v", err)
	}

	// Callers get a copy.
	raw[0] = 'X'
	if ed.JWKS()[0] != '{' {
		t.Fatal("JWKS returns its internal buffer")
	}
}

// TestThumbprint checks the kid against RFC 8037 Appendix A.3.
func TestThumbprint(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := thumbprint(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("thumbprint %s, want %s", got, want)
	}
}
