package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// unmarshalCaddyfile reads the peers block of the global r2gate options.
// Syntax:
//
//	peers {
//		to      <url...>                # peers' r2gate_purge URLs (repeatable)
//		dynamic <source> [<args...>] {  # or/and: reverse_proxy's upstream sources
//			...                         # a, srv, multi: as in reverse_proxy
//		}
//		path    <path>                  # r2gate_purge's path on dynamic peers
//		scheme  http|https              # of dynamic peers; default http
//		secret  <shared-secret>         # the peers' r2gate_purge secret
//		timeout <duration>              # one request to a peer; default 5s
//		backlog <n>                     # items waiting per peer; default 100000
//	}
func (pc *PeersConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if name != "to" && seen[name] {
			return d.Errf("duplicate peers option %s", name)
		}
		seen[name] = true
		switch name {
		case "to":
			urls := d.RemainingArgs()
			if len(urls) == 0 {
				return d.ArgErr()
			}
			for _, u := range urls {
				if _, err := peerURL(u); err != nil && !containsPlaceholder(u) {
					return d.Err(err.Error())
				}
			}
			pc.To = append(pc.To, urls...)
		case "dynamic":
			if !d.NextArg() {
				return d.ArgErr()
			}
			source := d.Val()
			modID := "http.reverse_proxy.upstreams." + source
			unm, err := caddyfile.UnmarshalModule(d, modID)
			if err != nil {
				return err
			}
			src, ok := unm.(reverseproxy.UpstreamSource)
			if !ok {
				return d.Errf("module %s (%T) is not an upstream source", modID, unm)
			}
			pc.DynamicRaw = caddyconfig.JSONModuleObject(src, "source", source, nil)
		case "path", "scheme", "secret", "timeout", "backlog":
			if !d.NextArg() {
				return d.ArgErr()
			}
			val := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch name {
			case "path":
				pc.Path = val
			case "scheme":
				pc.Scheme = val
			case "secret":
				pc.Secret = val
			case "timeout":
				dur, err := caddy.ParseDuration(val)
				if err != nil || dur <= 0 {
					return d.Errf("timeout %q: want a positive duration", val)
				}
				pc.Timeout = caddy.Duration(dur)
			case "backlog":
				n, err := strconv.Atoi(val)
				if err != nil || n <= 0 {
					return d.Errf("backlog %q: want a positive number of keys and prefixes", val)
				}
				pc.Backlog = n
			}
		default:
			return d.Errf("unknown peers option %s", name)
		}
	}
	if err := pc.validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// containsPlaceholder reports whether s holds a {placeholder}, expanded
// only at start.
func containsPlaceholder(s string) bool { return strings.Contains(s, "{") }
