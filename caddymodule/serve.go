package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/r2gate/r2gate/cache"
	"github.com/r2gate/r2gate/origin"
	"github.com/r2gate/r2gate/publish"
	"github.com/r2gate/r2gate/resize"
)

// ServeHTTP serves the object the request path names, or a variant of it
// when the route resizes and the request asks for one.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut, http.MethodDelete:
		if h.Upload != nil {
			return h.serveWrite(w, r)
		}
		fallthrough
	default:
		if h.Upload != nil {
			w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		} else {
			w.Header().Set("Allow", "GET, HEAD")
		}
		return fail(w, r, http.StatusMethodNotAllowed, "")
	}
	reqPath := r.URL.Path
	var opts resize.Options
	var cf *resize.Request
	if h.resizer != nil {
		var err error
		if reqPath, opts, cf, err = h.resizer.options(r); err != nil {
			return fail(w, r, http.StatusBadRequest, err.Error())
		}
	}
	key, dir, err := h.objectKey(reqPath)
	if err != nil {
		return fail(w, r, statusOf(err), err.Error())
	}
	if h.protected() {
		if _, ok, err := h.authorize(w, r, key); !ok {
			return err
		}
	}
	if !opts.IsZero() && !dir {
		return h.serveVariant(w, r, next, key, opts, cf)
	}
	candidates := []string{key}
	if dir {
		candidates = candidates[:0]
		for _, name := range h.IndexNames {
			candidates = append(candidates, key+name)
		}
	}
	for _, k := range candidates {
		found, err := h.serveKey(w, r, h.source, k, nil)
		if found || err != nil {
			return err
		}
	}
	if !dir && h.redirectToFolder(r.Context(), w, r, key) {
		return nil
	}
	return h.notFound(w, r, next)
}

// notFound answers for a missing object: 404, or the next handler with
// pass_thru.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.PassThru {
		w.Header().Del("Cache-Status") // the next handler answers, not the cache
		return next.ServeHTTP(w, r)
	}
	return fail(w, r, http.StatusNotFound, "")
}

// serveVariant answers with the variant opts of the object under key. cf
// is the Cloudflare-form request, if it was one.
func (h *Handler) serveVariant(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, key string, opts resize.Options, cf *resize.Request) error {
	if opts.Format == resize.FormatAuto {
		// The cache key holds the negotiated format, never the header.
		w.Header().Add("Vary", "Accept")
		switch f := resize.Negotiate(opts, r.Header.Get("Accept"), resize.FormatOriginal, h.resizer.parser.Allowed); f {
		case resize.FormatWebP, resize.FormatAVIF:
			opts.Format = f
		default:
			opts.Format = resize.FormatOriginal
		}
	}
	v := variant{key: key, opts: opts, canonical: opts.Canonical()}
	src := cache.Source{Bucket: &variantSource{Bucket: h.bucket, h: h, v: v}, Namespace: h.source.Namespace}
	found, err := h.serveKey(w, r, src, v.cacheKey(), cf)
	if found || err != nil {
		return err
	}
	return h.notFound(w, r, next)
}

