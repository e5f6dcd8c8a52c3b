// Package stepup registers the caddy-stepup module (http.handlers.stepup) with Caddy,
// so that
//
//	xcaddy build --with github.com/caddy-stepup/stepup
//
// builds a Caddy with two-factor step-up in front of any web console. The handler
// itself lives in package caddymodule.
package stepup

import (
	// Registers http.handlers.stepup and the stepup Caddyfile directive.
	_ "github.com/caddy-stepup/stepup/caddymodule"
)
