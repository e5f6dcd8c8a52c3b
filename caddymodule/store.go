package caddymodule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/stepup/stores"
)

// The store is a guest module of the namespace stepup.stores, named by the "backend"
// key of the handler's "store" object, as it was before stores were modules: today's
// {"backend": "redis", "url": ..., "prefix": ...} and {"backend": "memory", "file":
// ...} are module objects as they stand. Caddy provisions the module (it opens the
// store, shared across reloads) and cleans it up with the config.

// storeChoice is what the handler reads of the store object itself.
type storeChoice struct {
	backend string
	// demo: the memory store without a file, where the handler makes random keys.
	demo bool
	// raw is the object with its backend named.
	raw json.RawMessage
}

// readStore reads the store object. No object, or one that names no backend, is the
// memory store.
func readStore(raw json.RawMessage) (storeChoice, error) {
	fields := map[string]json.RawMessage{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &fields); err != nil {
			return storeChoice{}, fmt.Errorf("stepup: store: %v", err)
		}
		if fields == nil { // "store": null is no object: the memory store
			fields = map[string]json.RawMessage{}
		}
	}
	c := storeChoice{raw: raw}
	if b, ok := fields["backend"]; ok {
		if err := json.Unmarshal(b, &c.backend); err != nil {
			return c, fmt.Errorf("stepup: store: backend must be a string such as \"redis\"")
		}
	}
	if c.backend == "" {
		c.backend = "memory"
		fields["backend"] = json.RawMessage(`"memory"`)
		c.raw, _ = json.Marshal(fields) // re-encoding decoded JSON cannot fail
	}
	if c.backend == "memory" {
		// Before stores were modules, a memory store ignored the redis fields.
		for name := range fields {
			if name != "backend" && name != "file" {
				return c, fmt.Errorf("stepup: store memory takes only \"file\", not %q: remove it, or set \"backend\": \"redis\" for a store shared by every instance", name)
			}
		}
		var file string
		if f, ok := fields["file"]; ok {
			if err := json.Unmarshal(f, &file); err != nil {
				return c, fmt.Errorf("stepup: store memory: file must be a path")
			}
		}
		c.demo = file == ""
	}
	if _, err := caddy.GetModule("stepup.stores." + c.backend); err != nil {
		return c, fmt.Errorf("stepup: unknown store %q (expected %s, or a module of the stepup.stores namespace)", c.backend, knownStores())
	}
	return c, nil
}

// knownStores names the store modules Caddy was built with.
func knownStores() string {
	var names []string
	for _, m := range caddy.GetModules("stepup.stores") {
		names = append(names, m.ID.Name())
	}
	slices.Sort(names)
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// loadStore loads the store module readStore read: Caddy provisions it, which opens
// the store (or takes the one an earlier config opened), and cleans it up with the
// config; the handler holds the store too, until its own Cleanup.
func (h *Handler) loadStore(ctx caddy.Context, choice storeChoice) error {
	h.StoreRaw = choice.raw
	mod, err := ctx.LoadModule(h, "StoreRaw")
	if err != nil {
		return fmt.Errorf("stepup: loading the store: %v", err)
	}
	m, ok := mod.(stores.Module)
	if !ok {
		return fmt.Errorf("stepup: store %s is not a store module (it has no Store method)", choice.backend)
	}
	// A hold of the handler's own, let go in Cleanup: Caddy may clean the module up
	// first, and the handler still writes to the store as it stops.
	if release, ok := stores.Retain(m.Store()); ok {
		h.releaseStore = release
	}
	h.store = timeStore(m.Store()) // timed for metrics; the module keeps the store itself
	return nil
}
