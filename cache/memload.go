package cache

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// memFill is a bucket body on its way into a memory-tier body. Requests
// read it as it grows (BodyRef.fill), so a miss without a disk tier sends
// its first byte as soon as the bucket does, not after the whole object.
type memFill struct {
	it *memItem // the body; the fill holds a reference until it ends

	mu      sync.Mutex
	cond    sync.Cond // on mu: written grew, or err was set
	written atomic.Int64
	err     error // why the fill stopped short; on mu
}

func newMemFill(it *memItem) *memFill {
	f := &memFill{it: it}
	f.cond.L = &f.mu
	return f
}

// advance records n more bytes written.
func (f *memFill) advance(n int64) {
	f.mu.Lock()
	f.written.Add(n)
	f.mu.Unlock()
	f.cond.Broadcast()
}

// fail ends the fill short of its size.
func (f *memFill) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	f.cond.Broadcast()
}

// await waits until n bytes are written, or the fill failed. It returns
// how many are written, and the failure when that is fewer than n.
func (f *memFill) await(n int64) (int64, error) {
	if w := f.written.Load(); w >= n {
		return w, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.written.Load() < n && f.err == nil {
		f.cond.Wait()
	}
	w := f.written.Load()
	if w < n {
		return w, f.err
	}
	return w, nil
}

// errFillShort: the bucket's body ended before its size.
var errFillShort = errors.New("cache: body shorter than its size")

// copyToMemory streams a bucket body into a memory fill, stores the entry
// when it is whole (unless a purge came meanwhile) and ends the fill.
func (c *Cache) copyToMemory(body io.ReadCloser, ckey string, f *fetched) {
	mf := f.mfill
	it := mf.it
	defer c.fills.Done()
	defer it.release() // the fill's reference, last
	defer body.Close()
	err := it.body.fill(body, mf.advance)
	if err == nil && c.purges.Load() == f.purges && c.mem.insert(it) {
		c.mem.Wait() // visible to the next request, which must not fetch again
	}
	c.endFill(ckey, f)
	if err != nil {
		mf.fail(fmt.Errorf("cache: reading %q from the bucket: %w", it.key, err))
	}
}

// atEOF checks that r has nothing left after a body of size bytes.
func atEOF(r io.Reader, size int64) error {
	var one [1]byte
	for range 100 {
		n, err := r.Read(one[:])
		switch {
		case n > 0:
			return fmt.Errorf("body longer than its %d bytes", size)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}
