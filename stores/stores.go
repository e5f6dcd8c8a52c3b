// Package stores holds the gateway's store modules: Caddy guest modules in the
// namespace "stepup.stores", chosen in the stepup handler's "store" object by its
// "backend" key:
//
//   - stepup.stores.memory: state in the Caddy process, for one instance; durable
//     records (authenticator bindings) optionally kept in a file;
//   - stepup.stores.redis: state in Redis, shared by every gateway instance: one
//     server, Sentinel or Cluster, with security writes acknowledged by a replica.
//
// A third-party store is a Caddy module "stepup.stores.<name>" that implements
// Module: once Caddy has provisioned it, Store gives the handler a store.Store that
// passes the conformance suite of package store/storetest. Caddy cleans the module up
// when its config is unloaded; the handler never closes the store. Shared keeps one
// store across config reloads, as the built-in modules do.
package stores

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/stepup/store"
)

// Module is what a module in the stepup.stores namespace implements.
type Module interface {
	caddy.Module

	// Store returns the store, from the end of Provision until Cleanup.
	Store() store.Store
}
