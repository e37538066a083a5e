//go:build unix

package cache

import "golang.org/x/sys/unix"

// mapArena maps n bytes of private anonymous memory, outside the Go heap.
func mapArena(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
}

// unmapArena unmaps an arena from mapArena.
func unmapArena(a []byte) { _ = unix.Munmap(a) }

// releasePages gives the pages of p back to the kernel: they stop counting
// in the RSS, and read as zeros when touched again.
func releasePages(p []byte) { _ = unix.Madvise(p, unix.MADV_DONTNEED) }

// contiguousArenas: units next to each other in memory may be read as one
// slice, even across two mappings (both stay mapped while a body uses them).
const contiguousArenas = true
