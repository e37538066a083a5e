package cache

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
)

// EntryOverhead is the fixed cost, in bytes, the memory tier charges for an
// entry on top of its body and key: roughly what the Entry struct, its
// metadata strings and ristretto's own bookkeeping take. It also keeps the
// number of entries bounded when bodies are empty (MaxBytes / EntryOverhead
// at most), which a cost of len(Body) alone would not.
const EntryOverhead = 512

// typicalEntrySize is the body size NewMemory assumes to size ristretto's
// admission counters (10 per expected entry).
const typicalEntrySize = 8 << 10

// Bounds on ristretto's NumCounters: about 3 bytes each, so the upper bound
// costs about 48 MiB and only applies to memory tiers of many GiB.
const (
	minCounters = 10_000
	maxCounters = 16 << 20
)

// Memory is the memory tier: a byte-bounded map from cache key to Entry on
// ristretto (TinyLFU admission, sampled LFU eviction). It is never the source
// of truth: a Set may be dropped or refused by admission, and an entry may go
// at any time, so callers fall through to the disk tier and the bucket.
//
// Cache keys are the caller's (for example a namespace plus the object
// key); they need not equal Entry.Key. Entries must not be modified once
// handed to Set: readers share them without copying.
//
// A nil *Memory is a disabled tier: it holds nothing and every method is a
// no-op.
type Memory struct {
	c        *ristretto.Cache[string, *memItem]
	alloc    *allocator
	maxBytes int64
	maxItem  int64

	// mu serialises writers (Set, Delete, DeletePrefix) and Close: Set's
	// delete-then-insert must not interleave with another write of the
	// same key, a purge must see every Set that returned before it, and
	// nothing may write to ristretto's buffers once Close has shut them.
	mu     sync.Mutex
	closed atomic.Bool
	// readers are the calls into ristretto that do not take mu (Get,
	// UpdateMeta, Wait, Bytes, Stats); Close waits for them to leave.
	readers readerGate

	evictions atomic.Uint64
	rejected  atomic.Uint64
}

// memItem is what ristretto stores: a body outside the Go heap, its
// metadata, and the key it was stored under, so that a purge can walk keys
// and Get can rule out hash collisions.
//
// refs counts its references (the tier's own, one per open BodyRef, a
// load's; see bodyref.go). The body's memory goes back to the allocator
// when it drops to zero, so an eviction never frees bytes a response is
// still sending.
type memItem struct {
	key  string
	meta atomic.Pointer[Meta]
	body *body
	refs atomic.Int64
	// annot is a caller's value derived from the entry (BodyRef.Annotation).
	annot atomic.Pointer[annotation]
}

