package caddymodule

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/examples/democonsole"
)

// stack is the stepup handler provisioned from a Caddyfile block, in front of the
// demo console, served on a loopback test server.
type stack struct {
	t   *testing.T
	h   *Handler
	srv *httptest.Server
}

const demoBlock = `stepup {
	login /login {
		success_status 200 303
		success_cookie console_session
	}
	logout /logout
	protect /instances/*/delete {
		max_age 5m
		name "instance changes"
	}
	protect /api/instances/* {
		methods POST PUT DELETE
		max_age 5m
		name "instance changes"
	}
	protect /billing/pay /api/billing/* {
		methods POST
		max_age 2m
		name "payments"
	}
}`

func newGateway(t *testing.T, block string) *stack {
	t.Helper()
	return newGatewayFor(t, block, democonsole.New())
}

// newGatewayFor puts the gateway in front of a given console (several gateway
// instances in front of one console).
func newGatewayFor(t *testing.T, block string, console http.Handler) *stack {
	t.Helper()
	return serve(t, provision(t, block), console)
}

// serve serves h in front of console on a loopback test server.
func serve(t *testing.T, h *Handler, console http.Handler) *stack {
	t.Helper()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		console.ServeHTTP(w, r)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r, next); err != nil {
			status := http.StatusInternalServerError
			var he caddyhttp.HandlerError
			if errors.As(err, &he) {
				status = he.StatusCode
			}
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	return &stack{t: t, h: h, srv: srv}
}

// provision parses a stepup block and provisions it as Caddy would.
func provision(t *testing.T, block string) *Handler {
	t.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return provisioned(t, h)
}

// provisioned provisions a configured handler as Caddy would.
func provisioned(t *testing.T, h *Handler) *Handler {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	unloads.Store(h, cancel)
	t.Cleanup(func() { unload(h) })
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	// The operator's log, shown only when a test fails.
	h.logger = zaptest.NewLogger(t)
	return h
}

// unloads holds the cancel func of each provisioned handler's config context.
var unloads sync.Map

// unload cleans h's config up, as Caddy does when it unloads a config: the handler
// and the modules it loaded (its store) let go of what they hold. Doing it again
// changes nothing.
func unload(h *Handler) {
	_ = h.Cleanup()
	if f, ok := unloads.LoadAndDelete(h); ok {
		f.(context.CancelFunc)()
	}
}

// client is a browser-like or API client with its own cookie jar, never following
// redirects, so tests see every answer.
type client struct {
	g    *stack
	jar  *cookiejar.Jar
	http *http.Client
}

func (g *stack) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{g: g, jar: jar, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

type response struct {
	*http.Response
	Body string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("not JSON (%d): %q", r.StatusCode, r.Body)
	}
	return m
}

func (c *client) do(method, path string, body io.Reader, header ...string) response {
	c.g.t.Helper()
	req, err := http.NewRequest(method, c.g.srv.URL+path, body)
	if err != nil {
		c.g.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Response: resp, Body: string(b)}
}

// browser headers: a top-level navigation from this site.
func (c *client) page(method, path string, form url.Values) response {
	c.g.t.Helper()
	var body io.Reader
	h := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}
	if form != nil {
		body = strings.NewReader(form.Encode())
		h = append(h, "Content-Type", "application/x-www-form-urlencoded", "Origin", c.g.srv.URL, "Referer", c.g.srv.URL+"/billing")
	}
	return c.do(method, path, body, h...)
}

func (c *client) api(method, path string, body any, header ...string) response {
	c.g.t.Helper()
	var r io.Reader
	h := append([]string{"Accept", "application/json"}, header...)
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
		h = append(h, "Content-Type", "application/json")
	}
	return c.do(method, path, r, h...)
}

func (c *client) login(user string) {
	c.g.t.Helper()
	resp := c.page("POST", "/login", url.Values{"username": {user}, "password": {user + "-password"}})
	if resp.StatusCode != http.StatusSeeOther || c.cookie("stepup_session") == "" {
		c.g.t.Fatalf("login %s: %d, session cookie %q", user, resp.StatusCode, c.cookie("stepup_session"))
	}
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.g.srv.URL + "/.stepup/") // sees the gateway-only cookies too
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

var (
	secretRE = regexp.MustCompile(`id="bind-secret">([A-Z2-7 ]+)<`)
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%v not found in page:\n%s", re, body)
	}
	return m[1]
}

// bindTOTP binds an authenticator for the signed-in user through the settings page,
// like a person would, and returns the secret.
func (c *client) bindTOTP() []byte {
	t := c.g.t
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	start := c.page("POST", "/.stepup/totp/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	if start.StatusCode != http.StatusSeeOther {
		t.Fatalf("start binding: %d %s", start.StatusCode, start.Body)
	}
	loc := start.Header.Get("Location")
	page := c.page("GET", loc, nil)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(match(t, secretRE, page.Body), " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	done := c.page("POST", loc, url.Values{
		"csrf":  {match(t, csrfRE, page.Body)},
		"code1": {challenge.TOTPCode(secret, now.Add(-30*time.Second))},
		"code2": {challenge.TOTPCode(secret, now)},
	})
	if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != "/.stepup/?saved=totp" {
		t.Fatalf("confirm binding: %d %q %s", done.StatusCode, done.Header.Get("Location"), done.Body)
	}
	// Binding passes a challenge and so leaves a fresh step-up token; forget it, so
	// the test starts from "bound, no recent second factor".
	c.jar.SetCookies(mustURL(c.g.srv.URL), []*http.Cookie{{Name: "stepup_token", Value: "", MaxAge: -1}})
	if c.cookie("stepup_token") != "" {
		t.Fatal("token cookie still set")
	}
	return secret
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
