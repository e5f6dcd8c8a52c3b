package e2e

// The console's look: the gateway's pages with the demo's brand (Caddyfile.example's
// `brand` block), in a real browser. The product's name and logo show (the logo loads:
// the pages' CSP admits it), the buttons and links take the accent colour, and the
// CSP admits exactly the configured stylesheet's origin: one served from another
// port of the same host is blocked.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	cdppage "github.com/chromedp/cdproto/page"
)

// cspWatch records the page's Content-Security-Policy violations in
// window.__cspViolations, from before the page's own content runs.
const cspWatch = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.__cspViolations.push({
	blocked: e.blockedURI, directive: e.effectiveDirective, disposition: e.disposition}));`

type cspViolation struct {
	Blocked   string `json:"blocked"`
	Directive string `json:"directive"`
}

func TestBrandLooksLikeTheConsole(t *testing.T) {
	path := findChromium(t)
	// Two stylesheets on two loopback origins that differ only by their port: the
	// brand names the first; the second is never configured.
	configured := styleServer(t, ":root{--brand-test:configured}")
	other := styleServer(t, ":root{--brand-test:unconfigured}")
	s, brand := startBrandStack(t, configured+"/brand.css")
	p := &page{t: t, ctx: newBrowser(t, path), s: s}
	if brand.Name == "" || !strings.HasPrefix(brand.Logo, "/") || brand.Accent == "" || brand.Support == "" {
		t.Fatalf("%s's brand should give the demo console's name, a logo it serves, its accent and a support link: %+v", exampleCaddyfile, brand)
	}

	// The test's stylesheets are served over TLS with a certificate of their own; CSP
	// violations are recorded from the start of every document.
	ctx, cancel := p.step()
	_, err := chromedp.Call(ctx, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true})
	if err == nil {
		_, err = chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
	}
	cancel()
	if err != nil {
		t.Fatalf("setting up the browser: %v", err)
	}

	p.signIn("carol")
	resp := p.open("/.stepup/")
	p.expectAt(resp, 200, "/.stepup/")
	var csp string
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Content-Security-Policy") {
			csp, _ = v.(string)
		}
	}
	for _, want := range []string{"img-src data: 'self';", "style-src 'unsafe-inline' " + configured + ";"} {
		if !strings.Contains(csp, want) {
			p.fail("the page's CSP %q lacks %q", csp, want)
		}
	}

	// The product's name, in the header and the title; its logo, loaded.
	if got := p.text("product"); got != brand.Name {
		p.fail("the header names %q, want %q", got, brand.Name)
	}
	if got := p.title(); !strings.HasSuffix(got, " · "+brand.Name) {
		p.fail("the title %q does not end with the product's name", got)
	}
	if got := p.attr("product-logo", "alt"); got != brand.Name {
		p.fail("the logo's alternative text is %q, want %q", got, brand.Name)
	}
	logo := p.eval(`(async () => {
		const img = document.getElementById("product-logo");
		if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; });
		const r = img.getBoundingClientRect(), langs = document.getElementById("languages").getBoundingClientRect();
		return JSON.stringify({natural: img.naturalWidth, height: r.height, left: r.left < langs.left});
	})()`)
	var l struct {
		Natural int     `json:"natural"`
		Height  float64 `json:"height"`
		Left    bool    `json:"left"`
	}
	if err := json.Unmarshal([]byte(logo), &l); err != nil || l.Natural == 0 || l.Height != 28 || !l.Left {
		p.fail("the logo %s (%v): want it loaded (naturalWidth > 0), 28px high, left of the language switch", logo, err)
	}

	// The accent: on the main buttons, the links and the focus outline.
	accent := rgbOf(t, brand.Accent)
	colours := p.eval(`JSON.stringify({
		buttons: [...document.querySelectorAll("main button:not(.secondary):not(.link)")].map(b => getComputedStyle(b).backgroundColor),
		links: [...document.querySelectorAll("#languages a, main a")].map(a => getComputedStyle(a).color),
	})`)
	var c struct{ Buttons, Links []string }
	if err := json.Unmarshal([]byte(colours), &c); err != nil || len(c.Buttons) == 0 || len(c.Links) == 0 {
		p.fail("no buttons or links on the page: %s (%v)", colours, err)
	}
	for _, got := range append(c.Buttons, c.Links...) {
		if got != accent {
			p.fail("a button or link is %s, want the accent %s: %s", got, accent, colours)
		}
	}
	if got := p.attr("support-link", "href"); got != brand.Support {
		p.fail("the support link goes to %q, want %q", got, brand.Support)
	}

	// The configured stylesheet applies; one from an origin the brand does not name
	// (the same host, another port) is blocked, and reported.
	if got := p.eval(`getComputedStyle(document.documentElement).getPropertyValue("--brand-test").trim()`); got != "configured" {
		p.fail("the configured stylesheet does not apply: --brand-test is %q", got)
	}
	got := p.eval(fmt.Sprintf(`(async () => {
		const l = document.createElement("link");
		l.rel = "stylesheet"; l.href = %q;
		const done = new Promise(r => { l.onload = () => r("loaded"); l.onerror = () => r("blocked"); });
		document.head.appendChild(l);
		return await done;
	})()`, other+"/other.css"))
	if got != "blocked" {
		p.fail("a stylesheet from %s, which the brand does not name, was %s", other, got)
	}
	if got := p.eval(`getComputedStyle(document.documentElement).getPropertyValue("--brand-test").trim()`); got != "configured" {
		p.fail("the unconfigured stylesheet applied: --brand-test is %q", got)
	}
	var violations []cspViolation
	if err := json.Unmarshal([]byte(p.eval(`JSON.stringify(window.__cspViolations)`)), &violations); err != nil {
		p.fail("reading the CSP violations: %v", err)
	}
	if len(violations) != 1 || !strings.HasPrefix(violations[0].Blocked, other+"/") || !strings.HasPrefix(violations[0].Directive, "style-src") {
		p.fail("CSP violations %+v: want only the unconfigured stylesheet's (%s), none for the logo or the configured stylesheet", violations, other)
	}
}

// eval runs a script in the page, awaiting a promise, and returns its string result.
func (p *page) eval(js string) string {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("evaluating %s: %v", js, err)
	}
	return s
}

// styleServer serves css at every path over TLS on a loopback port, and returns its
// origin, https://127.0.0.1:PORT.
func styleServer(t *testing.T, css string) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(css))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// exampleBrand is the brand block of the example's stepup handler.
type exampleBrand struct {
	Name       string `json:"name"`
	Logo       string `json:"logo"`
	Accent     string `json:"accent"`
	Support    string `json:"support"`
	Stylesheet string `json:"stylesheet"`
}

// startBrandStack runs Caddy as startStack does, with Caddyfile.example adapted as it
// is, and then, in the adapted JSON, gives the stepup handler's brand the stylesheet
// (the demo has none). It returns the stack and the brand as configured.
func startBrandStack(t *testing.T, stylesheet string) (*stack, exampleBrand) {
	t.Helper()
	dir := t.TempDir()
	consolePort, gatewayPort := freePort(t), freePort(t)
	s := &stack{
		base:   "http://127.0.0.1:" + gatewayPort,
		log:    filepath.Join(dir, "caddy.log"),
		outbox: &outbox{t: t, path: filepath.Join(dir, "sms-outbox.jsonl")},
	}
	t.Setenv(envGatewayPort, gatewayPort)
	t.Setenv(envConsolePort, consolePort)
	t.Setenv(envOutbox, oneToken(t, s.outbox.path))
	t.Setenv(envLog, "file "+oneToken(t, s.log))
	example, err := os.ReadFile(exampleCaddyfile)
	if err != nil {
		t.Fatalf("reading the example config: %v", err)
	}
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(example, map[string]any{"filename": exampleCaddyfile})
	if err != nil {
		t.Fatalf("adapting %s: %v", exampleCaddyfile, err)
	}
	checkListeners(t, cfgJSON, consolePort, gatewayPort)
	var cfg any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	handlers := stepupHandlers(cfg)
	if len(handlers) != 1 {
		t.Fatalf("%s has %d stepup handlers, want 1", exampleCaddyfile, len(handlers))
	}
	raw, _ := json.Marshal(handlers[0]["brand"])
	var brand exampleBrand
	if err := json.Unmarshal(raw, &brand); err != nil || brand.Stylesheet != "" {
		t.Fatalf("the example's brand %s: %v (a stylesheet of its own would hide the test's)", raw, err)
	}
	b, _ := handlers[0]["brand"].(map[string]any)
	if b == nil {
		t.Fatalf("%s's stepup block has no brand", exampleCaddyfile)
	}
	b["stylesheet"] = stylesheet
	if cfgJSON, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, false); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		if t.Failed() {
			if b, err := os.ReadFile(s.log); err == nil {
				t.Logf("Caddy log (%s):\n%s", s.log, tail(string(b), 60))
			}
		}
	})
	return s, brand
}

// stepupHandlers finds the stepup handlers in an adapted config, however deep in
// routes and subroutes.
func stepupHandlers(v any) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == "stepup" {
			return append(out, v)
		}
		for _, x := range v {
			out = append(out, stepupHandlers(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, stepupHandlers(x)...)
		}
	}
	return out
}

// rgbOf is a #rgb or #rrggbb colour as getComputedStyle says it: rgb(R, G, B).
func rgbOf(t *testing.T, hex string) string {
	t.Helper()
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil || len(h) != 6 {
		t.Fatalf("accent %q is not a colour", hex)
	}
	return fmt.Sprintf("rgb(%d, %d, %d)", n>>16&0xff, n>>8&0xff, n&0xff)
}
