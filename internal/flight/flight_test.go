package flight

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flightTimeout bounds every wait in these tests; reaching it is a failure.
const flightTimeout = 5 * time.Second

// await fails the test unless ch is closed or receives within flightTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(flightTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// eventually polls cond until it holds or flightTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(flightTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

type flightResult struct {
	v      string
	shared bool
	err    error
}

// goDo runs g.Do in a goroutine and delivers its result on the channel.
func goDo(g *Group[string], ctx context.Context, key string, fn func(context.Context) (string, error)) <-chan flightResult {
	ch := make(chan flightResult, 1)
	go func() {
		v, shared, err := g.Do(ctx, key, fn)
		ch <- flightResult{v, shared, err}
	}()
	return ch
}

// blockingFn returns a fn that signals started, then waits for release (or
// its ctx) and returns val; its ctx is handed out on ctxs.
func blockingFn(val string, started chan<- struct{}, release <-chan struct{}, ctxs chan<- context.Context) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if ctxs != nil {
			ctxs <- ctx
		}
		if started != nil {
			close(started)
		}
		select {
		case <-release:
			return val, nil
		case <-ctx.Done():
			return "", fmt.Errorf("fetch stopped: %w", ctx.Err())
		}
	}
}

func TestGroupCoalescesOneHundredCallersIntoOneCall(t *testing.T) {
	base := runtime.NumGoroutine()
	var g Group[string]
	var calls atomic.Int32
	release := make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "bytes", nil
	}
	results := make([]<-chan flightResult, 100)
	for i := range results {
		results[i] = goDo(&g, context.Background(), "k", fn)
	}
	eventually(t, "99 callers to join", func() bool { return g.Coalesced() == 99 })
	close(release)
	for i, ch := range results {
		r := await(t, ch, fmt.Sprintf("caller %d", i))
		if r.err != nil || r.v != "bytes" || !r.shared {
			t.Errorf("caller %d: %+v, want bytes, shared, no error", i, r)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("fn called %d times, want 1", n)
	}
	if g.InFlight() != 0 {
		t.Errorf("InFlight = %d after the call ended", g.InFlight())
	}
	g.Wait()
	waitGoroutines(t, base)
}

func TestGroupSequentialCallsEachRunAndAreNotShared(t *testing.T) {
	var g Group[int]
	n := 0
	for i := 1; i <= 3; i++ {
		v, shared, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { n++; return n, nil })
		if v != i || shared || err != nil {
			t.Errorf("call %d: %d, %v, %v", i, v, shared, err)
		}
	}
	if g.Coalesced() != 0 {
		t.Errorf("Coalesced = %d", g.Coalesced())
	}
}

func TestGroupErrorGoesToEveryWaiter(t *testing.T) {
	var g Group[string]
	errBucket := errors.New("bucket down")
	started, release := make(chan struct{}), make(chan struct{})
	first := goDo(&g, context.Background(), "k", func(context.Context) (string, error) {
		close(started)
		<-release
		return "", errBucket
	})
	await(t, started, "fn to start")
	second := goDo(&g, context.Background(), "k", nil) // joins: fn unused
	eventually(t, "second caller to join", func() bool { return g.Coalesced() == 1 })
	close(release)
	for _, ch := range []<-chan flightResult{first, second} {
		if r := await(t, ch, "result"); !errors.Is(r.err, errBucket) || !r.shared {
			t.Errorf("got %+v, want the bucket error, shared", r)
		}
	}
}

func TestGroupCancelledWaiterReturnsAtOnceWithoutStoppingTheCall(t *testing.T) {
	for _, who := range []string{"first caller", "joined caller"} {
		t.Run(who+" cancels", func(t *testing.T) {
			var g Group[string]
			started, release := make(chan struct{}), make(chan struct{})
			ctxs := make(chan context.Context, 1)
			fn := blockingFn("v", started, release, ctxs)
			cancelCtx, cancel := context.WithCancel(context.Background())
			ctxA, ctxB := cancelCtx, context.Background()
			if who == "joined caller" {
				ctxA, ctxB = ctxB, ctxA
			}
			a := goDo(&g, ctxA, "k", fn)
			await(t, started, "fn to start")
			b := goDo(&g, ctxB, "k", fn)
			eventually(t, "second caller to join", func() bool { return g.Coalesced() == 1 })

			cancel()
			quitter, stayer := a, b
			if who == "joined caller" {
				quitter, stayer = b, a
			}
			if r := await(t, quitter, "the cancelled waiter"); !errors.Is(r.err, context.Canceled) || r.v != "" {
				t.Fatalf("cancelled waiter got %+v, want context.Canceled", r)
			}
			callCtx := await(t, ctxs, "fn's ctx")
			if callCtx.Err() != nil {
				t.Fatal("one waiter leaving cancelled the shared call")
			}
			close(release)
			if r := await(t, stayer, "the remaining waiter"); r.err != nil || r.v != "v" {
				t.Fatalf("remaining waiter got %+v", r)
			}
		})
	}
}