// serveKey answers with the object under key from src, from the cache
// when there is one; src is the handler's bucket, or a variant source and
// key a variant's cache key. It reports found=false, having written
// nothing but a Cache-Status header, when the object does not exist. cf,
// for a Cloudflare-form variant, may turn a failure into a redirect to
// the source (onerror=redirect).
func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request, src cache.Source, key string, cf *resize.Request) (found bool, err error) {
	ans, err := h.lookup(r, src, key, false)
	var ge *origin.GatewayError
	switch {
	case errors.Is(err, origin.ErrNotFound):
		h.metrics.request("none", "miss")
		var me *cache.MissingError
		if errors.As(err, &me) { // for the 404, if nothing else answers
			w.Header().Set("Cache-Status", me.Status.String())
		} else {
			w.Header().Del("Cache-Status")
		}
		return false, nil
	case err != nil && r.Context().Err() != nil:
		h.metrics.request("none", "canceled")
		return true, nil // the client went away; nobody to answer
	case errors.As(err, &ge):
		h.metrics.request(ans.tier, "error")
		if cf != nil && cf.RedirectOnError {
			http.Redirect(w, r, cf.EscapedSource, http.StatusFound)
			return true, nil
		}
		if ge.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ge.RetryAfter+time.Second-1)/time.Second)))
		}
		return true, fail(w, r, ge.Code, ge.Reason)
	case err != nil:
		h.metrics.request(ans.tier, "error")
		return true, h.bucketFailed(w, r, key, err)
	}
	defer ans.close()
	if ref, ok := ans.body.(*cache.BodyRef); ok && ans.hasStatus && ans.status.Hit && plainRequest(r) {
		h.serveFastHit(w, r, &ans, ref)
		return true, nil
	}
	h.writeHeaders(w, r, ans.info)
	if ans.hasStatus {
		if d := variantDetail(ans.info); d != "" && !ans.status.Hit && ans.status.Fwd != cache.FwdStale {
			ans.status.Detail = d
		}
		hdr := w.Header()
		hdr.Set("Age", strconv.FormatInt(int64(ans.age/time.Second), 10))
		hdr.Set("Cache-Status", ans.status.String())
	}
	if !ans.rangesPlanned {
		ans.ranges = planRanges(r, ans.info.Size)
	}
	http.ServeContent(bodyWriter{w}, ans.ranges.request(r), "", ans.info.LastModified, ans.body)
	h.count(w, r, ans.tier, ans.outcome)
	if ans.bucketBody != nil {
		if err := ans.bucketBody.Err(); err != nil && !errors.Is(err, context.Canceled) {
			if ce := h.logger.Check(zapcore.WarnLevel, "response cut short: bucket read failed"); ce != nil {
				ce.Write(zap.String("key", origin.ShortKey(ans.info.Key)), zap.Error(err))
			}
		}
	}
	return true, nil
}

// answer is an object ready to serve, from whichever source had it.
type answer struct {
	info origin.Info
	body io.ReadSeeker // nil for a lookup that only checks existence
	tier string        // memory, disk or bucket: for the metrics
	// status is the Cache-Status to send (none without a cache); age goes
	// with it.
	status    cache.CacheStatus
	hasStatus bool
	age       time.Duration
	// outcome names the answer in the metrics: hit, miss, bypass, ...
	outcome string
	// cached is the cache's answer, to close; bucketBody is set when the
	// body streams from the bucket, to close and to report a read that
	// failed midway.
	cached     *cache.Response
	bucketBody *origin.Reader
	// ranges is the Range header's plan, when rangesPlanned: lookup made
	// it already to read from the bucket.
	ranges        rangePlan
	rangesPlanned bool
}

// close releases the answer's body.
func (a *answer) close() {
	if a.cached != nil {
		a.cached.Close()
	}
	if a.bucketBody != nil {
		a.bucketBody.Close()
	}
}

// lookup finds the object under key from src: in the cache if the
// handler has one (which fetches it on a miss), else, or when the object
// cannot be cached, straight from src. With exists set, the caller only
// wants to know that the object is there: the bucket is asked with a
// HEAD and no body is opened. Errors are origin errors; a failed answer
// still names its tier.
func (h *Handler) lookup(r *http.Request, src cache.Source, key string, exists bool) (answer, error) {
	ctx := r.Context()
	var ans answer
	if h.cache != nil {
		opts := h.cacheOpts
		opts.Revalidate = !exists && h.honorNoCache && clientNoCache(r)
		opts.Reuse = !exists && plainRequest(r) // see plainRequest
		resp, err := h.cache.Get(ctx, src, key, opts)
		switch {
		case err == nil:
			return answer{
				info: resp.Meta.Info, body: resp.Body, tier: resp.Tier,
				status: resp.Status, hasStatus: true, age: resp.Meta.Age(time.Now()),
				outcome: outcome(resp.Status), cached: resp,
			}, nil
		case !isBypass(err):
			return answer{tier: "bucket"}, err
		}
		ans.status, ans.hasStatus = cache.CacheStatus{Fwd: cache.FwdBypass}, true
	}
	ans.tier, ans.outcome = "bucket", "bypass"
	var err error
	if vs, ok := src.Bucket.(*variantSource); ok {
		ans.info, ans.body, err = h.madeVariant(ctx, vs, src.Namespace+key)
		return ans, err
	}
	if exists {
		ans.info, err = h.bucket.Head(ctx, key)
		return ans, err
	}
	var obj *origin.Object
	obj, ans.info, err = h.open(ctx, r, key)
	if err != nil {
		return ans, err
	}
	ans.ranges, ans.rangesPlanned = planRanges(r, ans.info.Size), true
	ans.bucketBody = origin.NewReader(ctx, h.bucket, ans.info, obj, ans.ranges.spans)
	ans.body = ans.bucketBody
	return ans, nil
}

