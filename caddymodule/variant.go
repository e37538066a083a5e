package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/r2gate/r2gate/internal/retryq"
	"github.com/r2gate/r2gate/origin"
	"github.com/r2gate/r2gate/resize"
)

// A variant is an image made from a source object by resize options. Where
// it comes from, in order:
//
//  1. the cache tiers, under the variant's cache key (the source's key,
//     variantSep, the canonical options), in the handler's namespace, so
//     that purging the source's key purges its variants;
//  2. the variant object in the bucket (under the variant_key template),
//     served only when the ETag in its metadata is the one this source
//     and these options give now: a HEAD of the source checks it whenever
//     the variant enters the cache or is revalidated there, so a changed
//     source's old variants are stale and a deleted source's are 404;
//  3. a resize of the source (read through the cache tiers), written back
//     to the bucket after the answer, through the app's bounded retrying
//     queue; an object under the variant key without r2gate's metadata is
//     never overwritten.
//
// The cache coalesces concurrent requests for one variant, so they make one
// source GET, one resize and one write.

// variantSep separates a source key from the canonical options in a
// variant's cache key. Request paths never hold it (control characters are
// refused with 400), so no object's cache key is a variant's.
const variantSep = "\x1f"

// The user metadata of a variant object in the bucket.
const (
	metaVariant    = "r2gate-variant"     // the canonical options
	metaSourceETag = "r2gate-source-etag" // the source's ETag it was made from
	metaETag       = "r2gate-etag"        // the variant's own derived ETag
	metaWidth      = "r2gate-width"
	metaHeight     = "r2gate-height"
	// metaMade is not stored in the bucket: it marks the Info of a variant
	// answered by the variant source, for Cache-Status (resized or
	// bucket).
	metaMade = "r2gate-made"
)

// variant is one variant asked for.
type variant struct {
	// key is the source's object key.
	key string
	// opts are the canonical options, with format=auto already negotiated
	// (to webp, or to the source's own format).
	opts resize.Options
	// canonical is opts.Canonical().
	canonical string
	// objectKey is where the variant is stored in the bucket, set by
	// variantSource.Get on a miss; "" when the variant_key template cannot
	// hold it (it is then made, cached, never stored).
	objectKey string
}

// cacheKey is the variant's key in the cache, inside the handler's
// namespace.
func (v variant) cacheKey() string { return v.key + variantSep + v.canonical }

// etag is the variant's ETag, made from the source's ETag, the canonical
// options, the encoder quality and resize.PipelineVersion: the same on
// every node running the same pipeline, and new whenever the source
// changes or an upgrade changes the bytes a variant is made of (so a
// strong ETag never names two different bodies, and variants stored by
// an older pipeline are made again once).
func (v variant) etag(sourceETag string, quality int) string {
	sum := sha256.Sum256([]byte(sourceETag + "\x00" + v.canonical + "\x00q" + strconv.Itoa(quality) +
		"\x00p" + strconv.Itoa(resize.PipelineVersion)))
	return `"rv` + hex.EncodeToString(sum[:12]) + `"`
}

// variantSource is the origin.Bucket the cache fetches a variant from:
// its Get finds the variant in the bucket or makes it. Only Get is used.
type variantSource struct {
	origin.Bucket // the handler's bucket, for Head, Put and Delete
	h             *Handler
	v             variant
}

// Get returns the variant (key is the cache's, and ignored). With
// IfNoneMatch set (a stale cache entry being revalidated) it answers
// ErrNotModified when the source has not changed, after a HEAD of the
// source.
func (s *variantSource) Get(ctx context.Context, _ string, opts origin.GetOptions) (*origin.Object, error) {
	if opts.Range != nil {
		// Only a reader of a disk entry whose write failed asks for a
		// range; the variant is not made again for it.
		return nil, &origin.GatewayError{Code: http.StatusBadGateway, Reason: "variant body could not be read",
			Err: errors.New("variants are not read in ranges")}
	}
	quality := s.h.resizer.parser.Quality(s.v.opts)
	// The variant's bucket key is only needed here, on a miss: a hit never
	// pays for the template.
	if vk, err := resize.VariantKey(s.h.resizer.variantKey, s.v.key, s.v.opts); err == nil {
		s.v.objectKey = vk
	}
	var src *origin.Info
	if opts.IfNoneMatch != "" {
		info, err := s.h.bucket.Head(ctx, s.v.key)
		if err != nil {
			return nil, err // a deleted source: the variant is gone too
		}
		if etag := s.v.etag(info.ETag, quality); etag == opts.IfNoneMatch {
			return nil, origin.NotModified(s.v.key, origin.Info{ETag: etag})
		}
		src = &info
	}
	if s.v.objectKey != "" {
		obj, err := s.stored(ctx, src, quality)
		if obj != nil || err != nil {
			return obj, err
		}
	}
	return s.make(ctx, quality)
}