func TestGroupCancelsTheCallWhenEveryWaiterHasGone(t *testing.T) {
	base := runtime.NumGoroutine()
	var g Group[string]
	started := make(chan struct{})
	ctxs := make(chan context.Context, 1)
	stopped := make(chan error, 1)
	fn := func(ctx context.Context) (string, error) {
		ctxs <- ctx
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return "", ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	r1 := goDo(&g, ctx1, "k", fn)
	await(t, started, "fn to start")
	r2 := goDo(&g, ctx2, "k", fn)
	eventually(t, "second caller to join", func() bool { return g.Coalesced() == 1 })
	callCtx := await(t, ctxs, "fn's ctx")

	cancel1()
	await(t, r1, "first waiter")
	if callCtx.Err() != nil {
		t.Fatal("call cancelled while a waiter remained")
	}
	cancel2()
	await(t, r2, "second waiter")
	if err := await(t, stopped, "fn to see cancellation"); !errors.Is(err, context.Canceled) {
		t.Errorf("fn's ctx ended with %v, want context.Canceled", err)
	}

	// The next caller starts afresh instead of joining the dying call.
	v, shared, err := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "new", nil })
	if v != "new" || shared || err != nil {
		t.Errorf("Do after abandonment = %q, %v, %v; want a fresh call", v, shared, err)
	}
	g.Wait()
	waitGoroutines(t, base)
}

