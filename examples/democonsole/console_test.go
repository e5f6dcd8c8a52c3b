package democonsole

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// req describes one request to the console.
type req struct {
	method, path string
	body         string
	contentType  string
	accept       string
	cookies      []*http.Cookie
	header       map[string]string
}

// result is a finished response with its body read.
type result struct {
	*http.Response
	body string
}

func (r result) cookie(name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func do(t *testing.T, c http.Handler, q req) result {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if q.contentType != "" {
		r.Header.Set("Content-Type", q.contentType)
	}
	if q.accept != "" {
		r.Header.Set("Accept", q.accept)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	for _, ck := range q.cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return result{Response: res, body: string(b)}
}

const (
	browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	formCT  = "application/x-www-form-urlencoded"
)

func formLogin(t *testing.T, c http.Handler, user, pass string) result {
	t.Helper()
	v := url.Values{"username": {user}, "password": {pass}}
	return do(t, c, req{method: "POST", path: "/login", body: v.Encode(), contentType: formCT, accept: browser})
}

// login signs user in with a form and returns the session cookie.
func login(t *testing.T, c http.Handler, user string) []*http.Cookie {
	t.Helper()
	res := formLogin(t, c, user, user+"-password")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d", user, res.StatusCode)
	}
	return []*http.Cookie{res.cookie(SessionCookie)}
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", s, err)
	}
	return m
}

func mustContain(t *testing.T, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("body does not contain %q", p)
		}
	}
}

func checkLoginCookies(t *testing.T, res result, user string) {
	t.Helper()
	if n := len(res.Header.Values("Set-Cookie")); n != 2 {
		t.Errorf("got %d Set-Cookie headers, want 2", n)
	}
	s := res.cookie(SessionCookie)
	if s == nil {
		t.Fatal("no session cookie")
	}
	if len(s.Value) < 40 || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Path != "/" {
		t.Errorf("session cookie = %+v, want random value, HttpOnly, SameSite=Lax, Path=/", s)
	}
	u := res.cookie(UserCookie)
	if u == nil {
		t.Fatal("no user cookie")
	}
	if u.Value != user || u.HttpOnly || u.Path != "/" {
		t.Errorf("user cookie = %+v, want %s, not HttpOnly, Path=/", u, user)
	}
}

func TestLoginFormSuccess(t *testing.T) {
	c := New()
	res := formLogin(t, c, "alice", "alice-password")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard" {
		t.Fatalf("got %d Location %q, want 303 /dashboard", res.StatusCode, res.Header.Get("Location"))
	}
	checkLoginCookies(t, res, "alice")

	dash := do(t, c, req{method: "GET", path: "/dashboard", accept: browser, cookies: []*http.Cookie{res.cookie(SessionCookie)}})
	if dash.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d", dash.StatusCode)
	}
	mustContain(t, dash.body,
		`<h1 id="dashboard-title">Dashboard</h1>`,
		`<strong id="whoami">alice</strong>`,
		`<span class="role" id="role">root</span>`,
		`id="nav-instances" href="/instances"`,
		`id="nav-billing" href="/billing"`,
		`id="nav-logout" href="/logout"`,
		`id="nav-security" href="/.stepup/">Security settings (two-factor)</a>`,
		`<strong id="instance-count">3</strong>`,
	)
}

func TestLoginJSONSuccess(t *testing.T) {
	c := New()
	res := do(t, c, req{method: "POST", path: "/login", contentType: "application/json; charset=utf-8",
		body: `{"username":"bob","password":"bob-password"}`})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	if got := strings.TrimSpace(res.body); got != `{"ok":true,"user":"bob"}` {
		t.Errorf("body %s", got)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	checkLoginCookies(t, res, "bob")

	who := do(t, c, req{method: "GET", path: "/api/whoami", cookies: []*http.Cookie{res.cookie(SessionCookie)}})
	if who.StatusCode != http.StatusOK || strings.TrimSpace(who.body) != `{"user":"bob"}` {
		t.Errorf("whoami: %d %s", who.StatusCode, who.body)
	}
}

func TestLoginPage(t *testing.T) {
	res := do(t, New(), req{method: "GET", path: "/login", accept: browser})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	mustContain(t, res.body,
		`<form id="login-form" class="stack" method="post" action="/login">`,
		`id="username" name="username"`,
		`id="password" name="password" type="password"`,
		`<button id="login-submit" type="submit">`,
		`id="demo-user-alice"`, "alice-password", "bob-password", "carol-password",
	)
	if strings.Contains(res.body, "login-error") || strings.Contains(res.body, `id="nav-`) {
		t.Error("fresh login page shows an error or the signed-in navigation")
	}
	if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Error("missing security headers")
	}
}

