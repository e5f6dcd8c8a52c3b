package brand

import (
	"regexp"
	"strings"
	"testing"
)

func TestBrandCSP(t *testing.T) {
	const (
		img   = "default-src 'none'; img-src data:%s; style-src 'unsafe-inline'%s; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
		plain = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	)
	csp := func(imgSrc, styleSrc string) string {
		r := strings.Replace(img, "%s", imgSrc, 1)
		return strings.Replace(r, "%s", styleSrc, 1)
	}
	for _, tc := range []struct {
		name  string
		brand Brand
		want  string
	}{
		{"zero", Brand{}, plain},
		{"name, accent and support only", Brand{Name: "Acme", Accent: "#2457c5", Support: "https://help.example.com/x"}, plain},
		{"mailto support", Brand{Support: "mailto:help@example.com"}, plain},
		{"logo on this site", Brand{Logo: "/static/logo.svg"}, csp(" 'self'", "")},
		{"logo on a CDN", Brand{Logo: "https://cdn.example.com/x.svg"}, csp(" https://cdn.example.com", "")},
		{"logo's host lower-cased", Brand{Logo: "https://CDN.Example.com/x.svg"}, csp(" https://cdn.example.com", "")},
		{"logo with a port", Brand{Logo: "https://cdn.example.com:8443/x.svg"}, csp(" https://cdn.example.com:8443", "")},
		{"the default port is the origin's", Brand{Logo: "https://cdn.example.com:443/x.svg"}, csp(" https://cdn.example.com", "")},
		{"stylesheet on this site", Brand{Stylesheet: "/brand.css"}, csp("", " 'self'")},
		{"stylesheet elsewhere", Brand{Stylesheet: "https://static.example.com/a/b.css?v=2"}, csp("", " https://static.example.com")},
		{"both", Brand{Name: "Acme", Logo: "https://img.example.com/l.png", Stylesheet: "https://127.0.0.1:9443/s.css"},
			csp(" https://img.example.com", " https://127.0.0.1:9443")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.brand
			if got := b.CSP(); got != tc.want {
				t.Errorf("unchecked CSP:\n got %s\nwant %s", got, tc.want)
			}
			if err := b.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if b.look == nil {
				t.Fatal("Check worked out nothing")
			}
			if got := b.CSP(); got != tc.want {
				t.Errorf("CSP:\n got %s\nwant %s", got, tc.want)
			}
			// Nothing wider than what was configured: no wildcard, no bare scheme.
			if strings.Contains(b.CSP(), "*") || regexp.MustCompile(`https?:(\s|;|$)`).MatchString(b.CSP()) {
				t.Errorf("CSP admits more than the configured origins: %s", b.CSP())
			}
		})
	}
}

func TestBrandRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		brand Brand
		want  string
	}{
		{"javascript logo", Brand{Logo: "javascript:alert(1)"}, "logo: expected"},
		{"data logo", Brand{Logo: "data:image/svg+xml,<svg/>"}, "logo:"},
		{"data logo, no markup", Brand{Logo: "data:image/png;base64,AAAA"}, "logo:"},
		{"http logo", Brand{Logo: "http://cdn.example.com/x.svg"}, "http:// is not allowed"},
		{"HTTP logo", Brand{Logo: "HTTP://cdn.example.com/x.svg"}, "http:// is not allowed"},
		{"scheme-relative logo", Brand{Logo: "//cdn.example.com/x.svg"}, "without a scheme"},
		{"relative logo", Brand{Logo: "logo.svg"}, "a path starts with /"},
		{"user info", Brand{Logo: "https://user:pw@cdn.example.com/x.svg"}, "user name or password"},
		{"user only", Brand{Stylesheet: "https://user@cdn.example.com/x.css"}, "user name or password"},
		{"space", Brand{Logo: "https://cdn.example.com/x.svg 'unsafe-inline'"}, `" " is not allowed`},
		{"semicolon", Brand{Stylesheet: "https://a.example.com/;script-src"}, `";" is not allowed`},
		{"comma", Brand{Stylesheet: "https://a.example.com/x.css,https://b.example.com"}, `"," is not allowed`},
		{"quote", Brand{Logo: `/x.svg"onerror="alert(1)`}, `"\"" is not allowed`},
		{"single quote", Brand{Stylesheet: "/x.css'"}, `"'" is not allowed`},
		{"newline", Brand{Stylesheet: "/x.css\nscript-src *"}, "is not allowed"},
		{"wildcard host", Brand{Logo: "https://*.example.com/x.svg"}, "cannot be named"},
		{"IPv6 host", Brand{Logo: "https://[::1]/x.svg"}, "cannot be named"},
		{"no host", Brand{Logo: "https:///x.svg"}, "no host"},
		{"opaque https", Brand{Logo: "https:cdn.example.com"}, "no host"},
		{"bad port", Brand{Logo: "https://cdn.example.com:99999/x.svg"}, "bad port"},
		{"non-ASCII host", Brand{Logo: "https://exämple.com/x.svg"}, "is not allowed"},
		{"mailto logo", Brand{Logo: "mailto:a@example.com"}, "cannot be loaded"},
		{"mailto stylesheet", Brand{Stylesheet: "mailto:a@example.com"}, "cannot be loaded"},
		{"mailto without address", Brand{Support: "mailto:help"}, "mailto:name@example.com"},
		{"javascript support", Brand{Support: "javascript:alert(1)"}, "support: expected"},
		{"http support", Brand{Support: "http://help.example.com"}, "http:// is not allowed"},
		{"ftp stylesheet", Brand{Stylesheet: "ftp://example.com/x.css"}, "scheme ftp: is not allowed"},
		{"accent name", Brand{Accent: "blue"}, "accent: expected a colour such as #2457c5"},
		{"accent rgb()", Brand{Accent: "rgb(0,0,255)"}, "accent: expected"},
		{"accent with CSS", Brand{Accent: "#fff;}body{display:none"}, "accent: expected"},
		{"accent of four digits", Brand{Accent: "#abcd"}, "accent: expected"},
		{"accent nothing reads on", Brand{Accent: "#808080"}, "button text needs 4.5:1"},
		{"name with a newline", Brand{Name: "Acme\nConsole"}, "no control characters"},
		{"name of spaces", Brand{Name: "  "}, "name: expected"},
		{"long name", Brand{Name: strings.Repeat("x", 81)}, "at most 80 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.brand
			err := b.Check()
			if err == nil {
				t.Fatalf("accepted %+v (CSP %s)", tc.brand, b.CSP())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if b.look != nil {
				t.Error("a failed Check kept a look")
			}
			// Unchecked, the bad field adds nothing to the policy.
			if got := b.CSP(); got != basePolicy {
				t.Errorf("CSP of a bad brand: %s", got)
			}
		})
	}
}

