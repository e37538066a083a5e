package cache

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The memory tier keeps bodies outside the Go heap. On the heap, a tier
// holding 256 MiB of bodies lets the garbage collector grow the heap to
// about twice that before it collects (GOGC=100): a memory bound of 256 MiB
// meant 600 MiB of RSS under churn. Outside it, the bodies cost what they
// weigh, are returned to the kernel the moment the last reader lets go, and
// the Go heap stays small.
//
// A body is a list of units from two slabs: 64 KiB chunks for the bulk and
// 4 KiB pages for the tail, so at most one page minus a byte is wasted per
// body and a body of n bytes takes at most n/64Ki + 16 units. Units come
// from anonymous memory mappings (arenas) of 4 MiB and 1 MiB; a freed unit
// goes back to its slab's free list after madvise(MADV_DONTNEED), so its
// pages leave the RSS at once and a later use faults in zeroed pages.
// Arenas stay mapped (address space, not memory) until the tier is closed
// and no body is in use. Where anonymous mappings are unavailable the units
// are ordinary Go memory.

const (
	pageUnit   = 4 << 10
	chunkUnit  = 64 << 10
	pageArena  = 1 << 20
	chunkArena = 4 << 20
)

// errSlabClosed is returned by alloc once the allocator is closed.
var errSlabClosed = errors.New("cache: memory tier closed")

// slab hands out units of one size from arenas.
type slab struct {
	unit, arena int

	mu     sync.Mutex
	free   [][]byte // free units, full length; popped from the end
	arenas [][]byte // every arena mapped
}

// get returns n units, mapping arenas as needed.
func (s *slab) get(n int, out [][]byte) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.free) < n {
		a, err := mapArena(s.arena)
		if err != nil {
			return out, fmt.Errorf("cache: mapping %d bytes for the memory tier: %w", s.arena, err)
		}
		s.arenas = append(s.arenas, a)
		// Pushed from the top down, so consecutive gets from a new arena
		// return ascending, adjacent units.
		for off := len(a) - s.unit; off >= 0; off -= s.unit {
			s.free = append(s.free, a[off:off+s.unit:off+s.unit])
		}
	}
	for range n {
		u := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		out = append(out, u)
	}
	return out, nil
}

// put returns units to the slab after giving their pages back to the
// kernel (adjacent units in one call).
func (s *slab) put(units [][]byte) {
	for i := 0; i < len(units); {
		j := i + 1
		for j < len(units) && adjacent(units[j-1], units[j]) {
			j++
		}
		start := unsafe.Pointer(unsafe.SliceData(units[i]))
		releasePages(unsafe.Slice((*byte)(start), (j-i)*s.unit))
		i = j
	}
	s.mu.Lock()
	s.free = append(s.free, units...)
	s.mu.Unlock()
}

// adjacent reports whether unit b starts where unit a ends.
func adjacent(a, b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(a)))+uintptr(cap(a)) == uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// unmapAll releases every arena. Nothing may use a unit afterwards.
func (s *slab) unmapAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.arenas {
		unmapArena(a)
	}
	s.arenas, s.free = nil, nil
}

// mapped is how many bytes of arenas the slab holds.
func (s *slab) mapped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.arenas)) * int64(s.arena)
}

// allocator owns the two slabs of a memory tier.
type allocator struct {
	pages, chunks slab

	inUse  atomic.Int64 // bytes of units handed out and not yet freed
	closed atomic.Bool
	once   sync.Once
}

func newAllocator() *allocator {
	return &allocator{
		pages:  slab{unit: pageUnit, arena: pageArena},
		chunks: slab{unit: chunkUnit, arena: chunkArena},
	}
}

// unitsFor is how many chunks and pages a body of size bytes takes.
func unitsFor(size int64) (chunks, pages int64) {
	chunks = size / chunkUnit
	pages = (size%chunkUnit + pageUnit - 1) / pageUnit
	return chunks, pages
}

// allocatedSize is what a body of size bytes takes in units.
func allocatedSize(size int64) int64 {
	c, p := unitsFor(size)
	return c*chunkUnit + p*pageUnit
}

