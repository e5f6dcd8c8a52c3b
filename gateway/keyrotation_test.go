package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/keyring"
)

func ring(t *testing.T, keys ...[]byte) *keyring.Ring {
	t.Helper()
	r, err := keyring.New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFormTokensAcrossRotation: a form token of the previous key still submits; once
// the key is dropped it does not; a token is accepted in one spelling only.
func TestFormTokensAcrossRotation(t *testing.T) {
	oldKey, newKey := randomKey(t), randomKey(t)
	before, during, after := forms{ring(t, oldKey)}, forms{ring(t, newKey, oldKey)}, forms{ring(t, newKey)}
	post := func(token string) *http.Request {
		r := httptest.NewRequest("POST", "http://localhost/.stepup/protection", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		return r
	}
	old := before.token("session-1", "settings")
	if err := during.check(post(old), "session-1", "settings"); err != nil {
		t.Fatalf("the previous key's form: %v", err)
	}
	if err := during.check(post(old), "session-2", "settings"); err == nil {
		t.Fatal("the previous key's form for another session")
	}
	if err := after.check(post(old), "session-1", "settings"); err == nil {
		t.Fatal("a dropped key's form")
	}
	fresh := during.token("session-1", "settings")
	if fresh == old || after.check(post(fresh), "session-1", "settings") != nil {
		t.Fatal("the current key does not make the tokens")
	}
	for _, bad := range []string{"", fresh[:22], fresh + "A", fresh[:len(fresh)-1] + "B"} {
		if err := during.check(post(bad), "session-1", "settings"); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
}

// TestDeviceCookieAcrossRotation: a device cookie of the previous key still knows its
// users; rekey signs it again with the current key and re-tags the user logging in,
// keeping when they last passed a second factor, and leaves the others' tags; a
// dropped key's cookie knows nobody.
func TestDeviceCookieAcrossRotation(t *testing.T) {
	oldKey, newKey := randomKey(t), randomKey(t)
	ck := cookies{prefix: "/.stepup"}
	mk := func(keys ...[]byte) devices {
		return devices{keys: ring(t, keys...), lifetime: 24 * time.Hour, cookies: ck}
	}
	before, during, after := mk(oldKey), mk(newKey, oldKey), mk(newKey)
	now := time.Now()
	req := func(c *http.Cookie) *http.Request {
		r := httptest.NewRequest("POST", "http://localhost/login", nil)
		if c != nil {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		return r
	}
	c := before.trust(req(nil), "alice", now.Add(-time.Hour))
	c = before.trust(req(c), "bob", now.Add(-time.Hour))
	if !during.knows(req(c), "alice", now) || !during.knows(req(c), "bob", now) {
		t.Fatal("the previous key's cookie does not know its users")
	}
	if during.rekey(req(nil), "alice", now) != nil {
		t.Fatal("rekey without a cookie")
	}
	re := during.rekey(req(c), "alice", now)
	if re == nil {
		t.Fatal("the previous key's cookie was not signed again")
	}
	rec, signer := during.read(req(re), now)
	if signer != during.keys.Current() || rec.Users[during.tags("alice")[0]] != now.Add(-time.Hour).Unix() || len(rec.Users) != 2 {
		t.Fatalf("rekeyed cookie: %v", rec.Users)
	}
	if during.rekey(req(re), "alice", now) != nil {
		t.Error("a current cookie was signed again")
	}
	// Once the old key is dropped: alice (re-tagged) is known, bob (not seen since) not.
	if !after.knows(req(re), "alice", now) || after.knows(req(re), "bob", now) {
		t.Error("after the old key is dropped")
	}
	if after.knows(req(c), "alice", now) {
		t.Error("a dropped key's cookie is still read")
	}
	// Trusting bob now re-tags him too, and drops his old tag.
	re = during.trust(req(re), "bob", now)
	rec, _ = during.read(req(re), now)
	if len(rec.Users) != 2 || !after.knows(req(re), "bob", now) {
		t.Errorf("after trusting bob: %v", rec.Users)
	}
}
