package caddymodule

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/internal/redistest"
	"github.com/caddy-stepup/stepup/sms"
	"github.com/caddy-stepup/stepup/store"
)

// slowPath is a console page that takes consoleDelay to answer: the gateway's own time
// on it must not include that.
const (
	slowPath     = "/slow"
	consoleDelay = 100 * time.Millisecond
)

// caddyStack is a real Caddy running the gateway in front of the demo console, with
// its admin endpoint (which serves /metrics) on a loopback port.
type caddyStack struct {
	t      *testing.T
	base   string // the gateway's origin
	admin  string // the admin endpoint's origin
	outbox string // the sms log provider's outbox
	jar    http.CookieJar
	http   *http.Client
}

// startCaddy runs Caddy in this process with the stepup block (@OUTBOX@ standing for
// the SMS outbox) in front of the demo console, and stops it when the test ends.
// Caddy is one per process: tests that use this run one after another.
func startCaddy(t *testing.T, block string) *caddyStack {
	t.Helper()
	dir := t.TempDir()
	console := democonsole.New()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == slowPath {
			time.Sleep(consoleDelay)
			_, _ = io.WriteString(w, "slow\n")
			return
		}
		console.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	port, adminPort := freeLoopbackPort(t), freeLoopbackPort(t)
	s := &caddyStack{t: t, base: "http://127.0.0.1:" + port, admin: "http://127.0.0.1:" + adminPort, outbox: filepath.Join(dir, "outbox.jsonl")}
	cfg := `{
	admin 127.0.0.1:` + adminPort + `
	persist_config off
	auto_https off
	grace_period 1s
	storage file_system ` + filepath.Join(dir, "caddy-data") + `
	log {
		output file ` + filepath.Join(dir, "caddy.log") + `
	}
}
http://127.0.0.1:` + port + ` {
	bind 127.0.0.1
	` + strings.ReplaceAll(block, "@OUTBOX@", s.outbox) + `
	reverse_proxy ` + strings.TrimPrefix(upstream.URL, "http://") + `
}
`
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting:\n%s\n%v", cfg, err)
	}
	if err := caddy.Load(adapted, true); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "caddy.log")); err == nil {
				t.Logf("Caddy log:\n%s", tailLines(string(b), 40))
			}
		}
	})
	s.jar, _ = cookiejar.New(nil)
	s.http = &http.Client{Jar: s.jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// send makes a request to the gateway: a browser's (form, or nil) when form is set or
// the method is GET with html, else an API client's with a JSON body.
func (s *caddyStack) send(method, path string, body io.Reader, header ...string) (*http.Response, string) {
	s.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = s.base + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *caddyStack) page(method, path string, form url.Values) (*http.Response, string) {
	s.t.Helper()
	h := []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
		h = append(h, "Content-Type", "application/x-www-form-urlencoded", "Origin", s.base)
	}
	return s.send(method, path, body, h...)
}

func (s *caddyStack) api(method, path string, body any) (*http.Response, map[string]any) {
	s.t.Helper()
	h := []string{"Accept", "application/json"}
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
		h = append(h, "Content-Type", "application/json")
	}
	resp, text := s.send(method, path, r, h...)
	var m map[string]any
	_ = json.Unmarshal([]byte(text), &m) // a console's answer may be anything
	return resp, m
}

