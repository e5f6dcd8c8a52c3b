package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/examples/democonsole"
	"github.com/caddy-stepup/stepup/internal/redistest"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/stores"
)

// thirdParty is a store module from outside the project: a memory store that
// counts its calls, loaded as stepup.stores.counting.
type thirdParty struct {
	st      *countingStore
	release func() error
}

type countingStore struct {
	store.Store
	calls int
}

func (c *countingStore) Get(ctx context.Context, k store.Key) ([]byte, error) {
	c.calls++
	return c.Store.Get(ctx, k)
}

func init() { caddy.RegisterModule(thirdParty{}) }

func (thirdParty) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "stepup.stores.counting", New: func() caddy.Module { return new(thirdParty) }}
}

func (p *thirdParty) Provision(caddy.Context) error {
	st, release, err := stores.Shared("counting", func() (store.Store, error) {
		m, err := store.NewMemory("")
		return &countingStore{Store: m}, err
	})
	if err != nil {
		return err
	}
	p.st, p.release = st.(*countingStore), release
	return nil
}

func (p *thirdParty) Store() store.Store { return p.st }
func (p *thirdParty) Cleanup() error     { return p.release() }
func (p *thirdParty) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	return nil
}

// TestThirdPartyStore: a store module of the stepup.stores namespace that is not the
// project's is loaded from the Caddyfile and from JSON alike, and the gateway keeps its
// state there.
func TestThirdPartyStore(t *testing.T) {
	block := strings.Replace(redisBlock("x", "y"), "store redis redis://x/0 y", "store counting", 1)
	g := newGateway(t, block)
	st, ok := g.h.store.(timedStore).Store.(*countingStore)
	if !ok {
		t.Fatalf("the gateway's store is a %T", g.h.store.(timedStore).Store)
	}
	c := g.client()
	c.login("alice")
	c.bindTOTP()
	if st.calls == 0 {
		t.Fatal("the gateway did not use the third-party store")
	}

	var h Handler
	if err := json.Unmarshal([]byte(`{"store":{"backend":"counting"},"signing_key":"`+testSigningKey+`","encryption_key":"`+testEncryptionKey+`"}`), &h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	defer h.Cleanup()
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if h.store != g.h.store {
		t.Fatal("the JSON config did not load the module's shared store")
	}
}

// TestStoreURLForms: every URL form of the Redis store works from the Caddyfile and
// from JSON: the gateway signs in and binds through a single server, a Unix socket, the
// shared Cluster and a Sentinel setup.
func TestStoreURLForms(t *testing.T) {
	srv := redistest.StartWith(t, "--unixsocket", t.TempDir()+"/redis.sock", "--unixsocketperm", "700")
	sentinel := redistest.StartSentinel(t)
	forms := map[string]string{
		"redis":          "redis://" + redistest.Addr(t) + "/0",
		"unix":           "unix://" + srv.Socket(),
		"redis+cluster":  redistest.ClusterURL(redistest.ClusterAddrs(t)),
		"redis+sentinel": sentinel.URL(),
	}
	for name, url := range forms {
		t.Run(name, func(t *testing.T) {
			// A replica's acknowledgement may be slow on a busy test machine: a longer
			// wait than the default, so slow is not taken for missing.
			caddyfileBlock := strings.Replace(redisBlock("x", "y"), "store redis redis://x/0 y",
				"store redis "+url+" "+redistest.Prefix(t)+" {\n\t\twait_timeout 2s\n\t}", 1)
			jsonBlock := `{"store":{"backend":"redis","url":` + quote(url) + `,"prefix":` + quote(redistest.Prefix(t)) + `,"wait_timeout":2000000000}}`
			for _, g := range []*stack{newGateway(t, caddyfileBlock), newGatewayJSON(t, jsonBlock)} {
				c := g.client()
				c.login("alice")
				c.bindTOTP()
				if r := c.api("DELETE", "/api/instances/i-1001", nil); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("a protected operation: %d %s", r.StatusCode, r.Body)
				}
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// newGatewayJSON is newGateway for a JSON handler config merged over the demo block's.
func newGatewayJSON(t *testing.T, config string) *stack {
	t.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(demoBlock)); err != nil {
		t.Fatal(err)
	}
	h.SigningKey, h.EncryptionKey = testSigningKey, testEncryptionKey
	if err := json.Unmarshal([]byte(config), h); err != nil {
		t.Fatal(err)
	}
	return serve(t, provisioned(t, h), democonsole.New())
}

// "store": null is no store object: the memory store, not a crash at load.
func TestNullStoreIsTheMemoryStore(t *testing.T) {
	for _, raw := range []string{"null", "{}", ""} {
		c, err := readStore(json.RawMessage(raw))
		if err != nil || c.backend != "memory" {
			t.Errorf("readStore(%q) = %q, %v; want the memory store", raw, c.backend, err)
		}
	}
}
