package cache

import (
	"errors"
	"fmt"
	"io"
	"slices"
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
// A body is a list of extents: runs of adjacent 4 KiB pages of one arena,
// an anonymous memory mapping of 4 MiB. A body of up to 4 MiB is one
// extent whenever some arena has a run of free pages that long, which is
// what lets a hit go out in one write (a body in scattered pieces costs a
// write system call per piece, the largest share of a hit's time). The
// allocator maps a new arena rather than split a body, until the arenas
// mapped reach twice the tier's bound (address space: freed pages leave
// the RSS); past that, a body takes the longest runs free, down to single
// pages. At most one page minus a byte is wasted per body. A freed extent
// goes back to its arena after madvise(MADV_DONTNEED), so its pages leave
// the RSS at once and a later use faults in zeroed pages. Arenas stay
// mapped until the tier is closed and no body is in use. Where anonymous
// mappings are unavailable the arenas are ordinary Go memory.

const (
	pageUnit   = 4 << 10
	arenaBytes = 4 << 20
	arenaPages = arenaBytes / pageUnit
)

// errSlabClosed is returned by alloc once the allocator is closed.
var errSlabClosed = errors.New("cache: memory tier closed")

// arena is one mapping and which of its pages are handed out.
type arena struct {
	mem  []byte
	used [arenaPages / 64]uint64 // bit i of word i/64: page i is handed out
	free int                     // pages not handed out
}

// longestRun returns the first run of n free pages, or the longest run
// shorter than that (length 0: none free).
func (ar *arena) longestRun(n int) (start, length int) {
	run := 0 // free pages just before page i
	for w, word := range ar.used {
		switch {
		case word == ^uint64(0):
			run = 0
			continue
		case word == 0 && run+64 < n: // a whole free word that does not finish the run
			run += 64
			if run > length {
				start, length = (w+1)*64-run, run
			}
			continue
		}
		for b := range 64 {
			i := w*64 + b
			if word&(1<<b) != 0 {
				run = 0
				continue
			}
			run++
			if run > length {
				start, length = i-run+1, run
				if length == n {
					return start, length
				}
			}
		}
	}
	return start, length
}

// mark sets pages [start, start+n) of ar as handed out (used) or free,
// keeping the free counts of ar and of the allocator. a.mu is held.
func (a *allocator) mark(ar *arena, start, n int, used bool) {
	for i := start; i < start+n; i++ {
		if used {
			ar.used[i/64] |= 1 << (i % 64)
		} else {
			ar.used[i/64] &^= 1 << (i % 64)
		}
	}
	if used {
		n = -n
	}
	ar.free += n
	a.freePages += n
}

// extent is a run of pages of one arena, as a body holds it.
type extent struct {
	b     []byte // the pages, full length
	ar    *arena
	first int // index of its first page in ar
}

// allocator hands out the memory tier's bodies.
//
// Closing must never unmap pages that are handed out: a write to them
// would kill the process with a fault. So one atomic word holds both the
// bytes in use and the closed flag: alloc reserves its bytes with a
// compare-and-swap that fails once the flag is set, before it takes any
// page, and free gives them back only after its pages are back in their
// arenas. The arenas are unmapped by whichever comes last: close, when
// nothing is in use, or the free that brings the bytes in use to zero
// after close.
type allocator struct {
	// splitAt is the mapped size past which a body that finds no run long
	// enough is split instead of getting a new arena.
	splitAt int64

	mu        sync.Mutex
	arenas    []*arena
	freePages int // over every arena

	state atomic.Int64 // closedFlag | bytes of pages reserved or handed out
	once  sync.Once
}

// closedFlag is the bit of allocator.state set by close; the bits below
// count bytes, far more than any address space holds.
const closedFlag = int64(1) << 62

// newAllocator returns an allocator for a tier of bound bytes: it maps
// arenas for whole bodies up to twice that.
func newAllocator(bound int64) *allocator {
	return &allocator{splitAt: max(2*bound, 2*arenaBytes)}
}

// pagesFor is how many pages a body of size bytes takes.
func pagesFor(size int64) int64 { return (size + pageUnit - 1) / pageUnit }

// allocatedSize is what a body of size bytes takes in pages.
func allocatedSize(size int64) int64 { return pagesFor(size) * pageUnit }

// alloc returns an empty body of size bytes (its contents are zero or
// stale: write all of it before reading), or errSlabClosed once close has
// been called.
func (a *allocator) alloc(size int64) (*body, error) {
	if size < 0 {
		return nil, fmt.Errorf("cache: negative body size %d", size)
	}
	n := allocatedSize(size)
	if !a.reserve(n) {
		return nil, errSlabClosed
	}
	exts, err := a.take(int(pagesFor(size)))
	if err != nil {
		a.putBack(exts)
		a.unreserve(n)
		return nil, err
	}
	b := &body{a: a, size: size, exts: exts}
	if len(exts) > 1 {
		b.ends = make([]int64, len(exts))
		var end int64
		for i, e := range exts {
			end += int64(len(e.b))
			b.ends[i] = end
		}
	}
	return b, nil
}

// take finds n pages: one extent per 4 MiB where the arenas allow it.
// On error it returns what it took, for putBack.
func (a *allocator) take(n int) ([]extent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exts := make([]extent, 0, (n+arenaPages-1)/arenaPages)
	for n > 0 {
		want := min(n, arenaPages)
		var best *arena
		bestStart, bestLen := 0, 0
		for _, ar := range a.arenas {
			if ar.free == 0 || (ar.free < want && bestLen >= ar.free) {
				continue
			}
			start, length := ar.longestRun(want)
			if length > bestLen {
				best, bestStart, bestLen = ar, start, length
				if length == want {
					break
				}
			}
		}
		if bestLen < want && (int64(len(a.arenas)+1)*arenaBytes <= a.splitAt || a.freePages < n) {
			mem, err := mapArena(arenaBytes)
			if err != nil {
				return exts, fmt.Errorf("cache: mapping %d bytes for the memory tier: %w", arenaBytes, err)
			}
			best = &arena{mem: mem, free: arenaPages}
			a.arenas = append(a.arenas, best)
			a.freePages += arenaPages
			bestStart, bestLen = 0, want
		}
		a.mark(best, bestStart, bestLen, true)
		lo, hi := bestStart*pageUnit, (bestStart+bestLen)*pageUnit
		exts = append(exts, extent{b: best.mem[lo:hi:hi], ar: best, first: bestStart})
		n -= bestLen
	}
	return exts, nil
}

// putBack returns extents to their arenas after giving their pages back
// to the kernel.
func (a *allocator) putBack(exts []extent) {
	for _, e := range exts {
		releasePages(e.b)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range exts {
		a.mark(e.ar, e.first, len(e.b)/pageUnit, false)
	}
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
// were the last ones after close. The pages must be back in their arenas.
func (a *allocator) unreserve(n int64) {
	if a.state.Add(-n) == closedFlag {
		a.unmap()
	}
}

// free returns a body's pages. The body must not be used afterwards.
func (a *allocator) free(b *body) {
	a.putBack(b.exts)
	b.exts, b.ends = nil, nil
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

// inUseBytes is how many bytes of pages are reserved or handed out.
func (a *allocator) inUseBytes() int64 { return a.state.Load() &^ closedFlag }

// mapped is how many bytes of arenas are mapped.
func (a *allocator) mapped() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int64(len(a.arenas)) * arenaBytes
}

// unmap unmaps every arena, once. Only the last of close and free calls it.
func (a *allocator) unmap() {
	a.once.Do(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, ar := range a.arenas {
			unmapArena(ar.mem)
		}
		a.arenas, a.freePages = nil, 0
	})
}

// body is an object's bytes in extents, in order.
type body struct {
	a    *allocator
	exts []extent
	// ends[i] is the offset where extent i ends; nil for one extent.
	ends []int64
	size int64
}

// piece returns the bytes of the body from off to the end of the extent
// that holds off.
func (b *body) piece(off int64) []byte {
	u, start := b.exts[0].b, int64(0)
	if b.ends != nil {
		i, _ := slices.BinarySearch(b.ends, off+1) // the first extent ending after off
		u = b.exts[i].b
		if i > 0 {
			start = b.ends[i-1]
		}
	}
	end := min(int64(len(u)), b.size-start)
	return u[off-start : end]
}

// run returns the bytes of the body from off up to end (at most), across
// as many extents as lie next to each other in memory.
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
