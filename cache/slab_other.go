//go:build !unix

package cache

// Without anonymous mappings, arenas are Go memory.
func mapArena(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapArena([]byte) {}

func releasePages([]byte) {}
