package stores

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/stepup/store"
)

func init() {
	caddy.RegisterModule(Memory{})
}

// Memory is the store "stepup.stores.memory": the gateway's state in the Caddy
// process, for a single instance. It is the default. Without a file everything is lost
// when Caddy stops, which is the demo mode (the handler then runs without keys); with
// one, durable records (authenticator bindings, users' events) survive restarts.
//
// A config reload keeps the state: the configs share one store while they use the
// same file.
type Memory struct {
	// File keeps durable records across restarts, written atomically on every
	// change. Placeholders known at provisioning time, such as {env.*}, are replaced.
	// Empty: nothing is kept.
	File string `json:"file,omitempty"`

	st      store.Store
	release func() error
}

// CaddyModule returns the Caddy module information.
func (Memory) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.stores.memory",
		New: func() caddy.Module { return new(Memory) },
	}
}

// Provision opens the store, or takes the one an earlier config opened on the same
// file.
func (m *Memory) Provision(caddy.Context) error {
	file := caddy.NewReplacer().ReplaceKnown(m.File, "")
	st, release, err := Shared("memory:"+file, func() (store.Store, error) {
		return store.NewMemory(file)
	})
	if err != nil {
		return fmt.Errorf("store memory: %v", err)
	}
	m.st, m.release = st, release
	return nil
}

// Store returns the store.
func (m *Memory) Store() store.Store { return m.st }

// Cleanup lets this config's hold on the store go.
func (m *Memory) Cleanup() error {
	if m.release == nil {
		return nil
	}
	return m.release()
}

// UnmarshalCaddyfile reads `memory [<file>]`.
func (m *Memory) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	if d.NextArg() {
		m.File = d.Val()
	}
	if d.NextArg() || d.NextBlock(d.Nesting()) {
		return d.Err("expected `store memory [<file>]`")
	}
	return nil
}

// Interface guards
var (
	_ Module                = (*Memory)(nil)
	_ caddy.Provisioner     = (*Memory)(nil)
	_ caddy.CleanerUpper    = (*Memory)(nil)
	_ caddyfile.Unmarshaler = (*Memory)(nil)
)
