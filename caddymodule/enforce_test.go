package caddymodule

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stepup/stepup/token"
)

// TestSettingsCombinations: methods, defaults and mandates are independent; with
// nothing configured operation protection is on for everyone and login protection
// off; what the config means is what `caddy adapt` writes, what the gateway does, and
// what it logs at load.
func TestSettingsCombinations(t *testing.T) {
	const base = `stepup {
	login /login {
		success_status 200 303
		success_cookie console_session
	}
	protect /api/instances/* {
		methods DELETE
	}
`
	tests := []struct {
		name, lines string
		adapted     string // the handler's "methods", "defaults" and "require" in the adapted JSON
		operation   string // logged operation protection default
		login       string // logged login protection required for
		carolAsked  bool   // carol's delete needs a second factor
		bobHeld     bool   // bob's console login is held
	}{
		{"nothing", "", `{}`, "on", "nobody", true, false},
		{"methods only", "methods totp", `{"methods":["totp"]}`, "on", "nobody", true, false},
		{"login required for bob", "require login bob", `{"require":{"login":["bob"]}}`, "on", "bob", true, true},
		{"login on by default", "default login on totp\n\tmethods totp", `{"defaults":{"login":{"methods":["totp"],"on":true}},"methods":["totp"]}`, "on", "nobody", true, true},
		{"login required for admins", "require login admins\n\tadmins bob", `{"require":{"login":["admins"]}}`, "on", "root and administrators", true, true},
		{"operation off by default", "default operation off", `{"defaults":{"operation":{"on":false}}}`, "off", "nobody", false, false},
		{"operation off by default, required for carol", "default operation off\n\trequire operation Carol", `{"defaults":{"operation":{"on":false}},"require":{"operation":["Carol"]}}`, "off", "nobody", true, false},
		{"operation off, login required for all", "default operation off\n\trequire login all", `{"defaults":{"operation":{"on":false}},"require":{"login":["all"]}}`, "off", "everyone", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := base + "\t" + tt.lines + "\n}"
			out, err := adapt(t, "Caddyfile", "http://:8080 {\n"+block+"\n}\n")
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			if got := adaptedSettings(t, out); got != tt.adapted {
				t.Errorf("adapted settings = %s, want %s", got, tt.adapted)
			}

			g := newGateway(t, block)
			core, logs := observer.New(zap.InfoLevel)
			g.h.logger = zap.New(core)
			g.h.logPolicy()
			entries := logs.FilterMessage("effective two-factor policy").All()
			if len(entries) != 1 {
				t.Fatalf("effective policy logged %d times", len(entries))
			}
			fields := entries[0].ContextMap()
			if fields["operation_protection_default"] != tt.operation || fields["login_protection_required_for"] != tt.login {
				t.Errorf("logged operation default %v, login required for %v; want %q, %q", fields["operation_protection_default"], fields["login_protection_required_for"], tt.operation, tt.login)
			}
			wantWarning := tt.operation == "off" && !strings.Contains(tt.lines, "require operation")
			if off := logs.FilterMessageSnippet("operation protection is off by default").Len() > 0; off != wantWarning {
				t.Errorf("warning that operation protection is off: %v", off)
			}

			// carol with a gateway session (made directly: her login may be held).
			carol := g.client()
			raw, _, err := g.h.tokens.Issue(t.Context(), token.Session, "carol", "", []string{"pwd"}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			carol.jar.SetCookies(mustURL(g.srv.URL), []*http.Cookie{{Name: "stepup_session", Value: raw}})
			r := carol.api("DELETE", "/api/instances/i-1001", nil)
			if asked := strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_user_authentication"); asked != tt.carolAsked {
				t.Errorf("carol's delete: %d, second factor asked: %v, want %v", r.StatusCode, asked, tt.carolAsked)
			}
			bob := g.client()
			r = bob.page("POST", "/login", map[string][]string{"username": {"bob"}, "password": {"bob-password"}})
			if held := strings.HasPrefix(r.Header.Get("Location"), "/.stepup/challenge/"); held != tt.bobHeld {
				t.Errorf("bob's login: %d %q, held %v, want %v", r.StatusCode, r.Header.Get("Location"), held, tt.bobHeld)
			}
		})
	}
}

// adaptedSettings returns the stepup handler's "methods", "defaults" and "require" of
// an adapted config, as one JSON object.
func adaptedSettings(t *testing.T, cfg []byte) string {
	t.Helper()
	found := map[string]any{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "stepup" {
				for _, k := range []string{"methods", "defaults", "require"} {
					if e, ok := v[k]; ok {
						found[k] = e
					}
				}
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	walk(root)
	b, _ := json.Marshal(found)
	return string(b)
}

// Root starts with operation protection by SMS; without an SMS provider the load
// log says root falls back to the authenticator app.
func TestRootWithoutSMSIsLogged(t *testing.T) {
	for _, tc := range []struct {
		block string
		warns bool
	}{
		{"stepup {\n\tlogin /login\n\troot alice\n}", true},
		{"stepup {\n\tlogin /login\n\troot alice\n\tsms log\n}", false},
		{"stepup {\n\tlogin /login\n}", false},
	} {
		g := newGateway(t, tc.block)
		core, logs := observer.New(zap.InfoLevel)
		g.h.logger = zap.New(core)
		g.h.logPolicy()
		if got := logs.FilterMessageSnippet("root falls back to the authenticator app").Len() > 0; got != tc.warns {
			t.Errorf("%q: warning %v, want %v", tc.block, got, tc.warns)
		}
	}
}
