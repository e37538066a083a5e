package caddymodule

import (
	"errors"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/r2gate/r2gate/origin"
)

// Defaults of the upload block.
const (
	defaultUploadMaxSize     = 100 << 20
	defaultUploadConcurrency = 16
	// uploadPartConcurrency is how many parts of one upload go to the
	// bucket at once: an upload holds at most (this+1) parts in memory.
	uploadPartConcurrency = 2
)

// UploadConfig enables writes on a route: PUT stores the request body
// under the path's key, DELETE removes the key. Writes need a credential
// that allows them: a JWT whose write_scope_claim covers the key, or a
// signed URL signed for the method. Every cache tier forgets the key and
// its variants as soon as a write succeeds.
type UploadConfig struct {
	// MaxSize is the largest body accepted, in bytes; a larger
	// Content-Length is answered 413 before anything reaches the bucket,
	// and a chunked body is cut off with 413 when it grows past it.
	// Default 100 MiB.
	MaxSize int64 `json:"max_size,omitempty"`

	// PartSize is the part size of multipart uploads; bodies up to it go
	// in one PUT. At least 5 MiB. Default 8 MiB. An upload holds at most
	// three parts in memory.
	PartSize int64 `json:"part_size,omitempty"`

	// Concurrency bounds the uploads in progress on this route; beyond it
	// writes are answered 503 with Retry-After. Default 16.
	Concurrency int `json:"concurrency,omitempty"`
}

// withDefaults returns c with its defaults filled in.
func (c UploadConfig) withDefaults() UploadConfig {
	if c.MaxSize == 0 {
		c.MaxSize = defaultUploadMaxSize
	}
	if c.PartSize == 0 {
		c.PartSize = origin.DefaultPartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultUploadConcurrency
	}
	return c
}

// validate checks the settings (defaults filled in) and that the route
// can authorise writes at all.
func (c UploadConfig) validate(h *Handler) error {
	switch {
	case c.MaxSize < 0 || c.Concurrency < 0:
		return errors.New("r2gate: upload max_size and concurrency must not be negative")
	case c.PartSize < origin.MinPartSize:
		return errors.New("r2gate: upload part_size must be at least 5MiB (the S3 minimum)")
	case h.SignedURL == nil && (h.JWT == nil || h.JWT.WriteScopeClaim == ""):
		return errors.New("r2gate: upload needs a way to authorise writes: signed_url, or jwt with write_scope_claim")
	}
	return nil
}

// unmarshalCaddyfile parses the upload block.
func (c *UploadConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate upload subdirective %s", name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		if len(args) != 1 {
			return d.ArgErr()
		}
		var err error
		switch name {
		case "max_size":
			c.MaxSize, err = parseSize(args[0])
		case "part_size":
			c.PartSize, err = parseSize(args[0])
		case "concurrency":
			var n int
			n, err = strconv.Atoi(args[0])
			if err == nil && n < 1 {
				err = errors.New("must be at least 1")
			}
			c.Concurrency = n
		default:
			return d.Errf("unknown upload subdirective %s", name)
		}
		if err != nil {
			return d.Errf("upload %s: %v", name, err)
		}
	}
	return nil
}
