package cache

import "time"

// An outage of the disk tier, as a cache sees it, begins with a failure to
// create or write an entry. The cache then leaves the tier alone for
// diskPause (new objects go to memory or stream through, so a full or
// broken disk does not cost every response a failed write), reports the
// failure to Config.OnDiskError, and reports no further failure until the
// tier has worked again: until an entry created after the last failure has
// committed. A flapping disk may thus be reported once per pause; callers
// rate-limit their logs besides.

// diskPause is how long the disk tier is skipped after a write failed.
const diskPause = 30 * time.Second

// diskFailed skips the disk tier for a while and reports err if it is the
// first failure of an outage.
func (c *Cache) diskFailed(err error) {
	c.diskPausedUntil.Store(c.now().Add(diskPause).UnixNano())
	for {
		old := c.diskOutage.Load()
		if c.diskOutage.CompareAndSwap(old, (old>>1+1)<<1|1) {
			if old&1 == 0 && c.onDiskError != nil {
				c.onDiskError(err)
			}
			return
		}
	}
}

// diskEpoch is how many disk failures the cache has seen.
func (c *Cache) diskEpoch() uint64 { return c.diskOutage.Load() >> 1 }

// diskWorked notes an entry committed, created when the cache had seen epoch
// disk failures: if none came since, the outage (if any) is over.
func (c *Cache) diskWorked(epoch uint64) {
	if old := c.diskOutage.Load(); old == epoch<<1|1 {
		c.diskOutage.CompareAndSwap(old, epoch<<1)
	}
}
