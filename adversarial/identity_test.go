package adversarial

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// loginAttack is a login that names bob (login protection on) to the console, or
// could, while naming someone else (or no one) to a gateway that reads the body
// differently. Only bob's password is used: the attacker has it, not his second
// factor.
type loginAttack struct {
	name        string
	target      string
	contentType string
	body        string
	// ambiguous: the body or query could name two users, or cannot be read; the
	// gateway must refuse it (400) before the console sees it when it reads the body
	// itself.
	ambiguous bool
}

var loginAttacks = []loginAttack{
	{"json key in another case", "/login", "application/json", `{"username":"carol","Username":"bob","password":"bob-password"}`, true},
	{"json key twice", "/login", "application/json", `{"username":"carol","username":"bob","password":"bob-password"}`, true},
	{"json key case-folded by unicode", "/login", "application/json", `{"username":"carol","uſername":"bob","password":"bob-password"}`, true},
	{"json key escaped", "/login", "application/json", `{"username":"carol","user\u006eame":"bob","password":"bob-password"}`, true},
	{"json nested duplicate", "/login", "application/json", `{"username":"bob","password":"bob-password","x":{"a":1,"A":2}}`, true},
	{"query before body", "/login?username=bob", "application/x-www-form-urlencoded", "username=carol&password=bob-password", true},
	{"query in another case", "/login?USERNAME=bob", "application/x-www-form-urlencoded", "username=carol&password=bob-password", true},
	{"form field twice", "/login", "application/x-www-form-urlencoded", "username=carol&username=bob&password=bob-password", true},
	{"form field in another case", "/login", "application/x-www-form-urlencoded", "Username=bob&username=carol&password=bob-password", true},
	{"form array field", "/login", "application/x-www-form-urlencoded", "username=carol&username[]=bob&password=bob-password", true},
	{"json sniffed from text/plain", "/login", "text/plain", `{"username":"bob","password":"bob-password"}`, true},
	{"json sniffed from a form", "/login", "application/x-www-form-urlencoded", `{"username":"bob","password":"bob-password","x":"&username=carol"}`, true},
	{"json without a content type", "/login", "", `{"username":"bob","password":"bob-password"}`, true},
	{"multipart field twice", "/login", "multipart/form-data; boundary=XX",
		"--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\ncarol\r\n" +
			"--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n" +
			"--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nbob-password\r\n--XX--\r\n", true},
	{"name in capitals", "/login", "application/x-www-form-urlencoded", "username=BOB&password=bob-password", false},
	{"name in full-width letters", "/login", "application/x-www-form-urlencoded", "username=" + url.QueryEscape("ｂｏｂ") + "&password=bob-password", false},
	{"name only in the query", "/login?username=bob", "application/x-www-form-urlencoded", "password=bob-password", false},
	{"login path with a suffix", "/login.json", "application/x-www-form-urlencoded", "username=bob&password=bob-password", true},
}

// attackLogins tries every login attack with a fresh client and checks the one
// property that matters: bob's console session never reaches the attacker without
// bob's second factor. check adds what a mode promises on top.
func attackLogins(t *testing.T, s *stack, check func(t *testing.T, a loginAttack, resp response, consoleSaw bool)) {
	for _, a := range loginAttacks {
		t.Run(a.name, func(t *testing.T) {
			s.console.Reset(t)
			c := s.client()
			resp := c.raw("POST", a.target, a.contentType, a.body)
			if slices.Contains(resp.setCookies(), "console_session") {
				if logins := s.console.State(t).Logins; slices.Contains(logins, "bob") {
					t.Fatalf("bob's console session was released without a second factor: %d %v", resp.StatusCode, resp.Header)
				}
			}
			if got := c.consoleUser(); got == "bob" {
				t.Fatalf("signed in to the console as bob with a password alone (gateway answered %d)", resp.StatusCode)
			}
			check(t, a, resp, len(s.requestsTo("POST", "/login")) > 0)
		})
	}
}

