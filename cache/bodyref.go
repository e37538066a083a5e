package cache

import (
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/r2gate/r2gate/internal/seek"
)

// Ownership of memory-tier bodies.
//
// A body (slab.go) belongs to one memItem and goes back to the allocator
// when the item's reference count, memItem.refs, drops to zero. The
// references are:
//
//   - the tier's own: taken by insert when ristretto is handed the item,
//     released by ristretto's OnExit when the item leaves the store
//     (eviction, rejection, deletion, replacement, Close);
//   - one per open BodyRef: taken by Memory.Get, Clone, or a reader of a
//     memoryLoad, released by that BodyRef's Close (a Response's Close
//     closes it);
//   - the creator's, from newMemItem: a memoryLoad's until the load ends
//     (the copier releases it, whether the tier took the item or not),
//     Memory.store's for the call, Memory.put's becomes its BodyRef's;
//   - one per call in progress: pin holds one while a BodyRef reads, so a
//     Close from another goroutine never frees bytes under a read.
//
// A coalesced fetch result (fetchResult) with a memory body holds one BodyRef
// of its own; each waiter gets a Clone (fetchResult.Share), and the result's
// own is closed once, after the last waiter (fetchResult.Release). Handing a
// BodyRef on (into a Response, to another goroutine) hands on its
// reference: the receiver closes it, the giver no longer uses it. Every
// BodyRef must be closed; Close is idempotent.
//
// No []byte taken from a body (body.piece, body.run, what WriteTo hands a
// writer) may be kept past the Write or call it was given to: once the
// last reference goes, its pages are given back to the kernel, or
// unmapped. An allocator closes only when no body is in use (slab.go), so
// references taken before Memory.Close stay readable until they close.

// BodyRef is a counted reference to an object held by the memory tier: an
// io.ReadSeeker and io.ReaderAt over its bytes, with the metadata it was
// stored with. The bytes stay valid, even if the entry is evicted or
// purged meanwhile, until Close. One goroutine reads a BodyRef at a time
// (Clone gives another), but Close may come from another goroutine while a
// read is under way (http.ServeContent's multipart writer outlives it): the
// read holds the bytes until it returns, and later reads fail.
type BodyRef struct {
	// Meta is the entry's metadata when the reference was taken.
	Meta Meta

	it   atomic.Pointer[memItem]
	size int64
	off  int64
	// load is the memoryLoad writing the body, if it was running when the
	// reference was taken: reads wait for it. Set once, never changed, so
	// Clone may copy it from any goroutine.
	load *memoryLoad
	// metaRef is the entry's metadata pointer Meta was copied from (a
	// memory-tier lookup's), for Annotation; nil otherwise.
	metaRef *Meta
}

// newBodyRef wraps a reference already taken on it.
func newBodyRef(it *memItem, meta Meta) *BodyRef {
	r := &BodyRef{Meta: meta, size: it.body.size}
	r.it.Store(it)
	return r
}

// initBodyRef makes *r, a zero BodyRef, a reference to it (already taken)
// with the metadata meta points to.
func initBodyRef(r *BodyRef, it *memItem, meta *Meta) {
	r.Meta, r.size, r.metaRef = *meta, it.body.size, meta
	r.it.Store(it)
}

// annotation is what SetAnnotation stored, with the metadata it was made
// for.
type annotation struct {
	meta *Meta
	v    any
}

// Annotation returns the value SetAnnotation stored on this entry for the
// metadata the reference was taken with, or nil: a caller's cache of what
// it derives from an entry (an HTTP handler's formatted headers), which
// lives as long as the entry and is dropped when its metadata changes (a
// revalidation). References that did not come from a memory-tier lookup
// have none.
func (r *BodyRef) Annotation() any {
	it := r.it.Load()
	if it == nil || r.metaRef == nil {
		return nil
	}
	if a := it.annot.Load(); a != nil && a.meta == r.metaRef {
		return a.v
	}
	return nil
}

// SetAnnotation stores v on the entry for the reference's metadata (see
// Annotation); the last store wins. v must not change once stored: other
// requests read it at the same time.
func (r *BodyRef) SetAnnotation(v any) {
	if it := r.it.Load(); it != nil && r.metaRef != nil {
		it.annot.Store(&annotation{meta: r.metaRef, v: v})
	}
}

// pin returns the item with a reference held for one call (release it), or
// nil once the BodyRef is closed.
func (r *BodyRef) pin() *memItem {
	it := r.it.Load()
	if it == nil || !it.acquire() {
		return nil
	}
	return it
}

// Size is the body's length.
func (r *BodyRef) Size() int64 { return r.size }

// Read implements io.Reader.
func (r *BodyRef) Read(p []byte) (int, error) {
	it := r.pin()
	if it == nil {
		return 0, os.ErrClosed
	}
	defer it.release()
	b := it.body
	if r.off >= b.size {
		return 0, io.EOF
	}
	end, err := r.available(r.off, r.off+int64(len(p)))
	if err != nil {
		return 0, err
	}
	n, _ := b.ReadAt(p[:end-r.off], r.off) // all there: no error
	r.off += int64(n)
	return n, nil
}

