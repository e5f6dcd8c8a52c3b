package e2e

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // registers the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	_ "github.com/caddy-stepup/stepup/caddymodule"
	"github.com/caddy-stepup/stepup/challenge"
	_ "github.com/caddy-stepup/stepup/examples/democonsole"
)

const (
	// chromiumPath is Debian's Chromium, which the test script installs.
	chromiumPath = "/usr/bin/chromium"

	// testTimeout bounds a whole journey: Caddy, the browser and every action.
	testTimeout = 60 * time.Second

	// stepTimeout bounds one wait for a page or an element, so a journey that goes
	// wrong fails in seconds with the page it is on, not at testTimeout.
	stepTimeout = 15 * time.Second

	// totpPeriod is the TOTP time step (RFC 6238, as the gateway issues it).
	totpPeriod = 30 * time.Second
)

// onCI reports whether the tests run in CI, where a missing tool is a failure: the
// test script (scripts/test) installs chromium and zbar-tools.
func onCI() bool { return os.Getenv("CI") == "true" }

// exampleCaddyfile is the demo config the journeys run: the one the README tells
// users to start, read at test time so that the tests follow it.
const exampleCaddyfile = "../Caddyfile.example"

// exampleGlobals is the example's global options block. The harness swaps it for
// testGlobals: Caddy's storage and log go into the test's temporary directory,
// Caddy keeps no autosave file in the user's home, and stops in a second.
const exampleGlobals = "{\n\tadmin off\n\tauto_https off\n}\n"

const testGlobals = `{
	admin off
	persist_config off
	auto_https off
	grace_period 1s
	storage file_system @STORAGE@
	log {
		output file @LOG@
		level INFO
	}
}
`

// exampleSMSLine is the example's SMS provider: the development "log" provider, which
// writes codes to Caddy's log and to an outbox file in /tmp. The harness swaps it for
// testSMSLine, the webhook provider posting to the test's relay (see smsRelay), the
// one line of the stepup block a test changes: the codes then reach the test as they
// would reach a production relay, over HTTP, and no file outside the test's
// temporary directory is written.
const exampleSMSLine = "\t\tsms log /tmp/stepup-demo-sms-outbox.jsonl\n"

func testSMSLine(relayURL string) string { return "\t\tsms webhook " + relayURL + "/send\n" }

// exampleOutboxLine is the console's view of that outbox (its /outbox page). The
// harness points it at an (empty, never written) file in the test's temporary
// directory: with the webhook provider nothing writes the outbox, and the demo's
// shared /tmp file may hold a developer's old codes, or be another user's file.
const exampleOutboxLine = "\t\toutbox /tmp/stepup-demo-sms-outbox.jsonl\n"

// testCaddyfile returns Caddyfile.example with only what a test must change: the
// global options (see exampleGlobals); the two ports, console :9000 (and the
// gateway's reverse_proxy to it) and gateway :8080, moved to free loopback ports; the
// SMS provider, swapped for the webhook to the test's relay at relayURL (see
// exampleSMSLine); and the console's outbox file (see exampleOutboxLine). Everything
// else, above all the whole stepup block but for its sms line, is the example's word
// for word. Each substitution must apply exactly once: when the example changes
// shape, the harness fails here, loudly, instead of testing something else.
func testCaddyfile(t *testing.T, dir, consolePort, gatewayPort, relayURL string) string {
	t.Helper()
	b, err := os.ReadFile(exampleCaddyfile)
	if err != nil {
		t.Fatalf("reading the example config: %v", err)
	}
	example := string(b)
	globals := strings.NewReplacer(
		"@STORAGE@", strconv.Quote(filepath.Join(dir, "caddy-data")),
		"@LOG@", strconv.Quote(filepath.Join(dir, "caddy.log")),
	).Replace(testGlobals)
	cfg := example
	for _, sub := range []struct{ old, new string }{
		{exampleGlobals, globals},
		{"\nhttp://:9000 {\n", "\nhttp://:" + consolePort + " {\n"},
		{"\nhttp://:8080 {\n", "\nhttp://:" + gatewayPort + " {\n"},
		{"\treverse_proxy 127.0.0.1:9000\n", "\treverse_proxy 127.0.0.1:" + consolePort + "\n"},
		{exampleSMSLine, testSMSLine(relayURL)},
		{exampleOutboxLine, "\t\toutbox " + strconv.Quote(filepath.Join(dir, "sms-outbox.jsonl")) + "\n"},
	} {
		if n := strings.Count(cfg, sub.old); n != 1 {
			t.Fatalf("%s changed shape: the harness replaces %q, found %d times (want 1); update e2e/harness_test.go to match it",
				exampleCaddyfile, sub.old, n)
		}
		cfg = strings.Replace(cfg, sub.old, sub.new, 1)
	}
	want, ok := stepupDirective(example)
	if !ok {
		t.Fatalf("%s has no single stepup { ... } block", exampleCaddyfile)
	}
	// The sms line is the one line of the block the test changes; it must be in the
	// block (not, say, in a second site), once.
	if n := strings.Count(want, exampleSMSLine); n != 1 {
		t.Fatalf("%s changed shape: its stepup block has %q %d times (want 1); update e2e/harness_test.go to match it",
			exampleCaddyfile, exampleSMSLine, n)
	}
	want = strings.Replace(want, exampleSMSLine, testSMSLine(relayURL), 1)
	got, ok := stepupDirective(cfg)
	if !ok || got != want {
		t.Fatalf("the test config's stepup block differs from the example's (with only its sms line changed):\n%s\nwant:\n%s", got, want)
	}
	return cfg
}

