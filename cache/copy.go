package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The copiers: the goroutine of each transfer, copying a bucket body into
// its tier while requests read along. Each ends by taking its transfer
// off the cache's lists and closing the bucket's body; fetch cancels the
// bucket request after that.

// copyToDisk streams a bucket body into a pending disk entry and commits
// it.
func (c *Cache) copyToDisk(body io.ReadCloser, t *transfer) {
	pe := t.disk
	defer c.copiers.Done()
	defer body.Close()
	defer c.transfers.remove(t)
	// A body small enough for memory is kept on the way, so the next
	// request is a memory hit.
	fw := &pendingWriter{pe: pe}
	var w io.Writer = fw
	var mem *bodyWriter
	if c.mem != nil && t.meta.Size <= c.mem.maxItem {
		if b, err := c.mem.newBody(t.key, t.meta.Size); err == nil {
			mem = &bodyWriter{b: b}
			w = io.MultiWriter(fw, mem)
			defer func() {
				if mem != nil {
					b.a.free(b)
				}
			}()
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(w, io.LimitReader(body, t.meta.Size), *buf)
	copyBuffers.Put(buf)
	if err == nil && n < t.meta.Size {
		err = fmt.Errorf("%w: %d of %d bytes: %w", errBodyShort, n, t.meta.Size, io.ErrUnexpectedEOF)
	}
	if err == nil {
		// The body must end here. A bucket read stopped after its last
		// byte (Close stops transfers nobody reads any more) loses
		// nothing: the entry is whole, and is committed.
		if eerr := atEOF(body, t.meta.Size); eerr != nil && !errors.Is(eerr, context.Canceled) {
			err = eerr
		}
	}
	diskErr := fw.err
	if err == nil {
		if err = pe.Commit(); err != nil && !errors.Is(err, ErrSizeMismatch) && !errors.Is(err, ErrDiskClosed) {
			diskErr = err
		}
	}
	if err != nil {
		if diskErr != nil {
			c.diskFailed(diskErr)
		}
		pe.Abort()
		return
	}
	c.diskWorked(t.diskEpoch)
	if mem != nil && mem.off == t.meta.Size {
		stored := c.mem.store(t.key, t.meta, mem.b, c.purgedSince(t.purges))
		mem = nil // the tier's now
		if stored {
			c.mem.Wait()
		}
	}
}

// copyToMemory streams a bucket body into a memory load, stores the entry
// when it is whole (unless a purge came meanwhile) and ends the load.
func (c *Cache) copyToMemory(body io.ReadCloser, t *transfer) {
	mf := t.mem
	it := mf.it
	defer c.copiers.Done()
	defer it.release() // the load's reference, last
	defer body.Close()
	err := it.body.copyFrom(body, mf.advance)
	if err == nil && c.mem.insert(it, c.purgedSince(t.purges)) {
		c.mem.Wait() // visible to the next request, which must not fetch again
	}
	c.transfers.remove(t)
	if err != nil {
		mf.fail(fmt.Errorf("cache: reading %q from the bucket: %w", it.key, err))
	}
}

// pendingWriter writes to a pending disk entry and remembers the disk's
// own failure, to tell disk trouble from a bucket read error (and from an
// entry aborted or a tier closed by its owner, which are no trouble).
type pendingWriter struct {
	pe  *Pending
	err error
}

func (w *pendingWriter) Write(p []byte) (int, error) {
	n, err := w.pe.Write(p)
	if err != nil && w.err == nil && !errors.Is(err, ErrAborted) && !errors.Is(err, ErrDiskClosed) {
		w.err = err
	}
	return n, err
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
