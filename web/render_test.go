package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/brand"
	"github.com/caddy-stepup/stepup/locale"
)

// The pages show the brand: the logo with the product's name, the stylesheet after the
// built-in style, the colours, the support link in the reader's language, the policy.
func TestRenderBrand(t *testing.T) {
	b := brand.Brand{Name: "Demo Cloud Console", Logo: "/static/logo.svg", Accent: "#2457c5",
		Support: "mailto:help@example.com", Stylesheet: "https://static.example.com/brand.css"}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	rn := &Renderer{Brand: b}
	render := func(lang *locale.Lang) (string, string) {
		t.Helper()
		w := httptest.NewRecorder()
		data := map[string]any{"Title": "Check", "Message": "m", "Issuer": "caddy-stepup", "Prefix": "/.stepup"}
		if err := rn.Render(w, 200, "message.html", lang, data); err != nil {
			t.Fatal(err)
		}
		return w.Body.String(), w.Header().Get("Content-Security-Policy")
	}
	body, csp := render(locale.English)
	if csp != b.CSP() || !strings.Contains(csp, "img-src data: 'self';") || !strings.Contains(csp, "style-src 'unsafe-inline' https://static.example.com;") {
		t.Errorf("CSP header %q", csp)
	}
	for _, want := range []string{
		`<title>Check · Demo Cloud Console</title>`,
		`:root{--accent:#2457c5;--on-accent:#ffffff;--accent-edge:#2457c5;--link:#2457c5}`,
		`<img id="product-logo" src="/static/logo.svg" height="28" alt="Demo Cloud Console"><span aria-hidden="true">Demo Cloud Console</span>`,
		`<a id="support-link" href="mailto:help@example.com">Need help?</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}
	style, link := strings.Index(body, "</style>"), strings.Index(body, `<link rel="stylesheet" href="https://static.example.com/brand.css">`)
	if link < 0 || link < style || link > strings.Index(body, "</head>") {
		t.Errorf("the stylesheet is not linked after the built-in style, in the head:\n%s", body)
	}
	if strings.Contains(body, "#1f6feb") || strings.Contains(body, "#0550ae") {
		t.Error("the page still uses the gateway's own blue")
	}
	body, _ = render(locale.Chinese)
	if !strings.Contains(body, `<a id="support-link" href="mailto:help@example.com">需要帮助？</a>`) {
		t.Errorf("the Chinese page's support link:\n%s", body)
	}

	// Without a brand: the issuer, no logo, no link, the gateway's colours.
	body, csp = func() (string, string) {
		rn = &Renderer{}
		return render(locale.English)
	}()
	if csp != (&brand.Brand{}).CSP() || !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(body, "<img") || strings.Contains(body, "support-link") || strings.Contains(body, "<link") ||
		!strings.Contains(body, `id="product">caddy-stepup</span>`) || !strings.Contains(body, "--accent:#1f6feb") {
		t.Errorf("the plain page (CSP %s):\n%s", csp, body)
	}
}

func BenchmarkBrandCSP(b *testing.B) {
	br := brand.Brand{Logo: "https://cdn.example.com/x.svg", Stylesheet: "/s.css", Accent: "#2457c5"}
	if err := br.Check(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = br.CSP()
	}
}
