package challenge

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/caddy-stepup/stepup/keyring"
)

// Sealed value formats. The first byte of every sealed value names its format, so old
// records still open after the format changes.
const (
	// sealV1 is version byte, nonce, ciphertext and tag: the key is not named, so
	// Open tries every configured key.
	sealV1 byte = 1

	// sealV2 is version byte, the key's ID (keyring.IDSize bytes), nonce, ciphertext
	// and tag: Open picks the key by its ID. Seal writes this format.
	sealV2 byte = 2
)

// sealVersion is the format Seal writes.
const sealVersion = sealV2

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

// An UnknownKeyError is the ErrUnsealable of a value sealed with a key that is not
// configured: KeyID names it, so the operator knows which key to add back.
type UnknownKeyError struct {
	KeyID string
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("challenge: sealed value cannot be opened: it was sealed with key %s, which is not configured", e.KeyID)
}

// Is makes an UnknownKeyError match ErrUnsealable.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrUnsealable }

// A Sealer encrypts secrets kept at rest, such as TOTP secrets, with AES-256-GCM. Each
// sealed value is bound to the record it protects (for example "totp:alice"), so a
// value copied into another record, or onto another user, does not open. A Sealer is
// safe for concurrent use.
//
// Keys rotate: the current key seals, every configured key opens, and every sealed
// value names the key that sealed it (its keyring ID). Reseal seals a value made with
// a previous key again with the current one.
//
// A Sealer also computes MACs (see MAC) with a second key derived from the same
// configured key, for values that must be recognized but never read back: SMS codes,
// and phone numbers in store keys.
type Sealer struct {
	current keyring.ID
	aeads   map[keyring.ID]cipher.AEAD
	order   []keyring.ID // current first
	macs    *keyring.Ring
}

