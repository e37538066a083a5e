package cache

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/r2gate/r2gate/origin"
)

// startLoad begins a memory load of size bytes under key, copied from the
// returned pipe on a goroutine of its own (done is closed when it ends),
// and returns a reader's reference to it, as a fetch hands out.
func startLoad(t *testing.T, m *Memory, key string, size int64) (ref *BodyRef, pw *io.PipeWriter, done <-chan struct{}) {
	t.Helper()
	b, err := m.newBody(key, size)
	if err != nil {
		t.Fatal(err)
	}
	meta := Meta{Info: origin.Info{Key: key, Size: size}}
	it := newMemItem(key, meta, b) // the load's reference
	load := newMemoryLoad(it)
	it.acquire() // the reader's
	ref = newBodyRef(it, meta)
	ref.load = load
	pr, pw := io.Pipe()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer it.release()
		if err := it.body.copyFrom(pr, load.advance); err != nil {
			load.fail(err)
		}
	}()
	return ref, pw, ch
}

func TestBodyRefCloneOfALoadingBodyReadsItWhole(t *testing.T) {
	const size = 300<<10 + 123
	want := randomBytes(21, size)
	for _, cloneFirst := range []bool{false, true} {
		name := "original closed first"
		if cloneFirst {
			name = "clone closed first"
		}
		t.Run(name, func(t *testing.T) {
			m := newTestMemory(t, 4<<20, 1<<20)
			orig, pw, loaded := startLoad(t, m, "k", size)
			early := orig.Clone() // before any byte arrived
			if _, err := pw.Write(want[:100<<10]); err != nil {
				t.Fatal(err)
			}
			late := orig.Clone() // part of the body there

			// Four readers at once, as the body arrives: Read, WriteTo
			// (the unit-at-a-time path), and ReadAt far ahead.
			var wg sync.WaitGroup
			got := make([][]byte, 3)
			for i, r := range []*BodyRef{orig, early, late} {
				wg.Go(func() {
					var buf bytes.Buffer
					var err error
					if i == 1 {
						_, err = r.WriteTo(&buf)
					} else {
						_, err = io.Copy(&buf, struct{ io.Reader }{r}) // Read only
					}
					if err != nil {
						t.Errorf("reader %d: %v", i, err)
					}
					got[i] = buf.Bytes()
				})
			}
			tail := make([]byte, 1000)
			var tailN int
			var tailErr error
			wg.Go(func() { tailN, tailErr = late.ReadAt(tail, size-1000) })
			for off := 100 << 10; off < size; off += 7000 {
				if _, err := pw.Write(want[off:min(off+7000, size)]); err != nil {
					t.Fatal(err)
				}
			}
			pw.Close()
			wg.Wait()
			for i, g := range got {
				if !bytes.Equal(g, want) {
					t.Errorf("reader %d: %d bytes, want the %d of the body, unchanged", i, len(g), size)
				}
			}
			if tailN != 1000 || tailErr != nil || !bytes.Equal(tail, want[size-1000:]) {
				t.Errorf("ReadAt of the tail = %d, %v; wrong bytes", tailN, tailErr)
			}
			<-loaded // the load let go of its reference

			first, second := orig, early
			if cloneFirst {
				first, second = early, orig
			}
			first.Close()
			if _, err := second.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if again, err := io.ReadAll(second); err != nil || !bytes.Equal(again, want) {
				t.Errorf("after the other reference closed: %d bytes, %v", len(again), err)
			}
			second.Close()
			if n := m.alloc.inUseBytes(); n != allocatedSize(size) {
				t.Errorf("%d bytes in use with one reference left, want its %d", n, allocatedSize(size))
			}
			late.Close()
			if n := m.alloc.inUseBytes(); n != 0 {
				t.Errorf("%d bytes in use after every reference closed", n)
			}
		})
	}
}

func TestBodyRefCloneSeesALoadFailure(t *testing.T) {
	m := newTestMemory(t, 4<<20, 1<<20)
	orig, pw, loaded := startLoad(t, m, "k", 200<<10)
	c := orig.Clone()
	orig.Close() // the clone holds on by itself
	pw.Write(make([]byte, 50<<10))
	pw.CloseWithError(io.ErrClosedPipe)
	got, err := io.ReadAll(c)
	if err == nil || len(got) != 50<<10 {
		t.Errorf("clone of a failed load: %d bytes, %v; want the 50 KiB sent and the failure", len(got), err)
	}
	<-loaded
	c.Close()
	if n := m.alloc.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after every reference closed", n)
	}
}
