package e2e

// The browser: a headless Chromium driven with chromedp, and the page helpers every
// journey uses (navigate, click, type, read, cookies, the responses of a navigation,
// fetch from the page, screenshots). Each helper fails the test with the page it was on.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/caddy-stepup/stepup/locale"
)

const (
	// chromiumPath is Debian's Chromium, which the test script installs.
	chromiumPath = "/usr/bin/chromium"

	// testTimeout bounds a whole journey: Caddy, the browser and every action.
	testTimeout = 60 * time.Second

	// stepTimeout bounds one wait for a page or an element, so a journey that goes
	// wrong fails in seconds with the page it is on, not at testTimeout.
	stepTimeout = 15 * time.Second
)

// onCI reports whether the tests run in CI, where a missing tool is a failure: the
// test script (scripts/test) installs chromium.
func onCI() bool { return os.Getenv("CI") == "true" }

// findChromium returns the Chromium to drive. Without one the test fails in CI (the
// test script installs it) and is skipped elsewhere.
func findChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if onCI() {
		t.Fatal("chromium not found; the test script installs it")
	}
	t.Skip("chromium not found (install Debian's chromium, or run scripts/test)")
	return ""
}

// newBrowser starts a headless Chromium for one test and returns its tab's context.
// Each browser has a fresh profile (chromedp makes a new temporary user data dir per
// allocator and removes it), so no cookie survives from one journey to the next. The
// returned context carries the test's timeout: when it runs out, the browser goes.
func newBrowser(t *testing.T, path string, acceptLanguage ...string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1024, 900),
	)
	if len(acceptLanguage) > 0 {
		// The browser's own languages, as a reader's browser sends them.
		opts = append(opts, chromedp.Flag("accept-lang", acceptLanguage[0]), chromedp.Flag("lang", acceptLanguage[0]))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(allocCancel) // waits for the browser to exit
	tabCtx, tabCancel := chromedp.NewContext(allocCtx)
	t.Cleanup(tabCancel)
	// The first action starts the browser and ties it to ctx (with the test's
	// timeout); later waits use shorter contexts derived from tabCtx.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("starting chromium (%s): %v", path, err)
	}
	return tabCtx
}

// page is a browser tab in a journey, with helpers that fail the test with the page
// it was on.
type page struct {
	t   *testing.T
	ctx context.Context
	s   *stack
	// lang is the language the gateway's pages speak to this browser.
	lang *locale.Lang
}

// newPage starts Caddy and then the browser, so that the browser closes first when
// the test ends (cleanups run in reverse) and Caddy stops with no client connected.
func newPage(t *testing.T) *page {
	path := findChromium(t)
	s := startStack(t)
	return &page{t: t, ctx: newBrowser(t, path), s: s, lang: locale.English}
}

// newPageIn is newPage with a browser whose Accept-Language asks for l.
func newPageIn(t *testing.T, l *locale.Lang) *page {
	path := findChromium(t)
	s := startStack(t)
	accept := map[*locale.Lang]string{locale.English: "en-GB,en", locale.Chinese: "zh-CN,zh"}[l]
	return &page{t: t, ctx: newBrowser(t, path, accept), s: s, lang: l}
}

// words is catalog message id as the gateway's pages say it to this browser.
func (p *page) words(id string, args ...any) string { return p.lang.Text(id, args...) }

// newDevice starts another browser, with a profile (cookies) of its own, on the same
// Caddy: the same user on a second device.
func (p *page) newDevice() *page {
	p.t.Helper()
	return &page{t: p.t, ctx: newBrowser(p.t, findChromium(p.t)), s: p.s, lang: locale.English}
}

// step returns a context for one wait.
func (p *page) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, stepTimeout)
}

// fail stops the test with what the browser shows, to tell a wrong page from a slow one.
func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	p.t.Fatalf("%s\n  page: %s\n  text: %s", fmt.Sprintf(format, args...), loc, tail(body, 25))
}

