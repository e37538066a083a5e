package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/r2gate/r2gate/resize"
)

// Defaults of the resize block that the resize package does not define.
const (
	defaultResizeQueue        = 64
	defaultResizeQueueTimeout = 10 * time.Second
	defaultResizeMemory       = 1 << 30
	// resizeRetryAfter is the Retry-After of a 503 for a busy queue.
	resizeRetryAfter = 2 * time.Second
)

// ResizeConfig turns on lazy image resizing for a route: a request with
// resize options (photo.jpg?w=400, or Cloudflare's
// /cdn-cgi/image/width=400/photo.jpg) is answered with a variant of the
// object, made once, written back to the bucket and cached like any object.
// Every bound below is enforced before the work it bounds.
type ResizeConfig struct {
	// Widths are the output widths (after dpr) allowed. Any other width,
	// and a height without a width, is answered 400. Without widths the
	// route must require signed URLs (signed_url, whose signature covers
	// the options), else the config is refused: a public endpoint that
	// makes any size on demand is a denial-of-service target. Default:
	// none.
	Widths []int `json:"widths,omitempty"`

	// Heights are the output heights (after dpr) allowed with widths; a
	// height not listed is answered 400, and with none listed a request
	// cannot set a height. Default: none.
	Heights []int `json:"heights,omitempty"`

	// Qualities are the encoder qualities a request may ask for (q=) with
	// widths, besides quality; any other q is answered 400. Default: none
	// (only quality).
	Qualities []int `json:"qualities,omitempty"`

	// Backgrounds are the colours a request may name (background=) with
	// widths, as #rrggbb or #rrggbbaa (the # may be left out; in a
	// Caddyfile a token starting with # is a comment, so quote it); any
	// other is answered 400. With widths, a crop's focal point
	// (gravity=XxY) is refused too: widths, heights, qualities and
	// backgrounds make one object's variants a set the config fixes (at
	// most widths × (heights+1) × (qualities+1) × (backgrounds+1) × 5 fits
	// × 5 gravities × formats × 2 anim × 3 metadata), each a resize and a
	// bucket object. A route without widths requires signed URLs, whose
	// signature covers the options. Default: none.
	Backgrounds []string `json:"backgrounds,omitempty"`

	// MaxWidth bounds any output width, in pixels. Default 10000, also
	// the most allowed.
	MaxWidth int `json:"max_width,omitempty"`

	// MaxHeight bounds any output height, in pixels. Default 10000, also
	// the most allowed.
	MaxHeight int `json:"max_height,omitempty"`

	// MaxSourcePixels is the largest source canvas (width × height) that
	// is decoded, read from the image's header before any pixel is
	// decoded; larger sources are answered 422. Default 50000000 (50 MP).
	MaxSourcePixels int64 `json:"max_source_pixels,omitempty"`

	// MaxSourceSize is the largest source object in bytes, checked from
	// the object's size before its body is read; larger ones are answered
	// 422. Default 50 MiB.
	MaxSourceSize int64 `json:"max_source_size,omitempty"`

	// MaxFrames is the most frames of an animated source (GIF, WebP) that
	// are resized; an animation with more frames, or more than 100 M
	// frame pixels in all, becomes its first frame (a still). Default 100.
	MaxFrames int `json:"max_frames,omitempty"`

	// Quality is the encoder quality when the request gives no q, 1–100.
	// Default 85.
	Quality int `json:"quality,omitempty"`

	// Formats are the output formats a request may name (format=...), of
	// jpeg, png, webp, gif. format=auto picks among them. Default: all of
	// them this build can encode (webp needs the nodynamic build tag);
	// naming one this build cannot encode is a config error. avif is not
	// available in any build yet.
	Formats []string `json:"formats,omitempty"`

	// Concurrency bounds the resizes running at once in this process, per
	// set of resize bounds (routes with equal concurrency, queue and
	// memory settings share one queue). Default: the number of CPUs.
	Concurrency int `json:"concurrency,omitempty"`

	// Queue is how many resizes may wait for a slot; a resize beyond it is
	// answered 503 with Retry-After. Default 64; 0 in JSON is the default,
	// use -1 for no waiting at all.
	Queue int `json:"queue,omitempty"`

	// QueueTimeout bounds a resize's wait for a slot; then 503 with
	// Retry-After. Default 10s.
	QueueTimeout caddy.Duration `json:"queue_timeout,omitempty"`

	// Memory bounds the memory that the running resizes hold together
	// (source bytes, decoded pixels and the transform, estimated from the
	// image's header before decoding); a resize waits until it fits, and
	// one that could never fit is answered 503. Default 1 GiB.
	Memory int64 `json:"memory,omitempty"`

	// VariantKey is where variants are stored in the bucket, a template
	// of {key} (the source's key), {options} (the canonical options, such
	// as w=400 or fit=cover&h=300&w=400), {w} and {h}. Default
	// "{key}?{options}", which is {key}?w={w} for a width-only variant
	// (photo.jpg?w=400). Example: "_variants/{key}/{options}".
	VariantKey string `json:"variant_key,omitempty"`
}

