package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/r2gate/r2gate/origin"
)

// bodySizes straddle the unit boundaries of slab.go.
// chunk64K is 64 KiB, a size the tests build bodies around.
const chunk64K = 64 << 10

var bodySizes = []int64{0, 1, pageUnit - 1, pageUnit, pageUnit + 1, chunk64K - pageUnit, chunk64K - 1,
	chunk64K, chunk64K + 1, 3*chunk64K + 5000, 1 << 20, 1<<20 + 4097}

func randomBytes(seed uint64, n int64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestBodyReadsLikeBytesReader(t *testing.T) {
	a := newAllocator(64 << 20)
	defer a.close()
	for _, size := range bodySizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want := randomBytes(uint64(size), size)
			b, err := a.alloc(size)
			if err != nil {
				t.Fatal(err)
			}
			defer a.free(b)
			if got, want := a.inUseBytes(), allocatedSize(size); got != want {
				t.Errorf("in use %d bytes, want %d", got, want)
			}
			if allocatedSize(size)-size >= pageUnit {
				t.Errorf("%d bytes take %d: a page or more wasted", size, allocatedSize(size))
			}
			var told int64
			if err := b.copyFrom(bytes.NewReader(want), func(n int64) { told += n }); err != nil {
				t.Fatalf("copyFrom: %v", err)
			}
			if told != size {
				t.Errorf("progress told of %d bytes, want %d", told, size)
			}
			it := &memItem{body: b}
			it.refs.Store(2) // never freed by the ref
			ref := newBodyRef(it, Meta{})
			// iotest.TestReader checks Read, ReadAt and Seek against the
			// content, at every offset pattern it knows.
			if err := iotest.TestReader(ref, want); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(size), 2))
			for range 200 {
				off := rng.Int64N(size + 2)
				p := make([]byte, rng.IntN(2*chunk64K))
				n, err := ref.ReadAt(p, off)
				lo := min(off, size)
				hi := max(lo, min(off+int64(len(p)), size))
				if int64(n) != hi-lo || !bytes.Equal(p[:n], want[lo:hi]) {
					t.Fatalf("ReadAt(%d bytes, %d) = %d: wrong bytes", len(p), off, n)
				}
				if (int64(n) < int64(len(p))) != (err == io.EOF) {
					t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
				}
			}
		})
	}
	if n := a.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after every body was freed", n)
	}
}

