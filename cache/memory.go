package cache

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

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
	maxBytes int64
	maxItem  int64

	// mu serialises writers (Set, Delete, DeletePrefix) and Close: Set's
	// delete-then-insert must not interleave with another write of the
	// same key, a purge must see every Set that returned before it, and
	// nothing may write to ristretto's buffers once Close has shut them.
	mu     sync.Mutex
	closed atomic.Bool

	evictions atomic.Uint64
	rejected  atomic.Uint64
}

// memItem is what ristretto stores: the entry and the key it was stored
// under, so that a purge can walk keys and Get can rule out hash
// collisions.
type memItem struct {
	key string
	e   *Entry
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
	m := &Memory{maxBytes: maxBytes, maxItem: min(maxItem, maxBytes)}
	c, err := ristretto.NewCache(&ristretto.Config[string, *memItem]{
		NumCounters:        numCounters(maxBytes),
		MaxCost:            maxBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
		OnEvict: func(*ristretto.Item[*memItem]) {
			if !m.closed.Load() { // Close evicts everything: not counted
				m.evictions.Add(1)
			}
		},
		OnReject: func(*ristretto.Item[*memItem]) { m.rejected.Add(1) },
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

// entryCost is what an entry stored under key counts against the bound.
func entryCost(key string, e *Entry) int64 {
	return int64(len(e.Body)) + int64(len(key)) + EntryOverhead
}

// Get returns the entry stored under key. It does not allocate.
func (m *Memory) Get(key string) (*Entry, bool) {
	if m == nil || m.closed.Load() {
		return nil, false
	}
	it, ok := m.c.Get(key)
	// ristretto matches keys by a 128-bit hash; comparing the key itself
	// makes a collision a miss instead of someone else's object.
	if !ok || it == nil || it.key != key {
		return nil, false
	}
	return it.e, true
}

// Set offers e to the tier under key, replacing what is stored there. It
// reports false when the entry is refused outright: nil, a body over the
// item limit, or the tier closed or too busy. True means the entry was
// queued; admission may still refuse it, and it becomes visible to Get
// shortly after (Wait makes it visible at once).
//
// Replacing goes through delete-then-insert, so a larger entry makes room
// for itself by eviction like a new one instead of growing past the bound.
// Between the two a Get misses, which is harmless for a cache.
func (m *Memory) Set(key string, e *Entry) bool {
	if m == nil || e == nil {
		return false
	}
	cost := entryCost(key, e)
	if int64(len(e.Body)) > m.maxItem || cost > m.maxBytes {
		m.rejected.Add(1)
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return false
	}
	m.c.Del(key)
	if !m.c.Set(key, &memItem{key: key, e: e}, cost) {
		m.rejected.Add(1)
		return false
	}
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
	if m == nil || m.closed.Load() {
		return
	}
	m.c.Wait()
}

// Bytes is the current cost of the entries held (bodies, keys and
// EntryOverhead each), as ristretto's eviction policy accounts it. It never
// exceeds the maxBytes given to NewMemory.
func (m *Memory) Bytes() int64 {
	if m == nil || m.closed.Load() {
		return 0
	}
	return m.c.MaxCost() - m.c.RemainingCost()
}

// Stats returns the tier's counters.
func (m *Memory) Stats() MemoryStats {
	if m == nil || m.closed.Load() {
		return MemoryStats{}
	}
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
		Bytes:     m.Bytes(),
		MaxBytes:  m.maxBytes,
	}
}

// Close drops every entry and stops the tier's goroutines. Later calls are
// no-ops; Get, Set and the rest then behave as on an empty tier. Close
// must not run while a Get is in progress: the owner closes the tier once
// its last user is gone.
func (m *Memory) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Swap(true) {
		return
	}
	m.c.Close()
}