// resizer is a provisioned ResizeConfig.
type resizer struct {
	parser     *resize.Parser
	proc       *resize.Processor
	variantKey string
	maxSource  int64
}

// provision checks c and builds its parser and processor; queue is the
// app's queue for these bounds.
func (c *ResizeConfig) provision(a *App, signed bool) (*resizer, error) {
	if len(c.Widths) == 0 && !signed {
		return nil, errors.New("r2gate: resize without a widths list needs signed_url on the route " +
			"(else anyone can make the server resize to any size); set widths, or protect the route with signed_url")
	}
	formats, err := c.formats()
	if err != nil {
		return nil, err
	}
	parser, err := resize.NewParser(resize.Config{
		Limits: resize.Limits{Widths: c.Widths, MaxWidth: c.MaxWidth, MaxHeight: c.MaxHeight, Formats: formats,
			Heights: c.Heights, Qualities: c.Qualities, Backgrounds: c.Backgrounds},
		Quality: c.Quality,
	})
	if err != nil {
		return nil, fmt.Errorf("r2gate: %w", err)
	}
	if err := resize.CheckVariantKey(c.VariantKey); err != nil {
		return nil, fmt.Errorf("r2gate: %w", err)
	}
	limits := resize.DecodeLimits{MaxSourcePixels: c.MaxSourcePixels, MaxSourceBytes: c.MaxSourceSize, MaxFrames: c.MaxFrames}
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("r2gate: %w", err)
	}
	limits = limits.WithDefaults()
	if c.Concurrency < 0 || c.Memory < 0 || c.QueueTimeout < 0 || c.Queue < -1 {
		return nil, errors.New("r2gate: resize concurrency, queue, queue_timeout and memory must not be negative")
	}
	vk := c.VariantKey
	if vk == "" {
		vk = resize.DefaultVariantKey
	}
	return &resizer{
		parser: parser,
		proc: &resize.Processor{
			Parser: parser, Limits: limits, Queue: a.resizeQueue(c.queueSettings()),
			// Goroutines per resize: the CPUs shared by the resizes that may run
			// at once, so concurrency × Workers stays within max(NumCPU,
			// concurrency) (the JPEG decoder and the encoders use one each).
			Workers:  max(1, runtime.NumCPU()/c.queueSettings().concurrency),
			MaxWidth: c.MaxWidth, MaxHeight: c.MaxHeight,
		},
		variantKey: vk,
		maxSource:  limits.MaxSourceBytes,
	}, nil
}

// queueSettings are the bounds of c's resize queue, defaults filled in.
func (c *ResizeConfig) queueSettings() queueSettings {
	q := queueSettings{concurrency: c.Concurrency, waiting: c.Queue, timeout: time.Duration(c.QueueTimeout), memory: c.Memory}
	if q.concurrency == 0 {
		q.concurrency = runtime.NumCPU()
	}
	switch q.waiting {
	case 0:
		q.waiting = defaultResizeQueue
	case -1:
		q.waiting = 0
	}
	if q.timeout == 0 {
		q.timeout = defaultResizeQueueTimeout
	}
	if q.memory == 0 {
		q.memory = defaultResizeMemory
	}
	return q
}

// formats parses Formats, or gives the default: every format this build
// encodes.
func (c *ResizeConfig) formats() ([]resize.Format, error) {
	var out []resize.Format
	if len(c.Formats) == 0 {
		for _, f := range resize.DefaultFormats {
			if resize.CanEncode(f) {
				out = append(out, f)
			}
		}
		return out, nil
	}
	for _, name := range c.Formats {
		f, err := resize.ParseFormat(name)
		if err != nil || f == resize.FormatAuto || f == resize.FormatOriginal {
			return nil, fmt.Errorf("r2gate: resize formats: %q is not one of jpeg, png, webp, gif, avif", name)
		}
		if !resize.CanEncode(f) {
			return nil, fmt.Errorf("r2gate: resize formats: this build cannot encode %s (webp needs the nodynamic build tag; avif is not available)", name)
		}
		out = append(out, f)
	}
	return out, nil
}