// stored returns the variant object from the bucket when it is there, is
// r2gate's, and was made from the source as it is now (src, or a HEAD of
// the source). It returns nil, nil when the variant must be made.
func (s *variantSource) stored(ctx context.Context, src *origin.Info, quality int) (*origin.Object, error) {
	obj, err := s.h.bucket.Get(ctx, s.v.objectKey, origin.GetOptions{})
	switch {
	case errors.Is(err, origin.ErrNotFound), errors.Is(err, origin.ErrInvalidKey), errors.Is(err, origin.ErrKeyTooLong):
		return nil, nil
	case err != nil:
		return nil, err
	}
	stored := obj.Metadata[metaETag]
	if stored == "" || obj.Size > s.h.resizer.maxSource {
		obj.Body.Close() // not ours: made anew, and never overwritten
		return nil, nil
	}
	if src == nil {
		info, err := s.h.bucket.Head(ctx, s.v.key)
		if err != nil {
			obj.Body.Close()
			return nil, err
		}
		src = &info
	}
	if stored != s.v.etag(src.ETag, quality) {
		obj.Body.Close() // made from an older source
		return nil, nil
	}
	s.h.metrics.resize("stored")
	info := s.info(*src, obj.Size, obj.ContentType, quality, "bucket")
	return &origin.Object{Info: info, Body: obj.Body}, nil
}

// info is the metadata a variant is served with: its own size, type and
// ETag, the source's Last-Modified and Cache-Control.
func (s *variantSource) info(src origin.Info, size int64, contentType string, quality int, made string) origin.Info {
	return origin.Info{
		Key: s.v.key, Size: size, ETag: s.v.etag(src.ETag, quality), LastModified: src.LastModified,
		ContentType: contentType, CacheControl: src.CacheControl,
		Metadata: map[string]string{metaMade: made},
	}
}

// make reads the source, resizes it and hands the variant to the
// write-back queue.
func (s *variantSource) make(ctx context.Context, quality int) (*origin.Object, error) {
	data, src, err := s.h.sourceBytes(ctx, s.v.key)
	if err != nil {
		return nil, err
	}
	res, err := s.h.resizer.proc.Process(ctx, data, s.v.opts, "")
	if errors.Is(err, resize.ErrSVG) {
		// SVG is never rasterised: the variant is the source itself.
		info := s.info(src, int64(len(data)), "image/svg+xml", quality, "resized")
		return &origin.Object{Info: info, Body: io.NopCloser(bytes.NewReader(data))}, nil
	}
	if err != nil {
		return nil, s.h.resizeFailed(s.v, err)
	}
	s.h.metrics.resize("made")
	info := s.info(src, int64(len(res.Body)), res.ContentType, quality, "resized")
	if s.v.objectKey != "" {
		s.h.writeBack(s.v, res, src.ETag, info.ETag)
	}
	return &origin.Object{Info: info, Body: io.NopCloser(bytes.NewReader(res.Body))}, nil
}

// sourceBytes reads the whole source object under key, through the cache
// when the handler has one, refusing one over max_source_size before its
// body is read.
func (h *Handler) sourceBytes(ctx context.Context, key string) ([]byte, origin.Info, error) {
	var body io.Reader
	var info origin.Info
	if h.cache != nil {
		resp, err := h.cache.Get(ctx, h.source, key, h.cacheOpts)
		if err == nil {
			defer resp.Close()
			body, info = resp.Body, resp.Meta.Info
		} else if !isBypass(err) {
			return nil, origin.Info{}, err
		}
	}
	if body == nil {
		obj, err := h.bucket.Get(ctx, key, origin.GetOptions{})
		if err != nil {
			return nil, origin.Info{}, err
		}
		defer obj.Body.Close()
		body, info = obj.Body, obj.Info
	}
	limit := h.resizer.maxSource
	if info.Size > limit {
		return nil, info, errSourceTooLarge(info.Size)
	}
	var data []byte
	var err error
	if info.Size >= 0 {
		// The size is known (cache and bucket answers carry it): one
		// buffer of exactly that size, no growing and copying.
		data = make([]byte, info.Size)
		_, err = io.ReadFull(body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(body, limit+1))
		if err == nil && int64(len(data)) > limit {
			return nil, info, errSourceTooLarge(int64(len(data)))
		}
	}
	if err != nil {
		return nil, info, fmt.Errorf("reading the source %s: %w", origin.QuoteKey(key), err)
	}
	return data, info, nil
}

