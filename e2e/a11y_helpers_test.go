package e2e

// Accessibility checked by a machine: each gateway page, at a desktop and a phone
// width, gets a full-page picture, axe-core (from the npm registry, installed by
// scripts/test), and the checks axe does not make: the contrast of what identifies
// a form field or a button (WCAG 1.4.11), labels of fields and errors tied to them,
// the focus order under real Tab key presses, an h1 larger than the other headings,
// buttons level with the fields beside them, and no sideways scrolling (WCAG 1.4.10).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/caddy-stepup/stepup/locale"
)

// envAxeJS names axe-core's axe.min.js; scripts/test installs it and sets it.
const envAxeJS = "STEPUP_AXE_JS"

// defaultAxeJS is where scripts/test installs axe-core, relative to this package.
var defaultAxeJS = filepath.Join("..", ".cache", "axe", "node_modules", "axe-core", "axe.min.js")

// screenshotDir holds the pictures of the gateway's pages (ignored by git).
var screenshotDir = filepath.Join("..", "screenshots")

// a11yViewport is a window size the pages are checked at.
type a11yViewport struct {
	name          string
	width, height int64
	mobile        bool
	scale         float64
}

var a11yViewports = []a11yViewport{
	{name: "desktop", width: 1280, height: 800, scale: 1},
	// A phone: mobile emulation (the page's viewport meta tag applies) at 2x, so the
	// pictures look as on a phone's screen.
	{name: "phone", width: 390, height: 844, mobile: true, scale: 2},
}

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
	axePath   string
)

// requireAxe makes sure axe-core is there before a test starts its stack: a missing
// axe.min.js fails the test in CI (scripts/test installs it) and skips it elsewhere.
func requireAxe(t *testing.T) {
	t.Helper()
	axeOnce.Do(func() {
		axePath = os.Getenv(envAxeJS)
		if axePath == "" {
			axePath = defaultAxeJS
		}
		var b []byte
		b, axeErr = os.ReadFile(axePath)
		if axeErr == nil && !strings.Contains(string(b[:min(len(b), 2000)]), "axe") {
			axeErr = fmt.Errorf("%s does not look like axe-core", axePath)
		}
		axeSource = string(b)
	})
	if axeErr == nil {
		return
	}
	if onCI() {
		t.Fatalf("axe-core is missing (%v): scripts/test installs it with npm and sets %s", axeErr, envAxeJS)
	}
	t.Skipf("axe-core not found (%v): run scripts/test, or npm install axe-core into .cache/axe and set %s", axeErr, envAxeJS)
}

// a11yFinding is one accessibility problem on a page: an axe rule's violation, or
// one of this file's own checks.
type a11yFinding struct {
	Check  string      `json:"check"`  // "axe" or the name of one of the checks below
	Rule   string      `json:"rule"`   // axe's rule id, or what the check looked at
	Impact string      `json:"impact"` // axe's impact; "serious" for the checks here
	Help   string      `json:"help"`
	URL    string      `json:"helpUrl"`
	Nodes  []a11yNodeF `json:"nodes"`
}

// a11yNodeF is an element a finding is about.
type a11yNodeF struct {
	Target string `json:"target"`
	HTML   string `json:"html"`
	Detail string `json:"detail"`
}

func (f a11yFinding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s %s, %s] %s", f.Check, f.Rule, f.Impact, f.Help)
	if f.URL != "" {
		fmt.Fprintf(&b, " (%s)", f.URL)
	}
	for _, n := range f.Nodes {
		fmt.Fprintf(&b, "\n      %s  %s", n.Target, n.HTML)
		if n.Detail != "" {
			fmt.Fprintf(&b, "\n        %s", strings.ReplaceAll(n.Detail, "\n", "\n        "))
		}
	}
	return b.String()
}