func (s *caddyStack) login(user string) {
	s.t.Helper()
	resp, _ := s.page("POST", "/login", url.Values{"username": {user}, "password": {user + "-password"}})
	if resp.StatusCode != http.StatusSeeOther || s.cookie("stepup_session") == "" {
		s.t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
}

func (s *caddyStack) cookie(name string) string {
	u, _ := url.Parse(s.base + "/.stepup/")
	for _, c := range s.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (s *caddyStack) dropToken() {
	u, _ := url.Parse(s.base + "/")
	s.jar.SetCookies(u, []*http.Cookie{{Name: "stepup_token", Value: "", MaxAge: -1}})
}

var smsCodeRE = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode is the code in the newest message of the outbox.
func (s *caddyStack) lastCode() string {
	s.t.Helper()
	msgs, err := sms.ReadOutbox(s.outbox, 1)
	if err != nil || len(msgs) == 0 {
		s.t.Fatalf("no message in the outbox: %v", err)
	}
	m := smsCodeRE.FindStringSubmatch(msgs[0].Message)
	if m == nil {
		s.t.Fatalf("no code in %q", msgs[0].Message)
	}
	return m[1]
}

// bindPhone binds a phone through the settings page, as a person would: one SMS sent.
func (s *caddyStack) bindPhone() {
	t := s.t
	t.Helper()
	_, settings := s.page("GET", "/.stepup/", nil)
	start, _ := s.page("POST", "/.stepup/phone/bind", url.Values{"csrf": {match(t, csrfRE, settings)}})
	loc := start.Header.Get("Location")
	if start.StatusCode != http.StatusSeeOther || loc == "" {
		t.Fatalf("start binding a phone: %d", start.StatusCode)
	}
	_, page := s.page("GET", loc, nil)
	csrf := match(t, csrfRE, page)
	sent, _ := s.page("POST", loc+"/phone", url.Values{"csrf": {csrf}, "number": {"+44 20 7946 0123"}})
	if sent.StatusCode != http.StatusSeeOther {
		t.Fatalf("send to the new phone: %d", sent.StatusCode)
	}
	done, _ := s.page("POST", loc, url.Values{"csrf": {csrf}, "phone_code": {s.lastCode()}})
	if done.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm the phone: %d", done.StatusCode)
	}
	s.dropToken()
}

// scrape reads the admin endpoint's /metrics.
func (s *caddyStack) scrape() scrape {
	s.t.Helper()
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		s.t.Fatalf("scraping: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("scraping: %s", resp.Status)
	}
	sc, err := parseScrape(resp.Body)
	if err != nil {
		s.t.Fatalf("scraping: %v", err)
	}
	return sc
}

// scrape is a parsed Prometheus text exposition: each sample by its name and labels
// ("name{a=\"x\",b=\"y\"}", labels sorted), and each family's type.
type scrape struct {
	samples map[string]float64
	types   map[string]string
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseScrape(r io.Reader) (scrape, error) {
	sc := scrape{samples: map[string]float64{}, types: map[string]string{}}
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			sc.types[f[2]] = f[3]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			return sc, fmt.Errorf("unreadable line %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return sc, fmt.Errorf("line %q: %v", line, err)
		}
		var labels []string
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, l[1]+`="`+l[2]+`"`)
		}
		sc.samples[seriesKey(m[1], labels...)] = v
	}
	return sc, lines.Err()
}

