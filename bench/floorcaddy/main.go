// Command floorcaddy is the Caddy binary of bench/run.sh: Caddy's standard
// modules, r2gate's module (github.com/r2gate/r2gate/caddymodule) and the
// bench-only floor handler (bench/floor, http.handlers.r2gate_floor). It is
// built by bench/run.sh with go build from the working tree, so every Caddy
// row of a run uses the same binary.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/r2gate/r2gate/bench/floor"
	_ "github.com/r2gate/r2gate/caddymodule"
)

func main() {
	caddycmd.Main()
}
