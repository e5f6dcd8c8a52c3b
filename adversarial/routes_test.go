package adversarial

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-stepup/stepup/internal/totptest"
)

// operationAttack is a request the console could read as deleting i-1001 or paying,
// while the gateway might read it as something else.
type operationAttack struct {
	name   string
	method string
	target string
	header []string
	body   string
	ctype  string
}

func (a operationAttack) send(c *client) response {
	h := append([]string{"Accept", "application/json"}, a.header...)
	if a.ctype != "" {
		h = append(h, "Content-Type", a.ctype)
	}
	var body *strings.Reader
	if a.body != "" {
		body = strings.NewReader(a.body)
	}
	if body == nil {
		return c.do(a.method, a.target, nil, h...)
	}
	return c.do(a.method, a.target, body, h...)
}

// expectRefused checks an attack got no further than the gateway's challenge (401) or
// refusal (400), and that the console did nothing.
func expectRefused(t *testing.T, s *stack, a operationAttack, resp response) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("%s %s: gateway answered %d, want a challenge (401) or a refusal (400)", a.method, a.target, resp.StatusCode)
	}
	if st := s.console.State(t); len(st.Deleted) > 0 || len(st.Payments) > 0 {
		t.Fatalf("%s %s: the console acted without a second factor: %+v", a.method, a.target, st)
	}
}

var methodAttacks = []operationAttack{
	{name: "lower-case method", method: "delete", target: "/api/instances/i-1001"},
	{name: "mixed-case method", method: "Delete", target: "/api/instances/i-1001"},
	{name: "override header", method: "POST", target: "/api/instances/i-1001", header: []string{"X-HTTP-Method-Override", "DELETE"}},
	{name: "override header on GET", method: "GET", target: "/api/instances/i-1001", header: []string{"X-HTTP-Method-Override", "DELETE"}},
	{name: "X-HTTP-Method", method: "POST", target: "/api/instances/i-1001", header: []string{"X-HTTP-Method", "DELETE"}},
	{name: "X-Method-Override", method: "PATCH", target: "/api/instances/i-1001", header: []string{"X-Method-Override", "delete"}},
	{name: "_method in the query", method: "GET", target: "/api/instances/i-1001?_method=DELETE"},
	{name: "_method encoded in the query", method: "GET", target: "/api/instances/i-1001?%5Fmethod=DELETE"},
	{name: "_method in a form", method: "OPTIONS", target: "/api/instances/i-1001", ctype: "application/x-www-form-urlencoded", body: "_method=DELETE"},
	{name: "_method in JSON", method: "GET", target: "/api/instances/i-1001", ctype: "application/json", body: `{"_method":"DELETE"}`},
	{name: "_method in sniffed JSON", method: "GET", target: "/api/instances/i-1001", ctype: "text/plain", body: `{"\u005fmethod":"DELETE"}`},
	{name: "_method in multipart", method: "GET", target: "/api/instances/i-1001", ctype: "multipart/form-data; boundary=XX",
		body: "--XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n"},
	{name: "override on a payment", method: "GET", target: "/billing/pay", header: []string{"X-HTTP-Method-Override", "POST"}},
}

