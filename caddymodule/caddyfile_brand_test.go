package caddymodule

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

const brandBlock = `stepup {
	brand {
		name "Demo Cloud Console"
		logo /static/logo.svg
		accent "#2457c5"
		support mailto:help@example.com
		stylesheet https://static.example.com:8443/brand.css
	}
}`

func TestCaddyfileBrand(t *testing.T) {
	out, err := adapt(t, "Caddyfile", "http://:8080 {\n"+brandBlock+"\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Brand map[string]string `json:"brand"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	got := cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0].Brand
	want := map[string]string{"name": "Demo Cloud Console", "logo": "/static/logo.svg", "accent": "#2457c5",
		"support": "mailto:help@example.com", "stylesheet": "https://static.example.com:8443/brand.css"}
	if !maps.Equal(got, want) {
		t.Errorf("brand %v, want %v\n%s", got, want, out)
	}
}

// TestCaddyfileBrandErrors: a bad brand fails at load naming the file, the line and
// what was expected.
func TestCaddyfileBrandErrors(t *testing.T) {
	block := func(lines ...string) string {
		return "stepup {\n\tbrand {\n\t\t" + strings.Join(lines, "\n\t\t") + "\n\t}\n}"
	}
	for _, tt := range []struct {
		name, block string
		line        int
		want        string
	}{
		{"unknown", block("colour #fff"), 4, `unknown brand subdirective "colour" (expected name, logo, accent, support or stylesheet)`},
		{"argument", "stepup {\n\tbrand acme {\n\t}\n}", 3, "expected `brand {`"},
		{"twice", "stepup {\n\tbrand {\n\t}\n\tbrand {\n\t}\n}", 5, "brand is set twice"},
		{"field twice", block("name A", "name B"), 5, "brand name is set twice"},
		{"no value", block("logo"), 4, "logo needs a value"},
		{"two values", block("name Acme Console"), 4, "name takes one value"},
		{"empty", block(`name ""`), 4, "brand name is empty"},
		{"javascript logo", block("name Acme", "logo javascript:alert(1)"), 5, `brand logo: expected a path of this site such as /static/x or an https:// URL, got "javascript:alert(1)"`},
		{"http stylesheet", block("stylesheet http://cdn.example.com/x.css"), 4, "http:// is not allowed"},
		{"user info", block("logo https://u:p@cdn.example.com/x.svg"), 4, "user name or password"},
		{"semicolon", block(`stylesheet "https://cdn.example.com/x.css;script-src"`), 4, `";" is not allowed`},
		{"data logo", block("logo data:image/png;base64,AAAA"), 4, "brand logo: expected"},
		{"unquoted accent", block("accent #2457c5"), 4, `accent needs a colour in quotes, e.g. accent "#2457c5"`},
		{"bad accent", block("accent blue"), 4, `brand accent: expected a colour such as #2457c5 or #25c, got "blue"`},
		{"unreadable accent", block("logo /l.svg", `accent "#808080"`), 5, "button text needs 4.5:1"},
		{"support", block("support ftp://help.example.com"), 4, "brand support: expected a path of this site such as /help, an https:// URL or a mailto: address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "http://:8080 {\n" + tt.block + "\n}\n"
			_, err := adapt(t, "Caddyfile", src)
			if err == nil {
				t.Fatalf("adapt accepted:\n%s", src)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if loc := "Caddyfile:" + itoa(tt.line); !strings.Contains(msg, loc) {
				t.Errorf("error %q does not name %s", msg, loc)
			}
		})
	}
}

// TestBrandJSONErrors: a JSON config skips the Caddyfile's checks; it fails at
// Provision or Validate all the same.
func TestBrandJSONErrors(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"brand":{"logo":"javascript:alert(1)"}}`, "stepup: brand: logo: expected"},
		{`{"brand":{"stylesheet":"https://*.example.com/x.css"}}`, "cannot be named in a Content-Security-Policy"},
		{`{"brand":{"accent":"#808080"}}`, "stepup: brand: accent"},
		{`{"brand":{"support":"javascript:alert(1)"}}`, "stepup: brand: support"},
	} {
		var h Handler
		if err := json.Unmarshal([]byte(tt.json), &h); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := h.Provision(ctx)
		if err == nil {
			err = h.Validate()
		}
		_ = h.Cleanup()
		cancel()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error saying %q", tt.json, err, tt.want)
		}
		// Validate alone says it too: a config whose Provision was skipped.
		h = Handler{}
		_ = json.Unmarshal([]byte(tt.json), &h)
		h.setDefaults()
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want %q", tt.json, err, tt.want)
		}
	}
}

// The gateway's pages carry the configured brand, and a policy that admits its
// origins.
func TestBrandOnPages(t *testing.T) {
	g := newGateway(t, strings.Replace(demoBlock, "stepup {", brandBlock[:len(brandBlock)-1], 1))
	c := g.client()
	c.login("carol")
	resp := c.page(http.MethodGet, "/.stepup/", nil)
	body := resp.Body
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /.stepup/: %d %s\n%s", resp.StatusCode, ct, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"img-src data: 'self';", "style-src 'unsafe-inline' https://static.example.com:8443;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, want := range []string{`alt="Demo Cloud Console"`, `src="/static/logo.svg"`, "--accent:#2457c5", `href="mailto:help@example.com"`,
		`<link rel="stylesheet" href="https://static.example.com:8443/brand.css">`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}
}