// seriesKey names a sample: labels are `a="x"` pairs, in any order.
func seriesKey(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	slices.Sort(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// has reports whether the scrape has the family name (a histogram's name, or one of
// its _bucket, _sum and _count) with a sample.
func (sc scrape) has(name string) bool {
	if sc.types[name] == "histogram" {
		name += "_count"
	}
	for k := range sc.samples {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

// value is a sample's value; the test fails when it is missing.
func (sc scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	k := seriesKey(name, labels...)
	v, ok := sc.samples[k]
	if !ok {
		t.Fatalf("no sample %s in the scrape", k)
	}
	return v
}

// sum adds up the samples of name whose labels include every one of labels.
func (sc scrape) sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range sc.samples {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') {
			continue
		}
		if !containsAll(rest, labels) {
			continue
		}
		total += v
	}
	return total
}

func containsAll(labelText string, labels []string) bool {
	for _, l := range labels {
		if !strings.Contains(labelText, l) {
			return false
		}
	}
	return true
}

// delta is how much a sample grew between two scrapes (0 for one absent from both).
func delta(before, after scrape, name string, labels ...string) float64 {
	k := seriesKey(name, labels...)
	return after.samples[k] - before.samples[k]
}

const metricsBlock = `stepup {
	login /login {
		success_status 200 303
		success_cookie console_session
	}
	logout /logout
	protect /api/instances/* {
		methods POST PUT DELETE
		name "instance changes"
	}
	methods totp sms
	sms log @OUTBOX@
}`

// TestMetricsScrape drives a real Caddy through the flows operators watch (a login, a
// phone bound with an SMS, a step-up challenge over the API with a send, a resend
// refused by a limit, a wrong code, the right one, an allowed request, an unprotected
// one behind a slow console page, ten wrong codes in a row that lock the user) and
// checks the admin endpoint's /metrics says exactly that.
func TestMetricsScrape(t *testing.T) {
	s := startCaddy(t, metricsBlock)
	before := s.scrape()

	s.login("alice")
	s.bindPhone() // an SMS sent, an SMS code passed

	// A step-up challenge over the API, answered by SMS.
	resp, body := s.api("DELETE", "/api/instances/i-1001", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("protected request without a second factor: %d %v", resp.StatusCode, body)
	}
	id, _ := body["challenge_id"].(string)
	verify, _ := body["verify_url"].(string)
	if r, b := s.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{}); r.StatusCode != http.StatusOK {
		t.Fatalf("send: %d %v", r.StatusCode, b)
	}
	if r, _ := s.api("POST", "/.stepup/api/challenges/"+id+"/sms", map[string]string{}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("resend at once: %d, want 429", r.StatusCode)
	}
	if r, _ := s.api("POST", verify, map[string]string{"method": "sms", "code": wrongCode(s.lastCode())}); r.StatusCode == http.StatusOK {
		t.Fatal("a wrong code passed")
	}
	if r, b := s.api("POST", verify, map[string]string{"method": "sms", "code": s.lastCode()}); r.StatusCode != http.StatusOK {
		t.Fatalf("right code: %d %v", r.StatusCode, b)
	}
	if r, b := s.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("allowed request: %d %v", r.StatusCode, b)
	}

	// Unprotected: the console takes consoleDelay; the gateway's own time must not.
	if r, _ := s.page("GET", slowPath, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("unprotected request: %d", r.StatusCode)
	}

	// Ten wrong codes in a row over two challenges (each takes five) lock alice.
	s.dropToken()
	for range 2 {
		_, body := s.api("DELETE", "/api/instances/i-1002", nil)
		verify, _ := body["verify_url"].(string)
		if verify == "" {
			t.Fatalf("no challenge: %v", body)
		}
		for range 5 {
			if r, _ := s.api("POST", verify, map[string]string{"method": "sms", "code": wrongCode(s.lastCode())}); r.StatusCode == http.StatusOK {
				t.Fatal("a wrong code passed")
			}
		}
	}

	after := s.scrape()
	want := func(name string, labels []string, n float64) {
		t.Helper()
		after.value(t, name, labels...) // present, even at 0
		if got := delta(before, after, name, labels...); got != n {
			t.Errorf("%s grew by %v, want %v", seriesKey(name, labels...), got, n)
		}
	}
	l := func(labels ...string) []string { return labels }
	want("caddy_stepup_sms_sends_total", l(`provider="log"`, `result="sent"`), 2)
	want("caddy_stepup_sms_sends_total", l(`provider="log"`, `result="limited"`), 1)
	want("caddy_stepup_verifications_total", l(`method="sms"`, `result="passed"`), 2)
	want("caddy_stepup_verifications_total", l(`method="totp"`, `result="passed"`), 0)
	want("caddy_stepup_lockouts_total", nil, 1)
	want("caddy_stepup_decisions_total", l(`verdict="allow"`), 1)
	want("caddy_stepup_decisions_total", l(`verdict="challenge"`), 3)
	want("caddy_stepup_store_errors_total", nil, 0)
	want("caddy_stepup_store_failures_total", l(`operation="live"`), 0)
	if got := after.sum("caddy_stepup_verifications_total", `method="sms"`) - before.sum("caddy_stepup_verifications_total", `method="sms"`); got != 13 {
		t.Errorf("SMS answers counted: %v, want 13 (2 passed, 11 wrong)", got)
	}
	if failed, ok := after.samples[seriesKey("caddy_stepup_sms_sends_total", `provider="log"`, `result="failed"`)]; ok && failed != before.samples[seriesKey("caddy_stepup_sms_sends_total", `provider="log"`, `result="failed"`)] {
		t.Errorf("a send failed: %v", failed)
	}

	// The gateway's own time, by route.
	const hist = "caddy_stepup_request_duration_seconds"
	if after.types[hist] != "histogram" || after.types["caddy_stepup_store_duration_seconds"] != "histogram" {
		t.Fatalf("types: %q %q", after.types[hist], after.types["caddy_stepup_store_duration_seconds"])
	}
	want(hist+"_count", l(`route="protected"`), 4)
	want(hist+"_count", l(`route="login"`), 1)
	want(hist+"_count", l(`route="unprotected"`), 1)
	if n := delta(before, after, hist+"_count", `route="pages"`); n < 10 {
		t.Errorf("%v requests to the gateway's pages timed, want at least 10", n)
	}
	for _, route := range []string{"protected", "pages", "login", "unprotected"} {
		n := delta(before, after, hist+"_count", `route="`+route+`"`)
		sum := delta(before, after, hist+"_sum", `route="`+route+`"`)
		if sum <= 0 || sum/n > 0.05 {
			t.Errorf("route %s: %v requests took %v s of the gateway's own time: implausible", route, n, sum)
		}
	}
	// The slow console page took consoleDelay, but not the gateway: its own time is
	// under half of it (the bucket le=0.05 has it).
	if n := delta(before, after, hist+"_bucket", `route="unprotected"`, `le="0.05"`); n != 1 {
		t.Errorf("the unprotected request's own time is over 50ms (bucket le=0.05 grew by %v): the console's time was counted", n)
	}

	// Store round trips, by operation.
	for _, op := range []string{"live", "put", "get", "incr", "track"} {
		if n := delta(before, after, "caddy_stepup_store_duration_seconds_count", `operation="`+op+`"`); n < 1 {
			t.Errorf("store operation %s: %v calls timed", op, n)
		}
	}
	if v := after.value(t, "caddy_stepup_store_up"); v != 1 {
		t.Errorf("store_up = %v with the memory store", v)
	}
	after.value(t, "caddy_stepup_live_cache_total", `result="hit"`) // present, 0 with the memory store
	after.value(t, "caddy_stepup_live_cache_total", `result="miss"`)

	t.Run("grafana", func(t *testing.T) { checkDashboard(t, after) })
}

