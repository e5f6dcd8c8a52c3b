package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseStore hands the store's tokens to the store module's own parser:
//
//	store memory [<file>]
//	store redis <url> [<key_prefix>] {
//	    prefix <key_prefix>
//	    replicas auto|<n>
//	    wait_timeout <duration>
//	}
//	store <name> ...                 # a module stepup.stores.<name>
func (h *Handler) parseStore(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Err("store needs a backend: `store memory [<file>]` or `store redis <url> [<key_prefix>]`")
	}
	name := d.Val()
	if _, err := caddy.GetModule("stepup.stores." + name); err != nil {
		return d.Errf("unknown store %q (expected %s, or a module of the stepup.stores namespace)", name, knownStores())
	}
	unm, err := caddyfile.UnmarshalModule(d, "stepup.stores."+name)
	if err != nil {
		return err
	}
	h.StoreRaw = caddyconfig.JSONModuleObject(unm, "backend", name, nil)
	return nil
}
