package democonsole

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The logo is served to anyone, as an image that runs nothing, and the console's own
// header shows it.
func TestLogo(t *testing.T) {
	c := New()
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, LogoPath, nil))
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Equal(body, logoSVG) {
		t.Fatalf("GET %s: %d %s %q", LogoPath, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if !bytes.HasPrefix(body, []byte("<svg ")) || bytes.Contains(body, []byte("<script")) || bytes.Contains(body, []byte(" on")) {
		t.Errorf("the logo is not a plain SVG: %s", body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("the logo's CSP %q", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("the logo may be sniffed")
	}

	w = httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	if page := w.Body.String(); !strings.Contains(page, `<img src="`+LogoPath+`"`) {
		t.Errorf("the login page's header does not show the logo:\n%s", page)
	}
}