var pathAttacks = []operationAttack{
	{name: "letter case", method: "DELETE", target: "/API/Instances/i-1001"},
	{name: "trailing slash", method: "DELETE", target: "/api/instances/i-1001/"},
	{name: "repeated slashes", method: "DELETE", target: "//api//instances///i-1001"},
	{name: "dot segment", method: "DELETE", target: "/api/x/../instances/i-1001"},
	{name: "encoded slash", method: "DELETE", target: "/api/instances%2fi-1001"},
	{name: "encoded slash in a dot segment", method: "DELETE", target: "/api/instances/..%2fi-1001"},
	{name: "encoded dot-dot and slash", method: "DELETE", target: "/api/x/..%2finstances/i-1001"},
	{name: "encoded dots", method: "DELETE", target: "/api/x/%2e%2e/instances/i-1001"},
	{name: "double-encoded slash", method: "DELETE", target: "/api/instances%252fi-1001"},
	{name: "backslashes", method: "DELETE", target: "/api\\instances\\i-1001"},
	{name: "encoded backslash", method: "DELETE", target: "/api/instances%5ci-1001"},
	{name: "path parameter", method: "DELETE", target: "/api/instances/i-1001;v=1"},
	{name: "path parameter mid-path", method: "DELETE", target: "/api;x=1/instances/i-1001"},
	{name: "encoded letter", method: "DELETE", target: "/%61pi/instances/i-1001"},
	{name: "dotless i", method: "DELETE", target: "/api/%C4%B1nstances/i-1001"},
	{name: "capital I with a dot, on a payment", method: "POST", target: "/B%C4%B0LLING/pay"},
	{name: "exact rule with a trailing slash", method: "POST", target: "/billing/pay/"},
	{name: "exact rule with a parameter", method: "POST", target: "/billing/pay;jsessionid=1"},
	{name: "exact rule in capitals", method: "POST", target: "/BILLING/PAY"},
	{name: "exact rule encoded", method: "POST", target: "/billing%2Fpay"},
	{name: "exact rule with a suffix", method: "POST", target: "/billing/pay.json"},
	{name: "exact rule with a trailing dot", method: "POST", target: "/billing/pay."},
	{name: "exact rule cut by a NUL", method: "POST", target: "/billing/pay%00.css"},
	{name: "exact rule with trailing spaces", method: "POST", target: "/billing/pay%20%20"},
	{name: "exact rule in full-width letters", method: "POST", target: "/billing/%EF%BD%90%EF%BD%81%EF%BD%99"},
	{name: "rewrite header", method: "DELETE", target: "/dashboard", header: []string{"X-Original-URL", "/api/instances/i-1001"}},
	{name: "rewrite header on a payment", method: "POST", target: "/dashboard", header: []string{"X-Rewrite-URL", "/billing/pay"}},
	{name: "rewrite header with IIS's %u escapes", method: "POST", target: "/dashboard", header: []string{"X-Original-URL", "/billing%u002fpay"}},
}

// attackOperations signs carol in (nothing bound, so a protected operation is a
// challenge) and sends every attack.
func attackOperations(t *testing.T, block string, attacks []operationAttack) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(block))
		carol := s.client()
		carol.mustLogin("carol")
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				s.console.Reset(t)
				// Reset ended carol's console session: sign in again.
				carol.mustLogin("carol")
				expectRefused(t, s, a, a.send(carol))
			})
		}
	})
}

// Methods compare case-insensitively, and any method-override signal on a protected
// rule's paths counts as the rule's method.
func TestMethodsCannotBeOutSpelled(t *testing.T) {
	attackOperations(t, loginBlock(whoami)+protectBlock, methodAttacks)
}

// A rule naming GET covers HEAD, which many frameworks answer with their GET handler.
func TestGetRuleCoversHead(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock+"\t\tprotect /dashboard {\n\t\t\tmethods GET\n\t\t}\n"))
		carol := s.client()
		carol.mustLogin("carol")
		for _, m := range []string{"HEAD", "head", "GET"} {
			if resp := carol.do(m, "/dashboard", nil, "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s /dashboard: %d, want 401", m, resp.StatusCode)
			}
		}
	})
}

// The login route is watched however its method is spelled or overridden.
func TestLoginMethodCannotBeOutSpelled(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock+"\t\trequire login bob\n"))
		form := "application/x-www-form-urlencoded"
		for _, a := range []operationAttack{
			{name: "lower-case post", method: "post", target: "/login", ctype: form, body: "username=bob&password=bob-password"},
			{name: "override header", method: "GET", target: "/login", ctype: form, body: "username=bob&password=bob-password", header: []string{"X-HTTP-Method-Override", "POST"}},
			{name: "_method in the query", method: "GET", target: "/login?_method=POST&username=bob&password=bob-password"},
			{name: "_method in the body", method: "PUT", target: "/login", ctype: form, body: "_method=POST&username=bob&password=bob-password"},
			{name: "path spelling", method: "POST", target: "/Login/", ctype: form, body: "username=bob&password=bob-password"},
			{name: "path parameter", method: "POST", target: "/login;x=1", ctype: form, body: "username=bob&password=bob-password"},
			{name: "encoded path", method: "POST", target: "/%6cogin", ctype: form, body: "username=bob&password=bob-password"},
			{name: "rewrite header", method: "POST", target: "/dashboard", ctype: form, body: "username=bob&password=bob-password", header: []string{"X-Original-URL", "/login"}},
		} {
			t.Run(a.name, func(t *testing.T) {
				s.console.Reset(t)
				cl := s.client()
				resp := a.send(cl)
				if slices.Contains(resp.setCookies(), "console_session") && slices.Contains(s.console.State(t).Logins, "bob") {
					t.Fatalf("bob's console session released without a second factor: %d", resp.StatusCode)
				}
				if cl.consoleUser() == "bob" {
					t.Fatalf("signed in as bob with a password alone (%d)", resp.StatusCode)
				}
			})
		}
	})
}

