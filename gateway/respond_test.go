package gateway

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/instances?x=1":         "/instances?x=1",
		"/":                      "/",
		"":                       "/",
		"//evil.example/":        "/",
		"/\\evil.example":        "/",
		"https://evil.example/":  "/",
		"javascript:alert(1)":    "/",
		"evil.example":           "/",
		"/ok\r\nSet-Cookie: x=1": "/",
		"/a/../b":                "/a/../b",
		"/%2f%2fevil.example":    "/%2f%2fevil.example",
		"\t//evil.example":       "/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/a", "//x", "/\\x", "http://x", "/%0d%0a", "/a?b=//c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeReturn(in)
		// Whatever comes in, what goes out stays on this site: a browser resolving it
		// against our origin lands on our host.
		base, _ := url.Parse("https://console.example/")
		u, err := base.Parse(out)
		if err != nil || u.Host != "console.example" || strings.ContainsAny(out, "\r\n\\") {
			t.Fatalf("safeReturn(%q) = %q leaves the site (%v)", in, out, u)
		}
	})
}

func TestWantsHTML(t *testing.T) {
	tests := []struct {
		headers []string
		want    bool
	}{
		{[]string{"Accept", "text/html,application/xhtml+xml"}, true},
		{[]string{"Sec-Fetch-Mode", "navigate", "Accept", "*/*"}, true},
		{[]string{"Sec-Fetch-Mode", "cors", "Accept", "text/html"}, false},
		{[]string{"Accept", "application/json"}, false},
		{[]string{"Accept", "text/html", "X-Requested-With", "XMLHttpRequest"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(tt.headers); i += 2 {
			r.Header.Set(tt.headers[i], tt.headers[i+1])
		}
		if got := wantsHTML(r); got != tt.want {
			t.Errorf("wantsHTML(%v) = %v, want %v", tt.headers, got, tt.want)
		}
	}
}

func TestFromThisSite(t *testing.T) {
	tests := []struct {
		headers []string
		want    bool
	}{
		{[]string{"Sec-Fetch-Site", "same-origin"}, true},
		{[]string{"Sec-Fetch-Site", "same-site"}, false},
		{[]string{"Sec-Fetch-Site", "cross-site", "Origin", "http://console.example"}, false},
		{[]string{"Origin", "http://console.example"}, true},
		{[]string{"Origin", "http://evil.example"}, false},
		{[]string{"Origin", "null"}, false},
		// Go's CrossOriginProtection reads Sec-Fetch-Site and Origin, not Referer:
		// browsers send Origin with every cross-origin POST.
		{[]string{"Referer", "http://console.example/x"}, true},
		{nil, true}, // not a browser: it cannot carry a victim's cookies
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "http://console.example/x", nil)
		for i := 0; i+1 < len(tt.headers); i += 2 {
			r.Header.Set(tt.headers[i], tt.headers[i+1])
		}
		if got := fromThisSite(r); got != tt.want {
			t.Errorf("fromThisSite(%v) = %v, want %v", tt.headers, got, tt.want)
		}
		// A state-changing GET (the logout link) is checked the same way.
		r.Method = "GET"
		if got := fromThisSite(r); got != tt.want {
			t.Errorf("fromThisSite(GET, %v) = %v, want %v", tt.headers, got, tt.want)
		}
	}
}
