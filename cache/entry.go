// Package cache is r2gate's tiered object cache: a bounded memory tier
// (ristretto), a bounded disk tier that survives restarts, freshness and
// revalidation rules, and request coalescing. It knows nothing about Caddy.
package cache

import (
	"time"

	"github.com/r2gate/r2gate/origin"
)

// Meta is what the cache keeps about an object besides its bytes: the
// object's metadata as the bucket gave it, and the cache's own timing.
type Meta struct {
	origin.Info

	// Stored is when the entry was fetched or last revalidated; the Age
	// header counts from it.
	Stored time.Time `json:"stored"`
	// Expires is when the entry stops being fresh at the edge.
	Expires time.Time `json:"expires"`
}

// Fresh reports whether the entry may be served without asking the bucket.
func (m *Meta) Fresh(now time.Time) bool { return now.Before(m.Expires) }

// Age is how long ago the entry was stored, in whole seconds, never
// negative.
func (m *Meta) Age(now time.Time) time.Duration {
	if d := now.Sub(m.Stored).Truncate(time.Second); d > 0 {
		return d
	}
	return 0
}

// Entry is an object with its bytes in an ordinary slice: what Memory.Set
// copies into the memory tier and Disk.Load reads out of the disk tier.
// Serving never goes through it (responses read tier bodies in place).
type Entry struct {
	Meta
	Body []byte
}
