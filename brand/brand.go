// Package brand is the look of the console the gateway stands in front of: its name,
// logo, accent colour, support link and stylesheet, checked once at load, with the
// colours the pages use and the Content-Security-Policy that admits exactly its
// origins. The pages (package web) wear it; the configuration (caddymodule) reads it.
package brand

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Brand is the look of the console the gateway stands in front of, so its pages read
// as the console's own. Every field is optional; the zero Brand is the gateway's own
// plain look. Full template overrides are not offered: the pages' data stays private
// and their forms keep their CSRF fields.
//
// A URL below is either a path of the gateway's own site, such as /static/logo.svg
// (the console's file, served through the gateway), or an https:// URL. The pages'
// Content-Security-Policy admits exactly the origins configured here, nothing wider.
type Brand struct {
	// Name is the console's product name, shown in every page's header (beside the
	// logo, which takes it as its alternative text) and in the browser tab. Default:
	// the issuer.
	Name string `json:"name,omitempty"`

	// Logo is the URL of the product's logo, shown 28 pixels high at the left of every
	// page's header: a path of this site, such as /static/logo.svg, or an https:// URL
	// (its origin is added to the pages' img-src).
	Logo string `json:"logo,omitempty"`

	// Accent is the console's accent colour, #rgb or #rrggbb: the background of the
	// pages' main buttons, and the colour of links and focus outlines. The text on the
	// buttons is white, or dark (#1d2733) when white would not have a contrast of 4.5:1
	// on the accent; an accent on which neither has it fails at load. Links use the
	// accent when it has 4.5:1 on the pages' light backgrounds, else a darker shade of
	// it. Default: the gateway's blue, #1f6feb.
	Accent string `json:"accent,omitempty"`

	// Support is where users get help, linked as "Need help?" in every page's footer:
	// a path of this site, an https:// URL, or a mailto: address.
	Support string `json:"support,omitempty"`

	// Stylesheet is the URL of the operator's own CSS, linked after the pages'
	// built-in style so its rules win: a path of this site or an https:// URL (its
	// origin is added to the pages' style-src). Fonts and images it refers to are not
	// loaded (the pages admit data: images only), so keep it to colours, spacing and
	// the like.
	Stylesheet string `json:"stylesheet,omitempty"`

	// look is what Check worked out: the policy and the colours.
	look *look
}

// look is a Brand worked out once: the pages' Content-Security-Policy header and the
// CSS custom properties of their colours.
type look struct {
	csp  string
	vars template.CSS
}

// Colours of the built-in style: the gateway's own blue for buttons, a darker blue
// for links, dark text for buttons on a light accent, and the light backgrounds links
// stand on (the page, the body, error, success and warning boxes).
const (
	defaultAccent = "#1f6feb"
	defaultLink   = "#0550ae"
	darkText      = "#1d2733"
	white         = "#ffffff"
)

var linkSurfaces = []string{white, "#f4f6f8", "#ffebe9", "#dafbe1", "#fff8c5", "#f6f8fa"}

// minText is the contrast WCAG 1.4.3 asks of text; minEdge that 1.4.11 asks of what
// shows where a button is.
const (
	minText = 4.5
	minEdge = 3.0
)

// basePolicy is the Content-Security-Policy of the pages without a brand: nothing
// but their own inline style, inline images (the QR code), the gateway's own script,
// and forms to this site.
const basePolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// plainLook is the look of the zero Brand.
var plainLook = &look{csp: basePolicy, vars: cssVars(defaultAccent, white, defaultAccent, defaultLink)}

// Check checks the brand and works out, once, the pages' policy and colours. It
// returns an error naming the field and what was expected.
func (b *Brand) Check() error {
	l, err := b.compile()
	if err != nil {
		return err
	}
	b.look = l
	return nil
}

