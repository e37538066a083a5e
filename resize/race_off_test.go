//go:build !race

package resize

// raceEnabled is set in -race builds, where the shrink-on-load tests
// compare fewer variants of their large sources (every one without -race).
const raceEnabled = false
