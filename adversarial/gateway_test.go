package adversarial

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stepup/stepup/caddymodule"
	"github.com/caddy-stepup/stepup/internal/totptest"
)

// console is a console on loopback that records what reaches it.
type console interface {
	Requests(t *testing.T) []consoleRequest
	State(t *testing.T) consoleState
	Reset(t *testing.T)
}

// consoleKind starts one kind of console; every attack runs against each.
type consoleKind struct {
	name  string
	start func(t *testing.T, flags ...string) (console, string) // the console and its URL
}

var consoleKinds = []consoleKind{
	{"go", func(t *testing.T, flags ...string) (console, string) {
		c := startGoConsole(t, flags...)
		return c, c.URL
	}},
	{"python", func(t *testing.T, flags ...string) (console, string) {
		c := startPyConsole(t, flags...)
		return c, c.URL
	}},
}

// eachConsole runs f against a fresh console of every kind, started with flags
// ("--early-hints").
func eachConsole(t *testing.T, f func(t *testing.T, c console, consoleURL string), flags ...string) {
	for _, k := range consoleKinds {
		t.Run(k.name, func(t *testing.T) {
			c, u := k.start(t, flags...)
			f(t, c, u)
		})
	}
}

// stack is Caddy running the gateway in front of a console, on loopback.
type stack struct {
	t       *testing.T
	URL     string // http://127.0.0.1:PORT
	console console
	logFile string
}

const globals = `{
	admin off
	persist_config off
	auto_https off
	grace_period 1s
	storage file_system @DIR@/caddy-data
	log {
		output file @DIR@/caddy.log
		level DEBUG
	}
}
`

// startGateway runs Caddy with a site whose handlers are site (with @CONSOLE@ for the
// console's host:port), in front of console c. Caddy is one per process: tests in this
// package run one after another.
func startGateway(t *testing.T, c console, consoleURL, site string) *stack {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	u, _ := url.Parse(consoleURL)
	access := filepath.Join(dir, "access.log")
	if !strings.Contains(site, "\tlog {") {
		site = "\tlog {\n\t\toutput file @ACCESS@\n\t}\n" + site
	}
	site = strings.NewReplacer("@CONSOLE@", u.Host, "@ACCESS@", access).Replace(site)
	cfg := strings.ReplaceAll(globals, "@DIR@", dir) +
		"http://127.0.0.1:" + port + " {\n\tbind 127.0.0.1\n" + site + "\n}\n"
	adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting:\n%s\n%v", cfg, err)
	}
	for _, w := range warnings {
		t.Logf("Caddyfile warning: %s", w.String())
	}
	if err := caddy.Load(adapted, true); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	s := &stack{t: t, URL: "http://127.0.0.1:" + port, console: c, logFile: filepath.Join(dir, "caddy.log")}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(s.log(), 40))
		}
	})
	return s
}

// stepupSite is the usual site: the stepup block in front of reverse_proxy.
func stepupSite(block string) string {
	return "\tstepup {\n" + block + "\n\t}\n\treverse_proxy @CONSOLE@\n"
}

// loginBlock is the login route of the consoles, with the user learned per mode.
func loginBlock(userSource string) string {
	return "\t\tlogin /login {\n\t\t\tsuccess_status 200 303\n\t\t\tsuccess_cookie console_session\n\t\t\t" + userSource + "\n\t\t}\n"
}

// whoami is the recommended setup: the console says who signed in.
const whoami = "whoami /api/whoami user"

// bodyField is the fallback: the gateway reads the login body itself.
const bodyField = "user_field username"

// protectBlock protects the consoles' sensitive operations.
const protectBlock = `		logout /logout
		protect /api/instances/* {
			methods POST PUT DELETE
			name "instance changes"
		}
		protect /instances/*/delete /billing/pay /api/billing/pay {
			methods POST
			name "payments and deletions"
		}
`

func (s *stack) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// requestsTo returns the requests the console received whose target starts with prefix.
func (s *stack) requestsTo(method, prefix string) []consoleRequest {
	var out []consoleRequest
	for _, r := range s.console.Requests(s.t) {
		if strings.EqualFold(r.Method, method) && strings.HasPrefix(strings.ToLower(r.Target), prefix) {
			out = append(out, r)
		}
	}
	return out
}

// client is an HTTP client with its own cookie jar that never follows redirects.
type client struct {
	s    *stack
	jar  *cookiejar.Jar
	http *http.Client
}