func TestBodyCopyFromChecksTheLength(t *testing.T) {
	a := newAllocator(64 << 20)
	defer a.close()
	for _, tc := range []struct {
		name string
		size int64
		r    io.Reader
		want string
	}{
		{"short", 100, strings.NewReader(strings.Repeat("x", 99)), "shorter"},
		{"long", 100, strings.NewReader(strings.Repeat("x", 101)), "longer"},
		{"long by a chunk", chunk64K, strings.NewReader(strings.Repeat("x", 2*chunk64K)), "longer"},
		{"read error", 100, iotest.ErrReader(errors.New("connection reset")), "connection reset"},
		{"error after the body", 3, io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errors.New("late"))), "late"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := a.alloc(tc.size)
			if err != nil {
				t.Fatal(err)
			}
			defer a.free(b)
			if err := b.copyFrom(tc.r, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("copyFrom = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	b, _ := a.alloc(5)
	defer a.free(b)
	if err := b.copyFrom(iotest.OneByteReader(strings.NewReader("exact")), nil); err != nil {
		t.Errorf("exact body in one-byte reads: %v", err)
	}
	w := &bodyWriter{b: b}
	if n, err := w.Write([]byte("toolong")); n != 5 || err == nil {
		t.Errorf("writing past the end = %d, %v; want 5 and an error", n, err)
	}
}

// heldBytes is what the memory tier's entries take in units now.
func heldBytes(m *Memory) int64 {
	m.Wait()
	var n int64
	m.c.IterValues(func(it *memItem) bool {
		n += allocatedSize(it.body.size)
		return false
	})
	return n
}

func TestMemoryEvictedBodyStaysValidUntilClosed(t *testing.T) {
	m := newTestMemory(t, 1<<20, 256<<10)
	want := randomBytes(1, 200<<10)
	m.Set("k", &Entry{Body: want})
	m.Wait()
	ref, ok := m.Get("k")
	if !ok {
		t.Fatal("entry not admitted")
	}
	m.Delete("k")
	// Churn: new bodies must not reuse the units the reference holds.
	for i := range 40 {
		key := fmt.Sprintf("other/%d", i)
		m.Set(key, &Entry{Body: bytes.Repeat([]byte{0xAA}, 200<<10)})
	}
	got, err := io.ReadAll(ref)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("deleted entry read through an open reference: %d bytes, %v; bytes differ", len(got), err)
	}
	if held, inUse := heldBytes(m), m.alloc.inUseBytes(); inUse != held+allocatedSize(200<<10) {
		t.Errorf("in use %d, want the tier's %d + the open reference's %d", inUse, held, allocatedSize(200<<10))
	}
	ref.Close()
	ref.Close() // idempotent
	if _, err := ref.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if held, inUse := heldBytes(m), m.alloc.inUseBytes(); inUse != held {
		t.Errorf("in use %d after the reference closed, want the tier's %d", inUse, held)
	}
}

func TestMemoryCloseWaitsForOpenReferences(t *testing.T) {
	m, err := NewMemory(1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := randomBytes(2, 100<<10)
	m.Set("k", &Entry{Body: want})
	m.Wait()
	ref, ok := m.Get("k")
	if !ok {
		t.Fatal("entry not admitted")
	}
	m.Close()
	if got, _ := io.ReadAll(ref); !bytes.Equal(got, want) {
		t.Fatal("a reference taken before Close lost its bytes")
	}
	if m.alloc.mapped() == 0 {
		t.Error("arenas unmapped while a reference is open")
	}
	ref.Close()
	if n := m.alloc.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after Close and the last reference", n)
	}
	if n := m.alloc.mapped(); n != 0 {
		t.Errorf("%d bytes still mapped", n)
	}
}

func TestMemoryBodiesLiveOutsideTheGoHeap(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Log("no anonymous mappings here: bodies are Go memory")
		return
	}
	m := newTestMemory(t, 128<<20, 1<<20)
	one := bytes.Repeat([]byte{1}, 1<<20)
	heap := func() uint64 {
		runtime.GC()
		var s runtime.MemStats
		runtime.ReadMemStats(&s)
		return s.HeapAlloc
	}
	before := heap()
	for i := range 96 {
		m.Set(fmt.Sprintf("k%d", i), &Entry{Body: one})
		m.Wait()
	}
	after := heap()
	held := m.Bytes()
	if held < 64<<20 {
		t.Fatalf("tier holds %d bytes, want at least 64 MiB for the test to mean anything", held)
	}
	if grew := int64(after) - int64(before); grew > 8<<20 {
		t.Errorf("the Go heap grew by %d bytes for %d bytes of bodies: bodies are on the heap", grew, held)
	}
	t.Logf("tier %d MiB, Go heap %+d KiB", held>>20, (int64(after)-int64(before))>>10)
}

func TestMemoryConcurrentChurnReleasesEveryUnit(t *testing.T) {
	m, err := NewMemory(512<<10, 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var reads atomic.Int64
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			var open []*BodyRef
			for i := range 3000 {
				key := fmt.Sprintf("c/%d", rng.IntN(40))
				switch i % 8 {
				case 0:
					m.Delete(key)
				case 1, 2:
					size := rng.IntN(128 << 10)
					m.Set(key, &Entry{Meta: Meta{Info: origin.Info{Key: key}}, Body: bytes.Repeat([]byte{key[len(key)-1]}, size)})
				default:
					if ref, ok := m.Get(key); ok {
						open = append(open, ref)
					}
				}
				if len(open) > 5 || (len(open) > 0 && rng.IntN(3) == 0) {
					ref := open[0]
					open = open[1:]
					b, err := io.ReadAll(ref)
					if k := ref.Meta.Key; err != nil || bytes.Count(b, []byte{k[len(k)-1]}) != len(b) {
						t.Errorf("%s: %d bytes, %v: not its own body", k, len(b), err)
					}
					reads.Add(1)
					ref.Close()
				}
			}
			for _, ref := range open {
				ref.Close()
			}
		})
	}
	wg.Wait()
	if held, inUse := heldBytes(m), m.alloc.inUseBytes(); held != inUse {
		t.Errorf("in use %d bytes with every reference closed, the tier holds %d: leaked or double-freed", inUse, held)
	}
	m.Close()
	if n := m.alloc.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after Close", n)
	}
	t.Logf("%d reads", reads.Load())
}