// madeVariant gets a variant the cache does not keep (no cache, or one
// that will not take it) from its source, coalescing concurrent requests
// for it (ckey) into one.
func (h *Handler) madeVariant(ctx context.Context, vs *variantSource, ckey string) (origin.Info, io.ReadSeeker, error) {
	mv, _, err := h.app.state.variants.Do(ctx, ckey, func(ctx context.Context) (*madeVariant, error) {
		obj, err := vs.Get(ctx, ckey, origin.GetOptions{})
		if err != nil {
			return nil, err
		}
		defer obj.Body.Close()
		data, err := io.ReadAll(obj.Body)
		if err != nil {
			return nil, fmt.Errorf("reading the variant: %w", err)
		}
		return &madeVariant{info: obj.Info, body: data}, nil
	})
	if err != nil {
		return origin.Info{}, nil, err
	}
	return mv.info, bytes.NewReader(mv.body), nil
}

// madeVariant is a variant shared by the requests that asked for it at
// once.
type madeVariant struct {
	info origin.Info
	body []byte
}

// isBypass reports whether err is the cache's "serve this from the bucket".
func isBypass(err error) bool {
	var bypass *cache.BypassError
	return errors.As(err, &bypass)
}

// count records an answer in the metrics: its tier, outcome and body
// bytes (from the Content-Length that http.ServeContent set).
func (h *Handler) count(w http.ResponseWriter, r *http.Request, tier, outcome string) {
	if h.metrics == nil {
		return
	}
	h.metrics.request(tier, outcome)
	if r.Method == http.MethodGet {
		if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
			h.metrics.served(tier, n)
		}
	}
}

// outcome names a cache answer for the metrics.
func outcome(s cache.CacheStatus) string {
	switch {
	case s.Hit && s.TTL < 0:
		return "stale"
	case s.Hit:
		return "hit"
	case s.FwdStatus == http.StatusNotModified:
		return "revalidated"
	case s.Fwd == cache.FwdStale && s.FwdStatus >= 500:
		return "stale"
	default:
		return "miss"
	}
}

// writeHeaders sets the object's own headers and the browser
// Cache-Control. http.ServeContent adds the rest.
func (h *Handler) writeHeaders(w http.ResponseWriter, r *http.Request, info origin.Info) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType(info.ContentType, info.Key))
	if info.ETag != "" {
		hdr.Set("Etag", info.ETag)
	}
	for _, f := range [...]struct{ name, value string }{
		{"Content-Encoding", info.ContentEncoding},
		{"Content-Disposition", info.ContentDisposition},
		{"Content-Language", info.ContentLanguage},
		{"Cache-Control", h.cacheControl(r.URL.Path, info.CacheControl)},
	} {
		if f.value != "" {
			hdr.Set(f.name, f.value)
		}
	}
}

