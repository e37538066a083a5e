package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// outageLog records Config.OnBucketOutage calls.
type outageLog struct {
	mu     sync.Mutex
	events []string
}

func (l *outageLog) hook(ns string, down bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%q down=%v err=%v", ns, down, err != nil))
}

func (l *outageLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// outage is how long the bucket is down in these tests, and requests the
// number of requests spread evenly over it.
const (
	outage   = 16 * time.Second
	requests = 10_000
)

// maxDownCalls is the most bucket calls an outage may cost: the failures
// that open the breaker, then at most one probe per shortest probe delay,
// plus the one at the start.
var maxDownCalls = int64(breakerAfter + int(outage/(probeEvery*3/4)) + 1)

func TestBackoffServesStaleWithFewBucketCallsWhileTheBucketIsDown(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", withDisk), func(t *testing.T) {
			r := newRig(t, withDisk)
			var outages outageLog
			r.c.backoff.onOutage = outages.hook
			const keys = 100
			for i := range keys {
				k := fmt.Sprintf("k%d", i)
				r.b.put(k, []byte("body of "+k), "max-age=5")
				r.get(t, k)
			}
			r.clock.Add(10 * time.Second) // all expired, within stale_if_error
			r.b.down.Store(true)
			before := r.b.gets.Load()
			for i := range requests {
				k := fmt.Sprintf("k%d", i%keys)
				body, status, err := r.get(t, k)
				if err != nil || body != "body of "+k {
					t.Fatalf("request %d for %s with the bucket down: %q %q %v, want the stale copy", i, k, body, status, err)
				}
				r.clock.Add(outage / requests)
			}
			calls := r.b.gets.Load() - before
			t.Logf("bucket down %v: %d requests, %d bucket calls (%.2f per second, at most %d allowed)",
				outage, requests, calls, float64(calls)/outage.Seconds(), maxDownCalls)
			if calls > maxDownCalls {
				t.Errorf("%d bucket calls while it was down, want at most %d", calls, maxDownCalls)
			}

			// The bucket comes back: within a probe delay, a request finds
			// out, and from then on every key is fetched again.
			r.b.down.Store(false)
			r.clock.Add(probeEvery * 5 / 4)
			for i := range keys {
				k := fmt.Sprintf("k%d", i)
				r.b.put(k, []byte("new body of "+k), "max-age=5")
			}
			// The first request is the probe. A key probed late in the
			// outage may still be in its own backoff (up to 30 s): a key
			// that never failed probes, and its success ends every key's.
			r.b.put("comeback", []byte("comeback"), "max-age=5")
			if body, status, err := r.get(t, "comeback"); err != nil || body != "comeback" {
				t.Fatalf("the first request after the bucket came back: %q %q %v", body, status, err)
			}
			for i := range keys {
				k := fmt.Sprintf("k%d", i)
				if body, status, err := r.get(t, k); err != nil || body != "new body of "+k {
					t.Fatalf("%s after the bucket came back: %q %q %v", k, body, status, err)
				}
			}
			want := []string{`"ns\x00" down=true err=true`, `"ns\x00" down=false err=false`}
			if got := outages.list(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("outage reports %q, want %q", got, want)
			}
		})
	}
}

func TestBackoffBoundsBucketCallsForMissesWhileTheBucketIsDown(t *testing.T) {
	r := newRig(t, false)
	r.b.down.Store(true)
	fast := 0
	for i := range requests {
		_, _, err := r.get(t, fmt.Sprintf("miss%d", i%500))
		if origin.Status(err) != 504 {
			t.Fatalf("request %d: %v, want the bucket's timeout, as without backoff", i, err)
		}
		var be *BackoffError
		if errors.As(err, &be) {
			fast++
		}
		r.clock.Add(outage / requests)
	}
	calls := r.b.gets.Load()
	t.Logf("bucket down %v, misses only: %d requests, %d bucket calls (%.2f per second), %d failed fast",
		outage, requests, calls, float64(calls)/outage.Seconds(), fast)
	if calls > maxDownCalls || int64(fast) != requests-calls {
		t.Errorf("%d bucket calls, %d fast failures; want at most %d calls, the rest fast", calls, fast, maxDownCalls)
	}
	if n := r.c.Stats().FailedFast; n != uint64(fast) {
		t.Errorf("Stats.FailedFast = %d, want %d", n, fast)
	}
	r.b.down.Store(false)
	r.b.put("miss1", []byte("here"), "")
	r.clock.Add(probeEvery * 5 / 4)
	if body, _, err := r.get(t, "miss1"); err != nil || body != "here" {
		t.Errorf("after the bucket came back: %q %v", body, err)
	}
}

