package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// csrfToken is the form token for a (binding, purpose) pair: an HMAC, so it needs no
// store and cannot be made without the key, and it is bound to the gateway session
// (or login nonce) the form is shown to.
func (h *Handler) csrfToken(binding, purpose string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(binding))
	m.Write([]byte{0})
	m.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF accepts a state-changing form only from this site with the right token.
func (h *Handler) checkCSRF(r *http.Request, binding, purpose string) bool {
	if !sameOrigin(r) {
		return false
	}
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(h.csrfToken(binding, purpose)))
}

// checkAPIOrigin accepts a state-changing API call only as JSON (which a cross-site
// form cannot send without a CORS preflight) and, when the browser names an origin,
// only from this site.
func checkAPIOrigin(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		return false
	}
	return sameOrigin(r)
}

// refused answers a form that failed the CSRF check.
func (h *Handler) refused(w http.ResponseWriter) error {
	return h.message(w, http.StatusForbidden, "Request refused", "This form has expired or did not come from this site. Go back and try again.", "", "")
}
