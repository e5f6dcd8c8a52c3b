package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/keyring"
)

// The gateway's own forms answer with a redirect (post/redirect/get), so Back and
// Reload never send a form again. What the next page must say (a wrong code, a code
// sent) travels in a flash: a short-lived cookie sent only to the gateway's pages,
// signed so no link or other site can make a page say something, and read once.
const flashCookie = "stepup_flash"

// flashLife is how long a flash waits for its page.
const flashLife = time.Minute

// flash is what a page says after the form that led to it.
type flash struct {
	// For is the page it is for ("challenge:<id>", "settings", "admin:<user>"); any
	// other page ignores it.
	For    string `json:"for"`
	Error  string `json:"error,omitempty"`
	Notice string `json:"notice,omitempty"`
	// Field is the id of the field the error is about, for aria-describedby.
	Field string `json:"field,omitempty"`
	// Number is the phone number the user typed, to show again after an error.
	Number string `json:"number,omitempty"`
}

// flashes sets and reads flashes.
type flashes struct {
	keys    *keyring.Ring // the form keys: the current one signs
	cookies cookies
}

// flashMACSize is the length of a flash's MAC, in bytes.
const flashMACSize = 16

func (f flashes) mac(payload string) string {
	return base64.RawURLEncoding.EncodeToString(f.keys.Sign([]byte("flash\x00" + payload))[:flashMACSize])
}

// valid reports whether sig is payload's MAC under any of the form keys.
func (f flashes) valid(payload, sig string) bool {
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(mac) != flashMACSize {
		return false
	}
	_, ok := f.keys.Verify(mac, []byte("flash\x00"+payload))
	return ok
}

// set makes fl the flash of the next page, and redirects there.
func (f flashes) redirect(w http.ResponseWriter, r *http.Request, to string, fl flash) {
	if len(fl.Number) > 40 {
		fl.Number = fl.Number[:40]
	}
	b, _ := json.Marshal(fl) // strings always marshal
	payload := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, f.cookies.pagesOnly(r, flashCookie, payload+"."+f.mac(payload), flashLife))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// take returns the flash for page, and clears it; the zero flash when there is none.
func (f flashes) take(w http.ResponseWriter, r *http.Request, page string) flash {
	v := cookieValue(r, flashCookie)
	if v == "" {
		return flash{}
	}
	http.SetCookie(w, f.cookies.pagesOnly(r, flashCookie, "", -1))
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || !f.valid(payload, sig) {
		return flash{}
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var fl flash
	if err != nil || json.Unmarshal(b, &fl) != nil || fl.For != page {
		return flash{}
	}
	return fl
}
