package cache

// Stats are a Cache's counters and current sizes, for metrics. Counters
// only grow; sizes are current values.
type Stats struct {
	// MemoryBytes and DiskBytes are the bytes each tier holds now.
	MemoryBytes int64
	DiskBytes   int64
	// MemoryItems and DiskItems are how many entries each tier holds.
	MemoryItems int64
	DiskItems   int64
	// MemoryEvictions and DiskEvictions count entries pushed out to make
	// room.
	MemoryEvictions uint64
	DiskEvictions   uint64
	// DiskCorrupted counts disk entries dropped because their checksum or
	// size was wrong.
	DiskCorrupted uint64
	// DiskErrors counts failed disk writes (full, unwritable).
	DiskErrors uint64
	// Coalesced counts requests that waited for another request's bucket
	// fetch instead of making their own.
	Coalesced uint64
}
