package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestModuleRegistered(t *testing.T) {
	info, err := caddy.GetModule("http.handlers.stepup")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(*Handler); !ok {
		t.Fatalf("module constructs %T", info.New())
	}
}

// TestProvisionErrors covers JSON configs, which skip the Caddyfile's checks.
func TestProvisionErrors(t *testing.T) {
	t.Setenv("STEPUP_TEST_SHORT", "short")
	tests := []struct {
		name, json, want string
	}{
		{"redis without keys", `{"store":{"backend":"redis","url":"redis://127.0.0.1:1/0"}}`, "signing_key is required with a redis store"},
		{"short key", `{"signing_key":"{env.STEPUP_TEST_SHORT}","encryption_key":"` + testEncryptionKey + `","store":{"backend":"memory","file":"/nonexistent/x"}}`, "signing_key"},
		{"unset env key", `{"signing_key":"{env.STEPUP_TEST_UNSET}","encryption_key":"` + testEncryptionKey + `","store":{"backend":"redis","url":"redis://127.0.0.1:1/0"}}`, "{env.STEPUP_TEST_UNSET} is empty"},
		{"bad rule path", `{"protect":[{"paths":["nope"]}]}`, `must start with / or *`},
		{"rule without paths", `{"protect":[{"name":"x"}]}`, "has no paths"},
		{"unknown method", `{"methods":["email"]}`, `unknown second-factor method`},
		{"enforce is replaced", `{"enforce":{"operation":["all"]}}`, "write `require operation all`"},
		{"default method not enabled", `{"defaults":{"login":{"on":true,"methods":["sms"]}}}`, "sms is not among the enabled methods"},
		{"unknown store", `{"store":{"backend":"etcd"}}`, `unknown store "etcd" (expected counting, memory or redis`},
		{"memory with redis fields", `{"store":{"backend":"memory","prefix":"x:"}}`, `store memory takes only "file", not "prefix"`},
		{"no backend with redis fields", `{"store":{"url":"redis://127.0.0.1:1"}}`, `store memory takes only "file", not "url": remove it, or set "backend": "redis"`},
		{"redis without url", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","store":{"backend":"redis"}}`, "store redis needs a URL"},
		{"redis bad url", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","store":{"backend":"redis","url":"redis+sentinel://h:26379"}}`, "needs master_name"},
		{"redis negative replicas", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","store":{"backend":"redis","url":"redis://127.0.0.1:1","replicas":-1}}`, "replicas must be 0 or more"},
		{"redis wait past read timeout", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","store":{"backend":"redis","url":"redis://127.0.0.1:1?read_timeout=100ms","wait_timeout":"1s"}}`, "must be shorter than the client's read_timeout"},
		{"redis unknown field", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","store":{"backend":"redis","url":"redis://127.0.0.1:1","file":"x"}}`, `unknown field "file"`},
		{"bind_console_session without success_cookie", `{"login":{"path":"/login"},"bind_console_session":{}}`, "needs the login route's success_cookie"},
		{"bind_console_session in header mode", `{"identity":{"source":"header","header":"X-User"},"login":{"path":"/login","success_cookie":"s"},"bind_console_session":{}}`, "identity header does not have"},
		{"bind_console_session remember too short", `{"login":{"path":"/login","success_cookie":"s"},"bind_console_session":{"remember":"1h"}}`, "must be at least session_lifetime"},
		{"console cookie named as the gateway's", `{"login":{"path":"/login","success_cookie":"STEPUP_TOKEN"}}`, `login: success_cookie: "STEPUP_TOKEN" is read as the gateway's own cookie "stepup_token"`},
		{"bound console cookie named as the gateway's", `{"login":{"path":"/login","success_cookie":"stepup%5Fsession"},"bind_console_session":{}}`, `is also read as the gateway's own cookie "stepup_session"`},
		{"anomaly without login", `{"anomaly":{}}`, "add the console's login route"},
		{"anomaly unknown signal", `{"login":{"path":"/login"},"anomaly":{"signals":{"new_browser":1}}}`, `unknown signal "new_browser"`},
		{"anomaly bad date", `{"login":{"path":"/login"},"anomaly":{"log_only_until":"soon"}}`, "expected a date"},
		{"previous key equal to the current", `{"signing_key":"` + testSigningKey + `","previous_signing_keys":["` + testSigningKey + `"],"encryption_key":"` + testEncryptionKey + `","store":{"backend":"memory","file":"/nonexistent/stepup.json"}}`, "signing key 2 is the same"},
		{"weak previous key", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","previous_encryption_keys":["{env.STEPUP_TEST_SHORT}"],"store":{"backend":"memory","file":"/tmp/x"}}`, "encryption_key: previous key 1: token: signing key is 5 bytes"},
		{"unset previous key", `{"signing_key":"` + testSigningKey + `","previous_signing_keys":["{env.STEPUP_TEST_UNSET}"],"encryption_key":"` + testEncryptionKey + `","store":{"backend":"memory","file":"/tmp/x"}}`, "previous key 1 {env.STEPUP_TEST_UNSET} is empty"},
		{"previous keys without a current one", `{"previous_encryption_keys":["` + testEncryptionKey + `"]}`, "previous encryption_key keys need a current encryption_key"},
		{"previous key files without a current one", `{"signing_key":"` + testSigningKey + `","previous_signing_key_files":["/x.pem"],"encryption_key":"` + testEncryptionKey + `","store":{"backend":"memory","file":"/tmp/x"}}`, "need a current signing_key_file"},
		{"one key for both uses", `{"signing_key":"` + testSigningKey + `","encryption_key":"` + testEncryptionKey + `","previous_encryption_keys":["` + testSigningKey + `"],"store":{"backend":"memory","file":"/tmp/x"}}`, "a signing key is also an encryption key"},
		{"both key kinds", `{"signing_key":"` + testSigningKey + `","signing_key_file":"/x.pem","encryption_key":"` + testEncryptionKey + `","store":{"backend":"memory","file":"/tmp/x"}}`, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := json.Unmarshal([]byte(tt.json), &h); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := h.Provision(ctx)
			if err == nil {
				err = h.Validate()
			}
			_ = h.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestValidateIdentityNeedsLogin(t *testing.T) {
	var h Handler
	_ = json.Unmarshal([]byte(`{"protect":[{"paths":["/a"]}]}`), &h)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	defer h.Cleanup()
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "needs a login route") {
		t.Fatalf("Validate = %v", err)
	}
}

// TestReloadKeepsTheMemoryStore: a config reload provisions a new handler before the
// old one is cleaned up; both share the store, so bindings and sessions survive.
func TestReloadKeepsTheMemoryStore(t *testing.T) {
	g := newGateway(t, demoBlock)
	c := g.client()
	c.login("alice")
	c.bindTOTP()
	reloaded := provision(t, demoBlock)
	if reloaded.store != g.h.store {
		t.Fatal("a reload made a new memory store")
	}
	unload(g.h) // the old config goes away
	f, err := reloaded.challenges.Factors(t.Context(), "alice")
	if err != nil || f.TOTP == nil {
		t.Fatalf("binding lost across the reload: %+v %v", f, err)
	}
}
