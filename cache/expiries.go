package cache

import (
	"sync"
	"time"
)

// expiries is a bounded set of keys, each valid until a time: the memory
// of missing and uncacheable keys.
//
// Entries go as they lapse, not only when the set is full: a queue ordered
// by expiry (a binary heap) lets every call drop up to lapsePerCall lapsed
// entries from its front, so lapsed keys leave at up to that many times
// the rate new ones arrive, without a goroutine or a sweep of the whole
// map. When the map has shrunk to a quarter of its peak it is rebuilt, as
// Go maps never give back the room of deleted keys. When the set is full,
// the entries closest to their expiry make room.
type expiries struct {
	mu    sync.Mutex
	m     map[string]time.Time
	queue []expiry // a min-heap on until; an entry is stale when m no longer holds it
	max   int
	peak  int // the most entries m has held since it was made
}

// expiry is an entry of the queue: k was set to be valid until until.
type expiry struct {
	k     string
	until time.Time
}

// lapsePerCall bounds the lapsed entries one call removes (about 100 µs of
// work at most).
const lapsePerCall = 1024

// shrinkFloor is the smallest peak after which a shrunk map is rebuilt.
const shrinkFloor = 4096

func (e *expiries) init(max int) {
	e.m, e.queue, e.max, e.peak = make(map[string]time.Time), nil, max, 0
}

// set remembers k until the given time. When the set is full, the entries
// that lapse soonest go first.
func (e *expiries) set(k string, until, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropLapsed(now)
	if _, ok := e.m[k]; !ok {
		for len(e.m) >= e.max {
			if !e.evictSoonest() {
				break
			}
		}
	}
	e.m[k] = until
	e.push(expiry{k, until})
	e.peak = max(e.peak, len(e.m))
	if len(e.queue) > 2*len(e.m)+lapsePerCall {
		e.rebuild() // keys set again and again, or purged: stale entries
	}
}

// until returns when k's entry ends, if it is valid at now.
func (e *expiries) until(k string, now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropLapsed(now)
	t, ok := e.m[k]
	if ok && !now.Before(t) {
		delete(e.m, k)
		return time.Time{}, false
	}
	return t, ok
}

// valid reports whether k has an entry valid at now.
func (e *expiries) valid(k string, now time.Time) bool {
	_, ok := e.until(k, now)
	return ok
}

// deleteFunc forgets every key match accepts and returns how many.
func (e *expiries) deleteFunc(match func(string) bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for k := range e.m {
		if match(k) {
			delete(e.m, k)
			n++
		}
	}
	if n > 0 {
		e.shrink()
	}
	return n
}

// len is how many entries the set holds, lapsed or not.
func (e *expiries) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.m)
}

// dropLapsed removes up to lapsePerCall entries that lapsed by now, from
// the front of the queue. e.mu must be held.
func (e *expiries) dropLapsed(now time.Time) {
	for range lapsePerCall {
		if len(e.queue) == 0 || now.Before(e.queue[0].until) {
			break
		}
		x := e.pop()
		if t, ok := e.m[x.k]; ok && t.Equal(x.until) {
			delete(e.m, x.k)
		}
	}
	e.shrink()
}

// evictSoonest removes the live entry that lapses first and reports
// whether there was one. e.mu must be held.
func (e *expiries) evictSoonest() bool {
	for len(e.queue) > 0 {
		x := e.pop()
		if t, ok := e.m[x.k]; ok && t.Equal(x.until) {
			delete(e.m, x.k)
			return true
		}
	}
	return false
}

// shrink rebuilds the map and the queue once the map holds a quarter of
// its peak or less. e.mu must be held.
func (e *expiries) shrink() {
	if e.peak >= shrinkFloor && len(e.m) <= e.peak/4 {
		m := make(map[string]time.Time, len(e.m))
		for k, t := range e.m {
			m[k] = t
		}
		e.m, e.peak = m, len(m)
		e.rebuild()
	}
}

// rebuild makes the queue anew from the map: no stale entries. e.mu must
// be held.
func (e *expiries) rebuild() {
	e.queue = make([]expiry, 0, len(e.m))
	for k, t := range e.m {
		e.queue = append(e.queue, expiry{k, t})
	}
	for i := len(e.queue)/2 - 1; i >= 0; i-- {
		e.down(i)
	}
}

func (e *expiries) push(x expiry) {
	e.queue = append(e.queue, x)
	for i := len(e.queue) - 1; i > 0; {
		parent := (i - 1) / 2
		if !e.queue[i].until.Before(e.queue[parent].until) {
			break
		}
		e.queue[i], e.queue[parent] = e.queue[parent], e.queue[i]
		i = parent
	}
}

func (e *expiries) pop() expiry {
	q := e.queue
	x := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = expiry{} // no key kept alive by the spare capacity
	e.queue = q[:last]
	e.down(0)
	return x
}

// down moves the entry at i down the heap to its place.
func (e *expiries) down(i int) {
	q := e.queue
	for {
		least := i
		if l := 2*i + 1; l < len(q) && q[l].until.Before(q[least].until) {
			least = l
		}
		if r := 2*i + 2; r < len(q) && q[r].until.Before(q[least].until) {
			least = r
		}
		if least == i {
			return
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
}
