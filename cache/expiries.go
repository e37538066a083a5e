package cache

import (
	"sync"
	"time"
)

// expiries is a bounded set of keys, each valid until a time: the memory
// of missing and uncacheable keys.
type expiries struct {
	mu  sync.Mutex
	m   map[string]time.Time
	max int
}

func (e *expiries) init(max int) { e.m, e.max = make(map[string]time.Time), max }

// set remembers k until the given time. When the set is full, expired keys
// go first, then everything.
func (e *expiries) set(k string, until, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) >= e.max {
		for k, t := range e.m {
			if !now.Before(t) {
				delete(e.m, k)
			}
		}
		if len(e.m) >= e.max {
			clear(e.m)
		}
	}
	e.m[k] = until
}

// valid reports whether k is remembered at now.
// until returns when k's entry ends, if it is valid at now.
func (e *expiries) until(k string, now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
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
	return n
}
