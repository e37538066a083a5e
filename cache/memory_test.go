package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// memEntry makes an entry whose body is size copies of a byte derived from
// key, so a wrong body is easy to spot.
func memEntry(key string, size int) *Entry {
	return &Entry{
		Meta: Meta{Info: origin.Info{Key: key, Size: int64(size), ETag: `"` + key + `"`}},
		Body: bytes.Repeat([]byte{key[len(key)-1]}, size),
	}
}

// memGet reads the entry under key into an Entry and releases the
// reference.
func memGet(m *Memory, key string) (*Entry, bool) {
	ref, ok := m.Get(key)
	if !ok {
		return nil, false
	}
	defer ref.Close()
	body, err := io.ReadAll(ref)
	if err != nil {
		panic(err)
	}
	return &Entry{Meta: ref.Meta, Body: body}, true
}

// sameEntry reports whether got holds want's metadata and bytes.
func sameEntry(got, want *Entry) bool {
	return got != nil && want != nil && got.Key == want.Key && got.ETag == want.ETag &&
		got.Size == want.Size && bytes.Equal(got.Body, want.Body)
}

// memSet stores e under its own key.
func memSet(m *Memory, e *Entry) bool { return m.Set(e.Key, e) }

func newTestMemory(t testing.TB, maxBytes, maxItem int64) *Memory {
	t.Helper()
	m, err := NewMemory(maxBytes, maxItem)
	if err != nil {
		t.Fatalf("NewMemory(%d, %d): %v", maxBytes, maxItem, err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestNewMemoryRejectsBadSizes(t *testing.T) {
	for _, tc := range []struct {
		name              string
		maxBytes, maxItem int64
	}{
		{"zero size", 0, 10},
		{"negative size", -1, 10},
		{"zero item limit", 1 << 20, 0},
		{"negative item limit", 1 << 20, -5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := NewMemory(tc.maxBytes, tc.maxItem); err == nil {
				m.Close()
				t.Fatal("no error")
			}
		})
	}
}

func TestMemoryNumCountersIsTenPerTypicalEntryWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		maxBytes, want int64
	}{
		{1 << 10, minCounters},
		{256 << 20, 256 << 20 / (typicalEntrySize + EntryOverhead) * 10},
		{1 << 40, maxCounters},
	} {
		if got := numCounters(tc.maxBytes); got != tc.want {
			t.Errorf("numCounters(%d) = %d, want %d", tc.maxBytes, got, tc.want)
		}
	}
}

func TestMemorySetThenGetReturnsTheSameEntry(t *testing.T) {
	m := newTestMemory(t, 1<<20, 1<<16)
	e := memEntry("a/b.txt", 100)
	if !m.Set("a/b.txt", e) {
		t.Fatal("Set refused a small entry")
	}
	m.Wait()
	got, ok := memGet(m, "a/b.txt")
	if !ok || !sameEntry(got, e) {
		t.Fatalf("Get = %p, %v; want %p, true", got, ok, e)
	}
	if _, ok := memGet(m, "a/b.tx"); ok {
		t.Error("Get hit an unknown key")
	}
	if want := entryCost("a/b.txt", int64(len(e.Body))); m.Bytes() != want {
		t.Errorf("Bytes = %d, want %d (body + key + overhead)", m.Bytes(), want)
	}
}

func TestMemorySetRefuses(t *testing.T) {
	m := newTestMemory(t, 1<<20, 1000)
	for _, tc := range []struct {
		name string
		e    *Entry
	}{
		{"nil entry", nil},
		{"body over the item limit", memEntry("big", 1001)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m.Set("big", tc.e) {
				t.Fatal("Set accepted it")
			}
		})
	}
	if !m.Set("edge", memEntry("edge", 1000)) {
		t.Error("Set refused a body exactly at the item limit")
	}
	m.Wait()
	if _, ok := memGet(m, "big"); ok {
		t.Error("refused entry is served")
	}
	if s := m.Stats(); s.Rejected != 1 {
		t.Errorf("Rejected = %d, want 1", s.Rejected)
	}
}

