package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
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

	"go.uber.org/zap/zaptest"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// testGateway is the gateway's flows built directly (no Caddy) in front of a console,
// on a loopback test server, with the parts it acts with at hand.
type testGateway struct {
	t          *testing.T
	g          *Gateway
	srv        *httptest.Server
	store      store.Store
	tokens     *token.Tokens
	challenges *challenge.Service
	events     *recordedEvents
}

// setup is what a test configures: the demo's routes and rules unless it changes them.
type setup struct {
	opts    Options
	keys    testKeys
	store   store.Store
	sms     challenge.SMSSender
	limits  challenge.Limits
	console http.Handler
	issuer  string
}

// demoSetup is the demo console's configuration (Caddyfile.example's, in Go).
func demoSetup() *setup {
	return &setup{
		issuer: "caddy-stepup",
		opts: Options{
			Prefix: "/.stepup",
			Login: &LoginOptions{Path: "/login", Method: "POST", UserField: "username", SuccessStatus: []int{200, 303},
				SuccessCookie: "console_session", MaxBody: 64 << 10, MaxHeldResponse: 64 << 10},
			Logout: "/logout",
			Rules: policy.Rules{
				{Name: "instance changes", Paths: []string{"/instances/*/delete"}, MaxAge: 5 * time.Minute},
				{Name: "instance changes", Paths: []string{"/api/instances/*"}, Methods: []string{"POST", "PUT", "DELETE"}, MaxAge: 5 * time.Minute},
				{Name: "payments", Paths: []string{"/billing/pay", "/api/billing/*"}, Methods: []string{"POST"}, MaxAge: 2 * time.Minute},
			},
			Settings:       policy.Settings{Methods: []policy.Method{policy.TOTP}},
			MaxHeldRequest: 1 << 20,
		},
	}
}

// Changes to the demo setup.

// loginFor requires login protection of users (a mandate).
func loginFor(users ...string) func(*setup) {
	return func(s *setup) {
		s.opts.Settings.Mandates = map[policy.Kind]policy.Audience{policy.Login: {Users: users}}
	}
}

func withTokenHeader(s *setup) { s.opts.TokenHeader = DefaultTokenHeader }

func withStore(st store.Store) func(*setup) { return func(s *setup) { s.store = st } }

// testKeys are the keys of a gateway: instances that share a store share them too.
type testKeys struct{ signing, sealing, form []byte }

func newKeys(t *testing.T) testKeys { return testKeys{randomKey(t), randomKey(t), randomKey(t)} }

func withKeys(k testKeys) func(*setup) { return func(s *setup) { s.keys = k } }

// withRedis keeps state in a real Redis, with a client of this gateway's own.
func withRedis(t *testing.T, addr, prefix string) func(*setup) {
	return withRedisURL(t, "redis://"+addr+"/0", prefix)
}