func TestCacheReleasesEveryReference(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", withDisk), func(t *testing.T) {
			r := newRig(t, withDisk)
			for i := range 20 {
				r.b.put(fmt.Sprintf("k%d", i), randomBytes(uint64(i), int64(i)*7000), "")
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range 60 {
						key := fmt.Sprintf("k%d", i%20)
						resp, err := r.c.Get(context.Background(), r.src, key, r.opts)
						var pt *BypassError
						if errors.As(err, &pt) {
							continue // a purge took the transfer it read along: the caller streams from the bucket
						}
						if err != nil {
							t.Errorf("%s: %v", key, err)
							return
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Close()
						if !bytes.Equal(b, randomBytes(uint64(i%20), int64(i%20)*7000)) {
							t.Errorf("%s: wrong bytes", key)
						}
						if i%7 == 0 {
							r.c.Purge(r.src.Namespace + key)
						}
					}
				})
			}
			wg.Wait()
			r.c.flights.Wait() // the fetches' own references are released
			r.c.Wait()
			m := r.c.mem
			if held, inUse := heldBytes(m), m.alloc.inUseBytes(); held != inUse {
				t.Errorf("in use %d bytes with every response closed, the tier holds %d", inUse, held)
			}
			r.c.Close()
			<-r.c.Closed() // the memory tier closes once the cache's work has ended
			if n := m.alloc.inUseBytes(); n != 0 {
				t.Errorf("%d bytes in use after the cache closed", n)
			}
		})
	}
}

func TestBodyRefWriteToNGathersScatteredUnits(t *testing.T) {
	m := newTestMemory(t, 64<<20, 4<<20)
	m.alloc.splitAt = 0 // split bodies over the free pages rather than map arenas
	// Scatter the free lists: many page-sized bodies, every other one freed.
	var keep []*body
	for i := range 600 {
		b, err := m.alloc.alloc(pageUnit)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			keep = append(keep, b)
		} else {
			defer m.alloc.free(b)
		}
	}
	for _, b := range keep {
		m.alloc.free(b)
	}
	for _, size := range []int64{100 << 10, 200<<10 + 12345, 1 << 20} {
		want := randomBytes(uint64(size), size)
		key := fmt.Sprint(size)
		m.Set(key, &Entry{Body: want})
		m.Wait()
		ref, ok := m.Get(key)
		if !ok {
			t.Fatal("not admitted")
		}
		rng := rand.New(rand.NewPCG(uint64(size), 3))
		for range 50 {
			off, n := rng.Int64N(size), rng.Int64N(size+10)
			ref.Seek(off, io.SeekStart)
			var out countWrites
			got, err := ref.WriteToN(&out, n)
			hi := min(off+n, size)
			if err != nil || got != hi-off || !bytes.Equal(out.b.Bytes(), want[off:hi]) {
				t.Fatalf("size %d: WriteToN from %d, %d bytes = %d, %v; bytes equal %v", size, off, n, got, err, bytes.Equal(out.b.Bytes(), want[off:hi]))
			}
			if pos, _ := ref.Seek(0, io.SeekCurrent); pos != hi {
				t.Fatalf("position %d after writing up to %d", pos, hi)
			}
			if maxWrites := (hi-off)/gatherMin + 2; int64(out.writes) > maxWrites {
				t.Errorf("size %d: %d writes for %d bytes, want at most %d", size, out.writes, hi-off, maxWrites)
			}
		}
		ref.Close()
	}
}

// countWrites keeps what it is written and counts the calls.
type countWrites struct {
	b      bytes.Buffer
	writes int
}

func (w *countWrites) Write(p []byte) (int, error) { w.writes++; return w.b.Write(p) }

func TestBodyRefCloseDuringARead(t *testing.T) {
	// http.ServeContent's multipart goroutine may still read a body when
	// the handler closes it: the read keeps the bytes until it returns,
	// later reads fail, nothing races (run with -race).
	m := newTestMemory(t, 8<<20, 4<<20)
	want := randomBytes(5, 2<<20)
	m.Set("k", &Entry{Body: want})
	m.Wait()
	for range 50 {
		ref, ok := m.Get("k")
		if !ok {
			t.Fatal("not admitted")
		}
		done := make(chan error, 1)
		go func() {
			p := make([]byte, 64<<10)
			off := 0
			for {
				n, err := ref.Read(p)
				if !bytes.Equal(p[:n], want[off:off+n]) {
					done <- errors.New("read bytes that are not the body's")
					return
				}
				off += n
				if err != nil {
					if err != io.EOF && !errors.Is(err, os.ErrClosed) {
						done <- err
						return
					}
					done <- nil
					return
				}
			}
		}()
		runtime.Gosched()
		ref.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	m.Delete("k")
	if n := m.alloc.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after every reference closed", n)
	}
}