func TestLoginFailure(t *testing.T) {
	for _, tc := range []struct {
		name, user, pass string
		json             bool
	}{
		{"wrong password", "alice", "bob-password", false},
		{"unknown user", "mallory", "mallory-password", false},
		{"empty", "", "", false},
		{"password prefix", "alice", "alice-passwor", false},
		{"json wrong password", "carol", "nope", true},
		{"json unknown user", "eve", "eve-password", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			var res result
			if tc.json {
				b, _ := json.Marshal(map[string]string{"username": tc.user, "password": tc.pass})
				res = do(t, c, req{method: "POST", path: "/login", body: string(b), contentType: "application/json"})
			} else {
				res = formLogin(t, c, tc.user, tc.pass)
			}
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.StatusCode)
			}
			if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("failed login set cookies: %q", sc)
			}
			if tc.json {
				if got := strings.TrimSpace(res.body); got != `{"error":"invalid credentials"}` {
					t.Errorf("body %s", got)
				}
			} else {
				mustContain(t, res.body, `id="login-error"`, "Wrong user name or password", `id="login-form"`)
				if tc.user != "" {
					mustContain(t, res.body, `value="`+tc.user+`"`)
				}
			}
			if n := c.sessions.count(); n != 0 {
				t.Errorf("%d sessions after failed login", n)
			}
		})
	}
}

func TestLoginBadBody(t *testing.T) {
	c := New()
	res := do(t, c, req{method: "POST", path: "/login", body: `{"username":`, contentType: "application/json"})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed JSON: %d, want 400", res.StatusCode)
	}
	big := `{"username":"alice","password":"` + strings.Repeat("x", maxLoginBody) + `"}`
	res = do(t, c, req{method: "POST", path: "/login", body: big, contentType: "application/json"})
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized JSON: %d, want 413", res.StatusCode)
	}
	res = do(t, c, req{method: "POST", path: "/login", body: "password=" + strings.Repeat("x", maxLoginBody), contentType: formCT})
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d, want 413", res.StatusCode)
	}
}

func TestLoginReplacesOldSession(t *testing.T) {
	c := New()
	first := login(t, c, "alice")
	res := do(t, c, req{method: "POST", path: "/login", contentType: formCT, cookies: first,
		body: url.Values{"username": {"carol"}, "password": {"carol-password"}}.Encode()})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", res.StatusCode)
	}
	if old := do(t, c, req{method: "GET", path: "/api/whoami", cookies: first}); old.StatusCode != http.StatusUnauthorized {
		t.Errorf("old session still valid: %d", old.StatusCode)
	}
	if n := c.sessions.count(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestProtectedWithoutSession(t *testing.T) {
	c := New()
	routes := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/dashboard"}, {"GET", "/instances"}, {"GET", "/instances/i-1001/delete"},
		{"POST", "/instances/i-1001/delete"}, {"GET", "/billing"}, {"POST", "/billing/pay"},
		{"GET", "/api/instances"}, {"DELETE", "/api/instances/i-1001"}, {"POST", "/api/billing/pay"},
		{"GET", "/api/whoami"}, {"GET", "/nowhere"}, {"PUT", "/dashboard"}, {"POST", "/demo/restore"},
	}
	// None of these may count as a console session: a missing cookie, a
	// forged one, or anything named like the gateway.
	credentials := map[string]req{
		"none":         {},
		"forged":       {cookies: []*http.Cookie{{Name: SessionCookie, Value: "forged"}}},
		"user cookie":  {cookies: []*http.Cookie{{Name: UserCookie, Value: "alice"}}},
		"stepup stuff": {cookies: []*http.Cookie{{Name: "stepup_session", Value: "x"}}, header: map[string]string{"X-Stepup-Token": "x", "X-Stepup-User": "alice"}},
	}
	for credName, cred := range credentials {
		for _, rt := range routes {
			q := cred
			q.method, q.path = rt.method, rt.path

			q.accept = browser
			res := do(t, c, q)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
				t.Errorf("%s: browser %s %s: %d %q, want 303 /login", credName, rt.method, rt.path, res.StatusCode, res.Header.Get("Location"))
			}

			q.accept = "application/json"
			res = do(t, c, q)
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: API %s %s: %d %q, want 401 JSON", credName, rt.method, rt.path, res.StatusCode, res.Header.Get("Content-Type"))
			}
		}
	}
	for _, u := range demoUsers {
		if got := len(c.invs.of(u.Name).list()); got != 3 {
			t.Errorf("unauthenticated requests changed %s's inventory: %d instances", u.Name, got)
		}
		if c.invs.of(u.Name).balance() != seedBalanceCents {
			t.Errorf("unauthenticated request paid %s's bill", u.Name)
		}
	}
}