// stepupDirective returns the text of the one "stepup {" block of a Caddyfile, from
// the directive to its closing brace.
func stepupDirective(cfg string) (string, bool) {
	const open = "\tstepup {\n"
	i := strings.Index(cfg, open)
	if i < 0 || strings.Count(cfg, open) != 1 {
		return "", false
	}
	depth := 0
	for j := i; j < len(cfg); j++ {
		switch cfg[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return cfg[i : j+1], true
			}
		}
	}
	return "", false
}

// checkListeners makes sure the adapted config listens on the test's two loopback
// ports and nowhere else (a site added to the example would otherwise bind a fixed
// port, or go untested).
func checkListeners(t *testing.T, cfgJSON []byte, ports ...string) {
	t.Helper()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatalf("reading the adapted config: %v", err)
	}
	var got, want []string
	for _, srv := range cfg.Apps.HTTP.Servers {
		got = append(got, srv.Listen...)
	}
	for _, p := range ports {
		want = append(want, "127.0.0.1:"+p)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the test config listens on %v, want %v only: has %s a new site?", got, want, exampleCaddyfile)
	}
}

// stack is one running Caddy: the console and the gateway in front of it.
type stack struct {
	// base is the gateway's origin, http://127.0.0.1:PORT: the only address the
	// browser uses, as a user would.
	base string
	log  string

	// sms is the SMS relay the gateway sends its text messages to.
	sms *smsRelay
}

// url returns the absolute gateway URL of path.
func (s *stack) url(path string) string { return s.base + path }

// startStack runs Caddy in-process with Caddyfile.example on free loopback ports and
// stops it when the test ends. Each test gets its own: Caddy's memory store and the
// console's state are per process and are dropped when the config stops, so every
// journey starts with fresh bindings, sessions, instances and balance.
func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	consolePort, gatewayPort := freePort(t), freePort(t)
	// The relay starts first, so it stops last (cleanups run in reverse): after Caddy,
	// with no send in flight.
	relay := startSMSRelay(t)
	s := &stack{base: "http://127.0.0.1:" + gatewayPort, log: filepath.Join(dir, "caddy.log"), sms: relay}
	cfg := testCaddyfile(t, dir, consolePort, gatewayPort, relay.url)

	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("the caddyfile config adapter is not registered")
	}
	cfgJSON, warnings, err := adapter.Adapt([]byte(cfg), map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapting the Caddyfile: %v", err)
	}
	for _, w := range warnings {
		t.Logf("Caddyfile warning: %s", w.String())
	}
	checkListeners(t, cfgJSON, consolePort, gatewayPort)
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		if t.Failed() || os.Getenv("STEPUP_E2E_LOG") == "1" {
			if b, err := os.ReadFile(s.log); err == nil {
				t.Logf("Caddy log (%s):\n%s", s.log, tail(string(b), 60))
			}
		}
	})
	return s
}

