package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// forms guards the gateway's own state-changing forms and API calls against
// cross-site requests.
type forms struct {
	key []byte // the HMAC key of form tokens
}

// token is the form token for a (binding, purpose) pair: an HMAC, so it needs no
// store and cannot be made without the key, and it is bound to the gateway session
// (or login nonce) the form is shown to.
func (f forms) token(binding, purpose string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(binding))
	m.Write([]byte{0})
	m.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check accepts a posted form only from this site with the right token.
func (f forms) check(r *http.Request, binding, purpose string) error {
	got := r.PostFormValue("csrf")
	if !fromThisSite(r) || got == "" || !hmac.Equal([]byte(got), []byte(f.token(binding, purpose))) {
		return errCrossSite
	}
	return nil
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