// a11yAudit checks the page the browser shows at each width, saves its pictures as
// screenshots/NAME-WIDTH.png, and reports every finding as a test error (the journey
// goes on, so that one run lists every page's findings). The browser is left at its
// own window size, with the focus where the page put it.
func (p *page) a11yAudit(name string) {
	p.t.Helper()
	loc := p.location().RequestURI()
	for _, vp := range a11yViewports {
		p.a11ySetViewport(vp)
		picture := name + "-" + vp.name
		if p.lang != nil && p.lang != locale.English {
			picture = name + "-" + p.lang.Code() + "-" + vp.name
		}
		p.a11yPicture(picture)
		violations, passed := p.a11yAxe()
		var serious, notes []a11yFinding
		for _, f := range violations {
			if f.Impact == "serious" || f.Impact == "critical" {
				serious = append(serious, f)
			} else {
				notes = append(notes, f)
			}
		}
		serious = append(serious, p.a11yChecks(vp)...)
		focus, stops := p.a11yFocusOrder()
		serious = append(serious, focus...)
		for _, f := range notes {
			p.t.Logf("a11y note, %s at %s (%s): %s", name, vp.name, loc, f)
		}
		what := fmt.Sprintf("axe: %d rules passed, %d violated; %d tab stops", passed, len(violations), stops)
		if len(serious) > 0 {
			lines := make([]string, len(serious))
			for i, f := range serious {
				lines[i] = "  - " + f.String()
			}
			p.t.Errorf("a11y: %s at %s (%s; %s), %d finding(s):\n%s", name, vp.name, loc, what, len(serious), strings.Join(lines, "\n"))
		} else {
			p.t.Logf("a11y: %s at %s (%s; %s): no finding", name, vp.name, loc, what)
		}
	}
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		p.fail("resetting the viewport: %v", err)
	}
}

// a11ySetViewport sizes the page's viewport and waits until the page has it.
func (p *page) a11ySetViewport(vp a11yViewport) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.scale)}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(vp.width, vp.height, opts...),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`window.innerWidth === %d && document.readyState === "complete"`, vp.width),
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	)
	if err != nil {
		p.fail("sizing the viewport to %s (%dx%d): %v", vp.name, vp.width, vp.height, err)
	}
}

