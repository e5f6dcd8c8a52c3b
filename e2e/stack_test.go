package e2e

// The stack: Caddy in-process with Caddyfile.example, unchanged, the demo console and
// the gateway in front of it, on the test's own loopback ports.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // registers the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stepup/stepup/caddymodule"
	_ "github.com/caddy-stepup/stepup/examples/democonsole"
)

// exampleCaddyfile is the demo config the journeys run: the one the README tells
// users to start, read at test time so that the tests follow it.
const exampleCaddyfile = "../Caddyfile.example"

// The environment variables the example reads (its {$NAME:default} placeholders,
// which Caddy replaces when it adapts the file). A test sets them to its own ports
// and files; the example's text is never changed.
const (
	envGatewayPort = "STEPUP_DEMO_PORT"         // default 8080
	envConsolePort = "STEPUP_DEMO_CONSOLE_PORT" // default 9000
	envOutbox      = "STEPUP_DEMO_OUTBOX"       // the SMS outbox; default in /tmp
	envLog         = "STEPUP_DEMO_LOG"          // Caddy's log output; default stderr
)

// isolatedEnv marks the test process TestMain starts (see there).
const isolatedEnv = "STEPUP_E2E_ISOLATED"

// TestMain runs the tests in a child process whose Caddy keeps its files in a
// temporary directory rather than in the user's home: its storage (locks, instance
// id, storage-cleaning stamps) under XDG_DATA_HOME and its config directory under
// XDG_CONFIG_HOME. Caddy reads both when its package initialises, before any test
// could set them, so the process must start with them. HOME and TMPDIR go there too,
// for what Chromium leaves outside its profile. The directory is removed when the
// tests end, even after a test binary that panicked.
func TestMain(m *testing.M) {
	if os.Getenv(isolatedEnv) != "" {
		os.Exit(m.Run())
	}
	os.Exit(runIsolated())
}

// runIsolated runs this test binary again, with the same arguments, in an environment
// of its own, and returns its exit code.
func runIsolated() int {
	dir, err := os.MkdirTemp("", "stepup-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), // later values win over the inherited ones
		isolatedEnv+"=1",
		"HOME="+dir,
		"TMPDIR="+tmp,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "e2e: running the tests: %v\n", err)
		return 1
	}
}

// stack is one running Caddy: the console and the gateway in front of it.
type stack struct {
	// base is the gateway's origin, http://127.0.0.1:PORT: the only address the
	// browser uses, as a user would.
	base string
	log  string

	// outbox holds the text messages the gateway sends.
	outbox *outbox
}

// startStack runs Caddy in-process with Caddyfile.example on free loopback ports and
// stops it when the test ends. Each test gets its own: Caddy's memory store and the
// console's state are per process and are dropped when the config stops, so every
// journey starts with fresh bindings, sessions, instances and balance.
//
// The example is adapted as it is; only the environment differs: the two ports, the
// SMS outbox and Caddy's log, in the test's temporary directory.
func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	consolePort, gatewayPort := freePort(t), freePort(t)
	s := &stack{
		base:   "http://127.0.0.1:" + gatewayPort,
		log:    filepath.Join(dir, "caddy.log"),
		outbox: &outbox{t: t, path: filepath.Join(dir, "sms-outbox.jsonl")},
	}
	t.Setenv(envGatewayPort, gatewayPort)
	t.Setenv(envConsolePort, consolePort)
	t.Setenv(envOutbox, oneToken(t, s.outbox.path))
	t.Setenv(envLog, "file "+oneToken(t, s.log))

	example, err := os.ReadFile(exampleCaddyfile)
	if err != nil {
		t.Fatalf("reading the example config: %v", err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("the caddyfile config adapter is not registered")
	}
	cfgJSON, warnings, err := adapter.Adapt(example, map[string]any{"filename": exampleCaddyfile})
	if err != nil {
		t.Fatalf("adapting %s: %v", exampleCaddyfile, err)
	}
	for _, w := range warnings {
		t.Logf("Caddyfile warning: %s", w.String())
	}
	checkListeners(t, cfgJSON, consolePort, gatewayPort)
	// Not persisted: the test's config has no business in Caddy's autosave file.
	if err := caddy.Load(cfgJSON, false); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		if t.Failed() || os.Getenv("STEPUP_E2E_LOG") == "1" {
			if b, err := os.ReadFile(s.log); err == nil {
				t.Logf("Caddy log (%s):\n%s", s.log, tail(string(b), 60))
			} else {
				t.Logf("no Caddy log: %v (does %s still log to {$%s}?)", err, exampleCaddyfile, envLog)
			}
		}
	})
	return s
}

// oneToken returns path, a value for one of the example's placeholders, after making
// sure it reads as one Caddyfile token: Caddy puts the value into the text before it
// reads it, so a space or a quote would split it or change its meaning.
func oneToken(t *testing.T, path string) string {
	t.Helper()
	if path == "" || strings.ContainsAny(path, " \t\r\n\"'`{}#\\") {
		t.Fatalf("%q cannot stand for a placeholder of %s as one token", path, exampleCaddyfile)
	}
	return path
}

// checkListeners makes sure the adapted config listens on the test's two loopback
// ports and nowhere else (a site added to the example would otherwise bind a fixed
// port, or go untested).
func checkListeners(t *testing.T, cfgJSON []byte, ports ...string) {
	t.Helper()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatalf("reading the adapted config: %v", err)
	}
	var got, want []string
	for _, srv := range cfg.Apps.HTTP.Servers {
		got = append(got, srv.Listen...)
	}
	for _, p := range ports {
		want = append(want, "127.0.0.1:"+p)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the test config listens on %v, want %v only: has %s a new site?", got, want, exampleCaddyfile)
	}
}

// url returns the absolute gateway URL of path.
func (s *stack) url(path string) string { return s.base + path }

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
