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

// TestEnforceCombinations: methods, enforce login and enforce operation are
// independent; operation protection is on for everyone unless a line says otherwise;
// what the config means is what `caddy adapt` writes, what the gateway does, and what
// it logs at load.
func TestEnforceCombinations(t *testing.T) {
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
		adapted     string // the handler's "enforce" in the adapted JSON, "" for none
		operation   string // logged operation protection
		login       string // logged login protection
		carolAsked  bool   // carol's delete needs a second factor
		bobHeld     bool   // bob's console login is held
	}{
		{"nothing", "", "", "everyone", "nobody", true, false},
		{"methods only", "methods totp", `{"methods":["totp"]}`, "everyone", "nobody", true, false},
		{"login only", "enforce login bob", `{"login":["bob"]}`, "everyone", "bob", true, true},
		{"login for all, methods", "enforce login all\n\tmethods totp", `{"login":["all"],"methods":["totp"]}`, "everyone", "everyone", true, true},
		{"operation for some", "enforce operation alice Bob", `{"operation":["alice","Bob"]}`, "alice bob", "nobody", false, false},
		{"operation on two lines", "enforce operation alice\n\tenforce operation carol", `{"operation":["alice","carol"]}`, "alice carol", "nobody", true, false},
		{"operation off", "enforce operation none", `{"operation":["none"]}`, "nobody", "nobody", false, false},
		{"operation off, login on", "enforce operation none\n\tenforce login all", `{"login":["all"],"operation":["none"]}`, "nobody", "everyone", false, true},
		{"login explicitly off", "enforce login none\n\tmethods totp", `{"login":["none"],"methods":["totp"]}`, "everyone", "nobody", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := base + "\t" + tt.lines + "\n}"
			out, err := adapt(t, "Caddyfile", "http://:8080 {\n"+block+"\n}\n")
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			if got := adaptedEnforce(t, out); got != tt.adapted {
				t.Errorf("adapted enforce = %s, want %s", got, tt.adapted)
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
			if fields["operation_protection"] != tt.operation || fields["login_protection"] != tt.login {
				t.Errorf("logged operation %v, login %v; want %q, %q", fields["operation_protection"], fields["login_protection"], tt.operation, tt.login)
			}
			if off := logs.FilterMessageSnippet("operation protection is off").Len() > 0; off != (tt.operation == "nobody") {
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

// adaptedEnforce returns the stepup handler's "enforce" object of an adapted config.
func adaptedEnforce(t *testing.T, cfg []byte) string {
	t.Helper()
	var found string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "stepup" {
				if e, ok := v["enforce"]; ok {
					b, _ := json.Marshal(e)
					found = string(b)
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
	return found
}
