package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// JWKS returns the JSON Web Key Set (RFC 7517, RFC 8037) that verifies this
// configuration's EdDSA tokens, for serving at a well-known URL: the current key
// first, then the previous ones, each with its kid. It returns nil with HMAC keys:
// they are secret and never published.
func (t *Tokens) JWKS() []byte {
	if t.jwks == nil {
		return nil
	}
	return append([]byte(nil), t.jwks...) // callers may not change ours
}

// jwk is an Ed25519 public key as a JWK; the field order is the output order.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func jwksJSON(pubs []ed25519.PublicKey, kids []string) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{make([]jwk, len(pubs))}
	for i, pub := range pubs {
		set.Keys[i] = jwk{
			Kty: "OKP",
			Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(pub),
			Kid: kids[i],
			Alg: "EdDSA",
			Use: "sig",
		}
	}
	return json.Marshal(set)
}

// thumbprint is the RFC 7638 JWK thumbprint of pub: SHA-256 over the required
// members in lexical order. As the kid it names the key without a registry, and a
// new key gets a new kid by itself.
func thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
