package flight

import "sync"

// Running counts goroutines, like a sync.WaitGroup that may also be waited
// on while it grows (a test waiting for background copies while a
// background refresh starts one). The zero value is ready to use; a
// Running must not be copied after first use.
type Running struct {
	mu   sync.Mutex
	n    int
	zero *sync.Cond // on mu; made by the first wait
}

// Add counts one more goroutine.
func (r *Running) Add() {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
}

// Done counts one goroutine finished.
func (r *Running) Done() {
	r.mu.Lock()
	r.n--
	if r.n == 0 && r.zero != nil {
		r.zero.Broadcast()
	}
	r.mu.Unlock()
}

// Wait blocks until the count is zero, including goroutines added while
// it waits.
func (r *Running) Wait() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.zero == nil {
		r.zero = sync.NewCond(&r.mu)
	}
	for r.n > 0 {
		r.zero.Wait()
	}
}
