package caddymodule

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/r2gate/r2gate/origin"
)

// ServeHTTP serves the object the request path names.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return fail(w, r, http.StatusMethodNotAllowed, "")
	}
	key, dir, err := h.objectKey(r.URL.Path)
	if err != nil {
		return fail(w, r, statusOf(err), err.Error())
	}
	ctx := r.Context()
	obj, info, err := h.open(ctx, r, key, dir)
	if err != nil {
		if errors.Is(err, origin.ErrNotFound) {
			if !dir && h.redirectToFolder(ctx, w, r, key) {
				return nil
			}
			if h.PassThru {
				return next.ServeHTTP(w, r)
			}
		}
		if errors.Is(err, context.Canceled) {
			return nil // the client went away; nobody to answer
		}
		status := origin.Status(err)
		if status >= 500 {
			if ce := h.logger.Check(zapcore.ErrorLevel, "bucket request failed"); ce != nil {
				ce.Write(zap.String("key", key), zap.Error(err))
			}
		}
		return fail(w, r, status, "")
	}

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

	var spans []origin.Range
	if rng := r.Header.Get("Range"); rng != "" && r.Header.Get("If-Range") == "" {
		spans = rangeSpans(rng, info.Size)
	}
	body := origin.NewReader(ctx, h.bucket, info, obj, spans)
	defer body.Close()
	http.ServeContent(w, r, "", info.LastModified, body)
	if err := body.Err(); err != nil && !errors.Is(err, context.Canceled) {
		if ce := h.logger.Check(zapcore.WarnLevel, "response cut short: bucket read failed"); ce != nil {
			ce.Write(zap.String("key", info.Key), zap.Error(err))
		}
	}
	return nil
}

// open finds the object for key (or, for a folder, its first index object
// that exists). A plain GET opens the body at once, in one bucket request;
// anything with a Range or a condition asks for the metadata only, and
// http.ServeContent decides what to read.
func (h *Handler) open(ctx context.Context, r *http.Request, key string, dir bool) (*origin.Object, origin.Info, error) {
	plain := r.Method == http.MethodGet && r.Header.Get("Range") == "" &&
		r.Header.Get("If-Match") == "" && r.Header.Get("If-None-Match") == "" &&
		r.Header.Get("If-Modified-Since") == "" && r.Header.Get("If-Unmodified-Since") == ""
	candidates := []string{key}
	if dir {
		candidates = candidates[:0]
		for _, name := range h.IndexNames {
			candidates = append(candidates, key+name)
		}
	}
	err := error(origin.ErrNotFound)
	for _, k := range candidates {
		if plain {
			var obj *origin.Object
			if obj, err = h.bucket.Get(ctx, k, origin.GetOptions{}); err == nil {
				return obj, obj.Info, nil
			}
		} else {
			var info origin.Info
			if info, err = h.bucket.Head(ctx, k); err == nil {
				return nil, info, nil
			}
		}
		if !errors.Is(err, origin.ErrNotFound) {
			break
		}
	}
	return nil, origin.Info{}, err
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
	if _, err := h.bucket.Head(ctx, key+"/"+h.IndexNames[0]); err != nil {
		return false
	}
	target += "/"
	if orig.URL.RawQuery != "" {
		target += "?" + orig.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusPermanentRedirect)
	return true
}

// contentType returns the object's Content-Type, or one guessed from the
// key's extension when the bucket has only a generic one.
func contentType(stored, key string) string {
	switch stored {
	case "", "application/octet-stream", "binary/octet-stream":
		if t := mime.TypeByExtension(path.Ext(key)); t != "" {
			return t
		}
		return "application/octet-stream"
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
