package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// parseGlobalOption parses the global `r2gate` options block into the
// r2gate app's config. Syntax:
//
//	{
//		r2gate {
//			cache <name> {
//				memory       <size>
//				...          # as the cache block of the r2gate directive
//			}
//			peers {          # purge fan-out to the other nodes
//				to      <url...>
//				dynamic a|srv|multi ...
//				secret  <shared-secret>
//				...          # see PeersConfig.unmarshalCaddyfile
//			}
//		}
//	}
//
// The block may appear once.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("the r2gate global option may appear once")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "r2gate", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the global options block; see
// parseGlobalOption for the syntax.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "cache":
			if !d.NextArg() {
				return d.Err("a cache in the global r2gate options needs a name: cache <name> { ... }")
			}
			name := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if _, dup := a.Caches[name]; dup {
				return d.Errf("duplicate cache %q", name)
			}
			c := new(CacheConfig)
			if err := c.unmarshalCaddyfile(d); err != nil {
				return err
			}
			if a.Caches == nil {
				a.Caches = make(map[string]*CacheConfig)
			}
			a.Caches[name] = c
		case "peers":
			if a.Peers != nil {
				return d.Err("duplicate peers block")
			}
			a.Peers = new(PeersConfig)
			if err := a.Peers.unmarshalCaddyfile(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown r2gate global option %s", d.Val())
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*App)(nil)
