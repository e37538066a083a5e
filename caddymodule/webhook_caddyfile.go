package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// registerPurgeDirective registers the r2gate_purge directive, ordered
// "before file_server" like r2gate. Called from the package's init
// (register.go) ahead of r2gate's registration, it puts r2gate_purge
// right before r2gate in the Caddyfile's directive order, so a site with
// both hands the webhook's POSTs to r2gate_purge instead of r2gate (which
// answers 405 to POST).
func registerPurgeDirective() {
	httpcaddyfile.RegisterHandlerDirective("r2gate_purge", parsePurgeCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("r2gate_purge", httpcaddyfile.Before, "file_server")
}

func parsePurgeCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var p PurgeWebhook
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return &p, err
}

// UnmarshalCaddyfile sets up the purge webhook from Caddyfile tokens.
// Syntax:
//
//	r2gate_purge [<matcher>] {
//		secret <shared-secret>
//		bucket <name>
//	}
//
// secret is required; use a placeholder such as
// {env.R2GATE_PURGE_SECRET}. Give the directive a path matcher, e.g.
// `r2gate_purge /_r2gate/purge { ... }`.
func (p *PurgeWebhook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	fields := map[string]*string{"secret": &p.Secret, "bucket": &p.Bucket}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		dst, ok := fields[name]
		if !ok {
			return d.Errf("unknown subdirective %s", name)
		}
		if seen[name] {
			return d.Errf("duplicate subdirective %s", name)
		}
		seen[name] = true
		if !d.NextArg() {
			return d.ArgErr()
		}
		*dst = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if p.Secret == "" {
		return d.Err("r2gate_purge: secret is required")
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*PurgeWebhook)(nil)
