package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// toConsole passes a request on to the console without the gateway's own cookies:
// the console, its logs and anything behind it never see a gateway session or a
// step-up token (the X-Stepup-Token header is removed on arrival).
func toConsole(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	hideGatewayCookies(r.Header)
	return next.ServeHTTP(w, r)
}

// hideGatewayCookies removes the gateway's cookies from the Cookie headers, leaving
// the console's own untouched. Requests without them cost one substring search.
func hideGatewayCookies(h http.Header) {
	lines := h["Cookie"]
	changed := false
	for i, line := range lines {
		if !strings.Contains(line, "stepup_") {
			continue
		}
		var kept []string
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part == "" || name == sessionCookie || name == tokenCookie || name == loginCookie || name == browserCookie {
				continue
			}
			kept = append(kept, part)
		}
		lines[i] = strings.Join(kept, "; ")
		changed = true
	}
	if !changed {
		return
	}
	kept := lines[:0]
	for _, line := range lines {
		if line != "" {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}