// withRedisURL is withRedis for any URL the store understands (a Cluster's).
func withRedisURL(t *testing.T, url, prefix string) func(*setup) {
	return func(s *setup) {
		c, err := store.ParseRedisURL(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// A slow replica acknowledgement on a busy machine is not a missing one.
		st, err := store.NewRedisWith(c, store.RedisOptions{Prefix: prefix, Replicas: store.AutoReplicas, WaitTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s.store = st
	}
}

func withConsole(h http.Handler) func(*setup) { return func(s *setup) { s.console = h } }

func withLogin(f func(*LoginOptions)) func(*setup) { return func(s *setup) { f(s.opts.Login) } }

func withLimits(l challenge.Limits) func(*setup) { return func(s *setup) { s.limits = l } }

// withSMS offers SMS codes (after the authenticator app), sent through outbox.
func withSMS(outbox *smsOutbox) func(*setup) {
	return func(s *setup) {
		s.sms, s.opts.SMS, s.issuer = outbox, true, "Demo Console"
		s.opts.Settings.Methods = []policy.Method{policy.TOTP, policy.SMS}
	}
}

func newGateway(t *testing.T, changes ...func(*setup)) *testGateway {
	t.Helper()
	s := demoSetup()
	s.keys = newKeys(t)
	for _, c := range changes {
		c(s)
	}
	if s.store == nil {
		mem, err := store.NewMemory("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mem.Close() })
		s.store = mem
	}
	if s.console == nil {
		s.console = democonsole.New()
	}
	tokens, err := token.New(token.Config{Issuer: s.issuer, Audience: s.issuer, HMACKey: s.keys.signing}, s.store)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := challenge.NewSealer(s.keys.sealing)
	if err != nil {
		t.Fatal(err)
	}
	svc := challenge.Service{Store: s.store, Sealer: sealer, Issuer: s.issuer, Limits: s.limits}
	if s.sms != nil {
		svc.SMS = s.sms
	}
	challenges, err := challenge.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	events := &recordedEvents{counts: map[string]int{}}
	s.opts.Issuer, s.opts.FormKey, s.opts.Logger, s.opts.Events = s.issuer, s.keys.form, zaptest.NewLogger(t), events
	g, err := New(s.opts, s.store, tokens, challenges)
	if err != nil {
		t.Fatal(err)
	}
	next := consoleNext{s.console}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Serve(w, r, next); err != nil {
			if err := g.Respond(w, r, err); err != nil {
				w.WriteHeader(http.StatusBadGateway)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return &testGateway{t: t, g: g, srv: srv, store: s.store, tokens: tokens, challenges: challenges, events: events}
}

// consoleNext is a console as the rest of the route.
type consoleNext struct{ h http.Handler }

func (n consoleNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.h.ServeHTTP(w, r)
	return nil
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// recordedEvents counts what the gateway reports.
type recordedEvents struct {
	mu     sync.Mutex
	counts map[string]int
}

func (e *recordedEvents) add(k string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[k]++
}

func (e *recordedEvents) count(k string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[k]
}

func (e *recordedEvents) Served(k RouteKind, _ time.Duration) { e.add("served:" + k.String()) }
func (e *recordedEvents) Decision(v string)                   { e.add("decision:" + v) }
func (e *recordedEvents) Login(v string)                      { e.add("login:" + v) }
func (e *recordedEvents) StoreError()                         { e.add("store_error") }
func (e *recordedEvents) ConsoleSession(v string)             { e.add("console:" + v) }
func (e *recordedEvents) Lockout()                            { e.add("lockout") }
func (e *recordedEvents) SMSLimited()                         { e.add("sms:limited") }

// Verification counts the result alone and by method ("verification:sms:passed").
func (e *recordedEvents) Verification(m, v string) {
	e.add("verification:" + v)
	e.add("verification:" + m + ":" + v)
}
func (e *recordedEvents) LoginRisk(v string, signals []string) {
	e.add("risk:" + v)
	for _, s := range signals {
		e.add("signal:" + s)
	}
}

// smsOutbox is the SMS sender of the tests: it records every message, or fails on
// demand as a provider would.
type smsOutbox struct {
	mu       sync.Mutex
	messages []smsMessage
	fail     bool
}

type smsMessage struct{ To, Text string }

func (o *smsOutbox) Send(_ context.Context, m challenge.CodeMessage) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail {
		return errProviderRefused
	}
	o.messages = append(o.messages, smsMessage{m.To, m.Text})
	return nil
}

var errProviderRefused = &providerError{"carrier rejected the number"}

type providerError struct{ detail string }

func (e *providerError) Error() string { return "sms: test provider: " + e.detail }

func (o *smsOutbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.messages)
}

var smsCodeRE = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode reads the code out of the last message sent to number.
func (o *smsOutbox) lastCode(t *testing.T, number string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.messages) - 1; i >= 0; i-- {
		if o.messages[i].To == number {
			m := smsCodeRE.FindStringSubmatch(o.messages[i].Text)
			if m == nil {
				t.Fatalf("no code in %q", o.messages[i].Text)
			}
			return m[1]
		}
	}
	t.Fatalf("no message to %s", number)
	return ""
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// client is a browser-like or API client with its own cookie jar, never following
// redirects, so tests see every answer.
type client struct {
	g    *testGateway
	jar  *cookiejar.Jar
	http *http.Client
}

func (g *testGateway) client() *client {
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
	// Posted is the status of the post submit followed, when it followed one.
	Posted int
}

// submitFollow follows a post's redirect to a page of the gateway (post/redirect/get).
func (c *client) submitFollow(r response) response {
	c.g.t.Helper()
	return c.page("GET", r.Header.Get("Location"), nil)
}

// submit posts a form of the gateway's pages as a browser does, and follows its
// post/redirect/get back to a page of the gateway.
func (c *client) submit(path string, form url.Values) response {
	c.g.t.Helper()
	r := c.page("POST", path, form)
	if loc := r.Header.Get("Location"); r.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/.stepup/") {
		f := c.page("GET", loc, nil)
		f.Posted = r.StatusCode
		return f
	}
	r.Posted = r.StatusCode
	return r
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
	if resp.StatusCode != http.StatusSeeOther || c.cookie(sessionCookie) == "" {
		c.g.t.Fatalf("login %s: %d, session cookie %q", user, resp.StatusCode, c.cookie(sessionCookie))
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
	secret := decodeSecret(t, match(t, secretRE, page.Body))
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
	c.jar.SetCookies(mustURL(c.g.srv.URL), []*http.Cookie{{Name: tokenCookie, Value: "", MaxAge: -1}})
	if c.cookie(tokenCookie) != "" {
		t.Fatal("token cookie still set")
	}
	return secret
}

// nextCode returns a code the replay guard accepts: binding or a verification used
// the current step, so the next one must come from a later step (±1 step of skew
// makes the next step's code valid now).
func nextCode(secret []byte, step int) string {
	return challenge.TOTPCode(secret, time.Now().Add(time.Duration(step)*30*time.Second))
}

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func challengeCode(secret []byte, at time.Time) string { return challenge.TOTPCode(secret, at) }

// withRoles names root and the administrators.
func withRoles(root, admins []string) func(*setup) {
	return func(s *setup) { s.opts.Settings.Roles = policy.Roles{Root: root, Admins: admins} }
}

// withSettings changes who needs what.
func withSettings(f func(*policy.Settings)) func(*setup) {
	return func(s *setup) { f(&s.opts.Settings) }
}

func limitsLockAfter(n int) challenge.Limits { return challenge.Limits{LockAfter: n} }