// smsRelay is the test's SMS relay: the loopback HTTP endpoint the gateway's webhook
// provider posts every text message to, as it would to a production relay that passes
// them on to an SMS service. It checks each request is what the webhook provider
// documents (POST /send, Content-Type application/json, a body of exactly
// {"to": "<E.164 number>", "message": "..."}), records it, and answers 200. A request
// that is not fails the test and is answered 400, so the gateway also sees a failure.
type smsRelay struct {
	t   *testing.T
	url string // http://127.0.0.1:PORT

	mu   sync.Mutex
	msgs []smsMessage
}

// smsMessage is one text message the relay received.
type smsMessage struct {
	To      string `json:"to"`
	Message string `json:"message"`
}

// e164 is a phone number as the gateway sends it: +, a country code not starting with
// 0, 8 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// smsCodeText is a code message as the gateway words it: the issuer, the code, the
// code's lifetime. Groups: the code, the lifetime.
var smsCodeText = regexp.MustCompile(`^Demo Console verification code: ([0-9]{6})\. It expires in ([0-9]+ (?:minutes?|seconds?))\.`)

func startSMSRelay(t *testing.T) *smsRelay {
	t.Helper()
	r := &smsRelay{t: t}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *smsRelay) serve(w http.ResponseWriter, req *http.Request) {
	refuse := func(format string, args ...any) {
		r.t.Errorf("SMS relay: "+format, args...)
		http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/send" {
		refuse("got %s %s, want POST /send", req.Method, req.URL.Path)
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse("Content-Type %q, want application/json", req.Header.Get("Content-Type"))
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 64<<10))
	dec.DisallowUnknownFields()
	var m smsMessage
	if err := dec.Decode(&m); err != nil {
		refuse("body is not {\"to\", \"message\"} JSON: %v", err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		refuse("body has more than one JSON value")
		return
	}
	if !e164.MatchString(m.To) || strings.TrimSpace(m.Message) == "" {
		refuse("message %+v: want an E.164 number and a text", m)
		return
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// count returns how many messages the relay has received. The gateway sends before it
// answers the browser, so a page that says a code went out comes after its message.
func (r *smsRelay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// messagesSince returns the messages received after the first n, in order.
func (r *smsRelay) messagesSince(n int) []smsMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[min(n, len(r.msgs)):])
}

// lastCode returns the code of the latest message sent to the E.164 number to and
// that message's lifetime ("5 minutes"), failing the test if there is none or it is
// not worded as a code message.
func (r *smsRelay) lastCode(to string) (code, lifetime string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].To != to {
			continue
		}
		m := smsCodeText.FindStringSubmatch(r.msgs[i].Message)
		if m == nil {
			r.t.Fatalf("the latest SMS to %s is not a Demo Console code message: %q", to, r.msgs[i].Message)
		}
		return m[1], m[2]
	}
	r.t.Fatalf("no SMS was sent to %s; the relay has %+v", to, r.msgs)
	return "", ""
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

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
func newBrowser(t *testing.T, path string) context.Context {
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
}

// newPage starts Caddy and then the browser, so that the browser closes first when
// the test ends (cleanups run in reverse) and Caddy stops with no client connected.
func newPage(t *testing.T) *page {
	path := findChromium(t)
	s := startStack(t)
	return &page{t: t, ctx: newBrowser(t, path), s: s}
}