// open navigates to a gateway path and returns the final document response (after
// redirects).
func (p *page) open(path string) *network.Response {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.s.url(path)))
	if err != nil {
		p.fail("opening %s: %v", path, err)
	}
	return resp
}

// click clicks the element with this id, which must start a navigation (a link or a
// submit button), and returns the final document response.
func (p *page) click(id string) *network.Response {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		p.fail("clicking #%s: %v", id, err)
	}
	return resp
}

// fill types text into the input with this id, as a user does.
func (p *page) fill(id, text string) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	// Like a person, clear what the field holds (a page may refill it after an
	// error), then type into it. Text goes in through the browser's own input path
	// (Input.insertText on the focused field) rather than chromedp.SendKeys, which
	// reads a node's attributes while chromedp's event loop writes them (a data race
	// the race detector reports in chromedp v0.23).
	insert := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
	if err := chromedp.Do(ctx, chromedp.Clear(chromedp.ID(id)), chromedp.Focus(chromedp.ID(id)), insert); err != nil {
		p.fail("typing into #%s: %v", id, err)
	}
}

// text returns the visible text of the element with this id, waiting for it.
func (p *page) text(id string) string {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		p.fail("reading #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

// attr returns an attribute of the element with this id.
func (p *page) attr(id, name string) string {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID(id), name))
	if err != nil || !a.Exists {
		p.fail("reading %s of #%s: exists=%v err=%v", name, id, a.Exists, err)
	}
	return a.Value
}

