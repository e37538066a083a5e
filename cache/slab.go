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
//
// Closing must never unmap a unit that is handed out: a write to it would
// kill the process with a fault. So one atomic word holds both the bytes
// in use and the closed flag: alloc reserves its bytes with a
// compare-and-swap that fails once the flag is set, before it takes any
// unit, and free gives them back only after its units are back in the
// slabs. The arenas are unmapped by whichever comes last: close, when
// nothing is in use, or the free that brings the bytes in use to zero
// after close.
type allocator struct {
	pages, chunks slab

	state atomic.Int64 // closedFlag | bytes of units reserved or handed out
	once  sync.Once
}

// closedFlag is the bit of allocator.state set by close; the bits below
// count bytes, far more than any address space holds.
const closedFlag = int64(1) << 62

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
// stale: write all of it before reading), or errSlabClosed once close has
// been called.
func (a *allocator) alloc(size int64) (*body, error) {
	if size < 0 {
		return nil, fmt.Errorf("cache: negative body size %d", size)
	}
	if !a.reserve(allocatedSize(size)) {
		return nil, errSlabClosed
	}
	nc, np := unitsFor(size)
	b := &body{a: a, size: size, chunks: int(nc)}
	units := make([][]byte, 0, nc+np)
	units, err := a.chunks.get(int(nc), units)
	if err == nil {
		units, err = a.pages.get(int(np), units)
	}
	if err != nil {
		a.chunks.put(units) // chunks only: the pages were not taken
		a.unreserve(allocatedSize(size))
		return nil, err
	}
	b.units = units
	return b, nil
}

// reserve counts n more bytes in use unless the allocator is closed, in
// one step: a close either comes first and refuses the reservation, or
// sees the bytes in use and leaves the arenas mapped.
func (a *allocator) reserve(n int64) bool {
	for {
		s := a.state.Load()
		if s&closedFlag != 0 {
			return false
		}
		if a.state.CompareAndSwap(s, s+n) {
			return true
		}
	}
}

// unreserve counts n bytes no longer in use, and unmaps the arenas if they
// were the last ones after close. The units must be back in the slabs.
func (a *allocator) unreserve(n int64) {
	if a.state.Add(-n) == closedFlag {
		a.unmap()
	}
}

// free returns a body's units. The body must not be used afterwards.
func (a *allocator) free(b *body) {
	a.chunks.put(b.units[:b.chunks])
	a.pages.put(b.units[b.chunks:])
	b.units = nil
	a.unreserve(allocatedSize(b.size))
}

// close refuses further allocations and unmaps the arenas now if no body
// is in use, else when the last one is freed. Later calls do nothing.
func (a *allocator) close() {
	for {
		s := a.state.Load()
		if s&closedFlag != 0 {
			return
		}
		if a.state.CompareAndSwap(s, s|closedFlag) {
			if s == 0 {
				a.unmap()
			}
			return
		}
	}
}

// inUseBytes is how many bytes of units are reserved or handed out.
func (a *allocator) inUseBytes() int64 { return a.state.Load() &^ closedFlag }

// unmap unmaps every arena, once. Only the last of close and free calls it.
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

// copyFrom reads exactly b.size bytes from r into the body, in order, and
// checks that r ends there. progress, if not nil, is told of every piece
// written (a memoryLoad, which requests read as it grows).
func (b *body) copyFrom(r io.Reader, progress func(n int64)) error {
	for off := int64(0); off < b.size; {
		n, err := r.Read(b.piece(off))
		if n > 0 {
			off += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if err == io.EOF && off < b.size {
			return fmt.Errorf("%w: %d of %d bytes: %w", errBodyShort, off, b.size, io.ErrUnexpectedEOF)
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