// acquire takes a reference unless the item is already released.
func (it *memItem) acquire() bool {
	for {
		r := it.refs.Load()
		if r <= 0 {
			return false
		}
		if it.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference and frees the body with the last one.
func (it *memItem) release() {
	switch n := it.refs.Add(-1); {
	case n == 0:
		it.body.a.free(it.body)
	case n < 0:
		panic("cache: memory tier entry released more often than acquired")
	}
}

// MemoryStats is a snapshot of the memory tier's counters.
type MemoryStats struct {
	// Hits and Misses count Get calls.
	Hits, Misses uint64
	// Evictions counts entries pushed out to make room for others.
	Evictions uint64
	// Rejected counts Sets that did not store their entry: too large,
	// dropped under contention or refused by admission.
	Rejected uint64
	// Entries is the number of entries held.
	Entries uint64
	// Bytes is the current cost of all entries (see Memory.Bytes) and
	// MaxBytes the bound it never exceeds.
	Bytes, MaxBytes int64
}

// NewMemory returns a memory tier holding at most maxBytes, counted as
// entryCost (body, key and EntryOverhead), and refusing bodies longer than
// maxItem. A maxItem above maxBytes is lowered to maxBytes. Close it to stop
// its goroutines.
func NewMemory(maxBytes, maxItem int64) (*Memory, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache: memory tier size must be positive, got %d", maxBytes)
	}
	if maxItem <= 0 {
		return nil, fmt.Errorf("cache: memory tier item limit must be positive, got %d", maxItem)
	}
	m := &Memory{maxBytes: maxBytes, maxItem: min(maxItem, maxBytes), alloc: newAllocator(maxBytes)}
	c, err := ristretto.NewCache(&ristretto.Config[string, *memItem]{
		NumCounters:        numCounters(maxBytes),
		MaxCost:            maxBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
		OnEvict: func(it *ristretto.Item[*memItem]) {
			if it.Value != nil && !m.closed.Load() { // Close evicts everything: not counted
				m.evictions.Add(1)
			}
		},
		OnReject: func(*ristretto.Item[*memItem]) { m.rejected.Add(1) },
		// Every value that leaves the store (evicted, rejected, deleted,
		// replaced, cleared) passes here exactly once: the tier's reference.
		OnExit: func(it *memItem) {
			if it != nil {
				it.release()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: creating memory tier: %w", err)
	}
	m.c = c
	return m, nil
}

// numCounters sizes ristretto's frequency sketch: ten counters per entry
// the tier would hold if every body were typicalEntrySize bytes, within
// [minCounters, maxCounters].
func numCounters(maxBytes int64) int64 {
	return min(max(maxBytes/(typicalEntrySize+EntryOverhead)*10, minCounters), maxCounters)
}

// entryCost is what an entry of size bytes stored under key counts against
// the bound: the memory its body takes (whole units, see slab.go), its key,
// and EntryOverhead.
func entryCost(key string, size int64) int64 {
	return allocatedSize(size) + int64(len(key)) + EntryOverhead
}

// Get returns a reference to the entry stored under key; Close it when
// done. It allocates only the reference.
func (m *Memory) Get(key string) (*BodyRef, bool) {
	if m == nil || !m.readers.enter() {
		return nil, false
	}
	defer m.readers.leave()
	it, ok := m.c.Get(key)
	// ristretto matches keys by a 128-bit hash; comparing the key itself
	// makes a collision a miss instead of someone else's object.
	if !ok || it == nil || it.key != key || !it.acquire() {
		return nil, false
	}
	r := new(BodyRef)
	initBodyRef(r, it, it.meta.Load())
	return r, true
}

// keyBufs are the buffers getJoined builds a lookup key in.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// getJoined is Get(ns + key) into *ref (a zero BodyRef) without making the
// joined key: it is built in a pooled buffer, which only ristretto's hash
// and the comparison with the stored key see. A hit costs no allocation.
func (m *Memory) getJoined(ns, key string, ref *BodyRef) bool {
	if m == nil || !m.readers.enter() {
		return false
	}
	defer m.readers.leave()
	bp := keyBufs.Get().(*[]byte)
	b := append(append((*bp)[:0], ns...), key...)
	k := unsafe.String(unsafe.SliceData(b), len(b))
	it, ok := m.c.Get(k)
	ok = ok && it != nil && it.key == k && it.acquire()
	*bp = b[:0]
	keyBufs.Put(bp)
	if !ok {
		return false
	}
	initBodyRef(ref, it, it.meta.Load())
	return true
}

// Set copies e's body into the tier under key, replacing what is stored
// there. It reports false when the entry is refused outright: nil, a body
// over the item limit, memory that cannot be mapped, or the tier closed or
// too busy. True means the entry was queued; admission may still refuse
// it, and it becomes visible to Get shortly after (Wait makes it visible
// at once).
func (m *Memory) Set(key string, e *Entry) bool {
	if m == nil || e == nil {
		return false
	}
	b, err := m.newBody(key, int64(len(e.Body)))
	if err != nil {
		return false
	}
	(&bodyWriter{b: b}).Write(e.Body) // exactly its size: cannot fail
	return m.store(key, e.Meta, b, nil)
}

// errNoMemory: the memory tier cannot take a body (too large, memory that
// cannot be mapped, tier closed).
var errNoMemory = errors.New("cache: no room in the memory tier")

// newBody allocates memory for a body of size bytes to be stored under key,
// or refuses it (counted) when it can never fit.
func (m *Memory) newBody(key string, size int64) (*body, error) {
	if size > m.maxItem || entryCost(key, size) > m.maxBytes {
		m.rejected.Add(1)
		return nil, fmt.Errorf("%w: %w", errNoMemory, ErrTooLarge)
	}
	b, err := m.alloc.alloc(size)
	if err != nil {
		m.rejected.Add(1)
		return nil, fmt.Errorf("%w: %w", errNoMemory, err)
	}
	return b, nil
}

// put makes b, written whole, an entry with meta, offers it to the tier
// under key (see insert), and returns a reference to it, which the caller
// closes whether the tier took it or not.
//
// stale, when not nil, is asked under the tier's write lock, the one
// purges hold while they walk the store: when it says the entry is out of
// date (a purge began since its bytes were read), the entry is not
// stored, and the reference still serves the caller. Checked anywhere
// else, a purge could run between the check and the insert, and the
// purged entry would come back.
func (m *Memory) put(key string, meta Meta, b *body, stale func() bool) *BodyRef {
	it := newMemItem(key, meta, b)
	ref := newBodyRef(it, meta)
	m.insert(it, stale)
	return ref
}

// store is put for a caller that keeps no reference; it reports whether
// the entry was queued.
func (m *Memory) store(key string, meta Meta, b *body, stale func() bool) bool {
	it := newMemItem(key, meta, b)
	defer it.release()
	return m.insert(it, stale)
}

// newMemItem makes an item of b with one reference, the caller's.
func newMemItem(key string, meta Meta, b *body) *memItem {
	it := &memItem{key: key, body: b}
	it.meta.Store(&meta)
	it.refs.Store(1)
	return it
}

// insert offers it, whose body is complete, to the tier under its key,
// with a reference of the tier's own, and reports whether it was queued;
// stale as for put.
//
// Replacing goes through delete-then-insert, so a larger entry makes room
// for itself by eviction like a new one instead of growing past the bound.
// Between the two a Get misses, which is harmless for a cache.
func (m *Memory) insert(it *memItem, stale func() bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() || (stale != nil && stale()) {
		return false
	}
	it.refs.Add(1) // the tier's, handed to ristretto
	m.c.Del(it.key)
	if !m.c.Set(it.key, it, entryCost(it.key, it.body.size)) {
		it.release() // dropped: ristretto never saw it
		m.rejected.Add(1)
		return false
	}
	return true
}

// UpdateMeta replaces the metadata of the entry under key in place (a
// revalidation's new timing) and reports whether there was one.
func (m *Memory) UpdateMeta(key string, meta Meta) bool {
	if m == nil || !m.readers.enter() {
		return false
	}
	defer m.readers.leave()
	it, ok := m.c.Get(key)
	if !ok || it == nil || it.key != key {
		return false
	}
	it.meta.Store(&meta)
	return true
}

// Delete removes the entry under key; Get misses it from the moment Delete
// returns.
func (m *Memory) Delete(key string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed.Load() {
		m.c.Del(key)
	}
}

// DeletePrefix removes every entry whose key starts with prefix (all of
// them for ""), including entries whose Set returned before DeletePrefix
// was called but was not applied yet, and returns how many it removed.
//
// Ristretto v2 can walk its stored values (IterValues) and each carries
// its key, so the store itself is the key set: there is no second
// index to keep in sync with evictions, rejections and replacements, and
// nothing that can leak or miss a key. The walk is linear in the number of
// entries and blocks writers meanwhile; purges are rare.
func (m *Memory) DeletePrefix(prefix string) int {
	return m.DeleteFunc(func(key string) bool { return strings.HasPrefix(key, prefix) })
}

// DeleteFunc removes every entry whose key match accepts, in one walk of
// the store, and returns how many went. match runs under the tier's write
// lock: keep it quick.
func (m *Memory) DeleteFunc(match func(key string) bool) int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return 0
	}
	m.c.Wait() // apply queued Sets so the walk sees them
	var keys []string
	m.c.IterValues(func(it *memItem) bool {
		if it != nil && match(it.key) {
			keys = append(keys, it.key)
		}
		return false
	})
	for _, k := range keys {
		m.c.Del(k)
	}
	return len(keys)
}

// Wait blocks until every Set queued so far has been applied or refused.
// Tests use it; serving code never needs it.
func (m *Memory) Wait() {
	if m == nil || !m.readers.enter() {
		return
	}
	defer m.readers.leave()
	m.c.Wait()
}

// Bytes is the current cost of the entries held (bodies, keys and
// EntryOverhead each), as ristretto's eviction policy accounts it. It never
// exceeds the maxBytes given to NewMemory.
func (m *Memory) Bytes() int64 {
	if m == nil || !m.readers.enter() {
		return 0
	}
	defer m.readers.leave()
	return m.bytes()
}

func (m *Memory) bytes() int64 { return m.c.MaxCost() - m.c.RemainingCost() }

// Stats returns the tier's counters.
func (m *Memory) Stats() MemoryStats {
	if m == nil || !m.readers.enter() {
		return MemoryStats{}
	}
	defer m.readers.leave()
	r := m.c.Metrics
	var entries uint64
	if added, gone := r.KeysAdded(), r.KeysEvicted(); added > gone {
		entries = added - gone // ristretto counts deletes as evictions
	}
	return MemoryStats{
		Hits:      r.Hits(),
		Misses:    r.Misses(),
		Evictions: m.evictions.Load(),
		Rejected:  m.rejected.Load(),
		Entries:   entries,
		Bytes:     m.bytes(),
		MaxBytes:  m.maxBytes,
	}
}

// Close drops every entry and stops the tier's goroutines. It may run
// while the tier is in use: calls in progress finish first, and later
// ones behave as on an empty tier that refuses every Set (errSlabClosed
// inside). References taken before stay readable until they are closed,
// loads in progress write on (their insert is refused), and the memory
// goes back to the kernel with the last release. Later calls do nothing.
func (m *Memory) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Swap(true) {
		return
	}
	m.readers.close() // no Get, Wait or Stats inside ristretto from here on
	m.c.Close()       // releases the tier's references
	m.alloc.close()
}

// readerGate counts calls in progress and, once closed, turns new ones
// away; close waits for those in progress. One atomic word: the count and
// closedFlag.
type readerGate struct{ n atomic.Int64 }

// enter reports whether a call may proceed; if so, it must call leave.
func (g *readerGate) enter() bool {
	if g.n.Add(1)&closedFlag != 0 {
		g.n.Add(-1)
		return false
	}
	return true
}

func (g *readerGate) leave() { g.n.Add(-1) }

// close turns new calls away and waits for the calls in progress, which
// are short (a map lookup; Wait, for the set buffer to drain).
func (g *readerGate) close() {
	g.n.Or(closedFlag)
	for spins := 0; g.n.Load() != closedFlag; spins++ {
		if spins < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}
