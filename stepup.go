// Package stepup registers the caddy-stepup module (http.handlers.stepup) with Caddy,
// so that, from a checkout (the module is not published yet, so its version is pinned
// and replaced by the checkout),
//
//	go run github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5 build v2.11.9 \
//		--with github.com/caddy-stepup/stepup@v0.0.0-00010101000000-000000000000=.
//
// builds a Caddy with two-factor step-up in front of any web console
// (scripts/xcaddy-build adds the demo console). The handler itself lives in package
// caddymodule.
package stepup

import (
	// Registers http.handlers.stepup and the stepup Caddyfile directive.
	_ "github.com/caddy-stepup/stepup/caddymodule"
)