// NewSealer returns a Sealer whose AES-256 keys, and separately its HMAC-SHA256 keys,
// are derived with HKDF-SHA256 from key, the encryption key from the configuration,
// and from previous, the encryption keys before it (newest first), which only open
// and verify. Every key must be at least MinKeySize bytes of high-entropy material (it
// is not a password), and no key may appear twice.
func NewSealer(key []byte, previous ...[]byte) (*Sealer, error) {
	all := append([][]byte{key}, previous...)
	for i, k := range all {
		if len(k) < MinKeySize {
			which := "encryption key"
			if i > 0 {
				which = fmt.Sprintf("previous encryption key %d", i)
			}
			return nil, fmt.Errorf("challenge: %s is %d bytes, need at least %d", which, len(k), MinKeySize)
		}
	}
	ring, err := keyring.New(all...)
	if err != nil {
		return nil, fmt.Errorf("challenge: encryption keys: %w", err)
	}
	s := &Sealer{current: ring.Current().ID(), aeads: map[keyring.ID]cipher.AEAD{}}
	for _, k := range all {
		aead, err := newAEAD(k)
		if err != nil {
			return nil, err
		}
		id := keyring.IDOf(k)
		s.aeads[id] = aead
		s.order = append(s.order, id)
	}
	if s.macs, err = ring.Derive(macInfo); err != nil {
		return nil, fmt.Errorf("challenge: deriving MAC keys: %w", err)
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
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
	return aead, nil
}

// KeyIDs are the IDs of the encryption keys, the current (sealing) one first: for the
// operator's log.
func (s *Sealer) KeyIDs() []string {
	out := make([]string, len(s.order))
	for i, id := range s.order {
		out[i] = id.String()
	}
	return out
}

// MAC returns the HMAC-SHA256 of data for the given purpose (such as "sms-code"), keyed
// with the Sealer's current MAC key: a key of its own, derived with HKDF from the
// configured key under another label than the sealing key, so a MAC reveals nothing
// about the sealing key and the other way round. The purpose is bound into the MAC
// (length-prefixed), so MACs made for one purpose never match those of another.
// Check a MAC with VerifyMAC, which also accepts the previous keys' MACs.
func (s *Sealer) MAC(data []byte, purpose string) []byte {
	return s.macs.Sign(macFrame(purpose), data)
}

// VerifyMAC reports whether mac is the MAC of data for purpose under any configured
// key (the current one or a previous one), comparing in constant time.
func (s *Sealer) VerifyMAC(mac, data []byte, purpose string) bool {
	if len(mac) != sha256.Size {
		return false
	}
	_, ok := s.macs.Verify(mac, macFrame(purpose), data)
	return ok
}

// MACs returns the MAC of data for purpose under every configured key, current first:
// for MACs used as names (a store key named by the MAC of a phone number), which are
// found only by trying the name each key gives.
func (s *Sealer) MACs(data []byte, purpose string) [][]byte {
	return s.macs.MACs(macFrame(purpose), data)
}

// macFrame is the length-prefixed purpose that starts every MAC's input.
func macFrame(purpose string) []byte {
	var n [binary.MaxVarintLen64]byte
	return append(n[:binary.PutUvarint(n[:], uint64(len(purpose)))], purpose...)
}

// Seal encrypts plaintext for the record named boundTo with the current key. The
// result is the version byte, the key's ID, a random 12-byte nonce, the ciphertext
// and the tag.
func (s *Sealer) Seal(plaintext []byte, boundTo string) ([]byte, error) {
	aead := s.aeads[s.current]
	out := make([]byte, 0, 1+keyring.IDSize+len(plaintext)+aead.Overhead())
	out = append(out, sealV2)
	out = append(out, s.current[:]...)
	return aead.Seal(out, nil, plaintext, additionalData(out, boundTo)), nil
}

// Open decrypts a value made by Seal for the same boundTo, with whichever configured
// key sealed it. It returns ErrUnsealable if the value was sealed for another record or
// with a key that is not configured (an *UnknownKeyError naming it), or was altered.
func (s *Sealer) Open(sealed []byte, boundTo string) ([]byte, error) {
	plain, _, err := s.open(sealed, boundTo)
	return plain, err
}

// open is Open, also reporting the key that opened the value.
func (s *Sealer) open(sealed []byte, boundTo string) ([]byte, keyring.ID, error) {
	if len(sealed) == 0 {
		return nil, keyring.ID{}, ErrUnsealable
	}
	switch sealed[0] {
	case sealV2:
		head := 1 + keyring.IDSize
		if len(sealed) < head {
			return nil, keyring.ID{}, ErrUnsealable
		}
		id := keyring.ID(sealed[1:head])
		aead, ok := s.aeads[id]
		if !ok {
			return nil, id, &UnknownKeyError{KeyID: id.String()}
		}
		if len(sealed) < head+aead.Overhead() {
			return nil, id, ErrUnsealable
		}
		plain, err := aead.Open(nil, nil, sealed[head:], additionalData(sealed[:head], boundTo))
		if err != nil {
			return nil, id, ErrUnsealable
		}
		return plain, id, nil
	case sealV1:
		// No key named: every configured key is tried, current first. The tag
		// authenticates the key, so only the right one opens it.
		for _, id := range s.order {
			aead := s.aeads[id]
			if len(sealed) < 1+aead.Overhead() {
				return nil, keyring.ID{}, ErrUnsealable
			}
			if plain, err := aead.Open(nil, nil, sealed[1:], additionalData(sealed[:1], boundTo)); err == nil {
				return plain, id, nil
			}
		}
	}
	return nil, keyring.ID{}, ErrUnsealable
}

// Current reports whether sealed was sealed by Seal with the current key, in the
// current format: a value for which it is false is due to be sealed again (Reseal).
// It looks at the value's header only and opens nothing.
func (s *Sealer) Current(sealed []byte) bool {
	return len(sealed) > 1+keyring.IDSize && sealed[0] == sealV2 && keyring.ID(sealed[1:1+keyring.IDSize]) == s.current
}

// SealedWith names the key a value was sealed with, for a report: its ID, or "v1"
// for the first format, which names no key. It opens nothing.
func SealedWith(sealed []byte) string {
	switch {
	case len(sealed) > 1+keyring.IDSize && sealed[0] == sealV2:
		return keyring.ID(sealed[1 : 1+keyring.IDSize]).String()
	case len(sealed) > 0 && sealed[0] == sealV1:
		return "v1"
	}
	return "unknown"
}

// Reseal returns sealed sealed again with the current key, for the same boundTo, and
// true; or sealed itself and false when it is sealed with the current key already. An
// error is Open's: the value does not open with any configured key.
func (s *Sealer) Reseal(sealed []byte, boundTo string) ([]byte, bool, error) {
	if s.Current(sealed) {
		return sealed, false, nil
	}
	plain, _, err := s.open(sealed, boundTo)
	if err != nil {
		return nil, false, err
	}
	out, err := s.Seal(plain, boundTo)
	clear(plain)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// additionalData authenticates the value's header (the version byte and, from v2,
// the key's ID) along with the record name, so none of them can be changed without
// Open failing.
func additionalData(header []byte, boundTo string) []byte {
	ad := make([]byte, 0, len(header)+len(boundTo))
	ad = append(ad, header...)
	return append(ad, boundTo...)
}