// a11yPicture saves a full-page PNG of what the browser shows as
// screenshots/NAME.png at the root of the repository.
func (p *page) a11yPicture(name string) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	var png []byte
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		m, err := cdp.Call(ctx, t, cdppage.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return err
		}
		if m.CSSContentSize == nil || m.CSSLayoutViewport == nil {
			return fmt.Errorf("no layout metrics")
		}
		w := max(m.CSSContentSize.Width, float64(m.CSSLayoutViewport.ClientWidth))
		h := max(m.CSSContentSize.Height, float64(m.CSSLayoutViewport.ClientHeight))
		r, err := cdp.Call(ctx, t, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{
			Format:                cdppage.CaptureScreenshotFormatPng,
			Clip:                  &cdppage.Viewport{Width: w, Height: h, Scale: 1},
			CaptureBeyondViewport: new(true),
			FromSurface:           new(true),
			OptimizeForSpeed:      new(true), // a larger file, encoded in less time
		})
		if err != nil {
			return err
		}
		png = r.Data
		return nil
	}))
	if err != nil {
		p.fail("picture %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// a11yAxe injects axe-core into the page (once per document) and runs it with its
// default rules, returning its violations and how many rules passed.
func (p *page) a11yAxe() ([]a11yFinding, int) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	has, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object" && typeof window.axe.run === "function"`))
	if err != nil {
		p.fail("looking for axe-core in the page: %v", err)
	}
	if !has {
		// Runtime.evaluate is not subject to the page's Content-Security-Policy.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			p.fail("injecting axe-core (%s): %v", axePath, err)
		}
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, {resultTypes: ["violations"]}).then(r => ({
		passed: r.passes.length,
		violations: r.violations.map(v => ({
			check: "axe", rule: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
			nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, detail: n.failureSummary || ""})),
		})),
	}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("running axe-core: %v", err)
	}
	var out struct {
		Passed     int           `json:"passed"`
		Violations []a11yFinding `json:"violations"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		p.fail("reading axe-core's results: %v\n%s", err, raw)
	}
	if out.Passed == 0 {
		p.fail("axe-core passed no rule on the page: did it run?")
	}
	return out.Violations, out.Passed
}

// a11yChecks runs the checks of a11yChecksJS in the page.
func (p *page) a11yChecks(vp a11yViewport) []a11yFinding {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](a11yJSLib+a11yChecksJS))
	if err != nil {
		p.fail("running the accessibility checks at %s: %v", vp.name, err)
	}
	var out []a11yFinding
	if err := json.Unmarshal(raw, &out); err != nil {
		p.fail("reading the accessibility checks: %v\n%s", err, raw)
	}
	return out
}

// a11yFocusOrder checks the page's focus order with real Tab key presses: no
// positive tabindex, and from the top of the page each Tab goes to the next
// focusable element in DOM order, never to one above the one before. It returns its
// findings and the number of tab stops, and puts the focus back where it was.
func (p *page) a11yFocusOrder() ([]a11yFinding, int) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	// The focusable elements in DOM order; then a click on the page's top-left corner
	// (the page's background or its header's, nothing focusable) starts sequential
	// navigation from the top, as a keyboard user who has just opened the page (an
	// autofocused field blurs).
	var setup struct {
		Count           int      `json:"count"`
		Corner          string   `json:"corner"`
		CornerFocusable bool     `json:"cornerFocusable"`
		Expect          []string `json:"expect"`
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](a11yJSLib+`(() => {
		window.scrollTo(0, 0);
		const expect = a11yTabbables();
		window.__a11yTab = {expect, seen: [], last: null, initial: document.activeElement};
		const corner = document.elementFromPoint(1, 1);
		return {count: expect.length, corner: corner ? a11yDescribe(corner).target : "",
			cornerFocusable: !corner || !!corner.closest("a[href],button,input,select,textarea,summary,[tabindex],[contenteditable]"),
			expect: expect.map(e => a11yDescribe(e).target)};
	})()`))
	if err == nil {
		err = json.Unmarshal(raw, &setup)
	}
	if err != nil {
		p.fail("listing the focusable elements: %v", err)
	}
	if setup.Count == 0 {
		return nil, 0
	}
	if setup.CornerFocusable {
		p.fail("the page's top-left corner is %s, which takes the focus: cannot start tabbing from the top", setup.Corner)
	}
	err = chromedp.Do(ctx,
		chromedp.MouseClickXY(1, 1),
		chromedp.Poll[chromedp.Void](`document.activeElement === document.body || document.activeElement === null`,
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate[chromedp.Void](`window.__a11yTab.last = document.activeElement`),
	)
	if err != nil {
		p.fail("putting the focus at the top of the page: %v", err)
	}
	tab := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9, NativeVirtualKeyCode: 9,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	var stuck []a11yFinding
	for i := range setup.Count {
		if err := chromedp.Do(ctx, tab); err != nil {
			p.fail("pressing Tab: %v", err)
		}
		// Focus moves with the key press; wait until the page sees it move.
		err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`(() => {
			const a = document.activeElement, s = window.__a11yTab;
			if (a === s.last) return false;
			s.last = a; s.seen.push(a); return true;
		})()`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second)))
		if err != nil {
			stuck = append(stuck, a11yFinding{Check: "focus-order", Rule: "tab-moves-focus", Impact: "serious",
				Help:  fmt.Sprintf("Tab press %d of %d did not move the focus", i+1, setup.Count),
				Nodes: []a11yNodeF{{Target: strings.Join(setup.Expect, ", "), Detail: "expected tab stops, in DOM order"}}})
			break
		}
	}
	raw, err = chromedp.Run(ctx, chromedp.Evaluate[[]byte](a11yJSLib+a11yFocusJS))
	if err != nil {
		p.fail("checking the focus order: %v", err)
	}
	var out []a11yFinding
	if err := json.Unmarshal(raw, &out); err != nil {
		p.fail("reading the focus order check: %v\n%s", err, raw)
	}
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const i = window.__a11yTab.initial;
		if (i && i !== document.body && i.focus) i.focus({preventScroll: true});
		else if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
		window.scrollTo(0, 0);
	})()`))
	if err != nil {
		p.fail("putting the focus back: %v", err)
	}
	return append(out, stuck...), setup.Count
}

