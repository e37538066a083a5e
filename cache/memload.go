package cache

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// memoryLoad is a bucket body on its way into a memory-tier body: one
// goroutine copies it in (body.copyFrom, telling advance of every piece)
// while requests read it as it grows (BodyRef.load), so a miss without a
// disk tier sends its first byte as soon as the bucket does, not after the
// whole object.
type memoryLoad struct {
	it *memItem // the body; the load holds a reference until it ends

	mu      sync.Mutex
	cond    sync.Cond // on mu: written grew, or err was set
	written atomic.Int64
	err     error // why the load stopped short; on mu
}

// newMemoryLoad starts a load into the body of it, taking over the caller's
// reference to it: the copier releases it when the load ends.
func newMemoryLoad(it *memItem) *memoryLoad {
	l := &memoryLoad{it: it}
	l.cond.L = &l.mu
	return l
}

// advance records n more bytes written.
func (l *memoryLoad) advance(n int64) {
	l.mu.Lock()
	l.written.Add(n)
	l.mu.Unlock()
	l.cond.Broadcast()
}

// fail ends the load short of its size.
func (l *memoryLoad) fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	l.cond.Broadcast()
}

// await waits until n bytes are written, or the load failed. It returns
// how many are written, and the failure when that is fewer than n.
func (l *memoryLoad) await(n int64) (int64, error) {
	if w := l.written.Load(); w >= n {
		return w, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.written.Load() < n && l.err == nil {
		l.cond.Wait()
	}
	w := l.written.Load()
	if w < n {
		return w, l.err
	}
	return w, nil
}

// errBodyShort: the bucket's body ended before its size.
var errBodyShort = errors.New("cache: body shorter than its size")

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
