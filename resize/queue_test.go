package resize

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestQueueRunsAtMostConcurrency(t *testing.T) {
	q := NewQueue(2, 0, 100, 0)
	var mu sync.Mutex
	running, peak := 0, 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := q.Acquire(context.Background(), 1)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if peak > 2 {
		t.Errorf("%d resizes ran at once, want at most 2", peak)
	}
	if r, w, used := q.Stats(); r != 0 || w != 0 || used != 0 {
		t.Errorf("after all: running %d, waiting %d, used %d; want zeros", r, w, used)
	}
}

func TestQueueFullIsRefusedAtOnce(t *testing.T) {
	q := NewQueue(1, 0, 1, 0)
	release, err := q.Acquire(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	admitted := make(chan error, 1)
	go func() {
		r, err := q.Acquire(context.Background(), 1) // waits: the one place in the queue
		if err == nil {
			r()
		}
		admitted <- err
	}()
	waitFor(t, func() bool { _, w, _ := q.Stats(); return w == 1 })
	if _, err := q.Acquire(context.Background(), 1); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third resize with a full queue: %v, want ErrQueueFull", err)
	}
	release()
	if err := <-admitted; err != nil {
		t.Errorf("the waiting resize: %v, want it admitted when the first ended", err)
	}
}

func TestQueueTimeoutAndCancel(t *testing.T) {
	q := NewQueue(1, 0, 10, 20*time.Millisecond)
	release, err := q.Acquire(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Acquire(context.Background(), 1); !errors.Is(err, ErrQueueTimeout) {
		t.Errorf("waiting past the timeout: %v, want ErrQueueTimeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Acquire(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled request: %v, want context.Canceled", err)
	}
	if _, w, _ := q.Stats(); w != 0 {
		t.Errorf("%d waiters left behind by resizes that gave up", w)
	}
	release()
	release() // a second call is harmless
	if r, _, _ := q.Stats(); r != 0 {
		t.Errorf("running %d after the release, want 0", r)
	}
}

func TestQueueBudgetAndArrivalOrder(t *testing.T) {
	q := NewQueue(4, 10, 10, 0)
	if _, err := q.Acquire(context.Background(), 11); !errors.Is(err, ErrQueueFull) {
		t.Errorf("a resize larger than the whole budget: %v, want a refusal", err)
	}
	first, err := q.Acquire(context.Background(), 6)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	var wg sync.WaitGroup
	start := func(name string, cost int64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := q.Acquire(context.Background(), cost)
			if err != nil {
				t.Error(err)
				return
			}
			order <- name
			r()
		}()
	}
	start("big", 9) // does not fit beside the first: waits, and the small one cannot run beside it
	waitFor(t, func() bool { _, w, _ := q.Stats(); return w == 1 })
	start("small", 2) // would fit now, but must not overtake the big one
	waitFor(t, func() bool { _, w, _ := q.Stats(); return w == 2 })
	if _, _, used := q.Stats(); used != 6 {
		t.Errorf("used %d while the first runs, want 6 (the small one jumped the queue)", used)
	}
	first()
	wg.Wait()
	if a, b := <-order, <-order; a != "big" {
		t.Errorf("admitted %s then %s, want big first (arrival order)", a, b)
	}
}

func TestQueueStress(t *testing.T) {
	const concurrency, budget = 3, 100
	q := NewQueue(concurrency, budget, 1000, 0)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			ctx := context.Background()
			if r.IntN(5) == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(200))*time.Microsecond)
				defer cancel()
			}
			release, err := q.Acquire(ctx, int64(1+r.IntN(60)))
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Error(err)
				}
				return
			}
			if running, _, used := q.Stats(); running > concurrency || used > budget {
				t.Errorf("running %d, using %d: over the bounds %d, %d", running, used, concurrency, budget)
			}
			release()
		}()
	}
	wg.Wait()
	if r, w, used := q.Stats(); r != 0 || w != 0 || used != 0 {
		t.Errorf("after all: running %d, waiting %d, used %d; want zeros", r, w, used)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}
