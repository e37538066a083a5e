package retryq

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errBucket = errors.New("bucket down")

func fast(cfg Config) Config {
	cfg.MinDelay, cfg.MaxDelay = time.Millisecond, 4*time.Millisecond
	return cfg
}

func TestJobsRunAndRetriesEndInSuccess(t *testing.T) {
	q := New(fast(Config{Workers: 2, Attempts: 3}))
	var runs atomic.Int32
	for range 10 {
		if err := q.Submit("ok", func(context.Context) error { runs.Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var flaky atomic.Int32
	if err := q.Submit("flaky", func(context.Context) error {
		if flaky.Add(1) < 3 {
			return errBucket
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := q.Stats()
	if runs.Load() != 10 || flaky.Load() != 3 || s.Done != 11 || s.Failed != 0 || s.Retried != 2 {
		t.Errorf("runs %d, flaky attempts %d, stats %+v; want 10, 3, 11 done and 2 retries", runs.Load(), flaky.Load(), s)
	}
}

func TestAJobGivesUpAfterItsAttempts(t *testing.T) {
	var gaveUp []error
	var mu sync.Mutex
	q := New(fast(Config{Attempts: 3, OnGiveUp: func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		gaveUp = append(gaveUp, err)
	}}))
	var attempts atomic.Int32
	_ = q.Submit("always fails", func(context.Context) error { attempts.Add(1); return errBucket })
	_ = q.Submit("panics", func(context.Context) error { panic("decoder bug") })
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if attempts.Load() != 3 {
		t.Errorf("%d attempts, want 3", attempts.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gaveUp) != 2 || !errors.Is(gaveUp[0], errBucket) && !errors.Is(gaveUp[1], errBucket) {
		t.Errorf("gave up with %v, want the bucket's error and the panic", gaveUp)
	}
	if s := q.Stats(); s.Failed != 2 {
		t.Errorf("stats %+v, want 2 failed", s)
	}
}

func TestAFullQueueDropsAndSaysSo(t *testing.T) {
	block := make(chan struct{})
	var dropped atomic.Int32
	q := New(Config{Workers: 1, Size: 2, OnGiveUp: func(_ string, err error) {
		if errors.Is(err, ErrFull) {
			dropped.Add(1)
		}
	}})
	started := make(chan struct{})
	_ = q.Submit("blocker", func(context.Context) error { close(started); <-block; return nil })
	<-started
	for range 2 {
		if err := q.Submit("queued", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Submit("one too many", func(context.Context) error { return nil }); !errors.Is(err, ErrFull) {
		t.Errorf("submit to a full queue: %v, want ErrFull", err)
	}
	close(block)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); dropped.Load() != 1 || s.Dropped != 1 || s.Done != 3 {
		t.Errorf("dropped %d, stats %+v; want 1 dropped and 3 done", dropped.Load(), s)
	}
	if err := q.Submit("late", func(context.Context) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("submit after Close: %v, want ErrClosed", err)
	}
}

func TestCloseCancelsWhatItCannotDrain(t *testing.T) {
	before := runtime.NumGoroutine()
	var canceled atomic.Int32
	q := New(Config{Workers: 1, Attempts: 5, MinDelay: time.Hour, MaxDelay: time.Hour,
		OnGiveUp: func(_ string, err error) {
			if errors.Is(err, context.Canceled) {
				canceled.Add(1)
			}
		}})
	// One job runs until cancelled, one waits behind it, one waits an
	// hour for its retry.
	_ = q.Submit("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	_ = q.Submit("behind", func(context.Context) error { return nil })
	_ = q.Submit("retrying", func(context.Context) error { return errBucket })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close past its deadline: %v, want DeadlineExceeded", err)
	}
	if s := q.Stats(); s.Running != 0 || s.Queued != 0 || canceled.Load() < 2 {
		t.Errorf("after Close: stats %+v, %d cancelled; want nothing left and the slow and retrying jobs cancelled", s, canceled.Load())
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
	}
}