func TestGroupCallContextKeepsValuesButNotCancellationOrDeadline(t *testing.T) {
	var g Group[string]
	type ctxKey struct{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), ctxKey{}, "trace-1"), time.Hour)
	defer cancel()
	_, _, err := g.Do(ctx, "k", func(ctx context.Context) (string, error) {
		if ctx.Value(ctxKey{}) != "trace-1" {
			t.Error("first caller's values lost")
		}
		if _, ok := ctx.Deadline(); ok {
			t.Error("call inherited the first caller's deadline")
		}
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGroupDoWithEndedContextStartsNothing(t *testing.T) {
	var g Group[string]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := g.Do(ctx, "k", func(context.Context) (string, error) {
		t.Error("fn called for a caller already gone")
		return "", nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestGroupPanicBecomesAnErrorForEveryWaiter(t *testing.T) {
	var g Group[string]
	boom := errors.New("boom")
	started, release := make(chan struct{}), make(chan struct{})
	first := goDo(&g, context.Background(), "k", func(context.Context) (string, error) {
		close(started)
		<-release
		panic(boom)
	})
	await(t, started, "fn to start")
	second := goDo(&g, context.Background(), "k", nil)
	eventually(t, "second caller to join", func() bool { return g.Coalesced() == 1 })
	close(release)
	for _, ch := range []<-chan flightResult{first, second} {
		r := await(t, ch, "result")
		var pe *PanicError
		if !errors.As(r.err, &pe) || pe.Key != "k" || pe.Value != boom || len(pe.Stack) == 0 {
			t.Fatalf("got %+v, want a *PanicError for k with the value and a stack", r)
		}
		if !errors.Is(r.err, boom) {
			t.Error("PanicError does not unwrap to the error fn panicked with")
		}
	}
	// The group is still usable for the key.
	if v, _, err := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "ok", nil }); v != "ok" || err != nil {
		t.Errorf("Do after panic = %q, %v", v, err)
	}
}

func TestGroupPanicWithNonErrorValue(t *testing.T) {
	var g Group[int]
	_, _, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { panic("string panic") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "string panic" || pe.Unwrap() != nil {
		t.Fatalf("err = %v", err)
	}
}

func TestGroupGoexitInFnIsAnError(t *testing.T) {
	var g Group[int]
	_, _, err := g.Do(context.Background(), "k", func(context.Context) (int, error) {
		runtime.Goexit()
		return 1, nil
	})
	if !errors.Is(err, errGoexit) {
		t.Fatalf("err = %v, want errGoexit", err)
	}
}

func TestGroupDoBackgroundStartsOneCallPerKey(t *testing.T) {
	var g Group[string]
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		calls.Add(1)
		close(started)
		<-release
		return "refreshed", nil
	}
	if !g.DoBackground("k", fn) {
		t.Fatal("first DoBackground did not start a call")
	}
	await(t, started, "background fn to start")
	for range 10 {
		if g.DoBackground("k", fn) {
			t.Fatal("second DoBackground started another call for the key")
		}
	}
	// A Do meanwhile joins the refresh rather than making its own call.
	joined := goDo(&g, context.Background(), "k", fn)
	eventually(t, "Do to join the background call", func() bool { return g.Coalesced() == 1 })
	close(release)
	if r := await(t, joined, "joined Do"); r.v != "refreshed" || !r.shared || r.err != nil {
		t.Errorf("joined Do got %+v", r)
	}
	if calls.Load() != 1 {
		t.Errorf("fn called %d times, want 1", calls.Load())
	}
	g.Wait()
	if !g.DoBackground("k", func(context.Context) (string, error) { close(done); return "", nil }) {
		t.Error("DoBackground after the refresh ended did not start a new one")
	}
	await(t, done, "second refresh")
	g.Wait()
}

func TestGroupDoBackgroundDoesNotStartWhileADoRuns(t *testing.T) {
	var g Group[string]
	started, release := make(chan struct{}), make(chan struct{})
	r := goDo(&g, context.Background(), "k", blockingFn("v", started, release, nil))
	await(t, started, "fn to start")
	if g.DoBackground("k", nil) {
		t.Error("DoBackground started a call while Do's was running")
	}
	close(release)
	await(t, r, "Do")
}

func TestGroupBackgroundCallOutlivesLeavingWaiters(t *testing.T) {
	var g Group[string]
	started, release := make(chan struct{}), make(chan struct{})
	ctxs := make(chan context.Context, 1)
	g.DoBackground("k", blockingFn("v", started, release, ctxs))
	await(t, started, "background fn to start")
	ctx, cancel := context.WithCancel(context.Background())
	r := goDo(&g, ctx, "k", nil)
	eventually(t, "Do to join", func() bool { return g.Coalesced() == 1 })
	cancel()
	await(t, r, "cancelled Do")
	if callCtx := await(t, ctxs, "fn's ctx"); callCtx.Err() != nil {
		t.Error("the last Do leaving cancelled a background call")
	}
	close(release)
	g.Wait()
}

func TestGroupCancelAllStopsEveryRunningCall(t *testing.T) {
	base := runtime.NumGoroutine()
	var g Group[string]
	startedBg, startedDo := make(chan struct{}), make(chan struct{})
	g.DoBackground("refresh", blockingFn("v", startedBg, nil, nil))
	r := goDo(&g, context.Background(), "fetch", blockingFn("v", startedDo, nil, nil))
	await(t, startedBg, "background fn to start")
	await(t, startedDo, "Do's fn to start")
	g.CancelAll()
	if res := await(t, r, "Do"); !errors.Is(res.err, context.Canceled) {
		t.Errorf("Do after CancelAll = %+v, want context.Canceled from fn", res)
	}
	g.Wait()
	if g.InFlight() != 0 {
		t.Errorf("InFlight = %d", g.InFlight())
	}
	waitGoroutines(t, base)
	g.CancelAll() // nothing running: no-op
}

func TestGroupDifferentKeysRunInParallel(t *testing.T) {
	var g Group[string]
	startedA, startedB := make(chan struct{}), make(chan struct{})
	// Each fn finishes only once the other has started: calls serialised
	// across keys would end in the timeout error instead.
	meet := func(mine chan struct{}, other <-chan struct{}, v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			close(mine)
			select {
			case <-other:
				return v, nil
			case <-time.After(flightTimeout):
				return "", errors.New("the other key's call never started")
			}
		}
	}
	a := goDo(&g, context.Background(), "a", meet(startedA, startedB, "A"))
	b := goDo(&g, context.Background(), "b", meet(startedB, startedA, "B"))
	if r := await(t, a, "a"); r.v != "A" || r.shared || r.err != nil {
		t.Errorf("a: %+v", r)
	}
	if r := await(t, b, "b"); r.v != "B" || r.shared || r.err != nil {
		t.Errorf("b: %+v", r)
	}
}

func TestGroupWaitBlocksUntilCallsEnd(t *testing.T) {
	var g Group[string]
	g.Wait() // nothing running: returns
	started, release := make(chan struct{}), make(chan struct{})
	g.DoBackground("k", blockingFn("v", started, release, nil))
	await(t, started, "fn to start")
	waited := make(chan struct{})
	go func() { g.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while a call was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	await(t, waited, "Wait to return")
}

func TestGroupStressLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	var g Group[int]
	var calls atomic.Int64
	fn := func(ctx context.Context) (int, error) {
		calls.Add(1)
		select {
		case <-time.After(time.Duration(rand.IntN(200)) * time.Microsecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if rand.IntN(50) == 0 {
			panic("sometimes")
		}
		return 42, nil
	}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("k%d", (w+i)%5)
				ctx, cancel := context.WithCancel(context.Background())
				if i%4 == 0 {
					cancel() // some callers give up at once or early
				} else if i%4 == 1 {
					time.AfterFunc(50*time.Microsecond, cancel)
				}
				if i%10 == 0 {
					g.DoBackground(key, fn)
				}
				v, _, err := g.Do(ctx, key, fn)
				var pe *PanicError
				if err == nil && v != 42 || err != nil && !errors.Is(err, context.Canceled) && !errors.As(err, &pe) {
					t.Errorf("Do = %d, %v", v, err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	g.Wait()
	if g.InFlight() != 0 {
		t.Errorf("InFlight = %d after everything ended", g.InFlight())
	}
	t.Logf("%d calls for %d Do, %d coalesced", calls.Load(), 32*200, g.Coalesced())
	waitGoroutines(t, base)
}

// held is a result that counts its shares and releases, like a fetch
// result holding a memory-tier reference.
type held struct {
	shares, releases *atomic.Int64
}

func (h *held) Share() *held { h.shares.Add(1); return h }
func (h *held) Release()     { h.releases.Add(1) }

func TestGroupSharesAResultWithEveryWaiterAndReleasesItOnce(t *testing.T) {
	for _, leavers := range []int{0, 5, 20} {
		t.Run(fmt.Sprintf("%d waiters leave", leavers), func(t *testing.T) {
			var g Group[*held]
			var shares, releases, got atomic.Int64
			start := make(chan struct{})
			var wg sync.WaitGroup
			var cancels []context.CancelFunc
			for i := range 20 {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if i < leavers {
					cancels = append(cancels, cancel)
				}
				wg.Go(func() {
					h, _, err := g.Do(ctx, "k", func(context.Context) (*held, error) {
						<-start
						return &held{&shares, &releases}, nil
					})
					if err == nil {
						got.Add(1)
						if h == nil {
							t.Error("nil result")
						}
					}
				})
			}
			for g.Coalesced() < 19 { // every waiter has joined the one call
				runtime.Gosched()
			}
			for _, cancel := range cancels {
				cancel()
			}
			if leavers > 0 {
				time.Sleep(20 * time.Millisecond) // let the leavers go first
			}
			close(start)
			wg.Wait()
			g.Wait()
			if s := shares.Load(); s != got.Load() {
				t.Errorf("%d shares for %d waiters that got the result", s, got.Load())
			}
			if r := releases.Load(); r != 1 {
				t.Errorf("released %d times, want once", r)
			}
		})
	}
}

func TestGroupReleasesABackgroundResultNobodyTook(t *testing.T) {
	var g Group[*held]
	var shares, releases atomic.Int64
	g.DoBackground("k", func(context.Context) (*held, error) { return &held{&shares, &releases}, nil })
	g.Wait()
	if shares.Load() != 0 || releases.Load() != 1 {
		t.Errorf("shares %d, releases %d; want 0 and 1", shares.Load(), releases.Load())
	}
}

// waitGoroutines waits up to five seconds for the goroutine count to come
// down to want, and fails with every stack if it does not.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
