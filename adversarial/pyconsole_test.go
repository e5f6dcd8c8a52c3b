package adversarial

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pyConsole is the Python console (testdata/console.py) running as a child
// process on a loopback port. It reads requests the way lenient frameworks do:
// the query before the body, JSON sniffed from any body, method overrides,
// fully decoded, case-folded paths and folded user names.
type pyConsole struct {
	URL    string // http://127.0.0.1:PORT
	client *http.Client
}

// pyStartTimeout bounds how long the console may take to print its port.
const pyStartTimeout = 10 * time.Second

// startPyConsole starts the Python console with the given extra flags (such
// as "--early-hints") and stops it when the test ends. Without python3 the
// test is skipped, unless CI is "true": CI installs python3, so there its
// absence is a failure.
func startPyConsole(t *testing.T, flags ...string) *pyConsole {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is needed for the Python console and CI should have installed it: %v", err)
		}
		t.Skipf("skipping: python3 is not installed (the Python console needs it): %v", err)
	}

	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(lockedBuffer)
	args := append([]string{"testdata/console.py", "--port", "0", "--exit-with-stdin"}, flags...)
	cmd := exec.Command(python, args...)
	cmd.Stdout = stdoutW
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	// The console exits when this pipe closes, so it dies with the test
	// binary even if the binary is killed before the cleanup below runs.
	lifeline, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stdoutW.Close()
		t.Fatalf("starting the Python console: %v", err)
	}
	stdoutW.Close() // the child has its own copy

	lines := make(chan string, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, r) // anything printed later must not block the child
	}()
	client := &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{},
	}
	stderrShown := false // by a failure to start, so the cleanup need not repeat it
	t.Cleanup(func() {
		client.CloseIdleConnections()
		lifeline.Close()
		cmd.Process.Kill()
		cmd.Wait()
		stdout.Close()
		<-readerDone
		if t.Failed() && !stderrShown {
			text := stderr.String()
			if text == "" {
				text = "(nothing)"
			}
			t.Logf("Python console (%s) stderr:\n%s", strings.Join(args, " "), text)
		}
	})

	var line string
	select {
	case line = <-lines:
	case <-time.After(pyStartTimeout):
		stderrShown = true
		t.Fatalf("the Python console printed no LISTENING line within %v; stderr:\n%s", pyStartTimeout, stderr.String())
	}
	portText, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTENING ")
	port, err := strconv.Atoi(portText)
	if !ok || err != nil || port <= 0 || port > 65535 {
		// Give a crashing interpreter a moment to finish its traceback.
		time.Sleep(200 * time.Millisecond)
		stderrShown = true
		t.Fatalf("the Python console's first line is %q, want \"LISTENING <port>\"; stderr:\n%s", line, stderr.String())
	}
	return &pyConsole{URL: "http://127.0.0.1:" + strconv.Itoa(port), client: client}
}

// Requests returns every request the console has received since it started
// or was last reset, apart from those to its test endpoints.
func (c *pyConsole) Requests(t *testing.T) []consoleRequest {
	t.Helper()
	var reqs []consoleRequest
	c.testEndpoint(t, http.MethodGet, "/__requests", &reqs)
	return reqs
}

// State returns what the console has done: instances left, deletions,
// payments and logins.
func (c *pyConsole) State(t *testing.T) consoleState {
	t.Helper()
	var s consoleState
	c.testEndpoint(t, http.MethodGet, "/__state", &s)
	return s
}

// Reset makes the console forget requests, sessions, deletions, payments and
// logins, and restores its instances.
func (c *pyConsole) Reset(t *testing.T) {
	t.Helper()
	c.testEndpoint(t, http.MethodPost, "/__reset", nil)
}

func (c *pyConsole) testEndpoint(t *testing.T, method, path string, into any) {
	t.Helper()
	req, err := http.NewRequest(method, c.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d, body %q", method, path, resp.StatusCode, body)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, body, err)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the child's stderr copier and the
// test to use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
