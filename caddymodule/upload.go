package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/r2gate/r2gate/origin"
)

// serveWrite answers PUT and DELETE on a route with an upload block. The
// key is mapped and checked as for reads; the credential must allow the
// method (see authorize). A PUT streams the body to the bucket (one PUT up
// to part_size, multipart above, a client that goes away aborts it) and
// answers 201 Created for a new key, 200 for a replaced one, with the
// new ETag; DELETE answers 204. Then the key and its variants are purged
// from every cache tier, so the next read sees the write.
func (h *Handler) serveWrite(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength != 0 {
		// Refused before its body is read (401, 403, 413, ...): close
		// the connection after the answer rather than read the body.
		// Without this, net/http tries to drain the body first (Caddy
		// wraps it, so the server cannot tell), and a client waiting
		// for the answer before sending it (Expect: 100-continue) would
		// hang.
		w.Header().Set("Connection", "close")
	}
	key, dir, err := h.objectKey(r.URL.Path)
	if err != nil {
		return fail(w, r, statusOf(err), err.Error())
	}
	if dir {
		return fail(w, r, http.StatusBadRequest, "a write needs an object key, not a folder")
	}
	if reason := h.reservedKey(key); reason != "" {
		return fail(w, r, http.StatusBadRequest, reason)
	}
	grant, ok, err := h.authorize(w, r, key)
	if !ok {
		return err
	}
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
	default:
		w.Header().Set("Retry-After", "1")
		return fail(w, r, http.StatusServiceUnavailable, "too many uploads in progress")
	}
	ctx := r.Context()
	if r.Method == http.MethodDelete {
		if err := h.bucket.Delete(ctx, key); err != nil {
			return h.writeFailed(w, r, key, err)
		}
		h.purgeWritten(key)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}

	limit := h.upload.MaxSize
	if grant.MaxSize > 0 && grant.MaxSize < limit {
		limit = grant.MaxSize
	}
	if r.ContentLength > limit {
		return fail(w, r, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes")
	}
	ctype := r.Header.Get("Content-Type")
	if grant.ContentType != "" && ctype != grant.ContentType {
		return fail(w, r, http.StatusForbidden, "not signed for this Content-Type")
	}
	if ctype == "" {
		ctype = contentType("", key)
	}
	opts := origin.PutOptions{
		ContentType:        ctype,
		CacheControl:       r.Header.Get("Cache-Control"),
		ContentDisposition: r.Header.Get("Content-Disposition"),
		ContentEncoding:    r.Header.Get("Content-Encoding"),
		ContentLanguage:    r.Header.Get("Content-Language"),
		IfMatch:            r.Header.Get("If-Match"),
		IfNoneMatch:        r.Header.Get("If-None-Match"),
		PartSize:           h.upload.PartSize,
		Concurrency:        uploadPartConcurrency,
	}
	if opts.IfNoneMatch != "" && opts.IfNoneMatch != "*" {
		return fail(w, r, http.StatusBadRequest, "If-None-Match on a write must be *")
	}
	if strings.Contains(opts.IfMatch, ",") {
		return fail(w, r, http.StatusBadRequest, "If-Match on a write takes one ETag")
	}
	created := opts.IfNoneMatch == "*"
	if !created && opts.IfMatch == "" {
		_, herr := h.bucket.Head(ctx, key)
		created = errors.Is(herr, origin.ErrNotFound)
	}
	w.Header().Del("Connection") // the body is read now
	body := http.MaxBytesReader(w, r.Body, limit)
	size := r.ContentLength // -1 when the length is unknown (chunked)
	start := time.Now()
	info, err := h.bucket.Put(ctx, key, body, size, opts)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fail(w, r, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes")
		}
		return h.writeFailed(w, r, key, err)
	}
	h.purgeWritten(key)
	if ce := h.logger.Check(zapcore.InfoLevel, "object written"); ce != nil {
		ce.Write(zap.String("key", origin.ShortKey(key)), zap.Int64("bytes", info.Size), zap.Duration("took", time.Since(start)))
	}
	hdr := w.Header()
	if info.ETag != "" {
		hdr.Set("Etag", info.ETag)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	msg := strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
	return nil
}

// writeFailed answers a failed write: nothing when the client went away,
// 412 for an unmet If-Match or If-None-Match, else as a failed read.
func (h *Handler) writeFailed(w http.ResponseWriter, r *http.Request, key string, err error) error {
	if r.Context().Err() != nil {
		return nil // the client went away: the upload was aborted
	}
	if origin.Status(err) == http.StatusPreconditionFailed {
		return fail(w, r, http.StatusPreconditionFailed, "")
	}
	return h.bucketFailed(w, r, key, err)
}

// purgeWritten removes key and its variants from the caches of every
// handler serving this bucket, and forwards the purge to the peers.
func (h *Handler) purgeWritten(key string) {
	h.app.purge("upload", h.Bucket, []string{key}, nil)
}

// reservedKey says why key may not be written, or "": keys holding "?"
// and keys under the variant_key template's fixed prefix are where
// variants live.
func (h *Handler) reservedKey(key string) string {
	if strings.Contains(key, "?") {
		return "keys with ? are reserved for image variants"
	}
	if h.resizer != nil {
		if prefix, _, _ := strings.Cut(h.resizer.variantKey, "{"); prefix != "" && strings.HasPrefix(key, prefix) {
			return "keys under " + prefix + " are reserved for image variants"
		}
	}
	return ""
}
