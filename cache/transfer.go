package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// transfer is a bucket body on its way into a tier: into a pending disk
// entry, or into a memory-tier body (a memory load). One goroutine copies it (see copy.go) while
// requests read along, each with a Response of its own.
//
// Uses count what may still read it: every fetch result that refers to it
// (the coalesced fetch's own, and each waiter's share, see fetchResult) and
// every open Response made from one. A use of a memory transfer comes with
// a reference to its memory-tier item (which a Response's BodyRef takes
// over), so the body outlives the copy for whoever still has to read it,
// even when the tier does not keep it. While the cache is open a transfer
// runs to its end even when nobody reads (the next request is a hit). Once
// the cache is closed it runs only while used: Close stops those nobody
// uses, and the last use to go stops the others, so a reload neither cuts
// a reader short nor leaves a copy running for nobody.
type transfer struct {
	key    string // the cache key
	meta   Meta
	bucket origin.Bucket // where a disk transfer's readers go when it fails
	purges uint64        // the cache's purge count when the fetch began
	// One of: the disk entry being written, or the memory load.
	disk *Pending
	mem  *memoryLoad
	// diskEpoch is the cache's count of disk failures when disk was
	// created (see diskWorked).
	diskEpoch uint64

	stop   context.CancelFunc // cancels the bucket read
	closed *atomic.Bool       // the cache's

	mu      sync.Mutex
	uses    int
	stopped bool
}

// hold takes a use of t (with its item reference), unless t was stopped or
// its memory body is already gone.
func (t *transfer) hold() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.mem != nil && !t.mem.it.acquire() {
		return false
	}
	t.uses++
	return true
}

// drop gives back a use and its item reference.
func (t *transfer) drop() {
	if t.mem != nil {
		t.mem.it.release()
	}
	t.dropUse()
}

// dropUse gives back a use whose item reference went elsewhere (to a
// BodyRef). The last use stops t if the cache is closed.
func (t *transfer) dropUse() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.uses--
	if t.uses == 0 && t.closed.Load() {
		t.stopLocked()
	}
}

// stopIfUnused stops t if nothing uses it.
func (t *transfer) stopIfUnused() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.uses == 0 {
		t.stopLocked()
	}
}

func (t *transfer) stopLocked() {
	if !t.stopped {
		t.stopped = true
		t.stop()
	}
}

// result returns a fetch result reading t that holds a use of it, or nil
// when t was stopped.
func (t *transfer) result() *fetchResult {
	if !t.hold() {
		return nil
	}
	return &fetchResult{meta: t.meta, tr: t, status: 200, stored: true}
}

// transfers are a cache's transfers in progress.
type transfers struct {
	mu sync.Mutex
	// byKey holds the fresh transfer of each key, so that requests
	// arriving after the fetch returned, but before the entry is
	// committed, read along instead of fetching again. A purge takes
	// transfers out of it.
	byKey map[string]*transfer
	// all holds every transfer still copying, for Close.
	all map[*transfer]struct{}
}

func (ts *transfers) init() {
	ts.byKey = make(map[string]*transfer)
	ts.all = make(map[*transfer]struct{})
}

// add lists t as its key's transfer.
func (ts *transfers) add(t *transfer) {
	ts.mu.Lock()
	ts.byKey[t.key] = t
	ts.all[t] = struct{}{}
	ts.mu.Unlock()
}

// remove takes t off the lists: its copy has ended.
func (ts *transfers) remove(t *transfer) {
	ts.mu.Lock()
	if ts.byKey[t.key] == t {
		delete(ts.byKey, t.key)
	}
	delete(ts.all, t)
	ts.mu.Unlock()
}

// of returns the transfer of ckey in progress, if its object is still
// fresh at now; else nil. Use it with result.
func (ts *transfers) of(ckey string, now time.Time) *transfer {
	ts.mu.Lock()
	t := ts.byKey[ckey]
	ts.mu.Unlock()
	if t != nil && t.meta.Fresh(now) {
		return t
	}
	return nil
}

// forget takes the transfers whose keys match out of byKey, so no new
// request reads along with a purged one (the tier will not keep it).
func (ts *transfers) forget(match func(string) bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k := range ts.byKey {
		if match(k) {
			delete(ts.byKey, k)
		}
	}
}

// stopUnused stops every transfer nobody uses (Close).
func (ts *transfers) stopUnused() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t := range ts.all {
		t.stopIfUnused()
	}
}
