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
//   - a file (a disk hit, whole or a Range of it) goes to the next
//     ReadFrom as one io.LimitedReader of the file (sendfile) when no
//     write-idle wrapper is in the chain; under one (Caddy's default) it
//     goes through the wrapper's own loop, with the writer beneath the
//     wrapper swapped for one that hands each chunk down as a single
//     io.LimitedReader of the file and never past the part (see
//     sendPart): every chunk is a sendfile call under the wrapper's
//     deadline and minimum rate, in chunks widened to writeChunk. (The
//     wrapper wraps what it is given in an io.LimitedReader per chunk: a
//     LimitedReader of a LimitedReader is no longer a file to net, and
//     was copied through a fresh 32 KiB buffer per 64 KiB.) On HTTP/2,
//     where nothing sends a file, it is copied;
//   - anything else is copied through a pooled buffer.
//
// Without it, Caddy's write-idle wrapper hands the body to net/http in
// 64 KiB pieces and each piece gets a new 32 KiB copy buffer: half a MiB of
// garbage for every MiB served, and a garbage collection every few dozen
// responses under load.
type bodyWriter struct {
	http.ResponseWriter
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
		if !ok || n < 0 {
			break
		}
		iw := idleWriter(w.ResponseWriter)
		if iw == nil {
			return rf.ReadFrom(r) // one LimitedReader of the file: sendfile
		}
		if below, ok := iw.ResponseWriterWrapper.ResponseWriter.(io.ReaderFrom); ok && !iw.ClearBetweenWrites {
			written, err := sendPart(rf, iw, below, body, n)
			r.(*io.LimitedReader).N -= written
			return written, err
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, r, *buf)
}

// sendPart sends the next n bytes of f, from its offset, through rf (the
// chain above iw, Caddy's write-idle wrapper), so that iw's own loop sets
// its deadline before every chunk and counts the bytes for its minimum
// rate; for the call, the writer beneath iw is a partWriter (see
// bodyWriter). Only for HTTP/1: on HTTP/2 iw clears its deadline between
// writes, and nothing below it sends a file.
func sendPart(rf io.ReaderFrom, iw *caddyhttp.IdleTimeoutWriter, below io.ReaderFrom, f *os.File, n int64) (int64, error) {
	wrapper := iw.ResponseWriterWrapper
	saved := wrapper.ResponseWriter
	pw := &partWriter{ResponseWriter: saved, below: below, f: f, left: n}
	wrapper.ResponseWriter = pw
	defer func() { wrapper.ResponseWriter = saved }()
	defer widenChunks(iw)()
	// A writer above iw that copies instead of calling ReadFrom reads
	// the part through partReader, and the part stays exact either way.
	return rf.ReadFrom(partReader{pw})
}

// partWriter is the writer beneath the write-idle wrapper during sendPart.
type partWriter struct {
	http.ResponseWriter
	below io.ReaderFrom
	f     *os.File
	left  int64 // bytes of the part not sent yet
}

// ReadFrom sends min(chunk, left) bytes of the file below, chunk being
// what the wrapper's io.LimitedReader allows; the reader itself is not
// read (it is the part's partReader).
func (p *partWriter) ReadFrom(r io.Reader) (int64, error) {
	k := p.left
	lr, limited := r.(*io.LimitedReader)
	if limited {
		k = min(k, lr.N)
	}
	if k <= 0 {
		return 0, nil
	}
	n, err := p.below.ReadFrom(&io.LimitedReader{R: p.f, N: k})
	p.left -= n
	if limited {
		lr.N -= n
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (p *partWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// partReader reads the part's remaining bytes of the file.
type partReader struct{ p *partWriter }

func (r partReader) Read(b []byte) (int, error) {
	if r.p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > r.p.left {
		b = b[:r.p.left]
	}
	n, err := r.p.f.Read(b)
	r.p.left -= int64(n)
	return n, err
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
