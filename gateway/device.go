package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/policy"
)

// deviceCookie remembers, in the browser, the users who passed a second factor in it:
// a login of one of them from this browser is not from a new device. The cookie is
// signed (so it cannot be made up) and names users only by a keyed tag (so it does not
// tell who uses the browser). It holds at most maxDeviceUsers users.
const deviceCookie = "stepup_device"

const maxDeviceUsers = 8

// devices reads and writes device cookies.
type devices struct {
	key      []byte
	lifetime time.Duration
	cookies  cookies
}

// deviceRecord is the signed content of a device cookie: each user's tag and when the
// user last passed a second factor in this browser (Unix seconds).
type deviceRecord struct {
	Users map[string]int64 `json:"u"`
}

// knows reports whether user passed a second factor in r's browser within the
// lifetime.
func (d devices) knows(r *http.Request, user string, now time.Time) bool {
	rec := d.read(r, now)
	_, ok := rec.Users[d.tag(user)]
	return ok
}

// trust returns the device cookie of r's browser with user added (or refreshed).
func (d devices) trust(r *http.Request, user string, now time.Time) *http.Cookie {
	rec := d.read(r, now)
	rec.Users[d.tag(user)] = now.Unix()
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

// read returns the users of r's valid device cookie still within the lifetime; none
// when the cookie is missing, damaged or forged.
func (d devices) read(r *http.Request, now time.Time) deviceRecord {
	rec := deviceRecord{Users: map[string]int64{}}
	p, sig, ok := strings.Cut(cookieValue(r, deviceCookie), ".")
	if !ok {
		return rec
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, d.mac(payload)) {
		return rec
	}
	var got deviceRecord
	if json.Unmarshal(payload, &got) != nil {
		return rec
	}
	oldest := now.Add(-d.lifetime).Unix()
	for tag, at := range got.Users {
		if at > oldest && at <= now.Add(time.Minute).Unix() {
			rec.Users[tag] = at
		}
	}
	return rec
}

func (d devices) tag(user string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("user\x00" + policy.CanonicalUser(user)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

func (d devices) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("device\x00"))
	m.Write(payload)
	return m.Sum(nil)[:16]
}