// wrongCode is a six-digit code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// dashboardDir holds the example Grafana dashboard and alert rules.
const dashboardDir = "../examples/grafana"

var metricNameRE = regexp.MustCompile(`\bcaddy_stepup_[a-z0-9_]+`)

// checkDashboard: every metric the Grafana dashboard and the alert rules query
// appears in the scrape, and every panel has a query.
func checkDashboard(t *testing.T, sc scrape) {
	raw, err := os.ReadFile(filepath.Join(dashboardDir, "stepup.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string            `json:"title"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatal("the dashboard has no title or no panels")
	}
	queried := map[string]bool{}
	for i, p := range dash.Panels {
		var v any
		if err := json.Unmarshal(p, &v); err != nil {
			t.Fatal(err)
		}
		var exprs []string
		collectExprs(v, &exprs)
		if len(exprs) == 0 {
			if m, _ := v.(map[string]any); m["type"] != "row" && m["type"] != "text" {
				t.Errorf("panel %d (%v) has no query", i, m["title"])
			}
		}
		for _, e := range exprs {
			names := metricNameRE.FindAllString(e, -1)
			if len(names) == 0 {
				t.Errorf("panel %d: the query %q names no caddy_stepup metric", i, e)
			}
			for _, n := range names {
				queried[n] = true
			}
		}
	}
	alerts, err := os.ReadFile(filepath.Join(dashboardDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	alertNames := metricNameRE.FindAllString(string(alerts), -1)
	if len(alertNames) == 0 {
		t.Error("the alert rules query no caddy_stepup metric")
	}
	for _, n := range alertNames {
		queried[n] = true
	}
	for n := range queried {
		if !sc.has(n) {
			t.Errorf("the dashboard or alerts query %s, which the scrape does not have", n)
		}
	}
	// And the other way: every family the module exports is on the dashboard.
	for n, typ := range sc.types {
		if !strings.HasPrefix(n, "caddy_stepup_") {
			continue
		}
		found := queried[n]
		if typ == "histogram" {
			found = queried[n+"_bucket"] || queried[n+"_count"] || queried[n+"_sum"]
		}
		if !found && !slices.Contains(offDashboard, n) {
			t.Errorf("%s is exported but on no panel of the dashboard: add a panel to %s/stepup.json, or list it in offDashboard", n, dashboardDir)
		}
	}
}

// offDashboard are exported families the dashboard leaves out on purpose.
var offDashboard = []string{
	"caddy_stepup_login_risk_signals_total", // the reasons behind login_risk_total; for ad hoc queries
}

// collectExprs gathers every "expr" string in a decoded dashboard panel.
func collectExprs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "expr" {
				*out = append(*out, s)
				continue
			}
			collectExprs(e, out)
		}
	case []any:
		for _, e := range x {
			collectExprs(e, out)
		}
	}
}

