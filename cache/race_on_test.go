//go:build race

package cache

// raceEnabled is set in -race builds, where sync.Pool drops a share of
// what is put in it (so pooled paths allocate now and then).
const raceEnabled = true