func TestRootRedirectsToDashboard(t *testing.T) {
	c := New()
	res := do(t, c, req{method: "GET", path: "/", accept: browser, cookies: login(t, c, "carol")})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard" {
		t.Errorf("got %d %q, want 303 /dashboard", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestDeleteFlowForm(t *testing.T) {
	c := New()
	ck := login(t, c, "alice")
	get := func(path string) result {
		return do(t, c, req{method: "GET", path: path, accept: browser, cookies: ck})
	}

	list := get("/instances")
	mustContain(t, list.body, `<h1 id="instances-title">Instances</h1>`, `id="instance-i-1001"`, "web-01", "db-01", "cache-01",
		`<form id="delete-form-i-1001" class="inline" method="post" action="/instances/i-1001/delete"><button id="delete-i-1001"`)
	if strings.Contains(list.body, `id="flash"`) {
		t.Error("flash without a deletion")
	}

	confirm := get("/instances/i-1001/delete")
	if confirm.StatusCode != http.StatusOK {
		t.Fatalf("confirm page: %d", confirm.StatusCode)
	}
	mustContain(t, confirm.body, `id="confirm-title"`, `action="/instances/i-1001/delete"`, `id="delete-i-1001"`, `id="cancel"`)

	res := do(t, c, req{method: "POST", path: "/instances/i-1001/delete", contentType: formCT, accept: browser, cookies: ck})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/instances?deleted=i-1001" {
		t.Fatalf("delete: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	after := get(res.Header.Get("Location"))
	mustContain(t, after.body, `<p id="flash" class="flash" role="status">Instance i-1001 deleted</p>`)
	if strings.Contains(after.body, `id="instance-i-1001"`) {
		t.Error("deleted instance still listed")
	}

	if again := do(t, c, req{method: "POST", path: "/instances/i-1001/delete", accept: browser, cookies: ck}); again.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", again.StatusCode)
	}
	if gone := get("/instances/i-1001/delete"); gone.StatusCode != http.StatusNotFound || !strings.Contains(gone.body, `id="not-found"`) {
		t.Errorf("confirm page of deleted instance: %d", gone.StatusCode)
	}
	for _, id := range []string{"i-1002", "i-1003"} {
		do(t, c, req{method: "POST", path: "/instances/" + id + "/delete", cookies: ck})
	}
	mustContain(t, get("/instances").body, `id="no-instances"`)
}

func TestFlashIsNotReflected(t *testing.T) {
	c := New()
	res := do(t, c, req{method: "GET", path: "/instances?deleted=" + url.QueryEscape("<b>pwned</b>"), accept: browser, cookies: login(t, c, "alice")})
	if strings.Contains(res.body, `id="flash"`) || strings.Contains(res.body, "pwned") {
		t.Error("arbitrary deleted= value echoed into the page")
	}
}

func TestDeleteAPI(t *testing.T) {
	c := New()
	ck := login(t, c, "bob")
	res := do(t, c, req{method: "DELETE", path: "/api/instances/i-1002", cookies: ck})
	if res.StatusCode != http.StatusOK || strings.TrimSpace(res.body) != `{"deleted":"i-1002"}` {
		t.Fatalf("delete: %d %s", res.StatusCode, res.body)
	}
	res = do(t, c, req{method: "DELETE", path: "/api/instances/i-1002", cookies: ck})
	if res.StatusCode != http.StatusNotFound || decodeJSON(t, res.body)["error"] == nil {
		t.Errorf("second delete: %d %s", res.StatusCode, res.body)
	}
	res = do(t, c, req{method: "GET", path: "/api/instances", cookies: ck})
	var list []Instance
	if err := json.Unmarshal([]byte(res.body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "i-1001" || list[1].ID != "i-1003" || list[0].Name != "web-01" {
		t.Errorf("list after delete: %+v", list)
	}
}

func TestPay(t *testing.T) {
	c := New()
	ck := login(t, c, "alice")
	page := do(t, c, req{method: "GET", path: "/billing", accept: browser, cookies: ck})
	mustContain(t, page.body, `<h1 id="billing-title">Billing</h1>`, `<strong id="balance">$128.40</strong>`,
		`<form id="pay-form" method="post" action="/billing/pay"><button id="pay" type="submit">`)

	res := do(t, c, req{method: "POST", path: "/billing/pay", contentType: formCT, accept: browser, cookies: ck})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/billing?paid=1" {
		t.Fatalf("pay: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	page = do(t, c, req{method: "GET", path: "/billing?paid=1", accept: browser, cookies: ck})
	mustContain(t, page.body, `<p id="flash" class="flash" role="status">Payment received</p>`, `<strong id="balance">$0.00</strong>`)

	api := do(t, c, req{method: "POST", path: "/api/billing/pay", cookies: ck})
	if api.StatusCode != http.StatusOK || strings.TrimSpace(api.body) != `{"paid":true}` {
		t.Errorf("API pay: %d %s", api.StatusCode, api.body)
	}
}

func TestLogout(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			c := New()
			ck := login(t, c, "alice")
			res := do(t, c, req{method: method, path: "/logout", accept: browser, cookies: ck})
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
				t.Fatalf("logout: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			for _, name := range []string{SessionCookie, UserCookie} {
				cl := res.cookie(name)
				if cl == nil || cl.MaxAge >= 0 || cl.Value != "" || cl.Path != "/" {
					t.Errorf("cookie %s not cleared: %+v", name, cl)
				}
			}
			if after := do(t, c, req{method: "GET", path: "/api/whoami", cookies: ck}); after.StatusCode != http.StatusUnauthorized {
				t.Errorf("session survives logout: %d", after.StatusCode)
			}
			if n := c.sessions.count(); n != 0 {
				t.Errorf("%d sessions after logout", n)
			}
		})
	}
	// Logging out without a session is harmless.
	if res := do(t, New(), req{method: "GET", path: "/logout"}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("logout without session: %d", res.StatusCode)
	}
}

func TestNotFound(t *testing.T) {
	c := New()
	ck := login(t, c, "carol")
	if res := do(t, c, req{method: "GET", path: "/nowhere", accept: browser, cookies: ck}); res.StatusCode != http.StatusNotFound || !strings.Contains(res.body, `id="not-found"`) {
		t.Errorf("page: %d", res.StatusCode)
	}
	if res := do(t, c, req{method: "GET", path: "/api/nowhere", accept: browser, cookies: ck}); res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("api: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := do(t, c, req{method: "PUT", path: "/api/instances/i-1001", cookies: ck}); res.StatusCode != http.StatusNotFound {
		t.Errorf("unsupported method: %d", res.StatusCode)
	}
}

func TestSessionExpiry(t *testing.T) {
	s := newSessionStore()
	now := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return now }
	id := s.create("alice")
	if u, ok := s.lookup(id); !ok || u != "alice" {
		t.Fatalf("lookup = %q %v", u, ok)
	}
	now = now.Add(sessionTTL)
	if _, ok := s.lookup(id); ok {
		t.Error("expired session still valid")
	}
	s.create("bob")
	stale := s.create("carol")
	now = now.Add(sessionTTL)
	s.create("alice") // sweeps the two stale ones
	if n := s.count(); n != 1 {
		t.Errorf("%d sessions after sweep, want 1", n)
	}
	if _, ok := s.lookup(stale); ok {
		t.Error("swept session valid")
	}
	if _, ok := s.lookup(""); ok {
		t.Error("empty id valid")
	}
}

func TestSessionIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newSessionID()
		if seen[id] || len(id) != 43 {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestFormatCents(t *testing.T) {
	for in, want := range map[int64]string{0: "$0.00", 5: "$0.05", 12840: "$128.40", -150: "-$1.50"} {
		if got := formatCents(in); got != want {
			t.Errorf("formatCents(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestDemoUsersIsACopy(t *testing.T) {
	u := DemoUsers()
	u[0].Password = "changed"
	if _, ok := New().authenticate("alice", "alice-password"); !ok {
		t.Error("DemoUsers exposes the console's own slice")
	}
}

// TestConcurrentUse exercises sessions and inventories from many goroutines;
// run with -race. Goroutines 0 to 8 delete each user's every instance once
// (user i%3, instance (i/3)%3); the others repeat some.
func TestConcurrentUse(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			user := demoUsers[i%len(demoUsers)].Name
			res := formLogin(t, c, user, user+"-password") // no t.Fatal off the test goroutine
			ck := []*http.Cookie{res.cookie(SessionCookie)}
			if ck[0] == nil {
				t.Errorf("login %s failed: %d", user, res.StatusCode)
				return
			}
			do(t, c, req{method: "GET", path: "/instances", accept: browser, cookies: ck})
			do(t, c, req{method: "DELETE", path: fmt.Sprintf("/api/instances/i-100%d", 1+(i/3)%3), cookies: ck})
			do(t, c, req{method: "POST", path: "/api/billing/pay", cookies: ck})
			if who := do(t, c, req{method: "GET", path: "/api/whoami", cookies: ck}); strings.TrimSpace(who.body) != `{"user":"`+user+`"}` {
				t.Errorf("whoami mixed up sessions: %s", who.body)
			}
			do(t, c, req{method: "POST", path: "/logout", cookies: ck})
		})
	}
	wg.Wait()
	for _, u := range demoUsers {
		if n := len(c.invs.of(u.Name).list()); n != 0 {
			t.Errorf("%s has %d instances left", u.Name, n)
		}
		if b := c.invs.of(u.Name).balance(); b != 0 {
			t.Errorf("%s's balance is %d, want paid", u.Name, b)
		}
	}
	if n := c.sessions.count(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}