func TestBackoffPacesOneFailingKey(t *testing.T) {
	// One key fails (its object is broken), the bucket serves the others:
	// the breaker stays closed, the key is retried at 1 s doubling to 30 s.
	r := newRig(t, false)
	r.b.put("ok", []byte("fine"), "max-age=0")
	broken := &brokenKeyBucket{fakeBucket: r.b, key: "bad"}
	r.src.Bucket = broken
	var calls []time.Duration
	start := r.clock.Now()
	for range 2 * 60 * 10 { // two minutes, ten requests a second of each key
		before := broken.bad
		_, _, err := r.get(t, "bad")
		if origin.Status(err) != 502 {
			t.Fatalf("broken key: %v, want the bucket's 502", err)
		}
		if broken.bad > before {
			calls = append(calls, r.clock.Now().Sub(start))
		}
		if body, _, err := r.get(t, "ok"); err != nil || body != "fine" {
			t.Fatalf("healthy key: %q %v", body, err)
		}
		r.clock.Add(100 * time.Millisecond)
	}
	t.Logf("the broken key reached the bucket at %v", calls)
	// Delays at least half of 1, 2, 4, 8, 16, 30, 30, ... s: in 120 s at
	// most 1 + 7 calls by the delays' lower bounds (0.5 1 2 4 8 15 15 15 ...).
	if n := len(calls); n < 4 || n > 12 {
		t.Errorf("the broken key reached the bucket %d times in two minutes, want a handful", n)
	}
	for i := 2; i < len(calls); i++ {
		if gap, prev := calls[i]-calls[i-1], calls[i-1]-calls[i-2]; gap > retryMax+time.Second || gap < retryMin/2 {
			t.Errorf("retry %d after %v (the one before after %v): outside [%v, %v]", i, gap, prev, retryMin/2, retryMax)
			break
		}
	}
	// A success forgets the key.
	broken.key = ""
	r.clock.Add(retryMax)
	r.b.put("bad", []byte("repaired"), "")
	if body, _, err := r.get(t, "bad"); err != nil || body != "repaired" {
		t.Fatalf("repaired key: %q %v", body, err)
	}
	if n := len(r.c.backoff.keys); n != 0 {
		t.Errorf("%d keys remembered as failing after the repair", n)
	}
}

// brokenKeyBucket fails every get of key with a 502, counting them.
type brokenKeyBucket struct {
	*fakeBucket
	key string
	bad int
}

func (b *brokenKeyBucket) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	if key == b.key {
		b.bad++
		return nil, fmt.Errorf("get %q: internal error", key)
	}
	return b.fakeBucket.Get(ctx, key, opts)
}

func TestBackoffKeepsFewKeys(t *testing.T) {
	var b backoff
	b.init(nil)
	now := time.Unix(1_800_000_000, 0)
	fail := fmt.Errorf("get: %w", origin.ErrTimeout)
	for i := range maxRetryKeys + 1000 {
		b.record("ns\x00", fmt.Sprintf("ns\x00k%d", i), now, fail)
	}
	if n := len(b.keys); n > maxRetryKeys {
		t.Errorf("%d keys remembered, want at most %d", n, maxRetryKeys)
	}
	now = now.Add(2 * retryMax)
	b.record("ns\x00", "ns\x00last", now, fail)
	if n := len(b.keys); n != 1 {
		t.Errorf("%d keys remembered after they all lapsed, want 1", n)
	}
}

// gatewayFailing is a derived-object source (a resizer) whose every Get
// fails with the gateway's own error, as a full resize queue does.
type gatewayFailing struct {
	origin.Bucket
	calls int
}

func (g *gatewayFailing) Get(context.Context, string, origin.GetOptions) (*origin.Object, error) {
	g.calls++
	return nil, &origin.GatewayError{Code: 503, Reason: "busy"}
}

func TestBackoffIgnoresTheGatewaysOwnFailures(t *testing.T) {
	r := newRig(t, false)
	r.b.put("a", []byte("object"), "")
	busy := &gatewayFailing{Bucket: r.b}
	src := Source{Bucket: busy, Namespace: r.src.Namespace}
	for i := range 3 * breakerAfter {
		_, err := r.c.Get(context.Background(), src, fmt.Sprintf("v%d", i%2), r.opts)
		var be *BackoffError
		if origin.Status(err) != 503 || errors.As(err, &be) {
			t.Fatalf("request %d: %v, want the source's own 503 every time, never a backoff", i, err)
		}
	}
	if busy.calls != 3*breakerAfter {
		t.Errorf("the source was asked %d times, want %d: its failures must not back off", busy.calls, 3*breakerAfter)
	}
	if body, _, err := r.get(t, "a"); err != nil || body != "object" {
		t.Errorf("an object in the same namespace after the failures: %q %v; the breaker must stay closed", body, err)
	}
}
