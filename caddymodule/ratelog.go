package caddymodule

import (
	"sync"
	"time"
)

// logLimiter lets through at most one log line per interval for each of a
// bounded number of keys (a disk folder, a bucket), and counts what it
// held back, so that an outage costs a few log lines instead of one per
// request. It is safe for concurrent use; the zero value is ready.
type logLimiter struct {
	mu   sync.Mutex
	keys map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

// logLimiterKeys bounds the keys a logLimiter remembers; beyond it, the
// oldest quiet keys are forgotten.
const logLimiterKeys = 1024

// allow reports whether a line for key may be logged now (at most one per
// interval), and how many lines were held back since the last one.
func (l *logLimiter) allow(key string, now time.Time, interval time.Duration) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[string]*limitState)
	}
	s := l.keys[key]
	if s == nil {
		if len(l.keys) >= logLimiterKeys {
			l.forgetQuiet(now, interval)
		}
		s = new(limitState)
		l.keys[key] = s
	} else if now.Sub(s.last) < interval {
		s.suppressed++
		return false, 0
	}
	suppressed, s.suppressed, s.last = s.suppressed, 0, now
	return true, suppressed
}

// forgetQuiet drops the keys that logged nothing for an interval, or all
// of them if none did: a key forgotten only logs one line early.
func (l *logLimiter) forgetQuiet(now time.Time, interval time.Duration) {
	for k, s := range l.keys {
		if now.Sub(s.last) >= interval {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= logLimiterKeys {
		clear(l.keys)
	}
}