// errSourceTooLarge is the answer for a source over max_source_size.
func errSourceTooLarge(size int64) error {
	return &origin.GatewayError{Code: http.StatusUnprocessableEntity,
		Reason: "source image larger than max_source_size", Err: fmt.Errorf("%d bytes", size)}
}

// resizeFailed turns a resize error into a *origin.GatewayError with the
// status, and counts it; decoder panics and other server-side failures are
// logged.
func (h *Handler) resizeFailed(v variant, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if status, ok := resize.DecodeStatus(err); ok {
		var de *resize.DecodeError
		errors.As(err, &de)
		if status >= 500 {
			h.metrics.resize("failed")
			if ce := h.logger.Check(zapcore.ErrorLevel, "image decoder failed"); ce != nil {
				ce.Write(zap.String("key", origin.ShortKey(v.key)), zap.Error(err), zap.ByteString("stack", de.Stack))
			}
			return &origin.GatewayError{Code: status, Reason: "the image could not be decoded", Err: err}
		}
		h.metrics.resize("refused")
		return &origin.GatewayError{Code: status, Reason: de.Kind.Error(), Err: err}
	}
	switch {
	case errors.Is(err, resize.ErrQueueFull), errors.Is(err, resize.ErrQueueTimeout):
		h.metrics.resize("busy")
		return &origin.GatewayError{Code: http.StatusServiceUnavailable, Reason: "too many images are being resized; retry shortly",
			RetryAfter: resizeRetryAfter, Err: err}
	case errors.Is(err, resize.ErrFormatRefused):
		h.metrics.resize("refused")
		return &origin.GatewayError{Code: http.StatusUnsupportedMediaType, Reason: "output format not available", Err: err}
	}
	h.metrics.resize("failed")
	if ce := h.logger.Check(zapcore.ErrorLevel, "resize failed"); ce != nil {
		ce.Write(zap.String("key", origin.ShortKey(v.key)), zap.String("options", v.canonical), zap.Error(err))
	}
	return &origin.GatewayError{Code: http.StatusInternalServerError, Reason: "resize failed", Err: err}
}

// writeBack queues the write of a new variant to the bucket. The job asks
// the bucket first: an object under the variant key that r2gate did not
// write is left alone, and one already holding this variant is not
// written again.
func (h *Handler) writeBack(v variant, res *resize.Result, sourceETag, etag string) {
	body, contentType := res.Body, res.ContentType
	meta := map[string]string{
		metaVariant: v.canonical, metaSourceETag: sourceETag, metaETag: etag,
		metaWidth: strconv.Itoa(res.Width), metaHeight: strconv.Itoa(res.Height),
	}
	bucket, m := h.bucket, h.metrics
	err := h.app.writeBacks().Submit(v.objectKey, func(ctx context.Context) error {
		info, err := bucket.Head(ctx, v.objectKey)
		switch {
		case err == nil && info.Metadata[metaETag] == "":
			m.variantWrite("foreign")
			return nil
		case err == nil && info.Metadata[metaETag] == etag:
			m.variantWrite("present")
			return nil
		case err != nil && !errors.Is(err, origin.ErrNotFound):
			return err
		}
		_, err = bucket.Put(ctx, v.objectKey, bytes.NewReader(body), int64(len(body)),
			origin.PutOptions{ContentType: contentType, Metadata: meta})
		if err == nil {
			m.variantWrite("written")
		}
		return err
	})
	if errors.Is(err, retryq.ErrClosed) { // a full queue told OnGiveUp
		m.variantWrite("dropped")
	}
}

// variantDetail is the Cache-Status detail of a variant that was not a
// cache hit: made now, or found in the bucket.
func variantDetail(info origin.Info) string {
	switch info.Metadata[metaMade] {
	case "resized":
		return "variant-resized"
	case "bucket":
		return "variant-stored"
	}
	return ""
}
