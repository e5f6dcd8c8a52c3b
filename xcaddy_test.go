package stepup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The xcaddy build: the binary scripts/xcaddy-build makes from this checkout (the test
// command builds it and sets STEPUP_XCADDY_BIN), and the Caddy version everything that
// builds Caddy names, which must be the one go.mod requires: the one the tests run with.

// xcaddyBinEnv names the binary scripts/xcaddy-build built.
const xcaddyBinEnv = "STEPUP_XCADDY_BIN"

// xcaddyModules are the modules an xcaddy build with the demo console must list.
var xcaddyModules = []string{
	"http.handlers.stepup",
	"stepup.sms.webhook",
	"stepup.sms.twilio",
	"stepup.sms.log",
	"http.handlers.democonsole",
}

// goModCaddyVersion returns the version of Caddy go.mod requires, e.g. v2.11.9.
func goModCaddyVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/caddyserver/caddy/v2\s+(v\S+)`)
	m := re.FindAllStringSubmatch(string(data), -1)
	if len(m) != 1 {
		t.Fatalf("go.mod: want one requirement of github.com/caddyserver/caddy/v2, found %d", len(m))
	}
	return m[0][1]
}

// caddy runs the xcaddy-built binary with args in the repository's directory and
// returns its standard output. Caddy's own files go to a temporary directory.
func caddy(t *testing.T, bin string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestXcaddyBuild checks the Caddy that xcaddy builds from this checkout: the Caddy
// version go.mod requires, the modules of caddy-stepup and the demo console, and
// Caddyfile.example adapted and validated (every module provisioned) by it.
func TestXcaddyBuild(t *testing.T) {
	bin := os.Getenv(xcaddyBinEnv)
	if bin == "" {
		msg := xcaddyBinEnv + " is not set: build the binary with ./scripts/xcaddy-build and set it to the path it prints (./scripts/test does both)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	want := goModCaddyVersion(t)
	if version := strings.Fields(string(caddy(t, bin, nil, "version"))); len(version) == 0 || version[0] != want {
		t.Errorf("caddy version = %q, want %s (go.mod's)", version, want)
	}

	listed := strings.Fields(string(caddy(t, bin, nil, "list-modules")))
	for _, id := range xcaddyModules {
		if !slices.Contains(listed, id) {
			t.Errorf("caddy list-modules does not list %s", id)
		}
	}

	// The example with the environment the e2e tests give it (see e2e/stack_test.go):
	// its ports, SMS outbox and log. --validate provisions every module, so the demo
	// mode of the gateway and the console's Caddyfile directive are both exercised.
	dir := t.TempDir()
	env := []string{
		"STEPUP_DEMO_PORT=18080",
		"STEPUP_DEMO_CONSOLE_PORT=19000",
		"STEPUP_DEMO_OUTBOX=" + filepath.Join(dir, "outbox.jsonl"),
		"STEPUP_DEMO_LOG=file " + filepath.Join(dir, "caddy.log"),
	}
	out := caddy(t, bin, env, "adapt", "--config", "Caddyfile.example", "--validate")
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
					Routes []struct {
						Handle []map[string]any `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("caddy adapt printed no JSON config: %v\n%s", err, out)
	}
	handlers := map[string][]string{} // listen address → handlers
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, r := range srv.Routes {
			for _, h := range r.Handle {
				for _, addr := range srv.Listen {
					handlers[addr] = append(handlers[addr], fmt.Sprint(h["handler"]))
				}
			}
		}
	}
	if got := handlers["127.0.0.1:18080"]; !slices.Equal(got, []string{"stepup", "reverse_proxy"}) {
		t.Errorf("handlers on the gateway's port = %q, want stepup then reverse_proxy; all: %v", got, handlers)
	}
	if got := handlers["127.0.0.1:19000"]; !slices.Contains(got, "democonsole") {
		t.Errorf("handlers on the console's port = %q, want democonsole; all: %v", got, handlers)
	}
}

// TestXcaddyVersions checks that what builds Caddy with xcaddy names the Caddy version
// go.mod requires: xcaddy.Dockerfile (builder image, runtime image, xcaddy's
// argument), scripts/xcaddy-build and the README's xcaddy lines.
func TestXcaddyVersions(t *testing.T) {
	want := goModCaddyVersion(t)
	tag := strings.TrimPrefix(want, "v")

	dockerfile, err := os.ReadFile("xcaddy.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var builder, runtime int
	for _, m := range regexp.MustCompile(`(?im)^FROM\s+caddy:(\S+)`).FindAllStringSubmatch(string(dockerfile), -1) {
		image := m[1]
		if base, ok := strings.CutSuffix(image, "-builder"); ok {
			builder++
			image = base
		} else {
			runtime++
		}
		if image != tag {
			t.Errorf("xcaddy.Dockerfile: FROM caddy:%s is not Caddy %s (go.mod's): change it to caddy:%s", m[1], want, strings.Replace(m[1], image, tag, 1))
		}
	}
	if builder != 1 || runtime != 1 {
		t.Errorf("xcaddy.Dockerfile: want one caddy:%s-builder image and one caddy:%s image, found %d and %d", tag, tag, builder, runtime)
	}
	for _, m := range regexp.MustCompile(`xcaddy build (v\S+)`).FindAllStringSubmatch(string(dockerfile), -1) {
		if m[1] != want {
			t.Errorf("xcaddy.Dockerfile: `%s` builds Caddy %s, go.mod requires %s: change it to `xcaddy build %s`", m[0], m[1], want, want)
		}
	}

	out, err := exec.Command("bash", "scripts/xcaddy-build", "--versions").Output()
	if err != nil {
		t.Fatalf("scripts/xcaddy-build --versions: %v", err)
	}
	versions := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if name, version, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			versions[name] = version
		}
	}
	if versions["caddy"] != want {
		t.Errorf("scripts/xcaddy-build builds Caddy %q, go.mod requires %s", versions["caddy"], want)
	}
	if versions["xcaddy"] == "" {
		t.Fatalf("scripts/xcaddy-build --versions printed no xcaddy version: %q", out)
	}

	// Every xcaddy build in the README names the Caddy version, and xcaddy's version
	// when it says which to run: those of the script.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	builds := 0
	re := regexp.MustCompile(`xcaddy(?:/cmd/xcaddy@(\S+))?\s+build\b(\s+v\S+)?`)
	for i, line := range strings.Split(string(readme), "\n") {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			builds++
			if caddyVersion := strings.TrimSpace(m[2]); caddyVersion != want {
				t.Errorf("README.md:%d: `%s` does not build Caddy %s (go.mod's): write `xcaddy build %s`", i+1, m[0], want, want)
			}
			if m[1] != "" && m[1] != versions["xcaddy"] {
				t.Errorf("README.md:%d: `%s` runs xcaddy %s, scripts/xcaddy-build runs %s: use the same", i+1, m[0], m[1], versions["xcaddy"])
			}
		}
	}
	if builds == 0 {
		t.Error("README.md has no `xcaddy build` line")
	}
}