// a11yJSLib: helpers the checks share (colours, contrast, describing an element).
const a11yJSLib = `
function a11yDescribe(el) {
	if (!el || el.nodeType !== 1) return {target: String(el), html: ""};
	let target;
	if (el.id) {
		target = "#" + el.id;
	} else if (el === document.documentElement || el === document.body) {
		target = el.tagName.toLowerCase();
	} else {
		const parts = [];
		for (let n = el; n && n.nodeType === 1 && n !== document.body; n = n.parentElement) {
			if (n.id) { parts.unshift("#" + n.id); break; }
			let i = 1;
			for (let s = n.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === n.tagName) i++;
			parts.unshift(n.tagName.toLowerCase() + ":nth-of-type(" + i + ")");
		}
		target = parts.join(" > ");
	}
	let html = el.outerHTML;
	const close = html.indexOf(">");
	if (el.children.length > 0 && close > 0) html = html.slice(0, close + 1) + "…";
	if (html.length > 240) html = html.slice(0, 240) + "…";
	return {target, html};
}
function a11yVisible(el) {
	if (el.getClientRects().length === 0) return false;
	const s = getComputedStyle(el);
	return s.visibility !== "hidden" && s.visibility !== "collapse";
}
function a11yColor(s) {
	const m = /rgba?\(([^)]*)\)/.exec(s || "");
	if (!m) return null;
	const v = m[1].split(/[\s,\/]+/).filter(x => x !== "").map(x => x.endsWith("%") ? parseFloat(x) / 100 : parseFloat(x));
	return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1};
}
function a11yOver(top, bottom) {
	const a = top.a;
	return {r: top.r * a + bottom.r * (1 - a), g: top.g * a + bottom.g * (1 - a), b: top.b * a + bottom.b * (1 - a), a: 1};
}
// The colour behind el: its ancestors' backgrounds, composited, on the white canvas.
function a11yBehind(el) {
	const layers = [];
	for (let n = el.parentElement; n; n = n.parentElement) {
		const c = a11yColor(getComputedStyle(n).backgroundColor);
		if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
	}
	let c = {r: 255, g: 255, b: 255, a: 1};
	for (let i = layers.length - 1; i >= 0; i--) c = a11yOver(layers[i], c);
	return c;
}
function a11yLuminance(c) {
	const f = x => { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
	return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function a11yRatio(a, b) {
	const la = a11yLuminance(a), lb = a11yLuminance(b);
	return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}
function a11yHex(c) {
	return "#" + [c.r, c.g, c.b].map(x => Math.round(x).toString(16).padStart(2, "0")).join("");
}
// The elements sequential navigation should visit, in DOM order.
function a11yTabbables() {
	const sel = "a[href], area[href], button, input, select, textarea, iframe, summary, [tabindex], [contenteditable]:not([contenteditable=false])";
	const seenRadio = new Set();
	return [...document.querySelectorAll(sel)].filter(el => {
		if (el.disabled || el.tabIndex < 0 || el.closest("[inert]") || !a11yVisible(el)) return false;
		if (el.tagName === "INPUT" && el.type === "hidden") return false;
		if (el.tagName === "INPUT" && el.type === "radio" && el.name) {
			const checked = document.querySelector('input[type=radio][name="' + CSS.escape(el.name) + '"]:checked');
			if (checked ? checked !== el : seenRadio.has(el.name)) return false;
			seenRadio.add(el.name);
		}
		return true;
	});
}
`