// TestMetricsRedis: with Redis, the live cache's hits and misses are counted, and
// when Redis stops the scrape says the store is down and the store calls that failed.
func TestMetricsRedis(t *testing.T) {
	srv := redistest.Start(t) // private: the test stops it
	block := strings.Replace(metricsBlock, "stepup {", "stepup {\n\tstore redis redis://"+srv.Addr()+"/0 "+redistest.Prefix(t)+
		"\n\tsigning_key "+testSigningKey+"\n\tencryption_key "+testEncryptionKey, 1)
	s := startCaddy(t, block)
	before := s.scrape()
	s.login("alice")
	// The settings page checks the session is live: asked of Redis the first time,
	// then answered by the cache for a second. (The cache is used once the store's
	// subscription to revocations is up.)
	deadline := time.Now().Add(10 * time.Second)
	var after scrape
	for {
		if r, _ := s.page("GET", "/.stepup/", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("settings page: %d", r.StatusCode)
		}
		after = s.scrape()
		if delta(before, after, "caddy_stepup_live_cache_total", `result="hit"`) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := delta(before, after, "caddy_stepup_live_cache_total", `result="hit"`); n < 1 {
		t.Errorf("live cache hits: %v", n)
	}
	if n := delta(before, after, "caddy_stepup_live_cache_total", `result="miss"`); n < 1 {
		t.Errorf("live cache misses: %v", n)
	}
	if n := delta(before, after, "caddy_stepup_store_duration_seconds_count", `operation="live"`); n < 1 {
		t.Errorf("Redis Live calls timed: %v", n)
	}
	if v := after.value(t, "caddy_stepup_store_up"); v != 1 {
		t.Errorf("store_up = %v with Redis running", v)
	}

	srv.Stop()
	// Whatever the cache held is dropped within the subscription's silence period;
	// a protected request then fails closed.
	var status int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r, _ := s.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode == http.StatusServiceUnavailable {
			status = r.StatusCode
			break
		}
	}
	if status != http.StatusServiceUnavailable {
		t.Fatal("no 503 after Redis stopped")
	}
	down := s.scrape()
	if v := down.value(t, "caddy_stepup_store_up"); v != 0 {
		t.Errorf("store_up = %v with Redis stopped", v)
	}
	if n := delta(after, down, "caddy_stepup_store_errors_total"); n < 1 {
		t.Errorf("requests refused for the store: %v", n)
	}
	// Which call fails first depends on what the live cache still answers.
	if n := down.sum("caddy_stepup_store_failures_total") - after.sum("caddy_stepup_store_failures_total"); n < 1 {
		t.Errorf("failed store calls: %v", n)
	}
	if n := delta(after, down, "caddy_stepup_store_failures_total", `operation="ping"`); n != 0 {
		t.Errorf("the scrape's own pings are counted as the gateway's store calls: %v", n)
	}

	srv.Restart()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s.scrape().samples["caddy_stepup_store_up"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("store_up stayed 0 after Redis came back")
		}
	}
}

// TestSMSSendsCounted: a provider's sends are counted as sent or failed under its
// module's name, and a limit the gateway reports as limited.
func TestSMSSendsCounted(t *testing.T) {
	failing := errors.New("provider down")
	p := &fakeSender{}
	c := countSends(p)
	name := providerName(p)
	if name != "custom" {
		t.Fatalf("a sender that is not a module is %q", name)
	}
	count := func(result string) float64 {
		return counterValue(t, metrics.smsSends.WithLabelValues(name, result))
	}
	sent, failed, limited := count("sent"), count("failed"), count("limited")
	if err := c.Send(context.Background(), challenge.CodeMessage{To: "+15550001111"}); err != nil {
		t.Fatal(err)
	}
	p.err = failing
	if err := c.Send(context.Background(), challenge.CodeMessage{To: "+15550001111"}); !errors.Is(err, failing) {
		t.Fatalf("the provider's error is not passed on: %v", err)
	}
	newMetricsEvents(p).SMSLimited()
	metricsEvents{}.SMSLimited() // no provider: nothing to count, no panic
	if count("sent") != sent+1 || count("failed") != failed+1 || count("limited") != limited+1 {
		t.Errorf("sent %v failed %v limited %v, want one each", count("sent")-sent, count("failed")-failed, count("limited")-limited)
	}
	if p.calls != 2 {
		t.Errorf("the provider was called %d times", p.calls)
	}
	if countSends(nil) != nil {
		t.Error("no provider became one")
	}
	if got := providerName(&sms.Log{}); got != "log" {
		t.Errorf("the log provider is labelled %q", got)
	}
}

