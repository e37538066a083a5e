package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("r2gate", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("r2gate", httpcaddyfile.Before, "file_server")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var g Handler
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return &g, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	r2gate [<matcher>] {
//		bucket       <name>
//		account_id   <id>
//		endpoint     <url>
//		region       <region>
//		access_key   <id>
//		secret_key   <secret>
//		timeout      <duration>
//		dir          <path>
//		fallback_dir <path>
//		prefix       <key-prefix>
//		strip_prefix <path-prefix>
//		index        <names...>
//		cache_control [<path-glob>] <value>
//		pass_thru
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	fields := map[string]*string{
		"bucket": &h.Bucket, "account_id": &h.AccountID, "endpoint": &h.Endpoint,
		"region": &h.Region, "access_key": &h.AccessKey, "secret_key": &h.SecretKey,
		"dir": &h.Dir, "fallback_dir": &h.FallbackDir, "prefix": &h.Prefix,
		"strip_prefix": &h.StripPrefix,
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] && name != "cache_control" {
			return d.Errf("duplicate subdirective %s", name)
		}
		seen[name] = true
		if dst, ok := fields[name]; ok {
			if !d.NextArg() {
				return d.ArgErr()
			}
			*dst = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			continue
		}
		switch name {
		case "timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("bad timeout %q: %v", d.Val(), err)
			}
			h.Timeout = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "index":
			h.IndexNames = d.RemainingArgs()
			if len(h.IndexNames) == 0 {
				return d.ArgErr()
			}
		case "cache_control":
			args := d.RemainingArgs()
			switch len(args) {
			case 1:
				if h.CacheControl != "" {
					return d.Err("duplicate default cache_control (rules take a path glob and a value)")
				}
				h.CacheControl = args[0]
			case 2:
				h.CacheControlRules = append(h.CacheControlRules, CacheControlRule{Path: args[0], Value: args[1]})
			default:
				return d.ArgErr()
			}
		case "pass_thru":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.PassThru = true
		default:
			return d.Errf("unknown subdirective %s", name)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
