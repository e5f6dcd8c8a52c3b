package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMethodOverridden(t *testing.T) {
	tests := []struct {
		name, target, ctype, body string
		header                    []string
		want                      bool
	}{
		{"nothing", "/a?x=1", "", "", nil, false},
		{"header", "/a", "", "", []string{"X-HTTP-Method-Override", "DELETE"}, true},
		{"empty header", "/a", "", "", []string{"X-Method-Override", ""}, true},
		{"query", "/a?_method=DELETE", "", "", nil, true},
		{"query after a semicolon", "/a?x=1;_method=DELETE", "", "", nil, true},
		{"query encoded", "/a?%5F%6Dethod=DELETE", "", "", nil, true},
		{"query in capitals", "/a?_METHOD=DELETE", "", "", nil, true},
		{"query named otherwise", "/a?sort=method", "", "", nil, false},
		{"form", "/a", "application/x-www-form-urlencoded", "a=1&_method=PUT", nil, true},
		{"form, PHP's dot for underscore", "/a", "application/x-www-form-urlencoded", ".method=PUT", nil, true},
		{"json", "/a", "application/json", `{"a":{"_method":1},"_method":"PUT"}`, nil, true},
		{"json nested only", "/a", "application/json", `{"a":{"_method":1}}`, nil, false},
		{"json escaped", "/a", "text/plain", `{"\u005fmethod":"PUT"}`, nil, true},
		{"multipart", "/a", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--B--\r\n", nil, true},
		{"multipart without", "/a", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nPUT\r\n--B--\r\n", nil, false},
		{"binary", "/a", "application/octet-stream", "\x00\x01method", nil, false},
		{"form too large to read", "/a", "application/x-www-form-urlencoded", strings.Repeat("a", 300) + "&_method=PUT", nil, true},
		{"upload too large to read", "/a", "application/octet-stream", strings.Repeat("a", 300), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(http.MethodPost, tt.target, body)
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				r.Header.Set(tt.header[i], tt.header[i+1])
			}
			if got := methodOverridden(r, 256); got != tt.want {
				t.Fatalf("methodOverridden = %v, want %v", got, tt.want)
			}
			// The body is given back whole.
			if b, _ := io.ReadAll(r.Body); string(b) != tt.body {
				t.Fatalf("body after the check: %q", b)
			}
		})
	}
}
