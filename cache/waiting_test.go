package cache

import (
	"testing"
	"time"
)

// hang is how long a test waits for something that must happen before it
// calls it a hang. It is not a timing assertion: only a deadlock reaches it.
const hang = time.Minute

// await returns what ch delivers, failing the test on a hang.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hang):
		t.Fatalf("%s: nothing after %v", what, hang)
		panic("unreachable")
	}
}

// eventually polls cond until it holds, failing the test on a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, hang)
		}
		time.Sleep(time.Millisecond)
	}
}
