package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// Pacing against a failing bucket, so that an outage costs the bucket a
// few requests a second instead of one per client request (while stale
// copies are served, as nginx's proxy_cache_background_update and
// Varnish's grace do):
//
//   - A key whose fetch failed is not fetched again until its retry is
//     due: after 1 s, doubling with each further failure up to 30 s, each
//     delay drawn between half of it and all of it (jitter), so keys that
//     failed together do not come back together. A success forgets the key.
//   - A namespace (one bucket) whose last breakerAfter fetches all failed
//     is "down": of its requests, one may go to the bucket (a probe) per
//     probeEvery, give or take a quarter; the others fail fast. The first
//     success brings it up again, and forgets every key of the namespace.
//
// A request that fails fast gets a *BackoffError wrapping the last failure
// (so it is served stale where stale-if-error allows, and otherwise answers
// as before).
const (
	retryMin     = time.Second
	retryMax     = 30 * time.Second
	breakerAfter = 5
	probeEvery   = time.Second
	// maxRetryKeys bounds the keys remembered as failing (about 200 bytes
	// each with their error), maxBreakers the namespaces.
	maxRetryKeys = 100_000
	maxBreakers  = 1024
)

// BackoffError is what Get returns, instead of asking the bucket, while
// the bucket is known to be failing: the key's last fetch failed and its
// retry is not due, or (Breaker) every recent fetch of the bucket failed
// and this request is not the probe. Err is the last failure: errors.Is,
// origin.Status and stale-if-error see the same error as before. A fast
// failure costs the bucket nothing, so a caller may log only the first
// failure of an outage and count the rest (see Config.OnBucketOutage).
type BackoffError struct {
	Err error
	// Breaker: the whole bucket is down, not only this key.
	Breaker bool
	// RetryAt is when the next request may reach the bucket.
	RetryAt time.Time
}

func (e *BackoffError) Error() string {
	what := "key"
	if e.Breaker {
		what = "bucket"
	}
	return fmt.Sprintf("cache: %s failing, not asked until %s: %v", what, e.RetryAt.Format(time.RFC3339Nano), e.Err)
}

// Unwrap returns the last failure.
func (e *BackoffError) Unwrap() error { return e.Err }

// bucketFailed reports whether err from a bucket call is a failure of the
// bucket (an error or timeout, 5xx), as opposed to an answer or a caller
// that went away.
func bucketFailed(err error) bool {
	var be *BackoffError
	return err != nil && !errors.As(err, &be) && !errors.Is(err, context.Canceled) && origin.Status(err) >= 500
}

// retryState is what backoff remembers of a failing key.
type retryState struct {
	failures int
	retryAt  time.Time
	err      error
}

// breaker is a namespace's run of failed fetches.
type breaker struct {
	failures  int       // consecutive; the breaker is open from breakerAfter on
	nextProbe time.Time // while open
	err       error     // the last failure
}

// backoff paces requests to failing keys and buckets (see above).
type backoff struct {
	// onOutage hears when a namespace goes down (the error that made it)
	// and comes up again (nil). It runs outside the lock.
	onOutage func(namespace string, down bool, err error)

	mu       sync.Mutex
	keys     map[string]*retryState // by cache key
	peak     int                    // the most keys held since keys was made
	swept    time.Time
	breakers map[string]*breaker // by namespace
}

func (b *backoff) init(onOutage func(string, bool, error)) {
	b.onOutage = onOutage
	b.keys = make(map[string]*retryState)
	b.breakers = make(map[string]*breaker)
}

// admit decides whether a fetch of ckey, in namespace ns, may ask the
// bucket at now; if not, it returns the *BackoffError to fail with. An
// admitted request while the namespace is down is its probe.
func (b *backoff) admit(ns, ckey string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := b.keys[ckey]; k != nil && now.Before(k.retryAt) {
		return &BackoffError{Err: k.err, RetryAt: k.retryAt}
	}
	if br := b.breakers[ns]; br != nil && br.failures >= breakerAfter {
		if now.Before(br.nextProbe) {
			return &BackoffError{Err: br.err, Breaker: true, RetryAt: br.nextProbe}
		}
		br.nextProbe = now.Add(probeDelay())
	}
	return nil
}