// TestAllocatorCloseUnderConcurrentUse closes an allocator while goroutines
// allocate, write, read and free bodies. A close that unmapped memory
// handed out a moment before (or about to be) would kill the process with
// a fault on the next write, which nothing can recover; a correct one
// unmaps exactly once, after the last free.
func TestAllocatorCloseUnderConcurrentUse(t *testing.T) {
	const (
		iterations = 200
		workers    = 6
	)
	sizes := []int64{1, pageUnit + 3, chunk64K - 1, chunk64K + pageUnit, 2*chunk64K + 17}
	var allocs, refused atomic.Int64
	for iter := range iterations {
		a := newAllocator(64 << 20)
		var wg sync.WaitGroup
		started := make(chan struct{}, workers)
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(iter), uint64(w)))
				for i := 0; ; i++ {
					if i == 1 {
						started <- struct{}{}
					}
					size := sizes[rng.IntN(len(sizes))]
					b, err := a.alloc(size)
					if errors.Is(err, errSlabClosed) {
						refused.Add(1)
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					allocs.Add(1)
					// A byte at the start of every unit and the last one:
					// each unit is written, and read back unchanged (no
					// other body shares it).
					mark := byte(w + 1)
					for off := int64(0); off < size; off += int64(len(b.piece(off))) {
						b.piece(off)[0] = mark
					}
					last := b.piece(size - 1)
					last[len(last)-1] = mark
					for off := int64(0); off < size; off += int64(len(b.piece(off))) {
						if b.piece(off)[0] != mark {
							t.Errorf("a unit of a %d-byte body was written by someone else", size)
						}
					}
					a.free(b)
				}
			})
		}
		for range workers {
			<-started // every worker is past its first body
		}
		a.close()
		wg.Wait()
		if n := a.inUseBytes(); n != 0 {
			t.Fatalf("iteration %d: %d bytes in use after every free", iter, n)
		}
		if n := a.mapped(); n != 0 {
			t.Fatalf("iteration %d: %d bytes still mapped after close and the last free", iter, n)
		}
	}
	t.Logf("%d bodies allocated, %d allocations refused after close", allocs.Load(), refused.Load())
}

func TestArenaLongestRunMatchesACount(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	for round := range 500 {
		var ar arena
		density := rng.Float64()
		for i := range arenaPages {
			if rng.Float64() < density {
				ar.used[i/64] |= 1 << (i % 64)
			}
		}
		if round%7 == 0 { // long free stretches across whole words
			lo := rng.IntN(arenaPages)
			hi := min(arenaPages, lo+rng.IntN(600))
			for i := lo; i < hi; i++ {
				ar.used[i/64] &^= 1 << (i % 64)
			}
		}
		n := 1 + rng.IntN(arenaPages)
		// The first run of n free pages, else the first longest: from
		// every page, count the free pages that follow it.
		free := func(i int) bool { return ar.used[i/64]&(1<<(i%64)) == 0 }
		wantStart, wantLen := 0, 0
		for s := 0; s < arenaPages && wantLen < n; s++ {
			l := 0
			for s+l < arenaPages && l < n && free(s+l) {
				l++
			}
			if l > wantLen {
				wantStart, wantLen = s, l
			}
		}
		start, length := ar.longestRun(n)
		if start != wantStart || length != wantLen {
			t.Fatalf("round %d, n %d: longestRun = %d+%d, want %d+%d", round, n, start, length, wantStart, wantLen)
		}
	}
}