func TestMemoryItemLimitAboveSizeIsLoweredAndFits(t *testing.T) {
	m := newTestMemory(t, 10_000, 1<<30)
	if m.Set("k", memEntry("k", 10_000)) {
		t.Error("Set accepted an entry whose cost exceeds the whole tier")
	}
}

func TestMemorySetReplacesAndRecosts(t *testing.T) {
	m := newTestMemory(t, 1<<20, 1<<16)
	m.Set("k1", memEntry("k1", 10))
	m.Wait()
	bigger := memEntry("k1", 5000)
	if !m.Set("k1", bigger) {
		t.Fatal("Set refused the replacement")
	}
	m.Wait()
	got, ok := memGet(m, "k1")
	if !ok || !sameEntry(got, bigger) {
		t.Fatalf("Get after replace = %v, %v; want the new entry", got, ok)
	}
	if want := entryCost("k1", int64(len(bigger.Body))); m.Bytes() != want {
		t.Errorf("Bytes = %d, want %d: the old entry's cost must be gone", m.Bytes(), want)
	}
}

func TestMemoryBackToBackSetsOfOneKeyKeepTheLast(t *testing.T) {
	// Without a Wait in between, the first Set is still queued when the
	// second comes; ristretto alone would refuse the second and keep the
	// first (stale bytes after a refresh).
	m := newTestMemory(t, 1<<20, 1<<16)
	for i := range 50 {
		key := fmt.Sprintf("k%d", i)
		m.Set(key, memEntry(key, 10))
		last := memEntry(key, 20)
		m.Set(key, last)
		m.Wait()
		if got, ok := memGet(m, key); ok && !sameEntry(got, last) {
			t.Fatalf("%s: Get returned the first entry after a second Set", key)
		}
	}
}

func TestMemoryDeleteIsImmediate(t *testing.T) {
	m := newTestMemory(t, 1<<20, 1<<16)
	m.Set("k", memEntry("k", 10))
	m.Wait()
	m.Delete("k")
	if _, ok := memGet(m, "k"); ok {
		t.Fatal("Get hit right after Delete")
	}
	m.Wait()
	if m.Bytes() != 0 {
		t.Errorf("Bytes = %d after deleting the only entry", m.Bytes())
	}
	m.Delete("never-set") // no-op
}

func TestMemoryDeletePrefix(t *testing.T) {
	m := newTestMemory(t, 1<<20, 1<<16)
	keys := []string{"img/a.jpg", "img/a.jpg?w=100", "img/b.png", "imgx/c", "css/site.css"}
	for _, k := range keys {
		m.Set(k, memEntry(k, 10))
	}
	// No Wait: DeletePrefix must also catch Sets still queued.
	if n := m.DeletePrefix("img/a.jpg"); n != 2 {
		t.Errorf("DeletePrefix(img/a.jpg) = %d, want 2 (object and its variant)", n)
	}
	if n := m.DeletePrefix("img/"); n != 1 {
		t.Errorf("DeletePrefix(img/) = %d, want 1", n)
	}
	for k, want := range map[string]bool{
		"img/a.jpg": false, "img/a.jpg?w=100": false, "img/b.png": false,
		"imgx/c": true, "css/site.css": true,
	} {
		if _, ok := memGet(m, k); ok != want {
			t.Errorf("after purge Get(%q) hit = %v, want %v", k, ok, want)
		}
	}
	if n := m.DeletePrefix(""); n != 2 {
		t.Errorf("DeletePrefix(\"\") = %d, want 2 (everything left)", n)
	}
	m.Wait()
	if m.Bytes() != 0 {
		t.Errorf("Bytes = %d after purging everything", m.Bytes())
	}
}

