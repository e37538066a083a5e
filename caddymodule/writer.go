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
//   - a file (a disk hit) sent whole goes to the next writer's ReadFrom as
//     the bare *os.File, so that it reaches sendfile even through Caddy's
//     write-idle wrapper (which wraps what it is given in an
//     io.LimitedReader per chunk: a LimitedReader of a LimitedReader is no
//     longer a file to net, and was copied through a fresh 32 KiB buffer
//     per 64 KiB); the wrapper's chunks are widened to writeChunk for the
//     call, so the idle deadline is still renewed at every chunk;
//   - a part of a file goes to the next ReadFrom when no write-idle
//     wrapper is in the chain (sendfile then), else it is copied;
//   - anything else is copied through a pooled buffer.
//
// Without it, Caddy's write-idle wrapper hands the body to net/http in
// 64 KiB pieces and each piece gets a new 32 KiB copy buffer: half a MiB of
// garbage for every MiB served, and a garbage collection every few dozen
// responses under load.
type bodyWriter struct {
	http.ResponseWriter
	// size is the object's size: a file body of that many bytes is the
	// whole file (a disk entry's file holds the body alone).
	size int64
}

// writeChunk is the most a single write or sendfile call of a response
// covers while r2gate writes it (Caddy's default is 64 KiB): the client's
// write-idle deadline is renewed before each, so a client must take at
// least this much per write_idle timeout (1 MiB a minute by default).
// nginx's sendfile_max_chunk is 2 MiB.
const writeChunk = 1 << 20

// defaultWriteChunk is Caddy's own chunk (caddyhttp.DefaultMaxWriteChunk):
// a body no larger is written in one piece anyway.
const defaultWriteChunk = caddyhttp.DefaultMaxWriteChunk

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
		if body.Size() > defaultWriteChunk {
			defer widenChunks(w.ResponseWriter)()
		}
		if n < 0 {
			return body.WriteTo(w.ResponseWriter)
		}
		written, err := body.WriteToN(w.ResponseWriter, n)
		r.(*io.LimitedReader).N -= written
		return written, err
	case *os.File:
		rf, ok := w.ResponseWriter.(io.ReaderFrom)
		switch {
		case ok && n == w.size && w.size > 0:
			// The whole file (n bytes from 0 of an n-byte file): hand
			// over the file itself.
			defer widenChunks(w.ResponseWriter)()
			written, err := rf.ReadFrom(body)
			r.(*io.LimitedReader).N -= written
			return written, err
		case ok && idleWriter(w.ResponseWriter) == nil:
			return rf.ReadFrom(r)
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, r, *buf)
}

// widenChunks makes the write-idle wrapper in w's chain, if any, write
// in pieces of writeChunk (its timeout and minimum rate unchanged) until
// the returned function is called.
func widenChunks(w http.ResponseWriter) (restore func()) {
	if iw := idleWriter(w); iw != nil && iw.MaxChunk < writeChunk {
		return iw.Override(iw.Deadline.Timeout, iw.Deadline.MinRate, writeChunk)
	}
	return func() {}
}

// idleWriter returns Caddy's write-idle wrapper in w's chain, or nil.
func idleWriter(w http.ResponseWriter) *caddyhttp.IdleTimeoutWriter {
	for range 16 {
		if iw, ok := w.(*caddyhttp.IdleTimeoutWriter); ok {
			return iw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// writerOnly hides a writer's ReadFrom, so io.CopyBuffer uses the buffer.
type writerOnly struct{ io.Writer }

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
