// Package gateway runs caddy-stepup's flows in front of a console, knowing nothing
// of Caddy: the router that reads each request every way a console could, the
// operation gate (protected operations need a recent second factor), the login watch
// (the console's login is held until the second factor passes), and the gateway's own
// pages and API (challenges, binding, settings).
//
// Decisions come from package policy, second factors from package challenge, tokens
// from package token. Every flow is a small type that depends on narrow interfaces,
// one clock (Options.Now) and one source of randomness (Options.Rand). Flows return
// errors as values (*Error, with a stable Code) and one place, the Responder, turns
// them into a page or the RFC 9470 JSON; the Caddy module may instead hand the ones
// operators can brand (Error.Brandable) to Caddy's handle_errors.
package gateway