func TestMemoryPurgeAfterEvictionChurnFindsOnlyLiveKeys(t *testing.T) {
	// Evicted and refused entries must not linger anywhere a purge looks.
	m := newTestMemory(t, 64<<10, 8<<10)
	for i := range 2000 {
		memSet(m, memEntry(fmt.Sprintf("p/%d", i), 1000))
	}
	m.Wait()
	live := 0
	for i := range 2000 {
		if _, ok := memGet(m, fmt.Sprintf("p/%d", i)); ok {
			live++
		}
	}
	if n := m.DeletePrefix("p/"); n != live {
		t.Errorf("DeletePrefix = %d, want the %d entries still held", n, live)
	}
	if s := m.Stats(); s.Evictions == 0 && s.Rejected == 0 {
		t.Errorf("no evictions or rejections after 30x churn: %+v", s)
	}
}

func TestMemoryBoundHoldsAfterFiveTimesItsSize(t *testing.T) {
	const maxBytes = 1 << 20
	m := newTestMemory(t, maxBytes, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	var inserted int64
	for i := 0; inserted < 5*maxBytes; i++ {
		e := memEntry(fmt.Sprintf("obj/%d", i), rng.IntN(64<<10))
		if i%7 == 0 && i > 0 { // some replacements, growing or shrinking
			e = memEntry(fmt.Sprintf("obj/%d", rng.IntN(i)), rng.IntN(64<<10))
		}
		memSet(m, e)
		inserted += int64(len(e.Body))
		if i%50 == 0 {
			m.Wait()
			if b := m.Bytes(); b > maxBytes {
				t.Fatalf("after %d bytes inserted: Bytes = %d > %d", inserted, b, maxBytes)
			}
		}
	}
	m.Wait()
	s := m.Stats()
	if s.Bytes > maxBytes || s.Bytes <= 0 {
		t.Fatalf("Bytes = %d, want in (0, %d]", s.Bytes, maxBytes)
	}
	if s.Evictions == 0 {
		t.Error("no evictions after inserting 5x the bound")
	}
	t.Logf("stats after 5x: %+v", s)
}

func TestMemoryGrowingReplacementStaysWithinBound(t *testing.T) {
	// Replacing an entry with a larger one must evict like an insert:
	// ristretto's own update path changes the cost without evicting.
	const maxBytes = 192 << 10
	m := newTestMemory(t, maxBytes, 32<<10)
	for i := range 40 { // 40 × 4612 bytes (a page, key, overhead): nearly full, nothing evicted
		memSet(m, memEntry(fmt.Sprintf("g/%d", i), 1000))
	}
	m.Wait()
	if s := m.Stats(); s.Entries != 40 {
		t.Fatalf("setup: %d entries held, want 40", s.Entries)
	}
	for i := range 10 {
		memSet(m, memEntry(fmt.Sprintf("g/%d", i), 30<<10))
		m.Wait()
		if b := m.Bytes(); b > maxBytes {
			t.Fatalf("replacement %d: Bytes = %d > %d", i, b, maxBytes)
		}
	}
}

func TestMemoryStatsCountHitsAndMisses(t *testing.T) {
	m := newTestMemory(t, 1<<20, 1<<16)
	m.Set("k", memEntry("k", 10))
	m.Wait()
	for range 3 {
		memGet(m, "k")
	}
	memGet(m, "nope")
	s := m.Stats()
	if s.Hits != 3 || s.Misses != 1 || s.Entries != 1 || s.MaxBytes != 1<<20 {
		t.Errorf("Stats = %+v, want 3 hits, 1 miss, 1 entry, MaxBytes 1MiB", s)
	}
}

func TestMemoryCacheKeyIsTheCallersNotTheEntrysKey(t *testing.T) {
	// Two buckets sharing the tier: same object key, different cache keys.
	m := newTestMemory(t, 1<<20, 1<<16)
	a, b := memEntry("img/a.jpg", 10), memEntry("img/a.jpg", 20)
	m.Set("bucket1/img/a.jpg", a)
	m.Set("bucket2/img/a.jpg", b)
	m.Wait()
	if got, _ := memGet(m, "bucket1/img/a.jpg"); !sameEntry(got, a) {
		t.Error("bucket1's entry not found under its cache key")
	}
	if got, _ := memGet(m, "bucket2/img/a.jpg"); !sameEntry(got, b) {
		t.Error("bucket2's entry not found under its cache key")
	}
	if _, ok := memGet(m, "img/a.jpg"); ok {
		t.Error("Get by the object key hit")
	}
	if n := m.DeletePrefix("bucket1/"); n != 1 {
		t.Errorf("DeletePrefix(bucket1/) = %d, want 1", n)
	}
	if _, ok := memGet(m, "bucket2/img/a.jpg"); !ok {
		t.Error("purging one bucket's prefix removed the other's entry")
	}
}

func TestMemoryGetMissesWhenTheStoredKeyDiffers(t *testing.T) {
	// Stands in for a 128-bit hash collision: what ristretto finds under
	// the hash was stored for another key.
	m := newTestMemory(t, 1<<20, 1<<16)
	m.Set("k", memEntry("k", 10))
	m.Wait()
	it, ok := m.c.Get("k")
	if !ok {
		t.Fatal("entry not admitted")
	}
	it.key = "other"
	if _, ok := memGet(m, "k"); ok {
		t.Error("Get returned an entry stored under another key")
	}
}

func TestMemoryConcurrentUse(t *testing.T) {
	m := newTestMemory(t, 256<<10, 16<<10)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 2000 {
				key := fmt.Sprintf("c/%d/%d", w%3, rng.IntN(100))
				switch i % 10 {
				case 0:
					m.Delete(key)
				case 1:
					m.DeletePrefix(fmt.Sprintf("c/%d/", w%3))
				case 2, 3:
					m.Set(key, memEntry(key, rng.IntN(16<<10)))
				default:
					if e, ok := memGet(m, key); ok && e.Key != key {
						t.Errorf("Get(%q) returned %q", key, e.Key)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			_ = m.Stats()
			_ = m.Bytes()
		}
	})
	wg.Wait()
	m.Wait()
	if b := m.Bytes(); b > 256<<10 {
		t.Errorf("Bytes = %d over the bound after concurrent use", b)
	}
}

func TestMemoryCloseStopsGoroutinesAndEmpties(t *testing.T) {
	before := runtime.NumGoroutine()
	m, err := NewMemory(1<<20, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	m.Set("k", memEntry("k", 10))
	m.Wait()
	m.Close()
	m.Close() // idempotent
	if _, ok := memGet(m, "k"); ok {
		t.Error("Get hit after Close")
	}
	if m.Set("k", memEntry("k", 10)) {
		t.Error("Set accepted after Close")
	}
	m.Delete("k")
	m.Wait()
	if n := m.DeletePrefix(""); n != 0 || m.Bytes() != 0 || m.Stats() != (MemoryStats{}) {
		t.Errorf("closed tier reports content: purge %d, bytes %d, stats %+v", n, m.Bytes(), m.Stats())
	}
	waitGoroutines(t, before)
}

func TestNilMemoryIsADisabledTier(t *testing.T) {
	var m *Memory
	if m.Set("k", memEntry("k", 1)) {
		t.Error("nil Set reported success")
	}
	if _, ok := memGet(m, "k"); ok {
		t.Error("nil Get hit")
	}
	m.Delete("k")
	m.Wait()
	m.Close()
	if m.DeletePrefix("") != 0 || m.Bytes() != 0 || m.Stats() != (MemoryStats{}) {
		t.Error("nil tier reports content")
	}
}

// waitGoroutines waits up to five seconds for the goroutine count to come
// back to want or below, and fails with a dump if it does not.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkMemoryGet(b *testing.B) {
	m := newTestMemory(b, 64<<20, 1<<20)
	keys := benchKeys(b, m, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ref, ok := m.Get(keys[i%len(keys)])
		if !ok {
			b.Fatal("miss")
		}
		ref.Close()
	}
}

func BenchmarkMemoryGetParallel(b *testing.B) {
	m := newTestMemory(b, 64<<20, 1<<20)
	keys := benchKeys(b, m, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			ref, ok := m.Get(keys[i%len(keys)])
			if !ok {
				b.Error("miss")
				return
			}
			ref.Close()
			i++
		}
	})
}

