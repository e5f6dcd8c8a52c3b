package democonsole

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adapt(t *testing.T, src string) (string, error) {
	t.Helper()
	a := caddyconfig.GetAdapter("caddyfile")
	if a == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	out, warnings, err := a.Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
	for _, w := range warnings {
		t.Errorf("adapt warning: %s", w)
	}
	return string(out), err
}

func TestCaddyfileAdapt(t *testing.T) {
	out, err := adapt(t, ":9000 {\n\tdemoconsole\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"handle":[{"handler":"democonsole"}]`) {
		t.Errorf("adapted config lacks the handler:\n%s", out)
	}
}

// TestCaddyfileNoOrderNeeded: the directive is usable without an "order"
// option and lands before reverse_proxy, whatever the order in the file.
func TestCaddyfileNoOrderNeeded(t *testing.T) {
	out, err := adapt(t, `:9000 {
	reverse_proxy 127.0.0.1:9001
	democonsole {
		title "Acme Cloud"
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	dc := strings.Index(out, `{"handler":"democonsole","title":"Acme Cloud"}`)
	rp := strings.Index(out, `"handler":"reverse_proxy"`)
	if dc < 0 || rp < 0 || dc > rp {
		t.Errorf("want democonsole (with title) before reverse_proxy, got:\n%s", out)
	}
}

func TestCaddyfileAdaptErrors(t *testing.T) {
	for _, src := range []string{
		":9000 {\n\tdemoconsole {\n\t\tcolour blue\n\t}\n}\n",
		":9000 {\n\tdemoconsole {\n\t\ttitle\n\t}\n}\n",
	} {
		if _, err := adapt(t, src); err == nil {
			t.Errorf("no error for %q", src)
		}
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		src, title string
		wantErr    bool
	}{
		{src: "democonsole", title: ""},
		{src: "democonsole {\n}", title: ""},
		{src: "democonsole {\n\ttitle \"Acme Cloud\"\n}", title: "Acme Cloud"},
		{src: "democonsole extra", wantErr: true},
		{src: "democonsole {\n\ttitle\n}", wantErr: true},
		{src: "democonsole {\n\ttitle a b\n}", wantErr: true},
		{src: "democonsole {\n\tbogus\n}", wantErr: true},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.src))
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tc.src, err, tc.wantErr)
			continue
		}
		if err == nil && h.Title != tc.title {
			t.Errorf("%q: title %q, want %q", tc.src, h.Title, tc.title)
		}
	}
}

func TestModuleInfo(t *testing.T) {
	mod, err := caddy.GetModule("http.handlers.democonsole")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mod.New().(*Handler); !ok {
		t.Errorf("New returns %T", mod.New())
	}
}

// TestInCaddy runs the module in a real in-process Caddy: login works, the
// console state survives a config reload, and is fresh after a full stop.
func TestInCaddy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	load := func(title string) {
		t.Helper()
		cfg := fmt.Sprintf(`{
			"admin": {"disabled": true, "config": {"persist": false}},
			"logging": {"logs": {"default": {"level": "ERROR"}}},
			"apps": {"http": {"servers": {"demo": {
				"listen": [%q],
				"automatic_https": {"disable": true},
				"routes": [{"handle": [{"handler": "democonsole", "title": %q}]}]
			}}}}
		}`, addr, title)
		if err := caddy.Load([]byte(cfg), true); err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	t.Cleanup(func() { _ = caddy.Stop() })

	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	call := func(method, path, body string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		r, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("Accept", "text/html")
		for _, c := range cookies {
			r.AddCookie(c)
		}
		res, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	countInstances := func(ck *http.Cookie) int {
		t.Helper()
		_, body := call("GET", "/api/instances", "", ck)
		var list []Instance
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("instances: %v: %s", err, body)
		}
		return len(list)
	}
	signIn := func() *http.Cookie {
		t.Helper()
		res, _ := call("POST", "/login", `{"username":"alice","password":"alice-password"}`)
		if res.StatusCode != http.StatusOK || len(res.Header.Values("Set-Cookie")) != 2 {
			t.Fatalf("login through Caddy: %d, %d cookies", res.StatusCode, len(res.Header.Values("Set-Cookie")))
		}
		for _, c := range res.Cookies() {
			if c.Name == SessionCookie {
				return c
			}
		}
		t.Fatal("no session cookie")
		return nil
	}

	load("First Cloud")
	if res, _ := call("GET", "/dashboard", ""); res.StatusCode != http.StatusSeeOther {
		t.Errorf("dashboard without session: %d", res.StatusCode)
	}
	ck := signIn()
	if _, body := call("GET", "/dashboard", "", ck); !strings.Contains(body, "First Cloud") || !strings.Contains(body, `id="whoami">alice<`) {
		t.Errorf("dashboard through Caddy:\n%s", body)
	}
	if res, _ := call("DELETE", "/api/instances/i-1001", "", ck); res.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d", res.StatusCode)
	}

	load("Second Cloud") // reload: sessions and inventory survive
	if _, body := call("GET", "/dashboard", "", ck); !strings.Contains(body, "Second Cloud") || !strings.Contains(body, `id="whoami">alice<`) {
		t.Errorf("after reload the session or new title is missing:\n%s", body)
	}
	if n := countInstances(ck); n != 2 {
		t.Errorf("after reload: %d instances, want 2", n)
	}
	if n, _ := states.References(stateKey); n != 1 {
		t.Errorf("after reload: %d references to the state, want 1", n)
	}

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := states.References(stateKey); ok {
		t.Error("state still held after stop")
	}
	load("First Cloud") // a fresh start: old session gone, inventory reseeded
	if res, _ := call("GET", "/api/whoami", "", ck); res.StatusCode != http.StatusSeeOther {
		t.Errorf("old session after restart: %d", res.StatusCode)
	}
	if n := countInstances(signIn()); n != 3 {
		t.Errorf("after restart: %d instances, want 3", n)
	}
}