type fakeSender struct {
	err   error
	calls int
}

func (f *fakeSender) Send(context.Context, challenge.CodeMessage) error {
	f.calls++
	return f.err
}

// TestTimedStore: every store operation is timed under its own label, a failure to
// answer is counted and "not found" is not, and results pass through unchanged.
func TestTimedStore(t *testing.T) {
	mem, err := store.NewMemory("")
	if err != nil {
		t.Fatal(err)
	}
	st := timeStore(mem)
	if timeStore(st) != st {
		t.Fatal("a timed store was wrapped twice")
	}
	ctx := context.Background()
	count := func(op storeOp) uint64 {
		return histogramCount(t, metrics.store.WithLabelValues(storeOps[op]))
	}
	failures := func(op storeOp) float64 { return counterValue(t, storeFailed[op]) }
	var counts [numStoreOps]uint64
	for op := range numStoreOps {
		counts[op] = count(op)
	}
	getFailures := failures(opGet)
	k := store.UserKey("alice", "x")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Put(ctx, k, []byte("v"), 0))
	if v, err := st.Get(ctx, k); err != nil || string(v) != "v" {
		t.Fatalf("get: %q %v", v, err)
	}
	if _, err := st.Get(ctx, store.UserKey("alice", "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	_, err = st.PutNew(ctx, store.UserKey("alice", "n"), []byte("v"), time.Minute)
	must(err)
	_, err = st.Take(ctx, k)
	must(err)
	must(st.Delete(ctx, k))
	_, err = st.Incr(ctx, store.UserKey("alice", "c"), time.Minute)
	must(err)
	_, err = st.Advance(ctx, store.UserKey("alice", "a"), 3)
	must(err)
	g := store.Grant{User: "alice", ID: "g1", Session: "g1", Expires: time.Now().Add(time.Hour)}
	must(st.Track(ctx, g))
	if live, err := st.Live(ctx, "alice", "g1"); err != nil || !live {
		t.Fatalf("live: %v %v", live, err)
	}
	_, err = st.Grants(ctx, "alice")
	must(err)
	must(st.Revoke(ctx, "alice", "g1"))
	must(st.RevokeUser(ctx, "alice"))
	must(st.Append(ctx, store.UserKey("alice", "events"), []byte("e"), 5))
	_, err = st.Recent(ctx, store.UserKey("alice", "events"), 5)
	must(err)
	must(st.AddUser(ctx, "alice"))
	_, err = st.Users(ctx, "", "", 10)
	must(err)
	must(st.Ping(ctx))
	if ok, err := st.(store.Swapper).Swap(ctx, store.UserKey("alice", "a"), []byte("3"), []byte("4")); err != nil || !ok {
		t.Fatalf("swap: %v %v", ok, err)
	}
	for op := range numStoreOps {
		want := uint64(1)
		if op == opGet {
			want = 2
		}
		if got := count(op) - counts[op]; got != want {
			t.Errorf("%s: %d calls timed, want %d", storeOps[op], got, want)
		}
	}
	if failures(opGet) != getFailures {
		t.Error("a record not found was counted as a store failure")
	}

	// Closed, the store fails to answer: that is counted.
	before := failures(opLive)
	must(mem.Close())
	if _, err := st.Live(ctx, "alice", "g1"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("live on a closed store: %v", err)
	}
	if failures(opLive) != before+1 {
		t.Error("a failure to answer was not counted")
	}
}

// counterValue is a counter's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}

// histogramCount is how many observations a histogram's series has.
func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	m, ok := o.(prometheus.Metric)
	if !ok {
		t.Fatal("not a metric")
	}
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetHistogram().GetSampleCount()
}