// Raw path spellings a console may route to a protected rule are protected, or
// refused when the gateway cannot tell.
func TestPathsCannotBeOutSpelled(t *testing.T) {
	attackOperations(t, loginBlock(whoami)+protectBlock, pathAttacks)
}

// Odd spellings of unprotected paths still pass: the checks refuse only what could
// touch a protected rule.
func TestUnprotectedOddPathsPass(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock))
		carol := s.client()
		carol.mustLogin("carol")
		for _, target := range []string{"/api/instances", "/API/instances?x=%2f", "/dash%62oard", "/dashboard;x=1"} {
			if resp := carol.do("GET", target, nil, "Accept", "application/json"); resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized && strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient") {
				t.Errorf("GET %s: %d from the gateway", target, resp.StatusCode)
			}
		}
	})
}

// Config means what it says: no directive silently switches operation protection off.
func TestConfigCannotSwitchProtectionOffSilently(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{
		{"methods line", "\t\tmethods totp\n"},
		{"login required only", "\t\trequire login bob\n"},
		{"both", "\t\tmethods totp\n\t\trequire login bob\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attackOperations(t, loginBlock(whoami)+protectBlock+tc.extra, []operationAttack{
				{name: "delete", method: "DELETE", target: "/api/instances/i-1001"},
			})
		})
	}
}

// Only a request from this site ends the gateway session at logout.
func TestCrossSiteLogoutIgnored(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock))
		carol := s.client()
		carol.mustLogin("carol")
		carol.do("GET", "/logout", nil, "Accept", "text/html", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors")
		if resp := carol.page("GET", "/.stepup/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a cross-site logout ended the gateway session: settings answered %d", resp.StatusCode)
		}
		carol.do("GET", "/logout", nil, "Accept", "text/html", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate")
		if resp := carol.page("GET", "/.stepup/", nil); resp.StatusCode == http.StatusOK {
			t.Fatal("a same-origin logout left the gateway session")
		}
	})
}

// bindFromSettings binds an authenticator for a signed-in user and returns the app.
func (c *client) bindFromSettings(t *testing.T) *totptest.App {
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	start := c.page("POST", "/.stepup/totp/bind", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	return c.bindTOTP(start.Header.Get("Location"))
}

// A step-up token never lands in Caddy's access log: not when an API client presents it
// the way the verify answer says, and not when the operator keeps a token header and
// the README's log filter.
func TestStepUpTokenNotInAccessLog(t *testing.T) {
	const filtered = "\tlog {\n\t\toutput file @ACCESS@\n\t\tformat filter {\n\t\t\trequest>headers>X-Stepup-Token delete\n\t\t}\n\t}\n"
	for _, tc := range []struct{ name, site string }{
		{"default", stepupSite(loginBlock(whoami) + protectBlock)},
		{"token header with the log filter", filtered + stepupSite(loginBlock(whoami)+protectBlock+"\t\ttoken_header X-Stepup-Token\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachConsole(t, func(t *testing.T, c console, u string) {
				s := startGateway(t, c, u, tc.site)
				carol := s.client()
				carol.mustLogin("carol")
				app := carol.bindFromSettings(t)
				api := s.client()
				api.mustLogin("carol")
				resp := api.api("DELETE", "/api/instances/i-1001", nil)
				verify, _ := resp.json(t)["verify_url"].(string)
				code, err := app.Next(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				v := api.api("POST", verify, map[string]string{"code": code})
				answer := v.json(t)
				tok, _ := answer["token"].(string)
				if v.StatusCode != http.StatusOK || tok == "" {
					t.Fatalf("verify: %d %s", v.StatusCode, v.Body)
				}
				// A client without a cookie jar presents the token as the answer says.
				bare := s.client()
				var h []string
				if name, _ := answer["header"].(string); name != "" {
					h = []string{name, tok}
				} else if name, _ := answer["cookie"].(string); name != "" {
					h = []string{"Cookie", name + "=" + tok}
				}
				for _, ck := range api.jar.Cookies(mustURL(s.URL)) {
					if ck.Name != "stepup_token" {
						bare.jar.SetCookies(mustURL(s.URL), []*http.Cookie{ck})
					}
				}
				if r := bare.api("DELETE", "/api/instances/i-1001", nil, h...); r.StatusCode != http.StatusOK {
					t.Fatalf("delete with the token as the answer says (%v): %d %s", answer, r.StatusCode, r.Body)
				}
				b, _ := os.ReadFile(filepath.Join(filepath.Dir(s.logFile), "access.log"))
				if len(b) == 0 || strings.Contains(string(b), tok) {
					t.Fatalf("the access log holds the step-up token (or is empty: %d bytes)", len(b))
				}
			})
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
