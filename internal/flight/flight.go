// Package flight coalesces concurrent calls by key (Group) and counts
// goroutines that may be waited on while their number grows (Running). It
// has no cache of its own: the cache, resizing and uploads share it.
package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Group coalesces calls by key: while a call for a key runs, further calls
// for the key wait for its result instead of making their own. It is what
// turns 100 concurrent misses for one object into one bucket request.
//
// Unlike golang.org/x/sync/singleflight:
//   - the call runs on its own goroutine, with a context detached from any
//     single caller (context.WithoutCancel of the first caller's, so its
//     values but not its deadline), so one waiter giving up does not fail
//     the others; fn must bound its own time;
//   - a waiter whose context ends returns ctx.Err() at once, and when every
//     waiter has gone the call's context is cancelled, so a fetch nobody
//     wants stops;
//   - a panic in fn becomes a *PanicError for every waiter, not a crash;
//   - DoBackground starts a call nobody waits for (a stale-while-revalidate
//     refresh), at most one per key.
//
// The zero Group is ready to use. A Group must not be copied after first
// use.
type Group[T any] struct {
	mu        sync.Mutex
	calls     map[string]*call[T]
	running   int        // calls whose goroutine has not finished
	idle      *sync.Cond // signalled when running drops to 0; on mu
	coalesced atomic.Int64
}

// call is one run of fn for a key.
type call[T any] struct {
	done   chan struct{} // closed when val and err are set
	val    T
	err    error
	cancel context.CancelFunc

	// Guarded by Group.mu.
	holders    int  // the run, and Do callers that may still take val
	waiters    int  // Do callers still waiting
	dups       int  // Do callers that joined after the call started
	background bool // started by DoBackground: waiters leaving don't cancel it
}

// PanicError is the error waiters get when fn panicked.
type PanicError struct {
	Key   string
	Value any    // what fn panicked with
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("flight: call for %q panicked: %v\n\n%s", e.Key, e.Value, e.Stack)
}

// Unwrap returns the panic value when it was an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// SharedResult is implemented by results that hold resources (a memory
// tier reference): every Do caller gets its own Share of the result, and
// Release runs once, after the call has finished and no caller can take a
// share any more. A result whose call failed is neither shared nor
// released.
type SharedResult[T any] interface {
	Share() T
	Release()
}

// errGoexit is the error waiters get when fn called runtime.Goexit.
var errGoexit = errors.New("flight: coalesced call exited without returning (runtime.Goexit)")

// Do returns the result of fn for key, making at most one call at a time
// for the key: if one is running, Do waits for it instead. shared reports
// whether the result went to more than one caller (this one joined a
// running call, or others joined this one's).
//
// If ctx ends first, Do returns ctx.Err() at once; the call goes on for the
// other waiters and is cancelled when none is left. A ctx that has already
// ended starts nothing.
func (g *Group[T]) Do(ctx context.Context, key string, fn func(ctx context.Context) (T, error)) (v T, shared bool, err error) {
	if err := ctx.Err(); err != nil {
		return v, false, err
	}
	g.mu.Lock()
	c, ok := g.calls[key]
	if ok {
		c.waiters++
		c.dups++
		g.coalesced.Add(1)
	} else {
		c = g.start(context.WithoutCancel(ctx), key, fn)
		c.waiters = 1
	}
	c.holders++
	g.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done: // finished meanwhile: take the result
		default:
			g.leave(key, c)
			return v, false, ctx.Err()
		}
	}
	v = c.val
	if s, ok := any(c.val).(SharedResult[T]); ok && c.err == nil {
		v = s.Share()
	}
	g.mu.Lock()
	shared = c.dups > 0
	g.unhold(c)
	return v, shared, c.err
}

// unhold drops one holder of c and releases its result after the last.
// g.mu must be held; unhold unlocks it.
func (g *Group[T]) unhold(c *call[T]) {
	c.holders--
	last := c.holders == 0
	g.mu.Unlock()
	if !last {
		return // and c.val may not be set yet: the run holds on
	}
	if s, ok := any(c.val).(SharedResult[T]); ok && c.err == nil {
		s.Release()
	}
}

// DoBackground starts fn for key unless a call for key is already running,
// and returns at once, reporting whether it started one. Nobody waits for
// the result (fn stores it); Do callers for the key meanwhile join the
// call. Waiters leaving never cancel it; CancelAll does.
func (g *Group[T]) DoBackground(key string, fn func(ctx context.Context) (T, error)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.calls[key]; ok {
		return false
	}
	c := g.start(context.Background(), key, fn)
	c.background = true
	return true
}

// start registers a call for key and runs fn on a new goroutine. g.mu must
// be held.
func (g *Group[T]) start(parent context.Context, key string, fn func(ctx context.Context) (T, error)) *call[T] {
	ctx, cancel := context.WithCancel(parent)
	c := &call[T]{done: make(chan struct{}), cancel: cancel}
	if g.calls == nil {
		g.calls = make(map[string]*call[T])
	}
	g.calls[key] = c
	g.running++
	c.holders = 1 // the run
	go g.run(ctx, key, c, fn)
	return c
}

// run makes the call and hands its result to the waiters.
func (g *Group[T]) run(ctx context.Context, key string, c *call[T], fn func(ctx context.Context) (T, error)) {
	returned := false
	defer func() {
		if !returned {
			if r := recover(); r != nil {
				c.err = &PanicError{Key: key, Value: r, Stack: debug.Stack()}
			} else {
				c.err = errGoexit
			}
		}
		c.cancel()
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
		g.mu.Lock()
		g.unhold(c) // before running drops: Wait also waits for the release
		g.mu.Lock()
		g.running--
		if g.running == 0 && g.idle != nil {
			g.idle.Broadcast()
		}
		g.mu.Unlock()
	}()
	c.val, c.err = fn(ctx)
	returned = true
}

// leave takes a waiter off c. The last one to go cancels the call (unless
// DoBackground started it) and forgets it, so the next Do for the key
// starts afresh instead of joining a call that is being cancelled.
func (g *Group[T]) leave(key string, c *call[T]) {
	g.mu.Lock()
	c.waiters--
	if c.waiters == 0 && !c.background {
		c.cancel()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
	}
	g.unhold(c)
}

// Coalesced is how many Do calls so far joined a call already running
// instead of making their own: bucket requests saved.
func (g *Group[T]) Coalesced() int64 { return g.coalesced.Load() }

// InFlight is how many keys have a call running that new callers would
// join.
func (g *Group[T]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

// CancelAll cancels the context of every call running now, Do's and
// DoBackground's alike; their waiters get whatever fn returns then. With
// Wait, it is how an owner makes sure no call outlives it.
func (g *Group[T]) CancelAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.calls {
		c.cancel()
	}
}

// Wait blocks until no call is running, including calls cancelled because
// their waiters left and background calls. Call CancelAll first to make
// that prompt.
func (g *Group[T]) Wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idle == nil {
		g.idle = sync.NewCond(&g.mu)
	}
	for g.running > 0 {
		g.idle.Wait()
	}
}