// queueSettings are the bounds of one resize queue; routes with equal
// settings share the queue, across config reloads too.
type queueSettings struct {
	concurrency, waiting int
	timeout              time.Duration
	memory               int64
}

// unmarshalCaddyfile parses the resize block.
func (c *ResizeConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("duplicate resize subdirective %s", name)
		}
		seen[name] = true
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		oneInt := func(dst *int) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return d.Errf("resize %s: %q is not a whole number", name, args[0])
			}
			*dst = n
			return nil
		}
		var err error
		switch name {
		case "widths", "heights", "qualities":
			dst := map[string]*[]int{"widths": &c.Widths, "heights": &c.Heights, "qualities": &c.Qualities}[name]
			for _, a := range args {
				for _, f := range strings.Split(a, ",") {
					if f == "" {
						continue
					}
					n, cerr := strconv.Atoi(f)
					if cerr != nil || n < 1 {
						return d.Errf("resize %s: %q is not a whole number above 0", name, f)
					}
					*dst = append(*dst, n)
				}
			}
		case "backgrounds":
			if len(args) == 0 {
				return d.ArgErr()
			}
			c.Backgrounds = append(c.Backgrounds, args...)
		case "max_width":
			err = oneInt(&c.MaxWidth)
		case "max_height":
			err = oneInt(&c.MaxHeight)
		case "max_frames":
			err = oneInt(&c.MaxFrames)
		case "quality":
			err = oneInt(&c.Quality)
		case "concurrency":
			err = oneInt(&c.Concurrency)
		case "max_source_pixels":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, perr := parsePixels(args[0])
			if perr != nil {
				return d.Errf("resize max_source_pixels: %v", perr)
			}
			c.MaxSourcePixels = n
		case "max_source_size":
			if len(args) != 1 {
				return d.ArgErr()
			}
			c.MaxSourceSize, err = parseSize(args[0])
		case "memory":
			if len(args) != 1 {
				return d.ArgErr()
			}
			c.Memory, err = parseSize(args[0])
		case "formats":
			c.Formats = args
		case "queue":
			if len(args) != 2 {
				return d.Errf("resize queue needs <n> <timeout>")
			}
			n, cerr := strconv.Atoi(args[0])
			if cerr != nil || n < 0 {
				return d.Errf("resize queue: %q is not a whole number", args[0])
			}
			c.Queue = n
			if n == 0 {
				c.Queue = -1 // an explicit 0: nothing waits
			}
			c.QueueTimeout, err = parseDuration(args[1])
		case "variant_key":
			if len(args) != 1 {
				return d.ArgErr()
			}
			c.VariantKey = args[0]
		default:
			return d.Errf("unknown resize subdirective %s", name)
		}
		if err != nil {
			return d.Errf("resize %s: %v", name, err)
		}
	}
	return nil
}

// parsePixels reads a pixel count: a whole number, or one with an MP
// suffix (50MP = 50000000).
func parsePixels(s string) (int64, error) {
	mult := int64(1)
	if v, ok := strings.CutSuffix(strings.ToUpper(s), "MP"); ok {
		s, mult = v, 1_000_000
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > 1<<40/mult {
		return 0, fmt.Errorf("%q is not a pixel count (such as 50000000 or 50MP)", s)
	}
	return n * mult, nil
}

// options reads r's resize options: from Cloudflare's path form
// (/cdn-cgi/image/<options>/<source>), else from the query. It returns
// the URL path of the object asked for, the options (zero when the
// request asks for none), and the parsed Cloudflare request when it was
// one. Errors are the client's (400).
func (z *resizer) options(r *http.Request) (string, resize.Options, *resize.Request, error) {
	if esc := r.URL.EscapedPath(); resize.IsCloudflare(esc) {
		req, err := z.parser.ParseCloudflare(esc)
		if err != nil {
			return "", resize.Options{}, nil, err
		}
		return req.Source, req.Options, &req, nil
	}
	if r.URL.RawQuery == "" {
		return r.URL.Path, resize.Options{}, nil, nil
	}
	o, err := z.parser.ParseQuery(r.URL.RawQuery)
	return r.URL.Path, o, nil, err
}