func (s *stack) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{s: s, jar: jar, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

type response struct {
	*http.Response
	Body string
	// Informational are the 1xx answers that reached the client, in order.
	Informational []informational
}

type informational struct {
	Status int
	Header textproto.MIMEHeader
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("not JSON (%d): %q", r.StatusCode, r.Body)
	}
	return m
}

// setCookies returns the names of the cookies the answer sets with a value.
func (r response) setCookies() []string {
	var names []string
	for _, c := range r.Cookies() {
		if c.Value != "" && c.MaxAge >= 0 {
			names = append(names, c.Name)
		}
	}
	return names
}

// do sends a request with target (path and query) sent exactly as written, and
// header pairs.
func (c *client) do(method, target string, body io.Reader, header ...string) response {
	t := c.s.t
	t.Helper()
	req, err := http.NewRequest(method, c.s.URL+target, body)
	if err != nil || req.URL.RequestURI() != target {
		// Sent verbatim: Go would re-escape the target otherwise.
		req, err = http.NewRequest(method, c.s.URL+"/", body)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = target
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	var info []informational
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			info = append(info, informational{code, h})
			return nil
		},
	}))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Response: resp, Body: string(b), Informational: info}
}

// browser headers: a top-level navigation or form post from this site.
func (c *client) page(method, target string, form url.Values) response {
	c.s.t.Helper()
	h := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
		h = append(h, "Content-Type", "application/x-www-form-urlencoded", "Origin", c.s.URL)
	}
	return c.do(method, target, body, h...)
}

// api sends JSON as a script of the site would.
func (c *client) api(method, target string, body any, header ...string) response {
	c.s.t.Helper()
	var r io.Reader
	h := append([]string{"Accept", "application/json"}, header...)
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
		h = append(h, "Content-Type", "application/json")
	}
	return c.do(method, target, r, h...)
}

// raw sends a login-like body with a content type of the test's choosing.
func (c *client) raw(method, target, contentType, body string, header ...string) response {
	c.s.t.Helper()
	h := append([]string{"Accept", "application/json", "Content-Type", contentType}, header...)
	return c.do(method, target, strings.NewReader(body), h...)
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.s.URL + "/.stepup/") // sees the gateway-only cookies too
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// login signs in through the gateway with a form, as a browser does, and returns
// the gateway's answer.
func (c *client) login(user string) response {
	c.s.t.Helper()
	return c.page("POST", "/login", url.Values{"username": {user}, "password": {user + "-password"}})
}

// mustLogin signs in a user without login protection.
func (c *client) mustLogin(user string) {
	c.s.t.Helper()
	resp := c.login(user)
	if resp.StatusCode != http.StatusSeeOther || c.cookie("stepup_session") == "" || c.cookie("console_session") == "" {
		c.s.t.Fatalf("login %s: %d %v\n%s", user, resp.StatusCode, resp.Header, resp.Body)
	}
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	secretRE = regexp.MustCompile(`id="bind-secret">([A-Z2-7 ]+)<`)
	idRE     = regexp.MustCompile(`/challenge/([A-Za-z0-9_-]+)`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%v not found in:\n%s", re, body)
	}
	return m[1]
}

// bindTOTP binds an authenticator on the binding page at loc and returns the app
// holding its secret.
func (c *client) bindTOTP(loc string) *totptest.App {
	t := c.s.t
	t.Helper()
	page := c.page("GET", loc, nil)
	app, err := totptest.FromBase32(strings.ReplaceAll(match(t, secretRE, page.Body), " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	code1, code2 := app.BindingCodes()
	done := c.page("POST", loc, url.Values{
		"csrf":  {match(t, csrfRE, page.Body)},
		"code1": {code1},
		"code2": {code2},
	})
	if done.StatusCode >= 400 {
		t.Fatalf("binding: %d %s", done.StatusCode, done.Body)
	}
	return app
}

// authServer is an auth layer for header mode: forward_auth asks it who a request
// is, and it answers from the "sso" cookie, as a single sign-on proxy would.
func startAuthServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie("sso")
		if err != nil || ck.Value == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Remote-User", ck.Value)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Host
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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

// consoleUser asks the console, through the gateway and with the client's cookies,
// who the client is signed in as there ("" for nobody).
func (c *client) consoleUser() string {
	c.s.t.Helper()
	resp := c.api("GET", "/api/whoami", nil)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	u, _ := resp.json(c.s.t)["user"].(string)
	return u
}
