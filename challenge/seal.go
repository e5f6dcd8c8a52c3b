package challenge

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// sealVersion is the first byte of every sealed value. It names the key derivation and
// cipher, so a later format can be told apart from this one and old records still open.
const sealVersion byte = 1

// sealInfo is the HKDF info string: it ties the derived key to this use, so the same
// configured key can feed other derivations without the keys being related.
const sealInfo = "caddy-stepup seal v1"

// macInfo is the HKDF info string of the MAC key. Its own info makes it a key
// independent of the sealing key, though both come from the same configured key.
const macInfo = "caddy-stepup mac v1"

// MinKeySize is the shortest encryption key NewSealer accepts, in bytes.
const MinKeySize = 32

// ErrUnsealable is returned by Open when a sealed value cannot be opened: it was made
// with another key, for another record, or was altered.
var ErrUnsealable = errors.New("challenge: sealed value cannot be opened (wrong key, wrong record, or altered)")

// A Sealer encrypts secrets kept at rest, such as TOTP secrets, with AES-256-GCM. Each
// sealed value is bound to the record it protects (for example "totp:alice"), so a
// value copied into another record, or onto another user, does not open. A Sealer is
// safe for concurrent use.
//
// A Sealer also computes MACs (see MAC) with a second key derived from the same
// configured key, for values that must be recognized but never read back: SMS codes,
// and phone numbers in store keys.
type Sealer struct {
	aead   cipher.AEAD
	macKey []byte
}

// NewSealer returns a Sealer whose AES-256 key, and separately its HMAC-SHA256 key,
// are derived with HKDF-SHA256 from key, the encryption key from the configuration.
// key must be at least MinKeySize bytes of high-entropy material; it is not a password.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("challenge: encryption key is %d bytes, need at least %d", len(key), MinKeySize)
	}
	k, err := hkdf.Key(sha256.New, key, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("challenge: deriving encryption key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	// Random 96-bit nonces, prepended by Seal: safe for up to 2^32 seals per key, far
	// more than secrets a gateway will ever bind.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	macKey, err := hkdf.Key(sha256.New, key, nil, macInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("challenge: deriving MAC key: %w", err)
	}
	return &Sealer{aead: aead, macKey: macKey}, nil
}

// MAC returns the HMAC-SHA256 of data for the given purpose (such as "sms-code"), keyed
// with the Sealer's MAC key: a key of its own, derived with HKDF from the configured
// key under another label than the sealing key, so a MAC reveals nothing about the
// sealing key and the other way round. The purpose is bound into the MAC
// (length-prefixed), so MACs made for one purpose never match those of another.
// Compare MACs with subtle.ConstantTimeCompare or hmac.Equal.
func (s *Sealer) MAC(data []byte, purpose string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(purpose)))])
	m.Write([]byte(purpose))
	m.Write(data)
	return m.Sum(nil)
}

// Seal encrypts plaintext for the record named boundTo. The result is a version byte,
// a random 12-byte nonce, the ciphertext and the tag.
func (s *Sealer) Seal(plaintext []byte, boundTo string) ([]byte, error) {
	out := make([]byte, 1, 1+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	return s.aead.Seal(out, nil, plaintext, additionalData(boundTo)), nil
}

// Open decrypts a value made by Seal for the same boundTo. It returns ErrUnsealable if
// the value was sealed for another record or with another key, or was altered.
func (s *Sealer) Open(sealed []byte, boundTo string) ([]byte, error) {
	if len(sealed) < 1+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	plain, err := s.aead.Open(nil, nil, sealed[1:], additionalData(boundTo))
	if err != nil {
		return nil, ErrUnsealable
	}
	return plain, nil
}

// additionalData authenticates the version byte along with the record name, so neither
// can be changed without Open failing.
func additionalData(boundTo string) []byte {
	ad := make([]byte, 0, 1+len(boundTo))
	ad = append(ad, sealVersion)
	return append(ad, boundTo...)
}