// expectHeldFor checks a login was held for user's second factor.
func expectHeldFor(t *testing.T, resp response, user string) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("login not held for a second factor: %d %s", resp.StatusCode, resp.Body)
	}
	if slices.Contains(resp.setCookies(), "console_session") || slices.Contains(resp.setCookies(), "stepup_session") {
		t.Fatalf("a held login set session cookies: %v", resp.Header["Set-Cookie"])
	}
}

// With a "who am I" URL, the gateway asks the console who signed in: whatever the
// body says, the login the console accepted is bob's, and bob's login is held.
func TestLoginIdentityFromConsoleWhoami(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock+"\t\trequire login bob\n"))
		attackLogins(t, s, func(t *testing.T, a loginAttack, resp response, consoleSaw bool) {
			if slices.Contains(s.console.State(t).Logins, "bob") {
				expectHeldFor(t, resp, "bob")
			}
		})
	})
}

// Without one, the gateway reads the body like the strictest framework and refuses
// anything that could name two users before the console sees it.
func TestLoginIdentityFromBody(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(bodyField)+protectBlock+"\t\trequire login bob\n"))
		attackLogins(t, s, func(t *testing.T, a loginAttack, resp response, consoleSaw bool) {
			if a.ambiguous {
				if resp.StatusCode != http.StatusBadRequest || consoleSaw {
					t.Fatalf("ambiguous login: gateway answered %d (want 400), console saw it: %v", resp.StatusCode, consoleSaw)
				}
				return
			}
			if slices.Contains(s.console.State(t).Logins, "bob") {
				expectHeldFor(t, resp, "bob")
			}
		})
		if !strings.Contains(s.log(), "login refused") {
			t.Error("refused logins are not logged")
		}
	})
}

// A user's name in a policy list matches however its letters are cased.
func TestPolicyListsFoldNames(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock+"\t\trequire login BOB\n"))
		resp := s.client().raw("POST", "/login", "application/json", `{"username":"bob","password":"bob-password"}`)
		expectHeldFor(t, resp, "bob")
	})
}

// A console that answers with 103 Early Hints during a good login: nothing of the
// login reaches the browser before the second factor, not even informational answers.
func TestEarlyHintsNotForwardedOnLogin(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		s := startGateway(t, c, u, stepupSite(loginBlock(whoami)+protectBlock+"\t\trequire login bob\n"))
		cl := s.client()
		resp := cl.login("bob")
		if len(resp.Informational) > 0 {
			t.Fatalf("1xx answers reached the client during a held login: %+v", resp.Informational)
		}
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/challenge/") {
			t.Fatalf("login not held: %d %v", resp.StatusCode, resp.Header)
		}
		for _, name := range resp.setCookies() {
			if strings.HasPrefix(name, "console_") {
				t.Fatalf("the console's cookie %s reached the client with the challenge redirect", name)
			}
		}
		if cl.cookie("console_early") != "" || cl.consoleUser() == "bob" {
			t.Fatal("the client holds bob's console session")
		}
	}, "--early-hints")
}

// When the store cannot answer, a login is not attempted: the password never
// reaches the console.
func TestStoreOutageAtLogin(t *testing.T) {
	eachConsole(t, func(t *testing.T, c console, u string) {
		block := "\t\tstore redis redis://127.0.0.1:" + freePort(t) + "/0\n" +
			"\t\tsigning_key " + randomKey(t) + "\n\t\tencryption_key " + randomKey(t) + "\n" +
			loginBlock(whoami) + protectBlock
		s := startGateway(t, c, u, stepupSite(block))
		resp := s.client().login("carol")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("login during a store outage: %d, want 503", resp.StatusCode)
		}
		if got := s.requestsTo("POST", "/login"); len(got) > 0 {
			t.Fatalf("the password reached the console during a store outage: %+v", got)
		}
		// Unprotected pages still work.
		if r := s.client().page("GET", "/login", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("unprotected page during an outage: %d", r.StatusCode)
		}
	})
}