// newDevice starts another browser, with a profile (cookies) of its own, on the same
// Caddy: the same user on a second device.
func (p *page) newDevice() *page {
	p.t.Helper()
	return &page{t: p.t, ctx: newBrowser(p.t, findChromium(p.t)), s: p.s}
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

// expectChallengePage checks that the browser was sent to a challenge of the gateway
// (the challenge or the binding page) and returns its path.
func (p *page) expectChallengePage(resp *network.Response) string {
	p.t.Helper()
	loc := p.location()
	if !strings.HasPrefix(loc.Path, "/.stepup/challenge/") || loc.RawQuery != "" {
		p.fail("expected the gateway's challenge page, but the browser shows %s", loc.RequestURI())
	}
	if resp == nil || resp.Status != 200 {
		p.fail("expected status 200 on the challenge page, got %v", resp)
	}
	return loc.Path
}

// expectFreshChallenge checks a challenge page just opened: for user, no error yet.
func (p *page) expectFreshChallenge(user string) {
	p.t.Helper()
	if got := p.text("challenge-user"); got != user {
		p.fail("challenge is for %q", got)
	}
	if p.has("challenge-error") {
		p.fail("a fresh challenge page shows an error")
	}
}

// enterWrongCode types a wrong authenticator code: the same challenge comes back
// with 401, saying the code is not right.
func (p *page) enterWrongCode(app *authenticator, challengePath string) {
	p.t.Helper()
	p.fill("code", app.wrongCode())
	resp := p.click("challenge-submit")
	if got := p.location().Path; got != challengePath {
		p.fail("after a wrong code the browser shows %s, want the challenge %s", got, challengePath)
	}
	if resp.Status != 401 {
		p.fail("status after a wrong code: %d, want 401", resp.Status)
	}
	if got := p.text("challenge-error"); !strings.Contains(got, "not right") {
		p.fail("challenge error %q does not say the code is not right", got)
	}
}

// submitLogin fills in and submits the console's login page through the gateway, and
// returns the final document response, wherever the gateway sent the browser, and
// every response on the way (see clickRecording).
func (p *page) submitLogin(user string) (*network.Response, []hop) {
	p.t.Helper()
	p.open("/login")
	p.fill("username", user)
	p.fill("password", user+"-password")
	return p.clickRecording("login-submit")
}

// signIn signs in on the console's login page through the gateway and checks the
// dashboard (a user without login protection).
func (p *page) signIn(user string) {
	p.t.Helper()
	resp, _ := p.submitLogin(user)
	p.expectSignedIn(resp, user)
}

// expectSignedIn checks that the browser shows the console's dashboard for user.
func (p *page) expectSignedIn(resp *network.Response, user string) {
	p.t.Helper()
	p.expectAt(resp, 200, "/dashboard")
	if got := p.text("whoami"); got != user {
		p.fail("signed in as %q, the console shows %q", user, got)
	}
	if got := p.text("dashboard-title"); got != "Dashboard" {
		p.fail("dashboard title %q", got)
	}
}

// signOut uses the console's sign-out link, which the gateway watches.
func (p *page) signOut() {
	p.t.Helper()
	resp := p.click("nav-logout")
	p.expectAt(resp, 200, "/login")
	if !p.has("login-form") {
		p.fail("expected the login form after signing out")
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

// Cookies of a login: the demo console's (its HttpOnly session and the user name that
// scripts can read) and the gateway's session.
const (
	consoleSessionCookie = "console_session"
	consoleUserCookie    = "console_user"
	gatewaySessionCookie = "stepup_session"
)

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

// expectLoginHeld checks that nothing of a held login has reached the browser: none
// of the console's cookies, in the cookie store (HttpOnly ones included) or to the
// page's scripts, and no gateway session.
func (p *page) expectLoginHeld() {
	p.t.Helper()
	for _, name := range []string{consoleSessionCookie, consoleUserCookie, gatewaySessionCookie} {
		if c := p.cookie(name); c != nil {
			p.fail("the login is held, but the browser has the cookie %s=%s", c.Name, c.Value)
		}
	}
	if dc := p.documentCookie(); strings.Contains(dc, consoleUserCookie+"=") {
		p.fail("the login is held, but the page's scripts see the console's cookie: %q", dc)
	}
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

// authenticator is the test's authenticator app: it holds the secret read off the
// binding page and computes codes with the gateway's own TOTPCode.
//
// It also tracks the replay guard. The gateway records the time step of every code it
// accepts (binding records the step of the second code) and refuses any later code
// for that step or an earlier one (RFC 6238 §5.2). A test runs far faster than a
// person, so the next code is usually wanted in the same 30-second window as the
// last accepted one: the current code would be refused as a replay. The gateway
// accepts one step of clock skew either way, so the app then gives the NEXT step's
// code (what a real app shows a moment later); only if that too is used up does it
// wait for the step to change.
type authenticator struct {
	secret []byte
	last   int64 // the last step the gateway accepted a code for; 0 before binding
}

func newAuthenticator(t *testing.T, base32Secret string) *authenticator {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(base32Secret)
	if err != nil || len(secret) < 16 {
		t.Fatalf("binding page secret %q is not base32 without padding of a 128-bit or larger key: %v", base32Secret, err)
	}
	return &authenticator{secret: secret}
}

func stepOf(t time.Time) int64 { return t.Unix() / int64(totpPeriod/time.Second) }

func (a *authenticator) codeAt(step int64) string {
	return challenge.TOTPCode(a.secret, time.Unix(step*int64(totpPeriod/time.Second), 0))
}

// bindingCodes returns two consecutive codes, code1 for the step before now and code2
// for now, and records now's step as used: binding accepts code2 within
// [now-2, now+1] steps and then guards its step.
func (a *authenticator) bindingCodes() (code1, code2 string) {
	now := time.Now()
	a.last = stepOf(now)
	return challenge.TOTPCode(a.secret, now.Add(-totpPeriod)), challenge.TOTPCode(a.secret, now)
}

// nextCode returns a code the gateway will accept now: for a step after the last
// accepted one (the replay guard) and no more than one step ahead of the clock (the
// skew window). See the type's comment.
func (a *authenticator) nextCode(ctx context.Context) (string, error) {
	for {
		cur := stepOf(time.Now())
		next := max(a.last+1, cur)
		if next <= cur+1 {
			a.last = next
			return a.codeAt(next), nil
		}
		// Two codes already used in this window: wait for the step to change.
		wait := time.Until(time.Unix((cur+1)*int64(totpPeriod/time.Second), 0)) + 50*time.Millisecond
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// wrongCode returns six digits that are no code of the app within the gateway's
// window (and so also pass the form's [0-9]{6} pattern).
func (a *authenticator) wrongCode() string {
	cur := stepOf(time.Now())
	taken := map[string]bool{}
	for s := cur - 2; s <= cur+2; s++ {
		taken[a.codeAt(s)] = true
	}
	for n := 123456; ; n = (n + 111111) % 1000000 {
		if c := fmt.Sprintf("%06d", n); !taken[c] {
			return c
		}
	}
}

// bindingPage checks the binding page the browser shows and returns the app that
// scanned it. The secret must be on the page, as an inline QR image and as text,
// and never in the URL.
func (p *page) bindingPage() (*authenticator, string) {
	p.t.Helper()
	// A challenge's binding page offers every enabled method (the example enables a
	// phone too); binding from the settings page offers just the app.
	want := "Bind an authenticator app"
	if p.has("phone-form") {
		want = "Bind a second factor"
	}
	if got := p.text("bind-title"); got != want {
		p.fail("binding page title %q, want %q", got, want)
	}
	src := p.attr("bind-qr", "src")
	if !strings.HasPrefix(src, "data:image/png;base64,") {
		p.fail("QR code src is not an inline PNG: %.60q", src)
	}
	secret := p.text("bind-secret")
	if secret == "" {
		p.fail("no secret on the binding page")
	}
	if loc := p.location().String(); strings.Contains(strings.ToUpper(loc), secret) {
		p.fail("the binding page URL %s contains the secret", loc)
	}
	return newAuthenticator(p.t, secret), src
}

// bind enters two consecutive codes on the binding page and submits it.
func (p *page) bind(a *authenticator) *network.Response {
	p.t.Helper()
	code1, code2 := a.bindingCodes()
	p.fill("code1", code1)
	p.fill("code2", code2)
	return p.click("bind-submit")
}

// bindRecording is bind, also returning the responses of the navigation it starts
// (see clickRecording).
func (p *page) bindRecording(a *authenticator) (*network.Response, []hop) {
	p.t.Helper()
	code1, code2 := a.bindingCodes()
	p.fill("code1", code1)
	p.fill("code2", code2)
	return p.clickRecording("bind-submit")
}

// expectReleasedLogin checks the answer that completed a held login: the console's
// own, a 303 to its dashboard setting its two cookies, with the gateway's session
// cookie added and its pending-login cookie cleared.
func (p *page) expectReleasedLogin(h hop) {
	p.t.Helper()
	if h.Status != 303 {
		p.fail("the released login answered %d, want the console's 303", h.Status)
	}
	if loc := h.header("Location"); len(loc) != 1 || loc[0] != "/dashboard" {
		p.fail("the released login redirects to %q, want the console's /dashboard", loc)
	}
	set, cleared := h.setCookies()
	for _, name := range []string{consoleSessionCookie, consoleUserCookie, gatewaySessionCookie} {
		if !slices.Contains(set, name) {
			p.fail("the released login does not set %s; it sets %v", name, set)
		}
	}
	if !slices.Contains(cleared, "stepup_login") {
		p.fail("the released login does not clear the pending-login cookie; it clears %v", cleared)
	}
}

// expectHeldLogin checks the gateway's answer to a login it holds: a 303 to its
// challenge page that sets the pending-login cookie and nothing of the console's.
func (p *page) expectHeldLogin(h hop) {
	p.t.Helper()
	if h.Status != 303 {
		p.fail("the held login answered %d, want 303 to the challenge", h.Status)
	}
	if loc := h.header("Location"); len(loc) != 1 || !strings.HasPrefix(loc[0], "/.stepup/challenge/") {
		p.fail("the held login redirects to %q, want the gateway's challenge", loc)
	}
	if set, cleared := h.setCookies(); !slices.Equal(set, []string{"stepup_login"}) || len(cleared) != 0 {
		p.fail("the held login sets cookies %v and clears %v; want the pending-login cookie alone", set, cleared)
	}
}

// expectSignedInCookies checks the browser's cookies after a login: the console's,
// as the console set them, and the gateway's session.
func (p *page) expectSignedInCookies() {
	p.t.Helper()
	if c := p.cookie(consoleSessionCookie); c == nil || !c.HTTPOnly || c.Path != "/" {
		p.fail("console session cookie after the login: %+v, want HttpOnly with Path=/", c)
	}
	if c := p.cookie(consoleUserCookie); c == nil || c.HTTPOnly || c.Value != p.text("whoami") {
		p.fail("console user cookie after the login: %+v, want the user's name, readable by scripts", c)
	}
	if dc := p.documentCookie(); !strings.Contains(dc, consoleUserCookie+"=") {
		p.fail("the page's scripts do not see the console's user cookie: %q", dc)
	}
	if c := p.cookie(gatewaySessionCookie); c == nil || !c.HTTPOnly {
		p.fail("gateway session cookie after the login: %+v", c)
	}
}

// bindFromSettings binds an authenticator app from the gateway's security settings
// page, as a signed-in user who has none, and returns the app.
func (p *page) bindFromSettings() *authenticator {
	p.t.Helper()
	resp := p.click("nav-security")
	p.expectAt(resp, 200, "/.stepup/")
	if got := p.text("settings-title"); got != "Two-factor authentication" {
		p.fail("settings title %q", got)
	}
	if got := p.text("totp-status"); got != "Not bound." {
		p.fail("authenticator status before binding: %q", got)
	}
	p.expectChallengePage(p.click("bind-start"))
	a, _ := p.bindingPage()
	p.screenshot("bind")
	resp = p.bind(a)
	p.expectAt(resp, 200, "/.stepup/")
	if got := p.text("totp-status"); !strings.HasPrefix(got, "Bound on ") {
		p.fail("authenticator status after binding: %q", got)
	}
	if !p.has("unbind-form") || p.has("bind-start") {
		p.fail("settings should offer unbinding, not binding, once bound")
	}
	return a
}

// The phone the journeys bind: a UK number from Ofcom's range for drama, never a
// real subscriber's, as the user types it, as the gateway sends to it (E.164), and
// masked as the pages show it.
const (
	demoPhoneTyped  = "+44 7700 900123"
	demoPhoneE164   = "+447700900123"
	demoPhoneMasked = "+44 ••• ••• 0123"
)

// expectPhoneBindingOffered checks that the binding page offers a phone besides the
// authenticator app: a number to enter and a button to send it a code, and no code
// to enter before one is sent.
func (p *page) expectPhoneBindingOffered() {
	p.t.Helper()
	for _, id := range []string{"phone-form", "phone-number", "phone-send"} {
		if !p.has(id) {
			p.fail("the binding page does not offer a phone (no #%s)", id)
		}
	}
	if p.has("phone-code") {
		p.fail("the binding page asks for a phone code before one was sent")
	}
}

// startPhoneBinding enters the journeys' phone on the binding page and asks for a
// code. It checks that the page then asks for the code, naming the masked number,
// and that exactly one message went out, to that number, and returns its code.
func (p *page) startPhoneBinding() string {
	p.t.Helper()
	before := p.s.sms.count()
	p.fill("phone-number", demoPhoneTyped)
	p.expectChallengePage(p.click("phone-send"))
	if got := p.text("phone-to"); got != demoPhoneMasked {
		p.fail("the binding page says the code went to %q, want %q", got, demoPhoneMasked)
	}
	if !p.has("phone-code") || !p.has("phone-confirm") {
		p.fail("after sending a code the binding page does not ask for it")
	}
	if msgs := p.s.sms.messagesSince(before); len(msgs) != 1 || msgs[0].To != demoPhoneE164 {
		p.fail("sending a code to %s: the relay got %+v, want one message to %s", demoPhoneTyped, msgs, demoPhoneE164)
	}
	code, _ := p.s.sms.lastCode(demoPhoneE164)
	return code
}

// expectSMSChallenge checks a challenge page for a user whose only factor is the
// phone: no authenticator form, a button that sends a code to the masked number, and
// no code form before a code is sent.
func (p *page) expectSMSChallenge() {
	p.t.Helper()
	if p.has("challenge-form") {
		p.fail("the user has no authenticator app bound, but the challenge page asks for its code")
	}
	if got, want := p.text("sms-send"), "Send a code to "+demoPhoneMasked; got != want {
		p.fail("the SMS button says %q, want %q", got, want)
	}
	if p.has("sms-code") {
		p.fail("the challenge page asks for an SMS code before one was sent")
	}
}

// sendSMSCode clicks "Send a code" on the challenge page and checks that the page
// then asks for the code sent to the masked number, and that exactly one message went
// out, to the bound number, worded as a code message naming the issuer and the code's
// lifetime (at most 10 minutes, NIST SP 800-63B). It returns the code.
func (p *page) sendSMSCode() string {
	p.t.Helper()
	before := p.s.sms.count()
	p.expectChallengePage(p.click("sms-send"))
	if !p.has("sms-code") || !p.has("sms-submit") {
		p.fail("after sending a code the challenge page does not ask for it")
	}
	if got := p.text("sms-to"); got != demoPhoneMasked {
		p.fail("the challenge page says the code went to %q, want %q", got, demoPhoneMasked)
	}
	msgs := p.s.sms.messagesSince(before)
	if len(msgs) != 1 || msgs[0].To != demoPhoneE164 {
		p.fail("sending a code: the relay got %+v, want one message to %s", msgs, demoPhoneE164)
	}
	code, lifetime := p.s.sms.lastCode(demoPhoneE164)
	p.t.Logf("SMS to %s: %q", msgs[0].To, msgs[0].Message)
	if !strings.HasPrefix(msgs[0].Message, "Demo Console ") {
		p.fail("the SMS does not name the issuer: %q", msgs[0].Message)
	}
	var n int
	var unit string
	if _, err := fmt.Sscanf(lifetime, "%d %s", &n, &unit); err != nil || n < 1 ||
		(strings.HasPrefix(unit, "minute") && n > 10) {
		p.fail("the SMS gives the code's lifetime as %q, want 10 minutes at most", lifetime)
	}
	return code
}

// otherCode returns six digits that are not code.
func otherCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}

// decodeQR reads the QR code of a data: URL with zbarimg. ok is false when zbarimg is
// not installed (outside CI, where it must be).
func decodeQR(t *testing.T, dataURL string) (text string, ok bool) {
	t.Helper()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if onCI() {
			t.Fatal("zbarimg not found; the test script installs zbar-tools")
		}
		t.Log("zbarimg not found: not decoding the QR code (install zbar-tools)")
		return "", false
	}
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dataURL, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("QR code data URL is not base64: %v", err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--raw", "-q", file).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("zbarimg could not read the QR code: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("running zbarimg: %v", err)
	}
	return strings.TrimSpace(string(out)), true
}

// deleteWithoutChallenge deletes an instance on a recent second factor: its
// confirmation page and its form post both pass without a challenge.
func (p *page) deleteWithoutChallenge(id string) {
	p.t.Helper()
	resp := p.open("/instances/" + id + "/delete")
	p.expectAt(resp, 200, "/instances/"+id+"/delete")
	resp = p.click("delete-" + id)
	p.expectAt(resp, 200, "/instances?deleted="+id)
	if got := p.text("flash"); got != "Instance "+id+" deleted" {
		p.fail("flash %q", got)
	}
}
