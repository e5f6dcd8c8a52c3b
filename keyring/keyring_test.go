package keyring

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
)

var (
	oldKey = bytes.Repeat([]byte("o"), 32)
	newKey = bytes.Repeat([]byte("n"), 32)
)

func TestIDs(t *testing.T) {
	a, b := IDOf(oldKey), IDOf(newKey)
	if a == b {
		t.Fatal("two keys have one ID")
	}
	if a != IDOf(bytes.Clone(oldKey)) {
		t.Fatal("the ID of a key is not stable")
	}
	if s := a.String(); len(s) != 11 || strings.ContainsAny(s, "+/=") {
		t.Errorf("ID %q is not 11 characters of base64url", s)
	}
	// Not the key, nor a plain hash of it.
	sum := sha256.Sum256(oldKey)
	if bytes.Contains(oldKey, a[:]) || bytes.Equal(sum[:IDSize], a[:]) {
		t.Error("the ID is a prefix of the key or of its hash")
	}
}

func TestNewRefuses(t *testing.T) {
	for name, keys := range map[string][][]byte{
		"none":          nil,
		"short":         {oldKey[:31]},
		"short later":   {newKey, oldKey[:31]},
		"same twice":    {newKey, bytes.Clone(newKey)},
		"repeated last": {newKey, oldKey, bytes.Clone(oldKey)},
	} {
		if _, err := New(keys...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRotation(t *testing.T) {
	before, err := New(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	during, _ := New(newKey, oldKey)
	after, _ := New(newKey)

	madeBefore := before.Sign([]byte("csrf"), []byte{0}, []byte("form"))
	if want := hmacOf(oldKey, "csrf\x00form"); !bytes.Equal(madeBefore, want) {
		t.Fatal("Sign is not plain HMAC-SHA256 of the parts")
	}
	k, ok := during.Verify(madeBefore, []byte("csrf\x00form"))
	if !ok || k.ID() != IDOf(oldKey) {
		t.Fatalf("a MAC of the previous key: %v %v", ok, k)
	}
	madeDuring := during.Sign([]byte("csrf\x00form"))
	if k, ok := during.Verify(madeDuring, []byte("csrf\x00form")); !ok || k != during.Current() {
		t.Fatal("a MAC of the current key")
	}
	if _, ok := after.Verify(madeBefore, []byte("csrf\x00form")); ok {
		t.Fatal("a MAC of a dropped key still verifies")
	}
	if _, ok := after.Verify(madeDuring, []byte("csrf\x00form")); !ok {
		t.Fatal("the current key's MAC after the old key is dropped")
	}
	if _, ok := during.Verify(madeDuring, []byte("csrf\x00forn")); ok {
		t.Fatal("another message verifies")
	}

	// Truncated MACs: down to MinMACSize.
	if _, ok := during.Verify(madeBefore[:16], []byte("csrf\x00form")); !ok {
		t.Error("a 16-byte MAC")
	}
	for _, n := range []int{0, 1, 15} {
		if _, ok := during.Verify(madeBefore[:n], []byte("csrf\x00form")); ok {
			t.Errorf("a %d-byte MAC verifies", n)
		}
	}
	if _, ok := during.Verify(append(bytes.Clone(madeBefore), 0), []byte("csrf\x00form")); ok {
		t.Error("a MAC with a byte added verifies")
	}

	// MACs used as names: one per key, current first.
	names := during.MACs([]byte("+447700900123"))
	if len(names) != 2 || !bytes.Equal(names[0], hmacOf(newKey, "+447700900123")) || !bytes.Equal(names[1], hmacOf(oldKey, "+447700900123")) {
		t.Error("MACs")
	}
	if ids := during.IDs(); len(ids) != 2 || ids[0] != IDOf(newKey).String() || ids[1] != IDOf(oldKey).String() {
		t.Errorf("IDs %v", ids)
	}
	if p := during.Previous(); len(p) != 1 || p[0].ID() != IDOf(oldKey) {
		t.Error("Previous")
	}
	if k, ok := during.Find(IDOf(oldKey)); !ok || k.ID() != IDOf(oldKey) {
		t.Error("Find")
	}
	if _, ok := after.Find(IDOf(oldKey)); ok {
		t.Error("Find of a dropped key")
	}
}

func TestDerive(t *testing.T) {
	r, _ := New(newKey, oldKey)
	csrf, err := r.Derive("csrf v1")
	if err != nil {
		t.Fatal(err)
	}
	device, _ := r.Derive("device v1")
	if csrf.Current().ID() != r.Current().ID() || csrf.Keys()[1].ID() != IDOf(oldKey) {
		t.Error("derived keys do not keep their IDs")
	}
	if bytes.Equal(csrf.Sign([]byte("x")), device.Sign([]byte("x"))) || bytes.Equal(csrf.Sign([]byte("x")), r.Sign([]byte("x"))) {
		t.Error("derived keys for two uses, or a derived key and its source, make one MAC")
	}
	again, _ := r.Derive("csrf v1")
	if !bytes.Equal(again.Sign([]byte("x")), csrf.Sign([]byte("x"))) {
		t.Error("derivation is not stable")
	}
}

// The pooled HMACs are safe for concurrent use.
func TestConcurrentMACs(t *testing.T) {
	r, _ := New(newKey)
	want := hmacOf(newKey, "value")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if !bytes.Equal(r.Sign([]byte("val"), []byte("ue")), want) {
					t.Error("concurrent MAC differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

// The caller's slice is copied: changing it later changes no key.
func TestNewCopies(t *testing.T) {
	k := bytes.Clone(newKey)
	r, _ := New(k)
	k[0] ^= 1
	if !bytes.Equal(r.Sign([]byte("x")), hmacOf(newKey, "x")) {
		t.Error("the ring shares the caller's slice")
	}
}

func hmacOf(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
