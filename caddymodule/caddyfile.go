package caddymodule

import (
	"fmt"
	"math"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

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
//		cache <name>            # a cache of the global r2gate options, or:
//		cache {
//			memory       <size>
//			memory_item  <size>
//			disk         <path> <size>
//			disk_item    <size>
//			ttl          <duration>
//			stale_while_revalidate <duration>
//			stale_if_error         <duration>
//			negative_ttl <duration>
//			honor_no_cache
//		}
//		jwt {
//			secret      <key> | public_key <pem-file> | jwks <url>
//			algorithms  <alg...>
//			issuer      <iss>
//			audience    <aud>
//			leeway      <duration>
//			from        header|cookie|query <name>
//			scope_claim <claim>
//		}
//		signed_url {
//			key        <kid> <secret>
//			cloudflare <secret> [<lifetime>]
//		}
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
		case "cache":
			if d.NextArg() { // cache <name>: one from the global options
				h.CacheName = d.Val()
				if d.NextArg() {
					return d.ArgErr()
				}
				if d.NextBlock(d.Nesting()) {
					return d.Err("a named cache is configured in the global r2gate options, not here")
				}
				continue
			}
			h.Cache = new(CacheConfig)
			if err := h.Cache.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "jwt":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.JWT = new(JWTConfig)
			if err := h.JWT.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "signed_url":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.SignedURL = new(SignedURLConfig)
			if err := h.SignedURL.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "upload":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Upload = new(UploadConfig)
			if err := h.Upload.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "resize":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Resize = new(ResizeConfig)
			if err := h.Resize.unmarshalCaddyfile(d); err != nil {
				return err
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

// unmarshalCaddyfile parses the cache block.
func (c *CacheConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate cache subdirective %s", name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		want := 1
		switch name {
		case "disk":
			want = 2
		case "honor_no_cache":
			want = 0
		}
		if len(args) != want {
			return d.ArgErr()
		}
		var err error
		switch name {
		case "memory":
			var n int64
			n, err = parseSize(args[0])
			c.Memory = &n
		case "memory_item":
			c.MemoryItem, err = parseSize(args[0])
		case "disk":
			c.DiskPath = args[0]
			c.Disk, err = parseSize(args[1])
		case "disk_item":
			c.DiskItem, err = parseSize(args[0])
		case "ttl":
			c.TTL, err = parseDuration(args[0])
		case "stale_while_revalidate":
			c.StaleWhileRevalidate, err = parseDuration(args[0])
		case "stale_if_error":
			var v caddy.Duration
			v, err = parseDuration(args[0])
			c.StaleIfError = &v
		case "negative_ttl":
			var v caddy.Duration
			v, err = parseDuration(args[0])
			c.NegativeTTL = &v
		case "honor_no_cache":
			c.HonorNoCache = true
		default:
			return d.Errf("unknown cache subdirective %s", name)
		}
		if err != nil {
			return d.Errf("cache %s: %v", name, err)
		}
	}
	return nil
}

// parseSize reads a size such as 256MiB or 1GB.
func parseSize(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("size %s is too large", s)
	}
	return int64(n), nil
}

func parseDuration(s string) (caddy.Duration, error) {
	d, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %s", s)
	}
	return caddy.Duration(d), nil
}

// unmarshalCaddyfile parses the jwt block.
func (c *JWTConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] && name != "from" {
			return d.Errf("duplicate jwt subdirective %s", name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			*dst = args[0]
			return nil
		}
		var err error
		switch name {
		case "secret":
			err = one(&c.Secret)
		case "public_key":
			err = one(&c.PublicKey)
		case "jwks":
			err = one(&c.JWKS)
		case "issuer":
			err = one(&c.Issuer)
		case "audience":
			err = one(&c.Audience)
		case "scope_claim":
			err = one(&c.ScopeClaim)
		case "write_scope_claim":
			err = one(&c.WriteScopeClaim)
		case "algorithms":
			if len(args) == 0 {
				return d.ArgErr()
			}
			c.Algorithms = args
		case "leeway":
			if len(args) != 1 {
				return d.ArgErr()
			}
			c.Leeway, err = parseDuration(args[0])
		case "from":
			if len(args) != 2 || (args[0] != "header" && args[0] != "cookie" && args[0] != "query") {
				return d.Err("from takes header, cookie or query and a name")
			}
			c.From = append(c.From, TokenSource{Kind: args[0], Name: args[1]})
		default:
			return d.Errf("unknown jwt subdirective %s", name)
		}
		if err != nil {
			return d.Errf("jwt %s: %v", name, err)
		}
	}
	return nil
}

// unmarshalCaddyfile parses the signed_url block.
func (c *SignedURLConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		args := d.RemainingArgs()
		switch name {
		case "key":
			if len(args) != 2 {
				return d.Err("key takes a key id and a secret")
			}
			c.Keys = append(c.Keys, SigningKey{ID: args[0], Secret: args[1]})
		case "cloudflare":
			if c.Cloudflare != "" {
				return d.Err("duplicate cloudflare")
			}
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			c.Cloudflare = args[0]
			if len(args) == 2 {
				v, err := parseDuration(args[1])
				if err != nil {
					return d.Errf("cloudflare lifetime: %v", err)
				}
				c.CloudflareLifetime = v
			}
		default:
			return d.Errf("unknown signed_url subdirective %s", name)
		}
	}
	return nil
}
