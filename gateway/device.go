package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/policy"
)

// deviceCookie remembers, in the browser, the users who passed a second factor in it:
// a login of one of them from this browser is not from a new device. The cookie is
// signed (so it cannot be made up) and names users only by a keyed tag (so it does not
// tell who uses the browser). It holds at most maxDeviceUsers users.
//
// Across a key rotation the cookie is read with every key: its signature may be the
// previous key's, and its tags may be any key's (a cookie re-signed for one user keeps
// the others' tags as they were). A user found under a previous key has their tag
// re-made with the current key at their next login (rekey), so the browser stays
// known once the previous key is dropped.
const deviceCookie = "stepup_device"

const maxDeviceUsers = 8

// devices reads and writes device cookies.
type devices struct {
	keys     *keyring.Ring // the current key signs and tags
	lifetime time.Duration
	cookies  cookies
}

// deviceMACSize and deviceTagSize are the lengths of a device cookie's signature and
// of a user's tag in it, in bytes.
const (
	deviceMACSize = 16
	deviceTagSize = 12
)

// deviceRecord is the signed content of a device cookie: each user's tag and when the
// user last passed a second factor in this browser (Unix seconds).
type deviceRecord struct {
	Users map[string]int64 `json:"u"`
}

// knows reports whether user passed a second factor in r's browser within the
// lifetime.
func (d devices) knows(r *http.Request, user string, now time.Time) bool {
	rec, _ := d.read(r, now)
	for _, tag := range d.tags(user) {
		if _, ok := rec.Users[tag]; ok {
			return true
		}
	}
	return false
}

// trust returns the device cookie of r's browser with user added (or refreshed).
func (d devices) trust(r *http.Request, user string, now time.Time) *http.Cookie {
	rec, _ := d.read(r, now)
	tags := d.tags(user)
	for _, old := range tags[1:] {
		delete(rec.Users, old)
	}
	rec.Users[tags[0]] = now.Unix()
	return d.write(r, rec)
}

// rekey returns the device cookie of r's browser signed with the current key and with
// user's tag made with it, keeping when the user last passed a second factor, when the
// cookie is signed or tags user with a previous key; else nil. The other users' tags
// stay as they are, for their own logins to re-make.
func (d devices) rekey(r *http.Request, user string, now time.Time) *http.Cookie {
	rec, signer := d.read(r, now)
	if signer == nil {
		return nil
	}
	tags := d.tags(user)
	changed := signer != d.keys.Current()
	for _, old := range tags[1:] {
		if at, ok := rec.Users[old]; ok {
			delete(rec.Users, old)
			rec.Users[tags[0]] = max(rec.Users[tags[0]], at)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return d.write(r, rec)
}

// write returns the cookie holding rec, signed with the current key.
func (d devices) write(r *http.Request, rec deviceRecord) *http.Cookie {
	for len(rec.Users) > maxDeviceUsers { // drop the longest unseen
		oldest := ""
		for tag, at := range rec.Users {
			if oldest == "" || at < rec.Users[oldest] {
				oldest = tag
			}
		}
		delete(rec.Users, oldest)
	}
	payload, _ := json.Marshal(rec) // a map of strings to numbers always marshals
	value := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(d.mac(payload))
	return d.cookies.make(r, deviceCookie, value, d.lifetime, http.SameSiteLaxMode)
}

// read returns the users of r's valid device cookie still within the lifetime, and
// the key that signed it; none and nil when the cookie is missing, damaged or forged.
func (d devices) read(r *http.Request, now time.Time) (deviceRecord, *keyring.Key) {
	rec := deviceRecord{Users: map[string]int64{}}
	p, sig, ok := strings.Cut(cookieValue(r, deviceCookie), ".")
	if !ok {
		return rec, nil
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(mac) != deviceMACSize {
		return rec, nil
	}
	signer, ok := d.keys.Verify(mac, []byte("device\x00"), payload)
	if !ok {
		return rec, nil
	}
	var got deviceRecord
	if json.Unmarshal(payload, &got) != nil {
		return rec, nil
	}
	oldest := now.Add(-d.lifetime).Unix()
	for tag, at := range got.Users {
		if at > oldest && at <= now.Add(time.Minute).Unix() {
			rec.Users[tag] = at
		}
	}
	return rec, signer
}

// tags are user's tags under every key, the current key's first.
func (d devices) tags(user string) []string {
	macs := d.keys.MACs([]byte("user\x00" + policy.CanonicalUser(user)))
	out := make([]string, len(macs))
	for i, m := range macs {
		out[i] = base64.RawURLEncoding.EncodeToString(m[:deviceTagSize])
	}
	return out
}

func (d devices) mac(payload []byte) []byte {
	return d.keys.Sign([]byte("device\x00"), payload)[:deviceMACSize]
}
