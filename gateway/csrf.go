package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/caddy-stepup/stepup/keyring"
)

// forms guards the gateway's own state-changing forms and API calls against
// cross-site requests.
type forms struct {
	keys *keyring.Ring // the HMAC keys of form tokens: the current one makes them
}

// token is the form token for a (binding, purpose) pair: an HMAC, so it needs no
// store and cannot be made without the key, and it is bound to the gateway session
// (or login nonce) the form is shown to.
func (f forms) token(binding, purpose string) string {
	return base64.RawURLEncoding.EncodeToString(f.keys.Sign(formMessage(binding, purpose)))
}

// check accepts a posted form only from this site with the right token, made by the
// current key or a previous one (a form shown before a key rotation still submits).
func (f forms) check(r *http.Request, binding, purpose string) error {
	got, err := base64.RawURLEncoding.Strict().DecodeString(r.PostFormValue("csrf"))
	if !fromThisSite(r) || err != nil || len(got) != sha256.Size {
		return errCrossSite
	}
	if _, ok := f.keys.Verify(got, formMessage(binding, purpose)); !ok {
		return errCrossSite
	}
	return nil
}

// formMessage is what a form token's HMAC covers. Bindings hold no NUL.
func formMessage(binding, purpose string) []byte {
	return []byte(binding + "\x00" + purpose)
}

// checkAPI accepts a state-changing API call only as JSON (which a cross-site form
// cannot send without a CORS preflight) and only from this site.
func checkAPI(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") || !fromThisSite(r) {
		return &Error{Status: http.StatusForbidden, Code: CodeCrossSite, Title: say("error.refused.title"), Text: say("error.sendJSON")}
	}
	return nil
}
