package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// init is the package's only init: it registers every module, Caddyfile
// option and directive, and command of r2gate, in this order. No other
// file registers anything, and nothing depends on the order in which
// package variables are initialized.
func init() {
	// Modules.
	caddy.RegisterModule(App{})          // app.go
	caddy.RegisterModule(Handler{})      // module.go
	caddy.RegisterModule(PurgeAPI{})     // admin.go
	caddy.RegisterModule(PurgeWebhook{}) // webhook.go

	// Caddyfile. Plugins may only order their directives relative to
	// standard ones, so both go "before file_server", and of two
	// directives ordered that way the one registered first comes first:
	// r2gate_purge must precede r2gate, which answers POST with 405.
	httpcaddyfile.RegisterGlobalOption("r2gate", parseGlobalOption)  // app_caddyfile.go
	registerPurgeDirective()                                         // webhook_caddyfile.go
	httpcaddyfile.RegisterHandlerDirective("r2gate", parseCaddyfile) // caddyfile.go
	httpcaddyfile.RegisterDirectiveOrder("r2gate", httpcaddyfile.Before, "file_server")

	// Command line: caddy r2gate and its subcommands (command.go).
	registerCommands()
}