func BenchmarkMemoryGetMiss(b *testing.B) {
	m := newTestMemory(b, 64<<20, 1<<20)
	benchKeys(b, m, 1000)
	b.ReportAllocs()
	for b.Loop() {
		m.Get("not/there")
	}
}

func BenchmarkMemorySet(b *testing.B) {
	m := newTestMemory(b, 64<<20, 1<<20)
	entries := make([]*Entry, 4096)
	for i := range entries {
		entries[i] = memEntry(fmt.Sprintf("bench/set/%d", i), 4<<10)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		memSet(m, entries[i%len(entries)])
	}
}

// benchKeys fills m with n 4 KiB entries and returns their keys.
func benchKeys(b *testing.B, m *Memory, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench/objects/%04d.jpg", i)
		if !m.Set(keys[i], memEntry(keys[i], 4<<10)) {
			b.Fatalf("Set %s refused", keys[i])
		}
	}
	m.Wait()
	for _, k := range keys {
		if _, ok := memGet(m, k); !ok {
			b.Fatalf("%s not admitted", k)
		}
	}
	return keys
}

// TestMemoryCloseDuringUse closes the tier while goroutines get, set,
// promote (put), update, purge, read its stats and load bodies into it,
// holding some references across the Close. Nothing may crash; once
// closed, the tier refuses bodies cleanly (errSlabClosed) and misses;
// references taken before stay readable, whole and right, until they are
// closed; and the last release gives every unit back and unmaps the
// arenas.
func TestMemoryCloseDuringUse(t *testing.T) {
	const (
		iterations = 20
		workers    = 6
		loadSize   = 40<<10 + 7
	)
	base := runtime.NumGoroutine()
	content := func(key string, n int) []byte { return bytes.Repeat([]byte{key[len(key)-1]}, n) }
	for iter := range iterations {
		m, err := NewMemory(2<<20, 256<<10)
		if err != nil {
			t.Fatal(err)
		}
		var ops atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(iter), uint64(w)))
				var open []*BodyRef
				var loads sync.WaitGroup
				check := func(ref *BodyRef) {
					got, err := io.ReadAll(ref)
					if k := ref.Meta.Key; err != nil || int64(len(got)) != ref.Size() || !bytes.Equal(got, content(k, len(got))) {
						t.Errorf("%s: read %d of %d bytes, %v: not its body", k, len(got), ref.Size(), err)
					}
					ref.Close()
				}
				for i := 0; i < 150 || !m.closed.Load(); i++ {
					ops.Add(1)
					key := fmt.Sprintf("c/%d", rng.IntN(20))
					meta := Meta{Info: origin.Info{Key: key}}
					switch rng.IntN(10) {
					case 0:
						m.Delete(key)
					case 1:
						m.DeletePrefix("c/1")
					case 2:
						m.UpdateMeta(key, meta)
						_, _ = m.Stats(), m.Bytes()
						m.Wait()
					case 3:
						// A load: the body arrives in pieces on another
						// goroutine while this one reads it.
						b, err := m.newBody(key, loadSize)
						if err != nil {
							if !errors.Is(err, errSlabClosed) {
								t.Errorf("newBody: %v", err)
							}
							continue
						}
						it := newMemItem(key, meta, b) // the load's reference
						load := newMemoryLoad(it)
						it.acquire() // the reader's
						ref := newBodyRef(it, meta)
						ref.load = load
						open = append(open, ref)
						loads.Go(func() {
							defer it.release()
							r := iotest.HalfReader(bytes.NewReader(content(key, loadSize)))
							if err := it.body.copyFrom(r, load.advance); err != nil {
								load.fail(err)
								return
							}
							m.insert(it, nil)
						})
					case 4:
						// A promotion from disk: the body is written, then
						// put, and its reference is served.
						body := content(key, rng.IntN(24<<10))
						b, err := m.newBody(key, int64(len(body)))
						if err != nil {
							if !errors.Is(err, errSlabClosed) {
								t.Errorf("newBody: %v", err)
							}
							continue
						}
						if err := b.copyFrom(bytes.NewReader(body), nil); err != nil {
							t.Fatal(err)
						}
						open = append(open, m.put(key, meta, b, nil))
					case 5:
						if !m.Set(key, &Entry{Meta: meta, Body: content(key, rng.IntN(24<<10))}) && m.closed.Load() {
							if _, err := m.newBody(key, 1); !errors.Is(err, errSlabClosed) {
								t.Errorf("newBody after Close: %v, want errSlabClosed", err)
							}
						}
					default:
						if ref, ok := m.Get(key); ok {
							open = append(open, ref)
						}
					}
					if len(open) > 4 {
						check(open[0])
						open = open[1:]
					}
				}
				for _, ref := range open {
					check(ref)
				}
				loads.Wait()
			})
		}
		for ops.Load() < workers*50 {
			runtime.Gosched()
		}
		m.Close()
		if m.Set("k", memEntry("k", 10)) {
			t.Error("Set accepted after Close")
		}
		if _, ok := m.Get("c/1"); ok {
			t.Error("Get hit after Close")
		}
		wg.Wait()
		if n := m.alloc.inUseBytes(); n != 0 {
			t.Fatalf("iteration %d: %d bytes in use after Close and the last reference", iter, n)
		}
		if n := m.alloc.mapped(); n != 0 {
			t.Fatalf("iteration %d: %d bytes still mapped", iter, n)
		}
	}
	waitGoroutines(t, base)
}

