// Command caddy is Caddy with the standard modules, caddy-stepup, and the demo console
// used by Caddyfile.example:
//
//	go run ./cmd/caddy run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-stepup/stepup"
	_ "github.com/caddy-stepup/stepup/examples/democonsole"
)

func main() {
	caddycmd.Main()
}
