package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// sameSite says whether a request came from this site, with Go's
// http.CrossOriginProtection: Sec-Fetch-Site "same-origin" or "none", or else an
// Origin naming this host; a request with neither comes from a non-browser client,
// which cannot ride on a victim's cookies.
var sameSite = http.NewCrossOriginProtection()

// fromThisSite reports whether a state-changing request came from this site.
// CrossOriginProtection lets safe methods through without looking; a GET that
// changes state (the console's logout link) is checked as the POST it is in effect.
func fromThisSite(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		post := *r
		post.Method = http.MethodPost
		return sameSite.Check(&post) == nil
	}
	return sameSite.Check(r) == nil
}

// wantsHTML tells a browser navigation (which gets pages and redirects) from an API
// or XHR call (which gets JSON and status codes).
func wantsHTML(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// safeReturn keeps a return path on this site: a path, never a scheme, a host or a
// protocol-relative "//host" (no open redirect).
func safeReturn(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n\t\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// refererPath is where to send the user back to after a held form post: the page the
// form was on, when it is on this site.
func refererPath(r *http.Request) string {
	ref := r.Header.Get("Referer")
	u, err := url.Parse(ref)
	if ref == "" || err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return "/"
	}
	return safeReturn(u.RequestURI())
}
