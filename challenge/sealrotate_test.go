package challenge

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/caddy-stepup/stepup/keyring"
)

var nextKey = bytes.Repeat([]byte("n"), 32)

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// sealV1Value seals plaintext in the first format (no key ID), as gateways before key
// rotation did.
func sealV1Value(t *testing.T, key, plaintext []byte, boundTo string) []byte {
	t.Helper()
	aead, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal([]byte{sealV1}, nil, plaintext, append([]byte{sealV1}, boundTo...))
}

// TestSealRotation: the current key seals and names itself; a previous key opens what
// it sealed; a value is resealed with the current key; a dropped key's values fail
// with its ID.
func TestSealRotation(t *testing.T) {
	before, _ := NewSealer(testKey)
	during, err := NewSealer(nextKey, testKey)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := NewSealer(nextKey)
	if got := during.KeyIDs(); len(got) != 2 || got[0] != keyring.IDOf(nextKey).String() || got[1] != keyring.IDOf(testKey).String() {
		t.Fatalf("KeyIDs %v", got)
	}

	old, _ := before.Seal([]byte("JBSWY3DPEHPK3PXP"), "totp:alice")
	oldID := keyring.IDOf(testKey)
	if SealedWith(old) != oldID.String() || !bytes.Equal(old[1:9], oldID[:]) {
		t.Fatalf("the sealed value names key %s", SealedWith(old))
	}
	if got, err := during.Open(old, "totp:alice"); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("a previous key's value during the rotation: %q %v", got, err)
	}
	if during.Current(old) || !before.Current(old) {
		t.Error("Current of the old key's value")
	}
	fresh, _ := during.Seal([]byte("x"), "totp:bob")
	if SealedWith(fresh) != keyring.IDOf(nextKey).String() || !during.Current(fresh) {
		t.Error("during the rotation, the new key does not seal")
	}

	resealed, changed, err := during.Reseal(old, "totp:alice")
	if err != nil || !changed || !during.Current(resealed) {
		t.Fatalf("Reseal: %v %v", changed, err)
	}
	if got, err := after.Open(resealed, "totp:alice"); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("a resealed value once the old key is dropped: %q %v", got, err)
	}
	if again, changed, err := during.Reseal(resealed, "totp:alice"); err != nil || changed || !bytes.Equal(again, resealed) {
		t.Error("resealing a current value changed it")
	}
	if _, _, err := during.Reseal(old, "totp:bob"); !errors.Is(err, ErrUnsealable) {
		t.Errorf("Reseal for another record: %v", err)
	}

	// The old key dropped: its values name it.
	_, err = after.Open(old, "totp:alice")
	var unknown *UnknownKeyError
	if !errors.As(err, &unknown) || !errors.Is(err, ErrUnsealable) || unknown.KeyID != keyring.IDOf(testKey).String() {
		t.Fatalf("a dropped key's value: %v", err)
	}

	// The key ID is authenticated: naming another configured key fails.
	swapped := bytes.Clone(resealed)
	copy(swapped[1:9], oldID[:])
	if _, err := during.Open(swapped, "totp:alice"); !errors.Is(err, ErrUnsealable) {
		t.Errorf("a value relabelled with another key: %v", err)
	}
}

// TestSealV1Opens: values sealed before key IDs (format 1) open with whichever
// configured key sealed them, and are due for resealing.
func TestSealV1Opens(t *testing.T) {
	v1 := sealV1Value(t, testKey, []byte("secret"), "phone:alice")
	if SealedWith(v1) != "v1" {
		t.Fatalf("SealedWith %q", SealedWith(v1))
	}
	for name, keys := range map[string][][]byte{"the only key": {testKey}, "a previous key": {nextKey, testKey}} {
		sealer, _ := NewSealer(keys[0], keys[1:]...)
		if got, err := sealer.Open(v1, "phone:alice"); err != nil || string(got) != "secret" {
			t.Errorf("v1 with %s: %q %v", name, got, err)
		}
		if sealer.Current(v1) {
			t.Errorf("v1 with %s counts as current", name)
		}
		out, changed, err := sealer.Reseal(v1, "phone:alice")
		if err != nil || !changed || out[0] != sealV2 || SealedWith(out) != keyring.IDOf(keys[0]).String() {
			t.Errorf("resealing v1 with %s: %v %v", name, changed, err)
		}
	}
	other, _ := NewSealer(nextKey)
	if _, err := other.Open(v1, "phone:alice"); !errors.Is(err, ErrUnsealable) {
		t.Errorf("v1 without its key: %v", err)
	}
	sealer, _ := NewSealer(testKey)
	if _, err := sealer.Open(v1, "phone:bob"); !errors.Is(err, ErrUnsealable) {
		t.Errorf("v1 for another record: %v", err)
	}
}

// TestMACRotation: MACs keep the format they had before rotation, the current key
// makes them, every key verifies them, and MACs names one per key.
func TestMACRotation(t *testing.T) {
	before, _ := NewSealer(testKey)
	during, _ := NewSealer(nextKey, testKey)
	after, _ := NewSealer(nextKey)

	// HMAC-SHA256 keyed by HKDF(key, "caddy-stepup mac v1"), over the length-prefixed
	// purpose and the data: the MACs stored before rotation still match.
	k, _ := hkdf.Key(sha256.New, testKey, nil, macInfo, 32)
	if want := hmacSHA256(k, append([]byte{8}, "sms-codedata"...)); !bytes.Equal(before.MAC([]byte("data"), "sms-code"), want) {
		t.Fatal("the MAC format changed")
	}
	old := before.MAC([]byte("data"), "sms-code")
	if !during.VerifyMAC(old, []byte("data"), "sms-code") || after.VerifyMAC(old, []byte("data"), "sms-code") {
		t.Error("VerifyMAC of the old key's MAC")
	}
	if !during.VerifyMAC(during.MAC([]byte("data"), "sms-code"), []byte("data"), "sms-code") {
		t.Error("VerifyMAC of the current key's MAC")
	}
	for name, mac := range map[string][]byte{"other purpose": during.MAC([]byte("data"), "sms-number"), "truncated": old[:16], "empty": nil} {
		if during.VerifyMAC(mac, []byte("data"), "sms-code") {
			t.Errorf("VerifyMAC accepts %s", name)
		}
	}
	names := during.MACs([]byte("+442079460123"), "sms-number")
	if len(names) != 2 || !bytes.Equal(names[0], after.MAC([]byte("+442079460123"), "sms-number")) ||
		!bytes.Equal(names[1], before.MAC([]byte("+442079460123"), "sms-number")) {
		t.Error("MACs")
	}
}

func TestNewSealerRefusesRepeatedKeys(t *testing.T) {
	if _, err := NewSealer(testKey, bytes.Clone(testKey)); err == nil {
		t.Error("a previous key equal to the current one")
	}
	if _, err := NewSealer(nextKey, testKey[:16]); err == nil {
		t.Error("a short previous key")
	}
}
