package adversarial

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// These tests talk to the Python console directly, without the gateway, to
// check that it really is as lenient as the attacks assume: an attack that
// "fails" against a console that never read requests that way proves nothing.

// pyResult is one finished response of the Python console, body read.
type pyResult struct {
	status int
	header http.Header
	body   string
}

func (r pyResult) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (r pyResult) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("status %d, body %q is not a JSON object: %v", r.status, r.body, err)
	}
	return m
}

// send sends one request to the console with target on the request line
// exactly as given (no escaping, no cleaning) and header as name, value pairs.
func (c *pyConsole) send(t *testing.T, method, target string, body io.Reader, header ...string) pyResult {
	t.Helper()
	req, err := http.NewRequest(method, c.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(target, "?")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, target, cc)
	}
	return pyResult{resp.StatusCode, resp.Header, string(b)}
}

// form sends a urlencoded form.
func (c *pyConsole) form(t *testing.T, method, target, form string, header ...string) pyResult {
	t.Helper()
	return c.send(t, method, target, strings.NewReader(form),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

// login signs user in with a form and returns the session cookie header.
func (c *pyConsole) login(t *testing.T, user string) string {
	t.Helper()
	r := c.form(t, "POST", "/login", "username="+user+"&password="+user+"-password")
	ck := r.cookie("console_session")
	if r.status != http.StatusSeeOther || ck == nil {
		t.Fatalf("logging in %s: status %d, Set-Cookie %q", user, r.status, r.header.Values("Set-Cookie"))
	}
	return "console_session=" + ck.Value
}

// whoami returns the user the console sees for cookie, or "" if none.
func (c *pyConsole) whoami(t *testing.T, cookie string) string {
	t.Helper()
	r := c.send(t, "GET", "/api/whoami", nil, "Cookie", cookie)
	if r.status != http.StatusOK {
		return ""
	}
	user, _ := r.json(t)["user"].(string)
	return user
}

func wantLogins(t *testing.T, c *pyConsole, want ...string) {
	t.Helper()
	if got := c.State(t).Logins; !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
		t.Errorf("logins %q, want %q", got, want)
	}
}

func wantDeleted(t *testing.T, c *pyConsole, want ...deletion) {
	t.Helper()
	if got := c.State(t).Deleted; !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
		t.Errorf("deleted %+v, want %+v", got, want)
	}
}

