package resize

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of Queue.Acquire. Both mean "too busy now": the handler answers
// 503 with Retry-After.
var (
	// ErrQueueFull: as many resizes already wait as the queue holds.
	ErrQueueFull = errors.New("resize: queue full")
	// ErrQueueTimeout: the resize waited its queue timeout for a slot.
	ErrQueueTimeout = errors.New("resize: waited too long in the queue")
)

// Queue admits resizes: at most concurrency run at once and, together,
// they hold at most a memory budget (each resize's cost is estimated from
// its dimensions before it starts); at most waiting more wait, each for
// at most timeout. Waiters are served in arrival order, so a large resize
// is not starved by small ones. It is safe for concurrent use.
type Queue struct {
	concurrency int
	budget      int64
	waiting     int
	timeout     time.Duration

	mu      sync.Mutex
	running int
	used    int64
	queue   []*waiter // in arrival order
}

type waiter struct {
	cost  int64
	ready chan struct{} // closed when admitted
}

// NewQueue returns a queue for concurrency resizes at once (at least 1),
// within budget bytes (0: no memory bound), with room for waiting more
// (0: none wait) for at most timeout each (0: no limit but the context).
func NewQueue(concurrency int, budget int64, waiting int, timeout time.Duration) *Queue {
	return &Queue{concurrency: max(concurrency, 1), budget: budget, waiting: max(waiting, 0), timeout: timeout}
}

// Acquire waits until a resize of the given memory cost may run and
// returns the function that ends it; call it exactly once. A cost above
// the whole budget is refused at once (an error wrapping ErrQueueFull): it
// could never run. Errors: ErrQueueFull, ErrQueueTimeout, or ctx's error.
func (q *Queue) Acquire(ctx context.Context, cost int64) (release func(), err error) {
	if q.budget > 0 && cost > q.budget {
		return nil, fmt.Errorf("resize: needs %d bytes, more than the whole budget of %d: %w", cost, q.budget, ErrQueueFull)
	}
	q.mu.Lock()
	if len(q.queue) == 0 && q.fits(cost) {
		q.admit(cost)
		q.mu.Unlock()
		return q.releaser(cost), nil
	}
	if len(q.queue) >= q.waiting {
		q.mu.Unlock()
		return nil, ErrQueueFull
	}
	w := &waiter{cost: cost, ready: make(chan struct{})}
	q.queue = append(q.queue, w)
	q.mu.Unlock()

	var timeout <-chan time.Time
	if q.timeout > 0 {
		t := time.NewTimer(q.timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-w.ready:
		return q.releaser(cost), nil
	case <-timeout:
		err = ErrQueueTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-w.ready: // admitted while giving up: take it, then give it back
		q.end(cost)
	default:
		q.remove(w)
		q.wake() // a waiter behind this one may fit now
	}
	return nil, err
}

// Stats reports the resizes running and waiting now, and the memory the
// running ones hold.
func (q *Queue) Stats() (running, waiting int, used int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running, len(q.queue), q.used
}

func (q *Queue) fits(cost int64) bool {
	return q.running < q.concurrency && (q.budget <= 0 || q.used+cost <= q.budget)
}

func (q *Queue) admit(cost int64) {
	q.running++
	q.used += cost
}

func (q *Queue) releaser(cost int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.end(cost)
		})
	}
}

// end returns a finished resize's slot and memory and admits waiters.
// q.mu is held.
func (q *Queue) end(cost int64) {
	q.running--
	q.used -= cost
	q.wake()
}

// wake admits waiters from the front of the queue while they fit. q.mu is
// held.
func (q *Queue) wake() {
	for len(q.queue) > 0 && q.fits(q.queue[0].cost) {
		w := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.admit(w.cost)
		close(w.ready)
	}
}

// remove takes w out of the queue. q.mu is held.
func (q *Queue) remove(w *waiter) {
	for i, x := range q.queue {
		if x == w {
			q.queue = append(q.queue[:i], q.queue[i+1:]...)
			return
		}
	}
}
