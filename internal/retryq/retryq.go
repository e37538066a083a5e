// Package retryq runs background jobs that must not hold up a response,
// such as writing a resized variant back to the bucket or forwarding a
// purge to a peer: a fixed number of workers, a bounded queue, retries
// with backoff for a bounded number of attempts, and a Close that drains
// what is queued within a deadline (the server's grace period) and then
// cancels the rest.
package retryq

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Config sets a Queue's bounds. Zero values take the defaults.
type Config struct {
	// Workers run jobs at once. Default 2.
	Workers int
	// Size bounds the jobs waiting (not counting those running or waiting
	// for a retry). Default 1024.
	Size int
	// Attempts bounds how often a job runs. Default 3.
	Attempts int
	// MinDelay is the pause before the first retry; it doubles up to
	// MaxDelay, with jitter. Defaults 100ms and 5s.
	MinDelay, MaxDelay time.Duration
	// OnGiveUp, if set, hears of a job that failed its last attempt, was
	// dropped because the queue was full (ErrFull), or was cancelled by
	// Close (context.Canceled). It must not block.
	OnGiveUp func(name string, err error)
}

// ErrFull is what OnGiveUp hears for a job refused by a full queue.
var ErrFull = errors.New("retryq: queue full")

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("retryq: closed")

// Stats are a Queue's counters.
type Stats struct {
	Queued, Running       int
	Done, Failed, Dropped uint64
	Retried               uint64
}

type job struct {
	name    string
	run     func(context.Context) error
	attempt int
}

// Queue is a bounded, retrying background job queue. It is safe for
// concurrent use.
type Queue struct {
	cfg    Config
	jobs   chan *job
	ctx    context.Context // cancelled when Close gives up draining
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	pending sync.WaitGroup // jobs accepted and not finished (retries included)
	workers sync.WaitGroup
	stats   Stats
}

// New starts a queue's workers.
func New(cfg Config) *Queue {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Size <= 0 {
		cfg.Size = 1024
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.MinDelay <= 0 {
		cfg.MinDelay = 100 * time.Millisecond
	}
	if cfg.MaxDelay < cfg.MinDelay {
		cfg.MaxDelay = max(5*time.Second, cfg.MinDelay)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{cfg: cfg, jobs: make(chan *job, cfg.Size), ctx: ctx, cancel: cancel}
	for range cfg.Workers {
		q.workers.Add(1)
		go q.work()
	}
	return q
}

// Submit queues run under name (for logs; never put secrets in it). It
// returns ErrFull, having told OnGiveUp, when the queue is full, and
// ErrClosed after Close. run gets a context that Close cancels when its
// deadline passes; it should return promptly then.
func (q *Queue) Submit(name string, run func(context.Context) error) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	j := &job{name: name, run: run}
	select {
	case q.jobs <- j:
		q.pending.Add(1)
		q.stats.Queued++
		q.mu.Unlock()
		return nil
	default:
		q.stats.Dropped++
		q.mu.Unlock()
		q.giveUp(j, ErrFull)
		return ErrFull
	}
}

// Stats returns the queue's counters now.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Close stops taking jobs and waits for the queued and running ones,
// retries included, until ctx is done; then it cancels what is left
// (OnGiveUp hears context.Canceled for each) and waits for the workers to
// end. It returns ctx's error if it had to cancel.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		q.pending.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		q.cancel()
		<-drained // cancelled jobs finish at once
	}
	q.cancel()
	close(q.jobs) // nothing sends any more: Submit is closed, retries are done
	q.workers.Wait()
	return err
}

func (q *Queue) work() {
	defer q.workers.Done()
	for j := range q.jobs {
		q.runOne(j)
	}
}

func (q *Queue) runOne(j *job) {
	q.mu.Lock()
	q.stats.Queued--
	q.stats.Running++
	q.mu.Unlock()

	var err error
	if q.ctx.Err() != nil {
		err = context.Canceled
	} else {
		err = q.call(j)
	}
	j.attempt++

	q.mu.Lock()
	q.stats.Running--
	switch {
	case err == nil:
		q.stats.Done++
		q.mu.Unlock()
	case q.ctx.Err() != nil || j.attempt >= q.cfg.Attempts:
		q.stats.Failed++
		q.mu.Unlock()
		if q.ctx.Err() != nil {
			err = context.Canceled
		}
		q.giveUp(j, err)
	default:
		q.stats.Retried++
		q.mu.Unlock()
		q.retryLater(j)
		return
	}
	q.pending.Done()
}

// call runs one attempt, turning a panic into an error.
func (q *Queue) call(j *job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("retryq: job panicked")
		}
	}()
	return j.run(q.ctx)
}

// retryLater puts j back after its backoff, or gives up on it when Close
// cancels meanwhile. The queue's channel may be full: the retry then
// waits for room (it is already counted in pending, so Close waits for it).
func (q *Queue) retryLater(j *job) {
	d := q.cfg.MinDelay << (j.attempt - 1)
	if d > q.cfg.MaxDelay || d <= 0 {
		d = q.cfg.MaxDelay
	}
	d = d/2 + rand.N(d/2+1)
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-q.ctx.Done():
		}
		q.mu.Lock()
		q.stats.Queued++
		q.mu.Unlock()
		if q.ctx.Err() != nil {
			// Let a worker account for it as cancelled, without running it.
			q.runOne(j)
			return
		}
		select {
		case q.jobs <- j:
		case <-q.ctx.Done():
			q.runOne(j)
		}
	}()
}

// giveUp tells OnGiveUp; q.mu is not held.
func (q *Queue) giveUp(j *job, err error) {
	if q.cfg.OnGiveUp != nil {
		q.cfg.OnGiveUp(j.name, err)
	}
}
