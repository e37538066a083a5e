//go:build !unix

package cache

// Without anonymous mappings, arenas are Go memory.
func mapArena(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapArena([]byte) {}

func releasePages([]byte) {}

// contiguousArenas is false: arenas are separate Go allocations, and one
// slice must never span two.
const contiguousArenas = false
