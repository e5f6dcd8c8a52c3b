package challenge

import (
	"bytes"
	"errors"
	"testing"
)

var testKey = bytes.Repeat([]byte("k"), 32)

func TestSealRoundTrip(t *testing.T) {
	s, err := NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the secret")
	a, err := s.Seal(plain, "totp:alice")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal(plain, "totp:alice")
	if bytes.Equal(a, b) {
		t.Error("two seals of the same value are equal: nonce not random")
	}
	if a[0] != sealVersion || len(a) != 1+8+12+len(plain)+16 {
		t.Errorf("sealed layout: version %d, length %d", a[0], len(a))
	}
	if bytes.Contains(a, plain) {
		t.Error("sealed value contains the plaintext")
	}
	got, err := s.Open(a, "totp:alice")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Empty plaintext works too.
	e, _ := s.Seal(nil, "x")
	if got, err := s.Open(e, "x"); err != nil || len(got) != 0 {
		t.Errorf("empty round trip: %q, %v", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	s, _ := NewSealer(testKey)
	sealed, _ := s.Seal([]byte("the secret"), "totp:alice")

	if _, err := s.Open(sealed, "totp:bob"); !errors.Is(err, ErrUnsealable) {
		t.Errorf("other record: %v", err)
	}
	if _, err := s.Open(sealed, "totp:alice "); !errors.Is(err, ErrUnsealable) {
		t.Errorf("near record name: %v", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := s.Open(bad, "totp:alice"); !errors.Is(err, ErrUnsealable) {
			t.Errorf("byte %d altered: %v", i, err)
		}
	}
	for _, n := range []int{0, 1, 9, 12, 28, 36, len(sealed) - 1} {
		if _, err := s.Open(sealed[:n], "totp:alice"); !errors.Is(err, ErrUnsealable) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	other, _ := NewSealer(bytes.Repeat([]byte("o"), 32))
	if _, err := other.Open(sealed, "totp:alice"); !errors.Is(err, ErrUnsealable) {
		t.Errorf("other key: %v", err)
	}
}

func TestNewSealerKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("%d-byte key accepted", n)
		}
	}
	for _, n := range []int{32, 64} {
		if _, err := NewSealer(bytes.Repeat([]byte{7}, n)); err != nil {
			t.Errorf("%d-byte key refused: %v", n, err)
		}
	}
}