func TestPyConsoleLogin(t *testing.T) {
	t.Parallel()
	c := startPyConsole(t)

	t.Run("query before body", func(t *testing.T) {
		c.Reset(t)
		r := c.form(t, "POST", "/login?username=bob&password=bob-password", "username=alice&password=alice-password")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Fatalf("status %d, Location %q; want 303 to /dashboard", r.status, r.header.Get("Location"))
		}
		ck := r.cookie("console_session")
		if ck == nil || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode {
			t.Fatalf("session cookie %+v, want HttpOnly, Path=/, SameSite=Lax", ck)
		}
		if u := c.whoami(t, "console_session="+ck.Value); u != "bob" {
			t.Errorf("whoami %q, want bob", u)
		}
		wantLogins(t, c, "bob")
	})

	t.Run("JSON sniffed from text/plain", func(t *testing.T) {
		c.Reset(t)
		r := c.send(t, "POST", "/login", strings.NewReader(` {"username":"carol","password":"carol-password"}`),
			"Content-Type", "text/plain")
		if m := r.json(t); r.status != http.StatusOK || m["ok"] != true || m["user"] != "carol" {
			t.Fatalf("status %d, body %s; want 200 ok for carol", r.status, r.body)
		}
		if r.cookie("console_session") == nil {
			t.Error("no session cookie")
		}
		wantLogins(t, c, "carol")
	})

	t.Run("names fold", func(t *testing.T) {
		c.Reset(t)
		for _, name := range []string{"BOB", " Bob ", "ｂｏｂ"} {
			body, _ := json.Marshal(map[string]string{"username": name, "password": "bob-password"})
			r := c.send(t, "POST", "/login", strings.NewReader(string(body)), "Content-Type", "application/json")
			if r.status != http.StatusOK || r.json(t)["user"] != "bob" {
				t.Errorf("%q: status %d, body %s; want bob signed in", name, r.status, r.body)
			}
		}
		wantLogins(t, c, "bob", "bob", "bob")
	})

	t.Run("last duplicate JSON key wins", func(t *testing.T) {
		c.Reset(t)
		r := c.send(t, "POST", "/login", strings.NewReader(`{"username":"alice","password":"dave-password","username":"dave"}`),
			"Content-Type", "application/json")
		if r.status != http.StatusOK || r.json(t)["user"] != "dave" {
			t.Fatalf("status %d, body %s; want dave signed in", r.status, r.body)
		}
		wantLogins(t, c, "dave")
	})

	t.Run("multipart, first value wins", func(t *testing.T) {
		c.Reset(t)
		var b strings.Builder
		w := multipart.NewWriter(&b)
		w.WriteField("username", "eve")
		w.WriteField("username", "bob")
		w.WriteField("password", "eve-password")
		w.Close()
		r := c.send(t, "POST", "/login", strings.NewReader(b.String()), "Content-Type", w.FormDataContentType())
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d, body %s; want 303", r.status, r.body)
		}
		wantLogins(t, c, "eve")
	})

	t.Run("chunked body", func(t *testing.T) {
		c.Reset(t)
		// A reader of unknown length makes the client send the body chunked.
		body := io.MultiReader(strings.NewReader("username=alice&"), strings.NewReader("password=alice-password"))
		r := c.send(t, "POST", "/login", body, "Content-Type", "application/x-www-form-urlencoded")
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d, body %s; want 303", r.status, r.body)
		}
		wantLogins(t, c, "alice")
		reqs := c.Requests(t)
		if len(reqs) != 1 || reqs[0].Body != "username=alice&password=alice-password" ||
			!reflect.DeepEqual(reqs[0].HeaderValues("transfer-encoding"), []string{"chunked"}) {
			t.Errorf("recorded %+v, want one chunked request with the whole form", reqs)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c.Reset(t)
		r := c.form(t, "POST", "/login", "username=bob&password=alice-password")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "<html>") || r.cookie("console_session") != nil {
			t.Errorf("form: status %d, body %q; want 401 HTML without a cookie", r.status, r.body)
		}
		r = c.send(t, "POST", "/login", strings.NewReader(`{"username":"bob"}`))
		if r.status != http.StatusUnauthorized || r.json(t)["error"] != "invalid credentials" {
			t.Errorf("JSON: status %d, body %q; want 401 invalid credentials", r.status, r.body)
		}
		wantLogins(t, c)
	})
}

func TestPyConsoleMethodOverride(t *testing.T) {
	t.Parallel()
	c := startPyConsole(t)
	for _, tc := range []struct {
		name, method, target, contentType, body string
		header                                  []string
	}{
		{"X-HTTP-Method-Override header", "POST", "/api/instances/i-1001", "", "", []string{"X-HTTP-Method-Override", "delete"}},
		{"X-HTTP-Method header", "POST", "/api/instances/i-1001", "", "", []string{"X-HTTP-Method", "DELETE"}},
		{"X-Method-Override header", "POST", "/api/instances/i-1001", "", "", []string{"X-Method-Override", "DELETE"}},
		{"override header on GET", "GET", "/api/instances/i-1001", "", "", []string{"X-HTTP-Method-Override", "DELETE"}},
		{"_method form field", "POST", "/api/instances/i-1001", "application/x-www-form-urlencoded", "_method=delete", nil},
		{"_method in query", "POST", "/api/instances/i-1001?_method=DELETE", "", "", nil},
		{"_method JSON key", "POST", "/api/instances/i-1001", "text/plain", `{"_method":"DELETE"}`, nil},
		{"lower-case method", "delete", "/api/instances/i-1001", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Reset(t)
			header := append([]string{"Cookie", c.login(t, "bob")}, tc.header...)
			if tc.contentType != "" {
				header = append(header, "Content-Type", tc.contentType)
			}
			r := c.send(t, tc.method, tc.target, strings.NewReader(tc.body), header...)
			if r.status != http.StatusOK || r.json(t)["deleted"] != "i-1001" {
				t.Fatalf("status %d, body %s; want i-1001 deleted", r.status, r.body)
			}
			wantDeleted(t, c, deletion{"i-1001", "bob"})
			if reqs := c.Requests(t); reqs[len(reqs)-1].Method != tc.method {
				t.Errorf("recorded method %q, want %q as sent", reqs[len(reqs)-1].Method, tc.method)
			}
		})
	}
}