// a11yChecksJS: what axe does not check. Each finding names the element, and says
// what is wrong in numbers or words a person can act on.
const a11yChecksJS = `(() => {
	const out = [];
	const add = (check, rule, help, nodes) => { if (nodes.length) out.push({check, rule, impact: "serious", help, helpUrl: "", nodes}); };

	// (a) Non-text contrast, WCAG 1.4.11: what shows where a field or a button is, its
	// border or its own background, against what is around it: 3:1 at least. Native
	// checkboxes and radios are drawn by the browser and left out.
	const identify = el => {
		const s = getComputedStyle(el), outside = a11yBehind(el);
		const own = a11yOver(a11yColor(s.backgroundColor) || {r: 0, g: 0, b: 0, a: 0}, outside);
		const parts = [{what: "background " + a11yHex(own), ratio: a11yRatio(own, outside)}];
		for (const side of ["top", "right", "bottom", "left"]) {
			const w = parseFloat(s.getPropertyValue("border-" + side + "-width"));
			const style = s.getPropertyValue("border-" + side + "-style");
			const c = a11yColor(s.getPropertyValue("border-" + side + "-color"));
			if (w > 0 && c && style !== "none" && style !== "hidden") {
				const b = a11yOver(c, own);
				parts.push({what: side + " border " + a11yHex(b), ratio: a11yRatio(b, outside)});
			}
		}
		const best = parts.reduce((a, b) => b.ratio > a.ratio ? b : a);
		return {best, outside, parts};
	};
	const lowContrast = (els, kind) => els.filter(a11yVisible).map(el => ({el, r: identify(el)})).filter(x => x.r.best.ratio < 3).map(x => ({
		...a11yDescribe(x.el),
		detail: kind + " against " + a11yHex(x.r.outside) + ": " + x.r.parts.map(p => p.what + " " + p.ratio.toFixed(2) + ":1").join(", ") + "; want 3:1 for one of them",
	}));
	const fieldSel = "input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button]):not([type=reset]):not([type=image]), select, textarea";
	add("non-text-contrast", "field-boundary", "A form field's border (or background) must have 3:1 contrast with what is around it (WCAG 1.4.11)",
		lowContrast([...document.querySelectorAll(fieldSel)], "field"));
	add("non-text-contrast", "button-boundary", "A button's background (or border) must have 3:1 contrast with what is around it (WCAG 1.4.11)",
		lowContrast([...document.querySelectorAll("button, input[type=submit], input[type=button], input[type=reset]")], "button"));

	// (b) Every field has a label: label[for], a wrapping label, aria-label or
	// aria-labelledby, with text.
	const fields = [...document.querySelectorAll("input, select, textarea")].filter(el => el.type !== "hidden" && a11yVisible(el));
	const textOf = ids => ids.split(/\s+/).filter(Boolean).map(id => document.getElementById(id)).filter(Boolean).map(e => e.textContent.trim()).join(" ");
	add("labels", "field-label", "Every form field needs a label: label[for], a wrapping label, aria-label or aria-labelledby",
		fields.filter(el => !(
			[...(el.labels || [])].some(l => l.textContent.trim() !== "") ||
			(el.getAttribute("aria-label") || "").trim() !== "" ||
			textOf(el.getAttribute("aria-labelledby") || "") !== ""
		)).map(el => ({...a11yDescribe(el), detail: "no label"})));

	// Errors: on a page with form fields, an error is tied to its field by the
	// field's aria-describedby; a page-level error, on a page with no field, has
	// role="alert".
	const errors = [...document.querySelectorAll(".error, [role=alert]")].filter(a11yVisible);
	const described = new Set(fields.flatMap(f => (f.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean)));
	add("labels", "error-described-by", "An error message on a page with form fields must be referenced by aria-describedby of the field it is about",
		fields.length === 0 ? [] : errors.filter(e => !(e.id && described.has(e.id))).map(e => ({
			...a11yDescribe(e),
			detail: (e.id ? "no field has aria-describedby=\"" + e.id + "\"" : "the error has no id, so no field can reference it") +
				"; fields on the page: " + fields.map(f => a11yDescribe(f).target).join(", "),
		})));
	add("labels", "error-alert", "A page-level error (no form field on the page) must have role=\"alert\"",
		fields.length !== 0 ? [] : errors.filter(e => e.getAttribute("role") !== "alert").map(e => ({...a11yDescribe(e), detail: "no role=\"alert\""})));

	// (d) Layout. The page's h1 is its largest heading, so that the page's title reads
	// as one and its sections' headings as parts of it.
	const h1s = [...document.querySelectorAll("h1")].filter(a11yVisible);
	if (h1s.length) {
		const size = el => parseFloat(getComputedStyle(el).fontSize);
		const h1 = Math.min(...h1s.map(size));
		add("layout", "h1-largest", "The page's h1 must be its largest heading",
			[...document.querySelectorAll("h2, h3, h4, h5, h6")].filter(a11yVisible).filter(h => size(h) >= h1).map(h => ({
				...a11yDescribe(h), detail: h.tagName.toLowerCase() + " at " + size(h) + "px, h1 at " + h1 + "px"})));
	}
	// A button on the same line as a field of its form sits level with it: their
	// vertical centres within 2px.
	const lineFields = [...document.querySelectorAll(fieldSel)].filter(a11yVisible);
	const misaligned = [];
	for (const b of [...document.querySelectorAll("button, input[type=submit]")].filter(a11yVisible)) {
		const br = b.getBoundingClientRect();
		for (const f of lineFields) {
			if (f.form !== b.form) continue;
			const fr = f.getBoundingClientRect();
			const sameLine = br.top < fr.bottom && fr.top < br.bottom && (br.left >= fr.right - 1 || fr.left >= br.right - 1);
			const dy = (br.top + br.bottom) / 2 - (fr.top + fr.bottom) / 2;
			if (sameLine && Math.abs(dy) > 2) {
				misaligned.push({...a11yDescribe(b), detail: "its centre is " + dy.toFixed(1) + "px " + (dy > 0 ? "below" : "above") +
					" that of " + a11yDescribe(f).target + " beside it (button " + Math.round(br.top) + "-" + Math.round(br.bottom) +
					"px, field " + Math.round(fr.top) + "-" + Math.round(fr.bottom) + "px)"});
			}
		}
	}
	add("layout", "button-beside-field-aligned", "A button beside a form field must sit level with it", misaligned);

	// (e) Reflow, WCAG 1.4.10: no sideways scrolling at the viewport's width.
	const sw = document.documentElement.scrollWidth;
	if (sw > window.innerWidth + 1) {
		const wide = [...document.body.querySelectorAll("*")].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1);
		add("reflow", "horizontal-scroll", "The page must not scroll sideways (WCAG 1.4.10)",
			wide.slice(0, 5).map(el => ({...a11yDescribe(el), detail: "right edge at " + Math.round(el.getBoundingClientRect().right) + "px, viewport " + window.innerWidth + "px wide"})));
	}
	return out;
})()`