// alloc returns an empty body of size bytes (its contents are zero or
// stale: write all of it before reading).
func (a *allocator) alloc(size int64) (*body, error) {
	if size < 0 {
		return nil, fmt.Errorf("cache: negative body size %d", size)
	}
	if a.closed.Load() {
		return nil, errSlabClosed
	}
	nc, np := unitsFor(size)
	b := &body{a: a, size: size, chunks: int(nc)}
	units := make([][]byte, 0, nc+np)
	units, err := a.chunks.get(int(nc), units)
	if err != nil {
		return nil, err
	}
	units, err = a.pages.get(int(np), units)
	if err != nil {
		a.chunks.put(units)
		return nil, err
	}
	b.units = units
	a.inUse.Add(nc*chunkUnit + np*pageUnit)
	return b, nil
}

// free returns a body's units. The body must not be used afterwards.
func (a *allocator) free(b *body) {
	a.chunks.put(b.units[:b.chunks])
	a.pages.put(b.units[b.chunks:])
	n := allocatedSize(b.size)
	b.units = nil
	if a.inUse.Add(-n) == 0 && a.closed.Load() {
		a.unmap()
	}
}

// close unmaps the arenas now if no body is in use, else when the last one
// is freed.
func (a *allocator) close() {
	a.closed.Store(true)
	if a.inUse.Load() == 0 {
		a.unmap()
	}
}

func (a *allocator) unmap() {
	a.once.Do(func() {
		a.chunks.unmapAll()
		a.pages.unmapAll()
	})
}

// body is an object's bytes in units: chunks first, then pages.
type body struct {
	a      *allocator
	units  [][]byte
	chunks int // how many of units are chunks
	size   int64
}

// piece returns the bytes of the body from off to the end of the unit that
// holds off.
func (b *body) piece(off int64) []byte {
	var u []byte
	var start int64
	if chunkBytes := int64(b.chunks) * chunkUnit; off < chunkBytes {
		i := off / chunkUnit
		u, start = b.units[i], i*chunkUnit
	} else {
		i := (off - chunkBytes) / pageUnit
		u, start = b.units[int64(b.chunks)+i], chunkBytes+i*pageUnit
	}
	end := min(int64(len(u)), b.size-start)
	return u[off-start : end]
}

// run returns the bytes of the body from off up to end (at most), across
// as many units as lie next to each other in memory.
func (b *body) run(off, end int64) []byte {
	p := b.piece(off)
	if int64(len(p)) >= end-off {
		return p[:end-off]
	}
	for next := off + int64(len(p)); next < end && contiguousArenas; {
		q := b.piece(next)
		if uintptr(unsafe.Pointer(unsafe.SliceData(p)))+uintptr(len(p)) != uintptr(unsafe.Pointer(unsafe.SliceData(q))) {
			break
		}
		// Same mapping, next address: one slice over both.
		p = unsafe.Slice(unsafe.SliceData(p), len(p)+len(q))
		next += int64(len(q))
	}
	return p[:min(int64(len(p)), end-off)]
}

// ReadAt implements io.ReaderAt.
func (b *body) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("cache: negative offset")
	}
	n := 0
	for n < len(p) && off < b.size {
		c := copy(p[n:], b.piece(off))
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fill reads exactly b.size bytes from r into the body, in order, and
// checks that r ends there. progress, if not nil, is told of every piece
// written (a fill that requests read as it grows).
func (b *body) fill(r io.Reader, progress func(n int64)) error {
	for off := int64(0); off < b.size; {
		n, err := r.Read(b.piece(off))
		if n > 0 {
			off += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if err == io.EOF && off < b.size {
			return fmt.Errorf("%w: %d of %d bytes: %w", errFillShort, off, b.size, io.ErrUnexpectedEOF)
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return atEOF(r, b.size) // the body must end here
}

// bodyWriter writes a body from its start, in order; writing past its size
// fails.
type bodyWriter struct {
	b   *body
	off int64
}

func (w *bodyWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if w.off >= w.b.size {
			return n, fmt.Errorf("body longer than its %d bytes", w.b.size)
		}
		c := copy(w.b.piece(w.off), p[n:])
		n += c
		w.off += int64(c)
	}
	return n, nil
}