func TestBrandColours(t *testing.T) {
	vars := func(t *testing.T, accent string) map[string]string {
		t.Helper()
		b := Brand{Accent: accent}
		if err := b.Check(); err != nil {
			t.Fatalf("accent %s: %v", accent, err)
		}
		m := map[string]string{}
		s := strings.TrimSuffix(strings.TrimPrefix(string(b.Vars()), ":root{"), "}")
		for _, kv := range strings.Split(s, ";") {
			k, v, _ := strings.Cut(kv, ":")
			m[k] = v
		}
		return m
	}
	readable := func(t *testing.T, fg string, min float64, bgs ...string) {
		t.Helper()
		for _, bg := range bgs {
			if c := contrast(mustHex(fg), mustHex(bg)); c < min {
				t.Errorf("%s on %s: %.2f:1, want %.1f:1", fg, bg, c, min)
			}
		}
	}

	// The plain look keeps the gateway's colours.
	if got, want := string((&Brand{}).Vars()), ":root{--accent:#1f6feb;--on-accent:#ffffff;--accent-edge:#1f6feb;--link:#0550ae}"; got != want {
		t.Errorf("plain vars %s, want %s", got, want)
	}

	// The demo console's blue: white text, and it is the link colour itself.
	v := vars(t, "#2457C5")
	if v["--accent"] != "#2457c5" || v["--on-accent"] != "#ffffff" || v["--link"] != "#2457c5" || v["--accent-edge"] != "#2457c5" {
		t.Errorf("#2457c5: %v", v)
	}
	// Short form.
	if v := vars(t, "#25c"); v["--accent"] != "#2255cc" {
		t.Errorf("#25c: %v", v)
	}

	for _, accent := range []string{"#2457c5", "#ffd400", "#00b3a4", "#ff6a00", "#e6f0ff", "#000", "#fff", "#1f6feb", "#d93025", "#5b4bd5"} {
		t.Run(accent, func(t *testing.T) {
			v := vars(t, accent)
			readable(t, v["--on-accent"], minText, v["--accent"])
			readable(t, v["--link"], minText, linkSurfaces...)
			readable(t, v["--accent-edge"], minEdge, white)
			if v["--on-accent"] != white && v["--on-accent"] != darkText {
				t.Errorf("text on the accent is %s", v["--on-accent"])
			}
		})
	}
	// A light accent: dark text on it, a darker shade for links and the buttons' edge,
	// with the accent's hue (its channels in the same proportions).
	v = vars(t, "#ffd400")
	if v["--on-accent"] != darkText || v["--link"] == "#ffd400" || v["--accent-edge"] != v["--link"] {
		t.Errorf("#ffd400: %v", v)
	}
	if l, _ := parseHex(v["--link"]); l.b != 0 || l.r <= l.g {
		t.Errorf("#ffd400's link shade %s is not a darker yellow", v["--link"])
	}
}