func TestPyConsoleHeadIsGet(t *testing.T) {
	t.Parallel()
	c := startPyConsole(t)
	cookie := c.login(t, "carol")
	get := c.send(t, "GET", "/api/whoami", nil, "Cookie", cookie)
	head := c.send(t, "HEAD", "/api/whoami", nil, "Cookie", cookie)
	if head.status != http.StatusOK || head.body != "" ||
		head.header.Get("Content-Length") != strconv.Itoa(len(get.body)) || get.json(t)["user"] != "carol" {
		t.Errorf("HEAD: status %d, Content-Length %q, body %q; GET body %q",
			head.status, head.header.Get("Content-Length"), head.body, get.body)
	}
	if r := c.send(t, "HEAD", "/api/whoami", nil); r.status != http.StatusUnauthorized {
		t.Errorf("HEAD without a session: status %d, want 401", r.status)
	}
	// The connection is still usable after a HEAD (no stray body on the wire).
	if u := c.whoami(t, cookie); u != "carol" {
		t.Errorf("whoami after HEAD %q, want carol", u)
	}
}

func TestPyConsolePathSpellings(t *testing.T) {
	t.Parallel()
	c := startPyConsole(t)
	for _, target := range []string{
		"/api/instances/i-1001",
		"/API/Instances/i-1001/",
		"/api/instances%2fi-1001",
		"/api/instances%2Fi-1001",
		"/api/x/..%2finstances/i-1001",
		"/api/instances/i-1001;v=1",
		"/api;x/instances;y=2/i-1001",
		`\api\instances\i-1001`,
		"/api%5cinstances%5ci-1001",
		"/api//instances/./i-1001",
		"/api/instances/%69-1001",
		"http://example.com/api/instances/i-1001",
	} {
		t.Run(target, func(t *testing.T) {
			c.Reset(t)
			cookie := c.login(t, "bob")
			r := c.send(t, "DELETE", target, nil, "Cookie", cookie)
			if r.status != http.StatusOK || r.json(t)["deleted"] != "i-1001" {
				t.Fatalf("status %d, body %s; want i-1001 deleted", r.status, r.body)
			}
			wantDeleted(t, c, deletion{"i-1001", "bob"})
			if reqs := c.Requests(t); reqs[len(reqs)-1].Target != target {
				t.Errorf("recorded target %q, want %q as sent", reqs[len(reqs)-1].Target, target)
			}
		})
	}
	if r := c.send(t, "DELETE", "/api/instances/i-9999", nil, "Cookie", c.login(t, "bob")); r.status != http.StatusNotFound {
		t.Errorf("unknown instance: status %d, want 404", r.status)
	}
}

func TestPyConsoleSessions(t *testing.T) {
	t.Parallel()
	c := startPyConsole(t)

	r := c.send(t, "GET", "/api/whoami", nil)
	if r.status != http.StatusUnauthorized || r.json(t)["error"] != "login required" {
		t.Errorf("whoami without a session: status %d, body %s; want 401 login required", r.status, r.body)
	}
	r = c.send(t, "GET", "/dashboard", nil, "Accept", "text/html,application/xhtml+xml")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Errorf("page without a session: status %d, Location %q; want 303 to /login", r.status, r.header.Get("Location"))
	}
	if r = c.send(t, "GET", "/login", nil); r.status != http.StatusOK || !strings.Contains(r.body, `name="username"`) {
		t.Errorf("GET /login: status %d, body %q; want the form", r.status, r.body)
	}

	cookie := c.login(t, "alice")
	if r = c.send(t, "GET", "/dashboard", nil, "Cookie", cookie); r.status != http.StatusOK || !strings.Contains(r.body, "alice") {
		t.Errorf("dashboard: status %d, body %q; want alice named", r.status, r.body)
	}
	r = c.send(t, "GET", "/api/instances", nil, "Cookie", cookie)
	var ids []string
	if err := json.Unmarshal([]byte(r.body), &ids); err != nil || r.status != http.StatusOK || len(ids) != 4 {
		t.Errorf("instances: status %d, body %s; want four", r.status, r.body)
	}
	if r = c.send(t, "GET", "/instances/i-1003/delete", nil, "Cookie", cookie); r.status != http.StatusOK {
		t.Errorf("confirm page: status %d", r.status)
	}
	if r = c.send(t, "POST", "/instances/i-1003/delete", nil, "Cookie", cookie); r.status != http.StatusSeeOther || r.header.Get("Location") != "/instances" {
		t.Errorf("delete form: status %d, Location %q; want 303 to /instances", r.status, r.header.Get("Location"))
	}
	if r = c.send(t, "POST", "/billing/pay", nil, "Cookie", cookie); r.status != http.StatusSeeOther || r.header.Get("Location") != "/billing" {
		t.Errorf("pay form: status %d, Location %q; want 303 to /billing", r.status, r.header.Get("Location"))
	}
	if r = c.send(t, "POST", "/api/billing/pay", nil, "Cookie", cookie); r.status != http.StatusOK || r.json(t)["paid"] != true {
		t.Errorf("pay API: status %d, body %s", r.status, r.body)
	}
	if r = c.send(t, "GET", "/no/such/page", nil, "Cookie", cookie); r.status != http.StatusNotFound {
		t.Errorf("unknown page: status %d, want 404", r.status)
	}
	want := consoleState{
		Instances: []string{"i-1001", "i-1002", "i-1004"},
		Deleted:   []deletion{{"i-1003", "alice"}},
		Payments:  []payment{{"alice"}, {"alice"}},
		Logins:    []string{"alice"},
	}
	if got := c.State(t); !reflect.DeepEqual(got, want) {
		t.Errorf("state %+v, want %+v", got, want)
	}

	for _, method := range []string{"GET", "POST"} {
		cookie := c.login(t, "eve")
		r = c.send(t, method, "/logout", nil, "Cookie", cookie)
		ck := r.cookie("console_session")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" || ck == nil || ck.MaxAge >= 0 {
			t.Errorf("%s /logout: status %d, Location %q, cookie %+v; want 303 to /login clearing the cookie",
				method, r.status, r.header.Get("Location"), ck)
		}
		if u := c.whoami(t, cookie); u != "" {
			t.Errorf("after %s /logout the session still names %q", method, u)
		}
	}
}