func TestAllocatorKeepsBodiesUpToAnArenaInOnePiece(t *testing.T) {
	a := newAllocator(64 << 20)
	defer a.close()
	rng := rand.New(rand.NewPCG(2, 4))
	// Churn: bodies of every size up to 4 MiB, a random half freed, so the
	// arenas are full of holes.
	var live []*body
	for range 3000 {
		size := 1 + rng.Int64N(arenaBytes)
		if rng.IntN(4) != 0 {
			size = 1 + rng.Int64N(300<<10)
		}
		b, err := a.alloc(size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.exts) != 1 {
			t.Fatalf("a body of %d bytes in %d pieces with %d MiB mapped, %d MiB in use; want one", size, len(b.exts), a.mapped()>>20, a.inUseBytes()>>20)
		}
		live = append(live, b)
		for a.inUseBytes() > 48<<20 { // the tier's bound: evictions free bodies
			i := rng.IntN(len(live))
			a.free(live[i])
			live = slices.Delete(live, i, i+1)
		}
	}
	if m := a.mapped(); m > a.splitAt {
		t.Errorf("%d MiB mapped, past the %d MiB bound", m>>20, a.splitAt>>20)
	}
	t.Logf("%d MiB mapped for %d MiB in use", a.mapped()>>20, a.inUseBytes()>>20)
	for _, b := range live {
		a.free(b)
	}
	if n := a.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after every free", n)
	}
	if want := len(a.arenas) * arenaPages; a.freePages != want {
		t.Errorf("%d pages counted free after every free, want all %d", a.freePages, want)
	}
}

func TestAllocatorSplitsBodiesOnceTheArenasReachTheirBound(t *testing.T) {
	a := newAllocator(4 << 20) // arenas up to 8 MiB
	defer a.close()
	// Fill both arenas with single pages, free every other one: 1024 free
	// pages, none next to another.
	var pages []*body
	for range 2 * arenaPages {
		b, err := a.alloc(1)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, b)
	}
	for i, b := range pages {
		if i%2 == 0 {
			a.free(b)
		}
	}
	const size = 100<<10 + 5
	b, err := a.alloc(size)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(b.exts), int(pagesFor(size)); got != want || a.mapped() != 2*arenaBytes {
		t.Errorf("%d pieces with %d MiB mapped; want %d single pages, no new arena", got, a.mapped()>>20, want)
	}
	data := randomBytes(3, size)
	if err := b.copyFrom(bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, size)
	if n, err := b.ReadAt(got, 0); n != size || err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadAt = %d, %v; bytes equal %v", n, err, bytes.Equal(got, data))
	}
	for off := int64(0); off < size; off += 777 {
		if p := b.piece(off); p[0] != data[off] || int64(len(p)) != min(pageUnit-off%pageUnit, size-off) {
			t.Fatalf("piece(%d): %d bytes starting %x; want the rest of its page starting %x", off, len(p), p[0], data[off])
		}
	}
	a.free(b)
	// Past the free pages, arenas are mapped again.
	big, err := a.alloc(6 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(big.exts) > int(pagesFor(6<<20)) || a.mapped() < 3*arenaBytes {
		t.Errorf("6 MiB in %d pieces with %d MiB mapped", len(big.exts), a.mapped()>>20)
	}
	a.free(big)
	for i, b := range pages {
		if i%2 == 1 {
			a.free(b)
		}
	}
	if n := a.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after every free", n)
	}
}

func TestMemoryHitOfAFewHundredKiBIsOneWrite(t *testing.T) {
	m := newTestMemory(t, 64<<20, 4<<20)
	rng := rand.New(rand.NewPCG(8, 1))
	// Churn with eviction first: the arenas get holes.
	for i := range 2000 {
		m.Set(fmt.Sprint("churn", i), &Entry{Body: make([]byte, 1+rng.IntN(400<<10))})
	}
	m.Wait()
	for _, size := range []int{1, 4 << 10, 100 << 10, 300<<10 + 1, 1 << 20} {
		want := randomBytes(uint64(size), int64(size))
		key := fmt.Sprint("one", size)
		for range 20 { // admission may refuse a new key under churn
			m.Set(key, &Entry{Body: want})
			m.Wait()
			if _, ok := m.Get(key); ok {
				break
			}
		}
		ref, ok := m.Get(key)
		if !ok {
			t.Fatalf("%d bytes never admitted", size)
		}
		var out countWrites
		if n, err := ref.WriteTo(&out); n != int64(size) || err != nil || !bytes.Equal(out.b.Bytes(), want) {
			t.Fatalf("WriteTo = %d, %v", n, err)
		}
		if out.writes != 1 {
			t.Errorf("%d bytes went out in %d writes, want one", size, out.writes)
		}
		ref.Close()
	}
}