// a11yFocusJS compares the elements Tab visited (window.__a11yTab.seen) with the
// focusable elements in DOM order, and checks that none has a positive tabindex.
const a11yFocusJS = `(() => {
	const out = [];
	const add = (rule, help, nodes) => { if (nodes.length) out.push({check: "focus-order", rule, impact: "serious", help, helpUrl: "", nodes}); };
	add("positive-tabindex", "No element may have a positive tabindex: it takes the element out of the page's order",
		[...document.querySelectorAll("[tabindex]")].filter(el => parseInt(el.getAttribute("tabindex"), 10) > 0)
			.map(el => ({...a11yDescribe(el), detail: "tabindex=" + el.getAttribute("tabindex")})));
	const {expect, seen} = window.__a11yTab;
	const wrong = [];
	for (let i = 0; i < seen.length; i++) {
		if (seen[i] !== expect[i]) {
			wrong.push({...a11yDescribe(seen[i]), detail: "Tab stop " + (i + 1) + " is this element; DOM order has " +
				(expect[i] ? a11yDescribe(expect[i]).target : "nothing more")});
		}
	}
	add("dom-order", "Tab must visit the focusable elements in DOM order", wrong);
	const top = el => el.getBoundingClientRect().top + window.scrollY;
	const bottom = el => el.getBoundingClientRect().bottom + window.scrollY;
	const up = [];
	for (let i = 1; i < seen.length; i++) {
		if (seen[i] && seen[i - 1] && seen[i].nodeType === 1 && seen[i - 1].nodeType === 1 && bottom(seen[i]) <= top(seen[i - 1])) {
			up.push({...a11yDescribe(seen[i]), detail: "Tab stop " + (i + 1) + " (bottom at " + Math.round(bottom(seen[i])) +
				"px) sits above the stop before it, " + a11yDescribe(seen[i - 1]).target + " (top at " + Math.round(top(seen[i - 1])) + "px)"});
		}
	}
	add("top-to-bottom", "Tab must go down the page, never back up", up);
	return out;
})()`
