package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/internal/redistest"
)

// cli runs `caddy stepup args...` with the config file, as an operator would.
func cli(t *testing.T, config string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "stepup", SilenceErrors: true, SilenceUsage: true}
	configureCLI(root)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--config", config, "--adapter", "caddyfile"))
	err := root.Execute()
	return out.String(), err
}

// TestCLI works on a real Redis that a running gateway shares: the operator lists,
// shows, resets, unlocks, changes protection and signs out, and each change lands in
// the user's audit trail as done by the command line.
func TestCLI(t *testing.T) {
	addr, prefix := redistest.Addr(t), redistest.Prefix(t)
	block := strings.Replace(redisBlock(addr, prefix), "stepup {", "stepup {\n\troot alice\n\trequire login alice", 1)
	g := newGateway(t, block)
	carol := g.client()
	carol.login("carol")
	secret := carol.bindTOTP()
	makeRecoveryCodes(t, carol, secret)

	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte("http://127.0.0.1:0 {\n"+block+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, config, "users", "--json")
	var users struct{ Users []string }
	if err != nil || json.Unmarshal([]byte(out), &users) != nil || len(users.Users) != 1 || users.Users[0] != "carol" {
		t.Fatalf("users: %q %v", out, err)
	}
	if out, err := cli(t, config, "show", "carol"); err != nil || !strings.Contains(out, "authenticator app") || !strings.Contains(out, "bound 20") {
		t.Fatalf("show: %q %v", out, err)
	}
	if out, err := cli(t, config, "show", "carol"); err != nil || !strings.Contains(out, "10 left") {
		t.Fatalf("show with recovery codes: %q %v", out, err)
	}
	if out, err := cli(t, config, "reset", "carol", "recovery", "--json"); err != nil || !strings.Contains(out, `"recovery_codes": 0`) {
		t.Fatalf("revoking recovery codes: %q %v", out, err)
	}
	if out, err := cli(t, config, "reset", "carol", "totp"); err != nil || !strings.Contains(out, "reset") {
		t.Fatalf("reset: %q %v", out, err)
	}
	if out, err := cli(t, config, "protection", "carol", "login", "on", "totp", "--json"); err != nil || !strings.Contains(out, `"on": true`) {
		t.Fatalf("protection: %q %v", out, err)
	}
	if _, err := cli(t, config, "unlock", "carol"); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if _, err := cli(t, config, "signout", "carol"); err != nil {
		t.Fatalf("signout: %v", err)
	}
	// The running gateway sees it all: carol is signed out, and binds again.
	if r := carol.page("GET", "/.stepup/", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("carol's session after the CLI signed her out: %d", r.StatusCode)
	}
	out, err = cli(t, config, "show", "carol", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Login  struct{ On bool }
		Bound  []string
		Events []struct{ Actor, Action, Result string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || !st.Login.On || len(st.Bound) != 0 {
		t.Fatalf("carol after the CLI: %s %v", out, err)
	}
	var actions []string
	for _, ev := range st.Events {
		if ev.Actor == "cli" && ev.Result == "ok" {
			actions = append(actions, ev.Action)
		}
	}
	if strings.Join(actions, " ") != "signout.everywhere unlock protection.login.on reset.totp recovery.revoked" {
		t.Fatalf("the CLI's events: %v", actions)
	}

	// Refusals and mistakes: a non-zero exit with a clear message.
	if _, err := cli(t, config, "protection", "alice", "login", "off"); err == nil || !strings.Contains(err.Error(), "cannot be turned off") {
		t.Fatalf("turning a mandate off: %v", err)
	}
	if _, err := cli(t, config, "protection", "carol", "everything", "on"); err == nil || !strings.Contains(err.Error(), "expected") {
		t.Fatalf("a bad kind: %v", err)
	}
	if _, err := cli(t, config, "reset", "carol", "fingerprint"); err == nil {
		t.Fatal("a bad factor was accepted")
	}
	memory := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(memory, []byte("http://127.0.0.1:0 {\n"+demoBlock+"\n}\n"), 0o600)
	if _, err := cli(t, memory, "users"); err == nil || !strings.Contains(err.Error(), "memory store") {
		t.Fatalf("with the memory store: %v", err)
	}
	if _, err := cli(t, filepath.Join(t.TempDir(), "missing"), "users"); err == nil {
		t.Fatal("a missing config was accepted")
	}
}

// makeRecoveryCodes makes a set of recovery codes as carol would, with a fresh code
// from her app first.
func makeRecoveryCodes(t *testing.T, c *client, secret []byte) {
	t.Helper()
	settings := c.page("GET", "/.stepup/", nil)
	r := c.page("POST", "/.stepup/recovery", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	loc := r.Header.Get("Location")
	page := c.page("GET", loc, nil)
	next := challenge.TOTPCode(secret, time.Now().Add(30*time.Second))
	if done := c.page("POST", loc, url.Values{"csrf": {match(t, csrfRE, page.Body)}, "method": {"totp"}, "code": {next}}); done.StatusCode != http.StatusSeeOther {
		t.Fatalf("the check before recovery codes: %d %s", done.StatusCode, done.Body)
	}
	settings = c.page("GET", "/.stepup/", nil)
	r = c.page("POST", "/.stepup/recovery", url.Values{"csrf": {match(t, csrfRE, settings.Body)}})
	if shown := c.page("GET", r.Header.Get("Location"), nil); !strings.Contains(shown.Body, `id="recovery-codes"`) {
		t.Fatalf("recovery codes: %d %s", shown.StatusCode, shown.Body)
	}
}
