package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// PeersConfig is the global `peers` block: the other nodes of a fleet.
// Every purge this node accepts from a local source (the admin API, the
// R2 webhook, an upload or delete) is forwarded to each peer's
// r2gate_purge endpoint; purges a peer forwards are applied and never
// forwarded again. Peers come from a static list of URLs, from one of
// Caddy's reverse_proxy upstream sources (`dynamic a`, `dynamic srv`,
// `dynamic multi`), or both. A node may list itself: the purge id it
// sends makes its own copy a no-op.
type PeersConfig struct {
	// To lists peers' r2gate_purge endpoints as full http or https URLs,
	// such as http://10.0.0.2:8080/_r2gate/purge. Default: none.
	To []string `json:"to,omitempty"`

	// DynamicRaw is an upstream source module of reverse_proxy
	// (http.reverse_proxy.upstreams.a, .srv, .multi) whose upstreams are
	// the peers: each upstream's dial address, with Scheme and Path,
	// makes a peer URL. Its lookups are cached for its `refresh` (1m by
	// default). Default: none.
	DynamicRaw json.RawMessage `json:"dynamic,omitempty" caddy:"namespace=http.reverse_proxy.upstreams inline_key=source"`

	// Path is the path of r2gate_purge on the peers that Dynamic finds,
	// such as /_r2gate/purge. Required with dynamic.
	Path string `json:"path,omitempty"`

	// Scheme of the URLs made for the peers that Dynamic finds: http or
	// https. Default: http.
	Scheme string `json:"scheme,omitempty"`

	// Secret is sent to peers as `Authorization: Bearer <secret>`; it
	// must be the `secret` of the peers' r2gate_purge. Use a placeholder
	// such as {env.R2GATE_PURGE_SECRET}; it is expanded at start and never
	// logged. Required.
	Secret string `json:"secret,omitempty"`

	// Timeout bounds one request to a peer. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Backlog bounds the purged keys and prefixes waiting for one peer
	// (one that is down, or slower than the purges). When more pile up,
	// they are replaced by one purge of everything for that peer.
	// Default: 100000.
	Backlog int `json:"backlog,omitempty"`
}

const (
	peerTimeout = 5 * time.Second
	peerBacklog = 100_000
)

// peerConfig is a provisioned PeersConfig.
type peerConfig struct {
	static  []string
	dynamic reverseproxy.UpstreamSource
	scheme  string
	path    string
	auth    string // the Authorization header
	timeout time.Duration
	backlog int
}

// provision checks the block, loads the dynamic source as a guest module
// of the app, and expands the secret. Nothing is looked up here.
func (pc *PeersConfig) provision(ctx caddy.Context) (*peerConfig, error) {
	if err := pc.validate(); err != nil {
		return nil, err
	}
	repl := caddy.NewReplacer()
	secret := repl.ReplaceAll(pc.Secret, "")
	if secret == "" {
		return nil, errors.New("r2gate peers: secret is empty after placeholders (is its {env.*} variable set?)")
	}
	c := &peerConfig{
		scheme:  cmp.Or(pc.Scheme, "http"),
		path:    repl.ReplaceAll(pc.Path, ""),
		auth:    "Bearer " + secret,
		timeout: cmp.Or(time.Duration(pc.Timeout), peerTimeout),
		backlog: cmp.Or(pc.Backlog, peerBacklog),
	}
	for _, raw := range pc.To {
		u, err := peerURL(repl.ReplaceAll(raw, ""))
		if err != nil {
			return nil, err
		}
		c.static = append(c.static, u)
	}
	if pc.DynamicRaw != nil {
		mod, err := ctx.LoadModule(pc, "DynamicRaw")
		if err != nil {
			return nil, fmt.Errorf("r2gate peers: loading the dynamic upstream source: %w", err)
		}
		src, ok := mod.(reverseproxy.UpstreamSource)
		if !ok {
			return nil, fmt.Errorf("r2gate peers: module %T is not an upstream source", mod)
		}
		c.dynamic = src
	}
	return c, nil
}

// validate checks the block without expanding placeholders.
func (pc *PeersConfig) validate() error {
	if len(pc.To) == 0 && pc.DynamicRaw == nil {
		return errors.New("r2gate peers: give the peers with `to <url...>` or `dynamic <source> ...`")
	}
	if pc.Secret == "" {
		return errors.New("r2gate peers: secret is required (the peers' r2gate_purge secret)")
	}
	if pc.DynamicRaw != nil && !strings.HasPrefix(pc.Path, "/") {
		return errors.New("r2gate peers: dynamic peers need `path`, the peers' r2gate_purge path such as /_r2gate/purge")
	}
	if pc.Scheme != "" && pc.Scheme != "http" && pc.Scheme != "https" {
		return fmt.Errorf("r2gate peers: scheme %q: use http or https", pc.Scheme)
	}
	if pc.Timeout < 0 || pc.Backlog < 0 {
		return errors.New("r2gate peers: timeout and backlog must not be negative")
	}
	for _, raw := range pc.To {
		if strings.Contains(raw, "{") {
			continue // a placeholder, checked once expanded
		}
		if _, err := peerURL(raw); err != nil {
			return err
		}
	}
	return nil
}

// peerURL checks a peer's endpoint URL.
func peerURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("r2gate peers: peer URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("r2gate peers: peer URL %q: want http(s)://host[:port]/path", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("r2gate peers: peer URL %q: no user info; the secret authenticates", u.Redacted())
	}
	return u.String(), nil
}

// targets returns the peers' URLs now, sorted and each once: the static
// ones and those the dynamic source gives. A failed lookup returns the
// static ones and the error.
func (c *peerConfig) targets(ctx context.Context) ([]string, error) {
	out := slices.Clone(c.static)
	var err error
	if c.dynamic != nil {
		var ups []*reverseproxy.Upstream
		ups, err = c.dynamic.GetUpstreams(peerLookupRequest(ctx))
		if err != nil {
			err = fmt.Errorf("r2gate peers: looking up the dynamic peers: %w", err)
		}
		for _, up := range ups {
			if u := c.dialURL(up.Dial); u != "" {
				out = append(out, u)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), err
}

// dialURL makes a peer URL of an upstream's dial address, "" for one
// that is not TCP (a unix socket) or not one port.
func (c *peerConfig) dialURL(dial string) string {
	na, err := caddy.ParseNetworkAddress(dial)
	if err != nil || na.IsUnixNetwork() || na.PortRangeSize() != 1 {
		return ""
	}
	host := net.JoinHostPort(na.Host, strconv.FormatUint(uint64(na.StartPort), 10))
	return (&url.URL{Scheme: c.scheme, Host: host, Path: c.path}).String()
}

// peerLookupRequest is the synthetic request an upstream source is asked
// with: it carries a replacer, as the sources expect.
func peerLookupRequest(ctx context.Context) *http.Request {
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://r2gate-peers/", nil)
	return req
}