// CSP is the Content-Security-Policy of the pages in this look: the base policy,
// with the logo's origin in img-src and the stylesheet's in style-src ('self' for a
// path of this site).
func (b *Brand) CSP() string { return b.worked().csp }

// Vars is the CSS rule that sets the pages' colours: --accent (main buttons),
// --on-accent (their text), --accent-edge (their border, 3:1 on white) and --link
// (links and focus outlines, 4.5:1 on the pages' light backgrounds).
func (b *Brand) Vars() template.CSS { return b.worked().vars }

// worked is the look Check worked out. A Brand nobody checked (a test's, or the zero
// Brand) is worked out on each call, and a field that fails its check counts as unset.
func (b *Brand) worked() *look {
	if b.look != nil {
		return b.look
	}
	if l, err := b.compile(); err == nil {
		return l
	}
	return plainLook
}

func (b *Brand) compile() (*look, error) {
	if b.Logo == "" && b.Stylesheet == "" && b.Accent == "" && b.Name == "" && b.Support == "" {
		return plainLook, nil
	}
	var errs []error
	if err := checkName(b.Name); err != nil {
		errs = append(errs, err)
	}
	img, err := source("logo", b.Logo, false)
	if err != nil {
		errs = append(errs, err)
	}
	style, err := source("stylesheet", b.Stylesheet, false)
	if err != nil {
		errs = append(errs, err)
	}
	if _, err := source("support", b.Support, true); err != nil {
		errs = append(errs, err)
	}
	vars, err := colours(b.Accent)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	csp := basePolicy
	if img != "" {
		csp = strings.Replace(csp, "img-src data:", "img-src data: "+img, 1)
	}
	if style != "" {
		csp = strings.Replace(csp, "style-src 'unsafe-inline'", "style-src 'unsafe-inline' "+style, 1)
	}
	return &look{csp: csp, vars: vars}, nil
}

// maxName bounds the product name: it shares a header line with the language switch.
const maxName = 80

func checkName(name string) error {
	if name == "" {
		return nil
	}
	if strings.TrimSpace(name) != name || strings.TrimSpace(name) == "" {
		return fmt.Errorf("name: expected the product's name without leading or trailing spaces, got %q", name)
	}
	if n := len([]rune(name)); n > maxName {
		return fmt.Errorf("name: expected at most %d characters, got %d", maxName, n)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("name: expected no control characters, got %q", name)
		}
	}
	return nil
}

// hostname is a host a CSP source can name: DNS labels or an IPv4 address (no IPv6
// literal, no wildcard).
var hostname = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// source checks a configured URL and returns the CSP source that admits it: "" when
// unset, 'self' for a path of this site, the scheme, host and port of an https:// URL.
// mailto: addresses are allowed when mailto is true (a link, never loaded).
func source(field, raw string, mailto bool) (string, error) {
	if raw == "" {
		return "", nil
	}
	want := "a path of this site such as /static/x or an https:// URL"
	if mailto {
		want = "a path of this site such as /help, an https:// URL or a mailto: address"
	}
	bad := func(why string) error {
		return fmt.Errorf("%s: expected %s, got %q (%s)", field, want, raw, why)
	}
	// What could end a CSP source or directive, or an attribute, and what a browser
	// would read differently from Go's parser.
	if i := strings.IndexFunc(raw, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII || strings.ContainsRune(`"'`+"`"+`;,<>\^{}|`, r)
	}); i >= 0 {
		return "", bad(fmt.Sprintf("%q is not allowed in it", raw[i:i+1]))
	}
	if strings.HasPrefix(raw, "/") {
		if strings.HasPrefix(raw, "//") {
			return "", bad("a URL without a scheme; write https://")
		}
		if _, err := url.Parse(raw); err != nil {
			return "", bad("not a URL")
		}
		return "'self'", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "mailto":
		if !mailto {
			return "", bad("a mailto: address cannot be loaded")
		}
		if u.Opaque == "" || !strings.Contains(u.Opaque, "@") {
			return "", bad("expected mailto:name@example.com")
		}
		return "", nil
	case "":
		return "", bad("a relative URL; a path starts with /")
	case "http":
		return "", bad("http:// is not allowed: use https://, or a path of this site")
	default:
		return "", bad(fmt.Sprintf("the scheme %s: is not allowed", strings.ToLower(u.Scheme)))
	}
	if u.User != nil {
		return "", bad("a user name or password in a URL is not allowed")
	}
	if u.Opaque != "" || u.Host == "" {
		return "", bad("no host")
	}
	host := strings.ToLower(u.Hostname())
	if !hostname.MatchString(host) {
		return "", bad(fmt.Sprintf("the host %q cannot be named in a Content-Security-Policy", u.Hostname()))
	}
	origin := "https://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", bad("a bad port")
		}
		if n != 443 {
			origin += ":" + strconv.Itoa(n)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", bad("an empty port")
	}
	return origin, nil
}