// has reports whether the loaded page has an element with this id, without waiting.
func (p *page) has(id string) bool {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.getElementById(%q) !== null`, id)))
	if err != nil {
		p.fail("looking for #%s: %v", id, err)
	}
	return ok
}

// title returns the document's title.
func (p *page) title() string {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		p.fail("reading the title: %v", err)
	}
	return s
}

// location returns the URL the browser shows.
func (p *page) location() *url.URL {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		p.fail("reading the location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		p.fail("parsing the location %q: %v", loc, err)
	}
	return u
}

// expectAt checks that the browser shows path (with query, if any) with status.
func (p *page) expectAt(resp *network.Response, status int, requestURI string) {
	p.t.Helper()
	if got := p.location().RequestURI(); got != requestURI {
		p.fail("expected to be on %s, but the browser shows %s", requestURI, got)
	}
	if resp == nil || resp.Status != int64(status) {
		got := int64(0)
		if resp != nil {
			got = resp.Status
		}
		p.fail("expected status %d on %s, got %d", status, requestURI, got)
	}
}

// cookie returns the browser's cookie of this name for the gateway (HttpOnly ones
// included: the browser's cookie store, not document.cookie), or nil.
func (p *page) cookie(name string) *network.Cookie {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.s.base + "/"}})
	if err != nil {
		p.fail("reading cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie puts a cookie back into the browser as it was (a stolen cookie, replayed).
func (p *page) setCookie(c *network.Cookie) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: c.Name, Value: c.Value, URL: p.s.base + "/", Path: c.Path,
		HTTPOnly: &c.HTTPOnly, Secure: &c.Secure, SameSite: c.SameSite,
	})
	if err != nil {
		p.fail("setting cookie %s: %v", c.Name, err)
	}
}

// documentCookie returns document.cookie: the cookies the page's scripts see.
func (p *page) documentCookie() string {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		p.fail("reading document.cookie: %v", err)
	}
	return s
}

// hop is one HTTP response of a navigation (a redirect or the final document) as it
// came over the wire, with its raw headers: Set-Cookie among them, which the
// browser's parsed responses leave out.
type hop struct {
	Status  int64
	Headers network.Headers
}

// header returns the values of a raw response header (the browser joins repeated
// headers with newlines).
func (h hop) header(name string) []string {
	for k, v := range h.Headers {
		if strings.EqualFold(k, name) {
			if s, ok := v.(string); ok {
				return strings.Split(s, "\n")
			}
		}
	}
	return nil
}

// setCookies returns the names of the cookies this response sets, and of those it
// clears (Max-Age<=0 or an expiry in the past).
func (h hop) setCookies() (set, cleared []string) {
	for _, line := range h.header("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			cleared = append(cleared, c.Name)
		} else {
			set = append(set, c.Name)
		}
	}
	return set, cleared
}

// clickRecording clicks like click, and also returns every response of the document
// navigation that followed, redirects included, in order.
func (p *page) clickRecording(id string) (*network.Response, []hop) {
	p.t.Helper()
	var mu sync.Mutex
	var hops []hop
	lctx, stop := context.WithCancel(p.ctx)
	defer stop()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceivedExtraInfo); ok {
			mu.Lock()
			hops = append(hops, hop{Status: e.StatusCode, Headers: e.Headers})
			mu.Unlock()
		}
	}); err != nil {
		p.fail("listening to the network: %v", err)
	}
	resp := p.click(id)
	stop()
	mu.Lock()
	defer mu.Unlock()
	return resp, slices.Clone(hops)
}

// redirectHop returns the one redirect among hops (status 3xx), failing otherwise.
func (p *page) redirectHop(hops []hop) hop {
	p.t.Helper()
	var found []hop
	for _, h := range hops {
		if h.Status >= 300 && h.Status < 400 {
			found = append(found, h)
		}
	}
	if len(found) != 1 {
		p.fail("expected exactly one redirect, the browser saw %d responses: %+v", len(hops), hops)
	}
	return found[0]
}

// allowPageScripts lets scripts run from the test call the site's API from the
// page, and reloads it. The demo console sends "Content-Security-Policy: default-src
// 'none'" on its pages (it has no scripts of its own), which blocks fetch() from them;
// a console whose own scripts call its API allows connect-src 'self'. Bypassing the
// CSP in the browser stands in for that; the requests are the same-origin requests
// such a script sends, with the browser's cookies and headers.
func (p *page) allowPageScripts() {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if _, err := chromedp.Call(ctx, cdppage.SetBypassCSP, cdppage.SetBypassCSPParams{Enabled: true}); err != nil {
		p.fail("bypassing the page's CSP: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		p.fail("reloading: %v", err)
	}
}

// fetchResult is what a fetch() from the page saw.
type fetchResult struct {
	Status          int    `json:"status"`
	WWWAuthenticate string `json:"wwwAuthenticate"`
	ContentType     string `json:"contentType"`
	Body            string `json:"body"`
}

// fetch runs fetch() inside the page (same origin, the browser's cookies) and awaits
// it. body, if not empty, is sent as JSON.
func (p *page) fetch(method, path, body string) fetchResult {
	p.t.Helper()
	headers := `{"Accept": "application/json"}`
	bodyJS := "undefined"
	if body != "" {
		headers = `{"Accept": "application/json", "Content-Type": "application/json"}`
		bodyJS = strconv.Quote(body)
	}
	js := fmt.Sprintf(`(async () => {
		const r = await fetch(%q, {method: %q, headers: %s, body: %s});
		return {
			status: r.status,
			wwwAuthenticate: r.headers.get("WWW-Authenticate") || "",
			contentType: r.headers.get("Content-Type") || "",
			body: await r.text(),
		};
	})()`, path, method, headers, bodyJS)
	ctx, cancel := p.step()
	defer cancel()
	// The async function returns a promise: EvalAwaitPromise makes Evaluate wait for
	// it and decode what it resolves to.
	res, err := chromedp.Run(ctx, chromedp.Evaluate[fetchResult](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("fetch %s %s: %v", method, path, err)
	}
	return res
}

// screenshot saves the page as e2e/testdata/screens/NAME.png, only when
// STEPUP_SCREENSHOTS=1: normal runs write nothing.
func (p *page) screenshot(name string) {
	p.t.Helper()
	if os.Getenv("STEPUP_SCREENSHOTS") != "1" {
		return
	}
	ctx, cancel := p.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		p.fail("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("testdata", "screens")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: e2e/%s", file)
}

// evaluateBool runs a script in the page and returns what it evaluates to.
func (p *page) evaluateBool(js string) (bool, error) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[bool](js))
}
