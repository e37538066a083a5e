// Package caddymodule is r2gate's Caddy glue: the http.handlers.r2gate
// module, its Caddyfile directive, and the wiring between Caddy and the
// plain Go libraries (origin, ...).
package caddymodule

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/r2gate/r2gate/auth"
	"github.com/r2gate/r2gate/cache"
	"github.com/r2gate/r2gate/origin"
)

// Handler serves objects from a Cloudflare R2 bucket, any S3-compatible
// bucket, or a local folder, with the HTTP semantics of Caddy's
// file_server: GET and HEAD, ETag and Last-Modified validators, single and
// multiple byte ranges, conditional requests, and the object's own
// Content-Type, Content-Encoding, Content-Disposition and Content-Language.
// Bodies stream from the bucket; a Range request becomes a ranged GET.
//
// The request path is percent-decoded into the object key: `%20` is a
// space, `+` stays a plus sign, `%2F` is a slash like `/`, and UTF-8 passes
// through unchanged. Paths with `.` or `..` segments, NUL or other control
// characters, or invalid UTF-8 are refused with 400. A path ending in `/`
// serves the index object below it.
type Handler struct {
	// Bucket is the name of the S3 or R2 bucket. Placeholders such as
	// {env.R2_BUCKET} are expanded at start. Exactly one of bucket and dir
	// must be set; see fallback_dir for configs that work with or without
	// a bucket.
	Bucket string `json:"bucket,omitempty"`

	// AccountID is the Cloudflare account ID; the endpoint becomes
	// https://<account_id>.r2.cloudflarestorage.com. Ignored when endpoint
	// is set.
	AccountID string `json:"account_id,omitempty"`

	// Endpoint is the URL of any S3-compatible API (MinIO, versitygw, AWS
	// S3, ...). Custom endpoints use path-style addressing. Default: the R2
	// endpoint from account_id, else AWS S3.
	Endpoint string `json:"endpoint,omitempty"`

	// Region of the bucket. Default: auto (what R2 expects).
	Region string `json:"region,omitempty"`

	// AccessKey is the access key ID. Default: the R2_ACCESS_KEY_ID
	// environment variable, then the standard AWS credential chain.
	AccessKey string `json:"access_key,omitempty"`

	// SecretKey is the secret access key; use a placeholder such as
	// {env.R2_SECRET_ACCESS_KEY} rather than the secret itself. Default: the
	// R2_SECRET_ACCESS_KEY environment variable, then the standard AWS
	// credential chain. It never appears in logs or errors.
	SecretKey string `json:"secret_key,omitempty"`

	// Timeout bounds how long the bucket may take to start answering a
	// request and how long a body read may stall. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Dir is a local folder served as the bucket: keys are paths below it,
	// and nothing outside it (through `..` or symbolic links) can be read.
	Dir string `json:"dir,omitempty"`

	// FallbackDir is a local folder served when bucket is empty after
	// placeholder expansion (for example when {env.R2_BUCKET} is not set),
	// so one config runs both with and without R2 credentials. It is never
	// used when a bucket is set.
	FallbackDir string `json:"fallback_dir,omitempty"`

	// Prefix is prepended to every object key, so a site serves only the
	// keys below it. A missing trailing slash is added. Default: none.
	Prefix string `json:"prefix,omitempty"`

	// StripPrefix is removed from the request path before it becomes a key,
	// when the path starts with it at a segment boundary. Default: none.
	StripPrefix string `json:"strip_prefix,omitempty"`

	// IndexNames are the objects tried, in order, for a path ending in
	// `/`. A path without the slash whose first index object exists is
	// redirected (308) to the path with the slash. Default: [index.html].
	IndexNames []string `json:"index_names,omitempty"`

	// CacheControl is the Cache-Control sent to browsers when no rule
	// matches and the object has no Cache-Control of its own. Default: none.
	CacheControl string `json:"cache_control,omitempty"`

	// CacheControlRules set Cache-Control per request path; the first
	// rule whose glob matches wins and overrides the object's own value.
	CacheControlRules []CacheControlRule `json:"cache_control_rules,omitempty"`

	// PassThru hands requests for missing objects (404) to the next
	// handler instead of answering 404, for try_files-like setups and
	// custom error pages.
	PassThru bool `json:"pass_thru,omitempty"`

	// Cache configures the tiered cache (memory, disk). Without it (and
	// without cache_name) every request goes to the bucket.
	Cache *CacheConfig `json:"cache,omitempty"`

	// CacheName uses the cache of that name from the global r2gate
	// options (App.Caches) instead of a cache block of this handler's own.
	// Default: none.
	CacheName string `json:"cache_name,omitempty"`

	// JWT requires a valid JSON Web Token. With signed_url as well, either
	// credential suffices. Protected answers get Cache-Control: private
	// unless a cache_control rule matches.
	JWT *JWTConfig `json:"jwt,omitempty"`

	// SignedURL requires a valid URL signature (native or Cloudflare
	// style). With jwt as well, either credential suffices.
	SignedURL *SignedURLConfig `json:"signed_url,omitempty"`

	// Resize turns on lazy image resizing on this route: requests with
	// resize options get a variant of the object. Default: off (resize
	// options are ignored like any query parameter).
	Resize *ResizeConfig `json:"resize,omitempty"`

	// Upload enables PUT and DELETE on this route, for credentials that
	// allow writing. Default: off (other methods than GET and HEAD are
	// 405).
	Upload *UploadConfig `json:"upload,omitempty"`

	bucket        origin.Bucket
	logger        *zap.Logger
	app           *App
	cache         *cache.Cache
	cachePoolKey  string // the cache's key in the app's pool
	bucketPoolKey string // the bucket client's key in the app's pool
	cacheOpts     cache.GetOptions
	source        cache.Source
	honorNoCache  bool
	metrics       *metrics
	jwt           *auth.JWT
	signed        *auth.SignedURLs
	resizer       *resizer
	upload        UploadConfig  // Upload with defaults
	uploads       chan struct{} // one token per upload in progress
}

