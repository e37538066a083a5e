package cache

// Stats are a Cache's own counters and current sizes, for metrics: its
// memory tier, its coalescing and its backoff. Counters only grow; sizes
// are current values. The disk tier is not in them: one Disk may serve
// several caches, so report Disk().Stats() once per distinct Disk.
type Stats struct {
	// MemoryBytes is what the memory tier holds now, as it counts it
	// (bodies, keys and EntryOverhead); MemoryItems how many entries.
	MemoryBytes int64
	MemoryItems int64
	// MemoryEvictions counts entries pushed out of memory to make room.
	MemoryEvictions uint64
	// Coalesced counts requests that waited for another request's bucket
	// fetch instead of making their own.
	Coalesced uint64
	// FailedFast counts requests answered without asking a failing bucket
	// (a *BackoffError, or a stale copy served because of one).
	FailedFast uint64
}