// available returns how far, up to want, the body can be read from off
// on, waiting for a load in progress to write at least one byte past off.
func (r *BodyRef) available(off, want int64) (int64, error) {
	want = min(want, r.size)
	if r.load == nil || off >= want {
		return want, nil
	}
	written, err := r.load.await(off + 1) // one atomic load once complete
	if written <= off {
		return 0, err
	}
	return min(want, written), nil
}

// WriteTo implements io.WriterTo: it hands w the body's own memory from
// the current position to the end, a unit at a time, without copying.
func (r *BodyRef) WriteTo(w io.Writer) (int64, error) {
	return r.WriteToN(w, r.size-r.off)
}

// WriteToN is WriteTo that stops after n bytes (fewer at the end of the
// body), as io.CopyN(w, r, n) would. Runs of adjacent units go out in one
// Write; short runs (the 4 KiB pages of a tail) are gathered through a
// pooled buffer first, so a body costs about one Write per 64 KiB.
func (r *BodyRef) WriteToN(w io.Writer, n int64) (int64, error) {
	it := r.pin()
	if it == nil {
		return 0, os.ErrClosed
	}
	defer it.release()
	end := min(r.off+max(n, 0), it.body.size)
	if r.load != nil {
		return r.followLoad(w, it.body, end)
	}
	return r.writeUpTo(w, it.body, end)
}

// writeUpTo writes b from r.off to end, all of it there already.
func (r *BodyRef) writeUpTo(w io.Writer, b *body, end int64) (int64, error) {
	var buf *[]byte
	pending := 0 // bytes gathered in buf, from r.off on
	var written int64
	flush := func(p []byte) error {
		m, err := w.Write(p)
		written += int64(m)
		r.off += int64(m)
		if err == nil && m < len(p) {
			err = io.ErrShortWrite
		}
		return err
	}
	defer func() {
		if buf != nil {
			gatherBuffers.Put(buf)
		}
	}()
	for pos := r.off; pos < end; {
		p := b.run(pos, end)
		if pending == 0 && len(p) >= gatherMin {
			if err := flush(p); err != nil {
				return written, err
			}
			pos = r.off
			continue
		}
		if buf == nil {
			buf = gatherBuffers.Get().(*[]byte)
		}
		c := copy((*buf)[pending:], p)
		pending += c
		pos += int64(c)
		if pending == len(*buf) || pos == end {
			if err := flush((*buf)[:pending]); err != nil {
				return written, err
			}
			pending = 0
		}
	}
	return written, nil
}

// gatherMin is the shortest run of a body written as it is; shorter ones
// are gathered into a buffer of gatherBuffers first.
const gatherMin = 32 << 10

var gatherBuffers = sync.Pool{New: func() any { b := make([]byte, gatherSize); return &b }}

// gatherSize is the size of a gathering buffer.
const gatherSize = 64 << 10

// followLoad writes the body from r.off to end as a load in progress
// writes it.
func (r *BodyRef) followLoad(w io.Writer, b *body, end int64) (int64, error) {
	var written int64
	for r.off < end {
		avail, err := r.available(r.off, end)
		if err != nil {
			return written, err
		}
		n, err := r.writeUpTo(w, b, avail)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// ReadAt implements io.ReaderAt.
func (r *BodyRef) ReadAt(p []byte, off int64) (int, error) {
	it := r.pin()
	if it == nil {
		return 0, os.ErrClosed
	}
	defer it.release()
	if r.load != nil && off < r.size {
		if _, err := r.load.await(min(off+int64(len(p)), r.size)); err != nil {
			return 0, err // the load failed before these bytes
		}
	}
	return it.body.ReadAt(p, off)
}

// Seek implements io.Seeker.
func (r *BodyRef) Seek(offset int64, whence int) (int64, error) {
	if r.it.Load() == nil {
		return 0, os.ErrClosed
	}
	off, err := seek.Offset(r.off, r.size, offset, whence)
	if err != nil {
		return 0, err
	}
	r.off = off
	return off, nil
}

// Clone returns another reference to the same bytes, positioned at their
// start, with a reference of its own: close both, in any order. The clone
// of a body still loading waits for the load as the original does, so it
// reads the whole body too. Clone may be called from any goroutine.
func (r *BodyRef) Clone() *BodyRef {
	it := r.pin() // the clone's reference
	if it == nil {
		panic("cache: Clone of a closed BodyRef")
	}
	c := newBodyRef(it, r.Meta)
	c.load, c.metaRef = r.load, r.metaRef
	return c
}

// Close releases the reference. Later calls do nothing.
func (r *BodyRef) Close() error {
	if it := r.it.Swap(nil); it != nil {
		it.release()
	}
	return nil
}