func TestPyConsoleEarlyHints(t *testing.T) {
	t.Parallel()
	for _, hints := range []bool{false, true} {
		t.Run("early hints "+strconv.FormatBool(hints), func(t *testing.T) {
			t.Parallel()
			var flags []string
			if hints {
				flags = append(flags, "--early-hints")
			}
			c := startPyConsole(t, flags...)
			var mu sync.Mutex
			var codes []int
			var early http.Header
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				codes = append(codes, code)
				early = http.Header(h)
				return nil
			}}
			req, err := http.NewRequest("POST", c.URL+"/login", strings.NewReader("username=bob&password=bob-password"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			session := resp.Cookies()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode != http.StatusSeeOther || len(session) != 1 || session[0].Name != "console_session" {
				t.Fatalf("status %d, cookies %v; want 303 with the session cookie", resp.StatusCode, session)
			}
			if !hints {
				if len(codes) != 0 {
					t.Errorf("informational responses %v without --early-hints", codes)
				}
				return
			}
			if !reflect.DeepEqual(codes, []int{http.StatusEarlyHints}) {
				t.Fatalf("informational responses %v, want one 103", codes)
			}
			if got := early.Get("Link"); got != "</style.css>; rel=preload" {
				t.Errorf("103 Link %q", got)
			}
			if got, want := early.Values("Set-Cookie"), []string{"console_early=" + session[0].Value + "; Path=/"}; !reflect.DeepEqual(got, want) {
				t.Errorf("103 Set-Cookie %q, want %q", got, want)
			}
		})
	}
}

func TestPyConsoleRecordsRequests(t *testing.T) {
	t.Parallel()
	c := startPyConsole(t)
	c.login(t, "bob")
	c.send(t, "PUT", "/some/where?x=1&x=2", strings.NewReader("caf\xc3\xa9 \xff"), "X-Test", "a", "X-Test", "b")
	reqs := c.Requests(t)
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests, want 2 (test endpoints are not recorded): %+v", len(reqs), reqs)
	}
	r := reqs[1]
	if r.Method != "PUT" || r.Target != "/some/where?x=1&x=2" || r.Body != "café \ufffd" ||
		!reflect.DeepEqual(r.HeaderValues("x-test"), []string{"a", "b"}) {
		t.Errorf("recorded %+v", r)
	}
	c.Reset(t)
	if reqs := c.Requests(t); len(reqs) != 0 {
		t.Errorf("after reset %d requests recorded", len(reqs))
	}
	want := consoleState{Instances: []string{"i-1001", "i-1002", "i-1003", "i-1004"}, Deleted: []deletion{}, Payments: []payment{}, Logins: []string{}}
	if got := c.State(t); !reflect.DeepEqual(got, want) {
		t.Errorf("state after reset %+v, want %+v", got, want)
	}
}
