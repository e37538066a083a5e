package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
)

// stalledBody gives the first `first` bytes of b at once, then waits for
// release before the rest, 64 KiB at a time. It fails when ctx ends, as a
// bucket's body does when its request is cancelled.
type stalledBody struct {
	ctx     context.Context
	b       []byte
	first   int
	release <-chan struct{}
	off     int
}

func (s *stalledBody) Read(p []byte) (int, error) {
	if s.off == len(s.b) {
		return 0, io.EOF
	}
	if s.off == s.first {
		select {
		case <-s.release:
		case <-s.ctx.Done():
			return 0, s.ctx.Err()
		}
	}
	end := min(len(s.b), s.off+len(p), s.off+64<<10)
	if s.off < s.first {
		end = min(end, s.first)
	}
	n := copy(p, s.b[s.off:end])
	s.off += n
	return n, nil
}

// diskFullAt makes the disk's fills fail with ENOSPC past limit bytes.
func diskFullAt(d *Disk, limit int64) {
	d.writeHook = func(file *os.File, key string, off int64, p []byte) (int, error) {
		room := max(limit-off, 0)
		if int64(len(p)) <= room {
			return file.Write(p)
		}
		n, _ := file.Write(p[:room])
		return n, &os.PathError{Op: "write", Path: file.Name(), Err: syscall.ENOSPC}
	}
}

func TestDiskFillReadersGetTheWholeBodyWhenTheDiskIsFull(t *testing.T) {
	const size = 2 << 20
	const readers = 4
	r := newRig(t, true)
	body := testBody(7, size)
	want := sha256.Sum256(body)
	r.b.put("big", body, "")
	release := make(chan struct{})
	r.b.body = func(ctx context.Context, _ string, b []byte) io.Reader {
		return &stalledBody{ctx: ctx, b: b, first: 256 << 10, release: release}
	}
	diskFullAt(r.c.disk, 1<<20)
	var reported []error
	r.c.onDiskError = func(err error) { reported = append(reported, err) }

	attached := make(chan struct{}, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			resp, err := r.c.Get(context.Background(), r.src, "big", r.opts)
			attached <- struct{}{}
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				return
			}
			defer resp.Close()
			h := sha256.New()
			// Some readers start late: a fill read from its middle, or
			// from its first byte after it failed.
			if i%2 == 1 {
				<-release
			}
			n, err := io.Copy(h, resp.Body)
			if err != nil || n != size || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("reader %d: %d of %d bytes, %v; want exactly the source bytes", i, n, size, err)
			}
		})
	}
	for range readers {
		await(t, attached, "a reader attached")
	}
	close(release)
	wg.Wait()
	r.c.Wait()
	ds := r.c.disk.Stats()
	t.Logf("bucket gets %d (ranged %d), disk %+v", r.b.gets.Load(), r.b.ranged.Load(), ds)
	if ds.Full != 1 || ds.Entries != 0 || ds.Reserved != 0 {
		t.Errorf("disk after the failed fill: %+v; want one full write, nothing kept", ds)
	}
	// Each reader goes on from the bucket at its offset: a ranged GET, or
	// a whole one for a reader that had read nothing yet when it failed.
	if n := r.b.gets.Load() - 1; n < 1 || n > readers {
		t.Errorf("%d bucket gets after the first, want 1 to %d (one per reader at most)", n, readers)
	}
	if len(reported) != 1 {
		t.Errorf("disk failure reported %d times, want once", len(reported))
	}
}