// TestMemoryCloseWhileReadersAreInside closes the tier while goroutines
// are inside ristretto without the tier's lock (Get, Wait, Stats,
// UpdateMeta): Close must wait for them instead of shutting ristretto's
// channels under them (a data race, or a send on a closed channel).
func TestMemoryCloseWhileReadersAreInside(t *testing.T) {
	base := runtime.NumGoroutine()
	for range 300 {
		m, err := NewMemory(1<<20, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		m.Set("k", memEntry("k", 100))
		var wg sync.WaitGroup
		var calls atomic.Int64
		for range 4 {
			wg.Go(func() {
				for !m.closed.Load() {
					m.Wait()
					if ref, ok := m.Get("k"); ok {
						ref.Close()
					}
					m.UpdateMeta("k", Meta{})
					_ = m.Stats()
					calls.Add(1)
				}
			})
		}
		for calls.Load() < 8 {
			runtime.Gosched()
		}
		m.Close()
		wg.Wait()
	}
	waitGoroutines(t, base)
}

// TestMemoryPutAfterAPurgeBeganIsNotStored: an entry whose bytes were read
// before a purge began (stale says so, under the tier's lock) still serves
// its reader but is not stored, so a purge cannot be undone by a disk
// promotion or a fill that was on its way (found by the cluster test).
func TestMemoryPutAfterAPurgeBeganIsNotStored(t *testing.T) {
	m := newTestMemory(t, 8<<20, 1<<20)
	body := []byte("read before the purge")
	for _, stale := range []bool{true, false} {
		b, err := m.newBody("k", int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.copyFrom(bytes.NewReader(body), nil); err != nil {
			t.Fatal(err)
		}
		ref := m.put("k", Meta{}, b, func() bool { return stale })
		got, err := io.ReadAll(ref)
		ref.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("stale=%v: the caller's reference reads %q, %v", stale, got, err)
		}
		m.Wait()
		r, ok := m.Get("k")
		if ok {
			r.Close()
		}
		if ok == stale {
			t.Errorf("stale=%v: stored=%v", stale, ok)
		}
		m.Delete("k")
	}
}
