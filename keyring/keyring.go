// Package keyring holds the keys of one use during a rotation: the current key, which
// makes every new MAC (and, in other packages, every new signature or sealed value),
// and the previous keys, which only verify what they made before the rotation. Each key
// has an ID derived from the key itself, so values can name the key that made them
// without revealing anything about it.
//
// A rotation is: the new key first, the old one after it; once nothing made with the
// old key is still in use, the old key goes. What "still in use" means depends on the
// use: the lifetime of the values it made (a form token, a device cookie), or until
// every stored value was made again with the current key.
//
// The package is pure: it computes, and does no I/O.
package keyring

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinSize is the shortest key a Ring accepts, in bytes: 256 bits.
const MinSize = 32

// IDSize is the length of a key ID, in bytes.
const IDSize = 8

// MinMACSize is the shortest (truncated) MAC Verify accepts, in bytes: 128 bits.
const MinMACSize = 16

// idInfo is the HKDF info of key IDs: the ID is a hash of a key derived for naming
// only, so it is unrelated to every key derived for use.
const idInfo = "caddy-stepup key id v1"

// An ID names a key: the first IDSize bytes of SHA-256 over a key derived from it with
// HKDF. It is stable (the same key always has the same ID, on every instance), and
// it reveals nothing about the key, so it may be logged, stored and sent.
type ID [IDSize]byte

// String is the ID in base64url without padding (11 characters), as logs and token
// headers show it.
func (id ID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// IDOf returns the ID of a key.
func IDOf(key []byte) ID {
	// hkdf.Key fails only for a length beyond 255 hash outputs.
	d, _ := hkdf.Key(sha256.New, key, nil, idInfo, sha256.Size)
	sum := sha256.Sum256(d)
	var id ID
	copy(id[:], sum[:IDSize])
	return id
}

// A Key is one key of a ring: its ID and the HMAC-SHA256 it keys.
type Key struct {
	id   ID
	key  []byte
	macs sync.Pool // HMACs keyed with key, reused
}

// ID is the key's ID.
func (k *Key) ID() ID { return k.id }

// MAC returns the HMAC-SHA256 of the concatenation of parts, keyed with k. The parts
// are not framed: the caller makes their concatenation unambiguous (fixed lengths, a
// separator that cannot occur in them, or a length prefix).
func (k *Key) MAC(parts ...[]byte) []byte {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.key)
	}
	m.Reset()
	for _, p := range parts {
		m.Write(p)
	}
	out := m.Sum(nil)
	k.macs.Put(m)
	return out
}

// A Ring is the keys of one use, current first. It is immutable and safe for
// concurrent use.
type Ring struct {
	keys []*Key
}

// New returns the ring of keys, the current one first and then the previous ones,
// newest first. Every key must be at least MinSize bytes, and no key may appear twice
// (a previous key equal to the current one is a mistake in the configuration). The
// ring keeps its own copies of the keys.
func New(keys ...[]byte) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no key")
	}
	r := &Ring{keys: make([]*Key, 0, len(keys))}
	for i, k := range keys {
		if len(k) < MinSize {
			return nil, fmt.Errorf("keyring: key %d is %d bytes, need at least %d", i+1, len(k), MinSize)
		}
		for j, prev := range keys[:i] {
			if subtle.ConstantTimeCompare(k, prev) == 1 {
				return nil, fmt.Errorf("keyring: key %d is the same as key %d", i+1, j+1)
			}
		}
		r.keys = append(r.keys, &Key{id: IDOf(k), key: append([]byte(nil), k...)})
	}
	return r, nil
}

// Derive returns the ring of keys derived from r's, one for each, with HKDF-SHA256
// and info (which names the use: "caddy-stepup csrf v1"). A derived key keeps the ID
// of the key it is derived from, so every use of one configured key names it alike.
func (r *Ring) Derive(info string) (*Ring, error) {
	out := &Ring{keys: make([]*Key, 0, len(r.keys))}
	for _, k := range r.keys {
		d, err := hkdf.Key(sha256.New, k.key, nil, info, sha256.Size)
		if err != nil {
			return nil, fmt.Errorf("keyring: deriving a key: %w", err)
		}
		out.keys = append(out.keys, &Key{id: k.id, key: d})
	}
	return out, nil
}

// Current is the key that makes every new value.
func (r *Ring) Current() *Key { return r.keys[0] }

// Keys are every key, current first, then the previous ones, newest first.
func (r *Ring) Keys() []*Key { return append([]*Key(nil), r.keys...) }

// Previous are the keys that only verify: every key but the current one.
func (r *Ring) Previous() []*Key { return append([]*Key(nil), r.keys[1:]...) }

// Find returns the key with the given ID.
func (r *Ring) Find(id ID) (*Key, bool) {
	for _, k := range r.keys {
		if k.id == id {
			return k, true
		}
	}
	return nil, false
}

// IDs are the IDs of every key, current first, as strings for a log.
func (r *Ring) IDs() []string {
	out := make([]string, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.id.String()
	}
	return out
}

// Sign returns the HMAC-SHA256 of the concatenation of parts under the current key.
func (r *Ring) Sign(parts ...[]byte) []byte { return r.Current().MAC(parts...) }

// Verify reports whether mac is the HMAC-SHA256 of the concatenation of parts under
// one of the ring's keys, and which. mac may be the MAC truncated to its first
// MinMACSize bytes or more; a caller that makes MACs of one length checks len(mac)
// first, so a value has one spelling. Every key is tried, each comparison in constant
// time, so the time taken tells nothing of which key matched.
func (r *Ring) Verify(mac []byte, parts ...[]byte) (*Key, bool) {
	if len(mac) < MinMACSize || len(mac) > sha256.Size {
		return nil, false
	}
	var found *Key
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(mac, k.MAC(parts...)[:len(mac)]) == 1 && found == nil {
			found = k
		}
	}
	return found, found != nil
}

// MACs returns the MAC of the concatenation of parts under every key, current first.
// It is for MACs used as names (a store key named by the MAC of a phone number, a tag
// in a cookie): such a name can be found only by trying the name each key gives it.
func (r *Ring) MACs(parts ...[]byte) [][]byte {
	out := make([][]byte, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.MAC(parts...)
	}
	return out
}
