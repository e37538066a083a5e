package cache

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/r2gate/r2gate/origin"
)

// diskFollower is one request's reader of a disk entry being written (a
// Pending). It reads the entry as it is written; when that fails (the disk
// is full, the tier closed, the bucket's body broke off) it goes on from
// the bucket at its offset, with a ranged GET conditional on the object's
// ETag (If-Match), so its request gets the whole body, or an error, but
// never a body cut short without one nor the bytes of two versions.
//
// One goroutine reads and seeks; Close may come from another while a Read
// waits (http.ServeContent's multipart writer outlives it).
type diskFollower struct {
	ctx    context.Context // the request's: the bucket reads end with it
	bucket origin.Bucket
	info   origin.Info
	off    int64 // the reader's position; for the reading goroutine only

	mu         sync.Mutex
	pending    io.ReadSeekCloser // the entry's reader, until writing it fails
	fromBucket *origin.Reader    // after that
	closed     bool
	onClose    func() // run once by Close
}

func newDiskFollower(ctx context.Context, bucket origin.Bucket, info origin.Info, pending io.ReadSeekCloser, onClose func()) *diskFollower {
	return &diskFollower{ctx: ctx, bucket: bucket, info: info, pending: pending, onClose: onClose}
}

// Read implements io.Reader.
func (r *diskFollower) Read(p []byte) (int, error) {
	r.mu.Lock()
	pending, bucket, closed := r.pending, r.fromBucket, r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return 0, os.ErrClosed
	case bucket != nil:
		n, err := bucket.Read(p)
		r.off += int64(n)
		return n, err
	}
	n, err := pending.Read(p)
	r.off += int64(n)
	if err == nil || err == io.EOF || errors.Is(err, os.ErrClosed) || r.info.ETag == "" {
		return n, err // without an ETag the bucket's bytes could be another version's
	}
	if bucket = r.switchToBucket(); bucket == nil {
		return n, err // closed meanwhile
	}
	if n > 0 {
		return n, nil
	}
	n, err = bucket.Read(p)
	r.off += int64(n)
	return n, err
}

// switchToBucket drops the failed entry's reader for a bucket reader at the
// current offset, or returns nil if the follower was closed meanwhile.
func (r *diskFollower) switchToBucket() *origin.Reader {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	pending := r.pending
	b := origin.NewReader(r.ctx, r.bucket, r.info, nil, nil)
	b.Seek(r.off, io.SeekStart) // cannot fail: r.off >= 0
	r.pending, r.fromBucket = nil, b
	r.mu.Unlock()
	pending.Close()
	return b
}

// Seek implements io.Seeker; it never waits.
func (r *diskFollower) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	var s io.Seeker = r.pending
	if r.fromBucket != nil {
		s = r.fromBucket
	}
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return 0, os.ErrClosed
	}
	off, err := s.Seek(offset, whence)
	if err == nil {
		r.off = off
	}
	return off, err
}

// Close releases the entry's reader or the bucket's; a Read waiting on
// the entry returns os.ErrClosed. Later calls do nothing.
func (r *diskFollower) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	pending, bucket, onClose := r.pending, r.fromBucket, r.onClose
	r.mu.Unlock()
	if pending != nil {
		pending.Close()
	}
	if bucket != nil {
		bucket.Close()
	}
	if onClose != nil {
		onClose()
	}
	return nil
}