// CacheControlRule sets the browser Cache-Control for request paths that
// match a glob.
type CacheControlRule struct {
	// Path is a glob over the request path: `*` matches any run of
	// characters including `/`, `?` matches one byte. Examples:
	// `/static/*`, `*.woff2`.
	Path string `json:"path"`
	// Value is the Cache-Control header value, e.g.
	// "public, max-age=31536000, immutable".
	Value string `json:"value"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.r2gate",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision expands placeholders, fills defaults and builds the bucket
// client. It does no network I/O.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	for _, s := range []*string{&h.Bucket, &h.AccountID, &h.Endpoint, &h.Region,
		&h.AccessKey, &h.SecretKey, &h.Dir, &h.FallbackDir, &h.Prefix, &h.StripPrefix} {
		*s = repl.ReplaceAll(*s, "")
	}
	if len(h.IndexNames) == 0 {
		h.IndexNames = []string{"index.html"}
	}
	if h.Prefix != "" && h.Prefix[len(h.Prefix)-1] != '/' {
		h.Prefix += "/"
	}
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	h.app = app

	switch {
	case h.Bucket != "" && h.Dir != "":
		return errors.New("r2gate: both bucket and dir are set; choose one (fallback_dir serves a folder only when no bucket is set)")
	case h.Bucket != "":
		if h.AccessKey == "" && h.SecretKey == "" {
			h.AccessKey = repl.ReplaceAll("{env.R2_ACCESS_KEY_ID}", "")
			h.SecretKey = repl.ReplaceAll("{env.R2_SECRET_ACCESS_KEY}", "")
		}
		if (h.AccessKey == "") != (h.SecretKey == "") {
			return errors.New("r2gate: access_key and secret_key must be set together (is one {env.*} variable unset?)")
		}
		endpoint := h.Endpoint
		if endpoint == "" && h.AccountID != "" {
			endpoint = origin.R2Endpoint(h.AccountID)
		}
		if endpoint == "" {
			h.logger.Warn("neither endpoint nor account_id is set: using AWS S3", zap.String("bucket", h.Bucket))
		}
		b, key, err := app.openS3(ctx, origin.S3Config{
			Bucket: h.Bucket, Endpoint: endpoint, Region: h.Region,
			AccessKey: h.AccessKey, SecretKey: h.SecretKey,
			Timeout: time.Duration(h.Timeout),
		})
		if err != nil {
			return err
		}
		h.bucket, h.bucketPoolKey = b, key
		h.source.Namespace = "s3:" + endpoint + "/" + h.Bucket + "\x00"
		h.logger.Info("serving bucket", zap.String("bucket", h.Bucket), zap.String("endpoint", endpoint))
	case h.Dir != "" || h.FallbackDir != "":
		dir := h.Dir
		if dir == "" {
			dir = h.FallbackDir
			h.logger.Info("no bucket configured; serving the fallback folder", zap.String("dir", dir))
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("r2gate: %w", err)
		}
		d, key, err := app.openDir(abs)
		if err != nil {
			return err
		}
		h.bucket, h.bucketPoolKey = d, key
		h.source.Namespace = "dir:" + abs + "\x00"
	case h.Bucket == "" && h.Dir == "" && h.FallbackDir == "":
		return errors.New("r2gate: no origin: bucket is empty after placeholders, and neither dir nor fallback_dir is set")
	}
	if err := h.provisionAuth(ctx); err != nil {
		return err
	}
	if h.Resize != nil {
		if h.resizer, err = h.Resize.provision(app, h.SignedURL != nil); err != nil {
			return err
		}
	}
	if h.Upload != nil {
		h.upload = h.Upload.withDefaults()
		if err := h.upload.validate(h); err != nil {
			return err
		}
		h.uploads = make(chan struct{}, h.upload.Concurrency)
	}
	h.metrics = app.metrics
	h.bucket = metered{Bucket: h.bucket, m: h.metrics}
	h.source.Bucket = h.bucket
	return h.provisionCache()
}

// provisionCache opens the handler's cache (its own cache block, or the
// named one from the global options) and registers it for purges and
// metrics.
func (h *Handler) provisionCache() error {
	conf := h.Cache
	if h.CacheName != "" {
		if h.Cache != nil {
			return errors.New("r2gate: both a cache block and a cache name are set; choose one")
		}
		named, err := h.app.namedCache(h.CacheName)
		if err != nil {
			return err
		}
		conf = named
	}
	if conf == nil {
		return nil
	}
	cfg := conf.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	c, disk, key, err := h.app.openCache(cfg)
	if err != nil {
		return err
	}
	h.cache, h.cachePoolKey, h.cacheOpts, h.honorNoCache = c, key, cfg.options(), cfg.HonorNoCache
	h.app.state.registry.register(h, cacheUse{bucket: h.Bucket, namespace: h.source.Namespace, cache: c, disk: disk})
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.Bucket == "" && h.Dir == "" && h.FallbackDir == "" {
		return errors.New("r2gate: no origin: set bucket (S3/R2) or dir (local folder)")
	}
	if h.Bucket != "" && h.Dir != "" {
		return errors.New("r2gate: both bucket and dir are set; choose one (fallback_dir serves a folder only when no bucket is set)")
	}
	for _, r := range h.CacheControlRules {
		if r.Path == "" || r.Value == "" {
			return fmt.Errorf("r2gate: cache_control rule needs a path and a value: %+v", r)
		}
	}
	for _, name := range h.IndexNames {
		if err := checkIndexName(name); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup lets go of this handler's hold on its bucket client and its
// cache; the app closes them when no handler uses them any more.
func (h *Handler) Cleanup() error {
	if h.jwt != nil {
		h.jwt.Close()
	}
	var err error
	if h.app != nil {
		h.app.state.registry.unregister(h)
		if h.cachePoolKey != "" {
			err = h.app.releaseCache(h.cachePoolKey)
		}
		if h.bucketPoolKey != "" {
			if berr := h.app.releaseBucket(h.bucketPoolKey); err == nil {
				err = berr
			}
		}
	}
	return err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