// colours works out the pages' colours from the accent (the defaults when empty).
func colours(accent string) (template.CSS, error) {
	if accent == "" {
		return plainLook.vars, nil
	}
	c, ok := parseHex(accent)
	if !ok {
		return "", fmt.Errorf("accent: expected a colour such as #2457c5 or #25c, got %q", accent)
	}
	hex := c.String()
	w, d := contrast(c, mustHex(white)), contrast(c, mustHex(darkText))
	on := white
	switch {
	case w >= minText:
	case d >= minText:
		on = darkText
	default:
		return "", fmt.Errorf("accent: %s has a contrast of %.2f:1 with white text and %.2f:1 with dark text (%s); "+
			"button text needs 4.5:1: choose a darker or a lighter colour", hex, w, d, darkText)
	}
	link := readableLink(c)
	edge := hex
	if contrast(c, mustHex(white)) < minEdge {
		edge = link
	}
	return cssVars(hex, on, edge, link), nil
}

// readableLink is the accent, or the first darker shade of it (its channels scaled
// down in small steps, which keeps its hue), that has 4.5:1 on every light background
// of the pages.
func readableLink(c rgb) string {
	for f := 1.0; f > 0; f -= 0.02 {
		s := rgb{c.r * f, c.g * f, c.b * f}.rounded()
		ok := true
		for _, bg := range linkSurfaces {
			if contrast(s, mustHex(bg)) < minText {
				ok = false
				break
			}
		}
		if ok {
			return s.String()
		}
	}
	return defaultLink // unreachable: black has 4.5:1 on every light surface
}

func cssVars(accent, on, edge, link string) template.CSS {
	// Each value is a #rrggbb this file made: nothing else reaches the style.
	return template.CSS(":root{--accent:" + accent + ";--on-accent:" + on + ";--accent-edge:" + edge + ";--link:" + link + "}")
}

// rgb is a colour with channels 0..255.
type rgb struct{ r, g, b float64 }

var hexColour = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func parseHex(s string) (rgb, bool) {
	if !hexColour.MatchString(s) {
		return rgb{}, false
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	n, _ := strconv.ParseUint(h, 16, 32)
	return rgb{float64(n >> 16 & 0xff), float64(n >> 8 & 0xff), float64(n & 0xff)}, true
}

func mustHex(s string) rgb {
	c, _ := parseHex(s)
	return c
}

func (c rgb) rounded() rgb {
	return rgb{math.Round(c.r), math.Round(c.g), math.Round(c.b)}
}

func (c rgb) String() string {
	return fmt.Sprintf("#%02x%02x%02x", int(c.r), int(c.g), int(c.b))
}

// luminance is WCAG 2's relative luminance.
func (c rgb) luminance() float64 {
	f := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*f(c.r) + 0.7152*f(c.g) + 0.0722*f(c.b)
}

// contrast is WCAG 2's contrast ratio of two colours, 1 to 21.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
