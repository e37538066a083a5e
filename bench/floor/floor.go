// Package floor is a bench-only Caddy HTTP handler, http.handlers.r2gate_floor,
// that answers GET and HEAD with a body held in a []byte: the floor reference
// of bench/run.sh, the least any handler inside Caddy can do to serve an
// object. It is not part of r2gate and not linked into ./caddy; only
// bench/floorcaddy links it.
//
// At Provision it reads every regular file of a folder (not recursively)
// into memory and prepares its headers once: Content-Length, Content-Type
// (application/octet-stream), ETag (a quoted hash of the bytes) and
// Last-Modified (the file's modification time). A request for /<name> gets
// 200 with exactly those four headers (and what Caddy and net/http add) and
// the body in one Write; any other path gets 404, any other method 405. It
// evaluates no conditions and no Range: that is the point.
package floor

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("r2gate_floor", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("r2gate_floor", httpcaddyfile.Before, "file_server")
}

// Handler serves the files of Root from memory with prebuilt headers.
//
// Caddyfile (the block form, because a first argument starting with "/"
// is read as a path matcher: `r2gate_floor /srv` matches /srv and has no
// folder; `r2gate_floor * /srv` works too):
//
//	r2gate_floor [<matcher>] [<folder>] {
//		root <folder>
//	}
type Handler struct {
	// Root is the folder whose regular files are served, each at
	// /<file name>. Required.
	Root string `json:"root,omitempty"`

	objects map[string]*object
}

// object is one body and its header values, built once and shared by every
// response (net/http only reads them).
type object struct {
	body    []byte
	length  []string
	ctype   []string
	etag    []string
	lastMod []string
}

var octetStream = []string{"application/octet-stream"}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.r2gate_floor",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision reads the files of Root into memory.
func (h *Handler) Provision(caddy.Context) error {
	if h.Root == "" {
		return fmt.Errorf("r2gate_floor: root is required")
	}
	entries, err := os.ReadDir(h.Root)
	if err != nil {
		return fmt.Errorf("r2gate_floor: reading %s: %w", h.Root, err)
	}
	h.objects = make(map[string]*object, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(h.Root, e.Name())
		body, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("r2gate_floor: %w", err)
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("r2gate_floor: %w", err)
		}
		sum := fnv.New64a()
		sum.Write(body)
		h.objects["/"+e.Name()] = &object{
			body:    body,
			length:  []string{strconv.Itoa(len(body))},
			ctype:   octetStream,
			etag:    []string{fmt.Sprintf(`"%016x"`, sum.Sum64())},
			lastMod: []string{info.ModTime().UTC().Format(http.TimeFormat)},
		}
	}
	return nil
}

// ServeHTTP writes the object named by the request path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	o := h.objects[r.URL.Path]
	if o == nil {
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = []string{"GET, HEAD"}
		w.WriteHeader(http.StatusMethodNotAllowed)
		return nil
	}
	hdr := w.Header()
	hdr["Content-Length"] = o.length
	hdr["Content-Type"] = o.ctype
	hdr["Etag"] = o.etag
	hdr["Last-Modified"] = o.lastMod
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		if _, err := w.Write(o.body); err != nil {
			return fmt.Errorf("r2gate_floor: writing %s: %w", r.URL.Path, err)
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
// r2gate_floor [<folder>] { root <folder> }.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		h.Root = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "root":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Root = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("r2gate_floor: unknown subdirective %q", d.Val())
		}
	}
	if h.Root == "" {
		return d.Err("r2gate_floor needs a folder (root <folder>)")
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
