package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/r2gate/r2gate/internal/seek"
)

// Reader reads one object as an io.ReadSeekCloser, for http.ServeContent.
// Seeking is free; the first Read after a Seek opens a ranged Get from that
// offset, conditional on the object's ETag (If-Match), so an object replaced
// in between fails the read instead of mixing bytes of two versions. With
// span hints, nearby spans share one Get (see plan.go): a Read that moved
// forward within the open body's window reads on, dropping the bytes in
// between.
//
// Close may be called while another goroutine is blocked in Read (as
// http.ServeContent does with multipart ranges): it cancels the pending
// bucket request first.
type Reader struct {
	bucket Bucket
	info   Info
	plan   readPlan
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	off     int64         // logical position
	body    io.ReadCloser // open body, or nil
	bodyOff int64         // object offset of body's next byte
	bodyEnd int64         // object offset where body ends
	closed  bool
	err     error // first read error, for the caller's log
}

// NewReader returns a Reader over the object described by info. open, if
// not nil, is an object already opened with Get; the Reader takes it over.
// spans are the ranges the caller expects to read (for example parsed from
// a Range header): a Read in a span asks the bucket for the span's window
// (the span merged with its neighbours, see plan.go) instead of everything
// to the end.
func NewReader(ctx context.Context, b Bucket, info Info, open *Object, spans []Range) *Reader {
	ctx, cancel := context.WithCancel(ctx)
	r := &Reader{bucket: b, info: info, plan: planReads(spans, info.Size), ctx: ctx, cancel: cancel}
	if open != nil {
		r.body, r.bodyOff, r.bodyEnd = open.Body, open.Offset, open.Offset+open.Length
	}
	return r
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("read on closed object reader")
	}
	if r.off >= r.info.Size {
		return 0, io.EOF
	}
	if r.body != nil && r.bodyOff != r.off {
		if !r.plan.reuse(r.bodyOff, r.bodyEnd, r.off) {
			r.closeBody()
		} else if err := r.skip(r.off - r.bodyOff); err != nil {
			return 0, err
		}
	}
	if r.body == nil || r.bodyOff >= r.bodyEnd {
		if err := r.open(); err != nil {
			if r.err == nil {
				r.err = err
			}
			return 0, err
		}
	}
	if rest := r.bodyEnd - r.bodyOff; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	r.bodyOff += int64(n)
	switch {
	case r.bodyOff == r.bodyEnd:
		r.finishBody()
		return n, nil
	case err == io.EOF:
		return n, r.fail(io.ErrUnexpectedEOF)
	case err != nil:
		return n, r.fail(err)
	}
	return n, nil
}

// skip drops the next n bytes of the open body.
func (r *Reader) skip(n int64) error {
	m, err := io.CopyN(io.Discard, r.body, n)
	r.bodyOff += m
	switch {
	case err == io.EOF:
		return r.fail(io.ErrUnexpectedEOF)
	case err != nil:
		return r.fail(err)
	}
	return nil
}

// fail closes the body and records err as the Reader's first error.
func (r *Reader) fail(err error) error {
	r.closeBody()
	err = fmt.Errorf("reading %s: %w", QuoteKey(r.info.Key), err)
	if r.err == nil {
		r.err = err
	}
	return err
}

// Err returns the first error a Read met opening or reading the bucket, or
// nil. http.ServeContent drops such errors; the caller can log them.
func (r *Reader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// open starts a ranged Get at r.off, for the rest of its window.
func (r *Reader) open() error {
	r.closeBody()
	length := r.plan.length(r.off)
	opts := GetOptions{IfMatch: r.info.ETag}
	if r.off > 0 || (length >= 0 && length < r.info.Size) {
		opts.Range = &Range{Offset: r.off, Length: length}
	}
	obj, err := r.bucket.Get(r.ctx, r.info.Key, opts)
	if err != nil {
		return err
	}
	if obj.Offset != r.off {
		obj.Body.Close()
		return fmt.Errorf("reading %s: bucket answered from offset %d, want %d", QuoteKey(r.info.Key), obj.Offset, r.off)
	}
	r.body, r.bodyOff, r.bodyEnd = obj.Body, obj.Offset, obj.Offset+obj.Length
	return nil
}

// finishBody closes a body that has delivered all it promised. Reading its
// EOF first lets the HTTP transport reuse the connection.
func (r *Reader) finishBody() {
	var b [1]byte
	_, _ = r.body.Read(b[:])
	r.closeBody()
}

func (r *Reader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// Seek implements io.Seeker. It does no I/O.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	off, err := seek.Offset(r.off, r.info.Size, offset, whence)
	if err != nil {
		return 0, err
	}
	r.off = off
	return off, nil
}

// Close cancels any pending bucket request and releases the body.
func (r *Reader) Close() error {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.closeBody()
	return nil
}
