package caddymodule

import (
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/r2gate/r2gate/cache"
)

// bodyWriter is the ResponseWriter r2gate gives http.ServeContent. Its
// ReadFrom is where a response body is copied to the client:
//
//   - a memory-tier body goes out straight from the tier's memory, a unit
//     at a time, with no copy and no allocation;
//   - a file (a disk hit) goes to the next writer's ReadFrom, so that
//     sendfile is used when Caddy's writers allow it;
//   - anything else is copied through a pooled buffer.
//
// Without it, Caddy's write-idle wrapper hands the body to net/http in
// 64 KiB pieces and each piece gets a new 32 KiB copy buffer: half a MiB of
// garbage for every MiB served, and a garbage collection every few dozen
// responses under load.
type bodyWriter struct {
	http.ResponseWriter
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w bodyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom implements io.ReaderFrom.
func (w bodyWriter) ReadFrom(r io.Reader) (int64, error) {
	src := r
	n := int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, n = lr.R, lr.N
	}
	switch body := src.(type) {
	case *cache.BodyRef:
		if n < 0 {
			return body.WriteTo(w.ResponseWriter)
		}
		written, err := body.WriteToN(w.ResponseWriter, n)
		r.(*io.LimitedReader).N -= written
		return written, err
	case *os.File:
		if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !chunksWrites(w.ResponseWriter) {
			return rf.ReadFrom(r)
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, r, *buf)
}

// chunksWrites reports whether Caddy's write-idle wrapper is among the
// writers: it cuts a ReadFrom into 64 KiB pieces that each miss sendfile,
// so a pooled copy is cheaper.
func chunksWrites(w http.ResponseWriter) bool {
	for range 16 {
		if _, ok := w.(*caddyhttp.IdleTimeoutWriter); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return true
}

// writerOnly hides a writer's ReadFrom, so io.CopyBuffer uses the buffer.
type writerOnly struct{ io.Writer }

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