// record takes note of how a fetch of ckey that admit let through ended.
func (b *backoff) record(ns, ckey string, now time.Time, err error) {
	var ge *origin.GatewayError
	if errors.As(err, &ge) {
		return // the gateway's own failure: says nothing of the bucket
	}
	failed := bucketFailed(err)
	if !failed && err != nil && !isAnswer(err) {
		return // the caller went away: says nothing of the bucket
	}
	b.mu.Lock()
	b.sweep(now)
	br := b.breakers[ns]
	var down, up bool
	if failed {
		k := b.keys[ckey]
		if k == nil {
			k = b.addKey(ckey)
		}
		k.failures = min(k.failures+1, 16)
		k.retryAt, k.err = now.Add(retryDelay(k.failures)), err
		if br == nil {
			br = b.addBreaker(ns)
		}
		br.failures++
		br.err = err
		if br.failures == breakerAfter {
			br.nextProbe, down = now.Add(probeDelay()), true
		}
	} else {
		delete(b.keys, ckey)
		if br != nil {
			delete(b.breakers, ns)
			if up = br.failures >= breakerAfter; up {
				for k := range b.keys { // keys that failed during the outage
					if strings.HasPrefix(k, ns) {
						delete(b.keys, k)
					}
				}
			}
		}
	}
	b.mu.Unlock()
	if b.onOutage != nil && (down || up) {
		if down {
			b.onOutage(ns, true, err)
		} else {
			b.onOutage(ns, false, nil)
		}
	}
}

// isAnswer reports whether err is the bucket's answer (not found, not
// modified, a refused key, ...) rather than no answer.
func isAnswer(err error) bool {
	return !errors.Is(err, context.Canceled) && origin.Status(err) < 500
}

// addKey remembers a new failing key, making room if needed. b.mu is held.
func (b *backoff) addKey(ckey string) *retryState {
	if len(b.keys) >= maxRetryKeys {
		for k := range b.keys { // any one: all are failing alike
			delete(b.keys, k)
			break
		}
	}
	k := &retryState{}
	b.keys[ckey] = k
	b.peak = max(b.peak, len(b.keys))
	return k
}

// addBreaker starts a run of failures for ns. b.mu is held.
func (b *backoff) addBreaker(ns string) *breaker {
	if len(b.breakers) >= maxBreakers {
		for n := range b.breakers {
			delete(b.breakers, n)
			break
		}
	}
	br := &breaker{}
	b.breakers[ns] = br
	return br
}

// sweep forgets, at most once per retryMax, the keys whose retry has been
// due for retryMax or longer (nothing asked for them since: their failure
// count no longer matters), and gives back the map's room once it holds a
// quarter of its peak. b.mu is held.
func (b *backoff) sweep(now time.Time) {
	if now.Sub(b.swept) < retryMax {
		return
	}
	b.swept = now
	for k, st := range b.keys {
		if now.Sub(st.retryAt) >= retryMax {
			delete(b.keys, k)
		}
	}
	if b.peak >= 4096 && len(b.keys) <= b.peak/4 {
		m := make(map[string]*retryState, len(b.keys))
		for k, st := range b.keys {
			m[k] = st
		}
		b.keys, b.peak = m, len(m)
	}
}

// retryDelay is how long a key waits after its n-th failure in a row:
// 1 s doubling up to 30 s, drawn between half of that and all of it.
func retryDelay(n int) time.Duration {
	d := min(retryMin<<(n-1), retryMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// probeDelay is the time between two probes of a down bucket: probeEvery,
// give or take a quarter.
func probeDelay() time.Duration {
	return probeEvery*3/4 + time.Duration(rand.Int64N(int64(probeEvery/2)+1))
}