// bucketFailed answers for a bucket error other than a missing object.
// Server-side failures are logged, at most one line per bucket every
// bucketLogInterval (with the count of those left out), so an outage
// does not write a line per request.
func (h *Handler) bucketFailed(w http.ResponseWriter, r *http.Request, key string, err error) error {
	if r.Context().Err() != nil {
		return nil // the client went away; nobody to answer
	}
	status := origin.Status(err)
	var backoff *cache.BackoffError
	if errors.As(err, &backoff) {
		// The bucket is not asked again before RetryAt; its outage was
		// logged when it began.
		if secs := int(time.Until(backoff.RetryAt).Seconds() + 0.999); secs > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		return fail(w, r, status, "")
	}
	if status >= 500 {
		if ok, held := h.app.state.logs.allow("bucket "+h.source.Namespace, time.Now(), bucketLogInterval); ok {
			if ce := h.logger.Check(zapcore.ErrorLevel, "bucket request failed"); ce != nil {
				ce.Write(zap.String("key", origin.ShortKey(key)), zap.Int("unlogged_failures", held), zap.Error(err))
			}
		}
	}
	return fail(w, r, status, "")
}

// bucketLogInterval is the least time between two log lines about one
// bucket's failures.
const bucketLogInterval = 10 * time.Second

// clientNoCache reports whether the request carries Cache-Control:
// no-cache (or the old Pragma: no-cache).
func clientNoCache(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		if cache.ParseCacheControl(v).NoCache {
			return true
		}
	}
	return r.Header.Get("Pragma") == "no-cache"
}

// open opens the object under key straight from the bucket. A plain GET
// opens the body at once, in one bucket request; anything with a Range or
// a condition asks for the metadata only, and http.ServeContent decides
// what to read.
func (h *Handler) open(ctx context.Context, r *http.Request, key string) (*origin.Object, origin.Info, error) {
	plain := r.Method == http.MethodGet && r.Header.Get("Range") == "" &&
		r.Header.Get("If-Match") == "" && r.Header.Get("If-None-Match") == "" &&
		r.Header.Get("If-Modified-Since") == "" && r.Header.Get("If-Unmodified-Since") == ""
	if plain {
		obj, err := h.bucket.Get(ctx, key, origin.GetOptions{})
		if err != nil {
			return nil, origin.Info{}, err
		}
		return obj, obj.Info, nil
	}
	info, err := h.bucket.Head(ctx, key)
	return nil, info, err
}

// redirectToFolder answers 308 with the path plus a slash when key is
// missing but key/<first index name> exists, as file_server does.
func (h *Handler) redirectToFolder(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) bool {
	if len(h.IndexNames) == 0 {
		return false
	}
	orig, ok := ctx.Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok {
		orig = *r
	}
	target := orig.URL.EscapedPath()
	// "//host" would be a redirect to another site.
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		return false
	}
	if !h.exists(r, key+"/"+h.IndexNames[0]) {
		return false
	}
	target += "/"
	w.Header().Del("Cache-Status") // of the key without the slash
	if orig.URL.RawQuery != "" {
		target += "?" + orig.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusPermanentRedirect)
	return true
}

// exists reports whether key names an object, asking the cache first so
// that missing keys are remembered (negative caching) instead of costing a
// bucket request each time.
func (h *Handler) exists(r *http.Request, key string) bool {
	ans, err := h.lookup(r, h.source, key, true)
	if err == nil {
		ans.close()
	}
	return err == nil
}

// contentType returns the object's Content-Type, or one guessed from the
// key's extension when the bucket has only a generic one.
func contentType(stored, key string) string {
	switch stored {
	case "", "application/octet-stream", "binary/octet-stream":
		return publish.ContentType(key) // what sync stores, too
	}
	return stored
}

// fail answers with status and a one-line plain-text body that never
// includes bucket error text. When the site has handle_errors routes, it
// returns a caddyhttp.Error instead, so those routes make the answer.
func fail(w http.ResponseWriter, r *http.Request, status int, reason string) error {
	msg := strconv.Itoa(status) + " " + http.StatusText(status)
	if reason != "" {
		msg += ": " + reason
	}
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok &&
		srv.Errors != nil && len(srv.Errors.Routes) > 0 {
		return caddyhttp.Error(status, errors.New(msg))
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if status >= 500 {
		hdr.Set("Cache-Control", "no-store")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
	return nil
}
