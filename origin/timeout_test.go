package origin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// scriptedBucket is an HTTP server speaking just enough S3 for HEAD and
// GET: answer decides what request n (from 1) gets. It counts requests and
// those the client dropped before the answer was complete.
type scriptedBucket struct {
	answer func(n int, w http.ResponseWriter, r *http.Request)
	srv    *httptest.Server

	mu      sync.Mutex
	reqs    int
	dropped int
}

func newScriptedBucket(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *scriptedBucket {
	t.Helper()
	sb := &scriptedBucket{answer: answer}
	sb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.mu.Lock()
		sb.reqs++
		n := sb.reqs
		sb.mu.Unlock()
		sb.answer(n, w, r)
		if r.Context().Err() != nil {
			sb.mu.Lock()
			sb.dropped++
			sb.mu.Unlock()
		}
	}))
	t.Cleanup(sb.srv.Close)
	return sb
}

func (sb *scriptedBucket) counts() (reqs, dropped int) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.reqs, sb.dropped
}

// waitDropped waits until every request the bucket saw has been dropped
// by the client (the server learns it asynchronously).
func (sb *scriptedBucket) waitDropped(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		reqs, dropped := sb.counts()
		if reqs == dropped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket saw %d requests, %d dropped by the client", reqs, dropped)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (sb *scriptedBucket) open(t *testing.T, timeout time.Duration) *origin.S3 {
	t.Helper()
	b, err := origin.NewS3(t.Context(), origin.S3Config{
		Bucket: testBucket, Endpoint: sb.srv.URL, AccessKey: "k", SecretKey: "s", Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// answerOK sends a small object's headers (and its body to a GET).
func answerOK(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", `"e"`)
	w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
	w.Header().Set("Content-Length", "5")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("hello"))
	}
}

// answer503 fails the request as an overloaded bucket does.
func answer503(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method == http.MethodGet {
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message></Error>`))
	}
}

// timedOps are the calls bounded by the timeout.
var timedOps = []struct {
	name string
	call func(ctx context.Context, b origin.Bucket) error
}{
	{"head", func(ctx context.Context, b origin.Bucket) error {
		_, err := b.Head(ctx, "obj")
		return err
	}},
	{"get", func(ctx context.Context, b origin.Bucket) error {
		obj, err := b.Get(ctx, "obj", origin.GetOptions{})
		if err == nil {
			obj.Body.Close()
		}
		return err
	}},
	{"delete", func(ctx context.Context, b origin.Bucket) error { return b.Delete(ctx, "obj") }},
}

// The timeout is the longest wait for the bucket's answer: one attempt
// that outlives it is dropped and not retried (issue 7, bug 4: a 1s
// timeout answered after 2s, the bucket seeing two requests).
func TestS3TimeoutBoundsTheWholeCall(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, op := range timedOps {
		t.Run(op.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			sb := newScriptedBucket(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				select { // slower than the timeout: answers only when released
				case <-r.Context().Done():
				case <-release:
				}
			})
			b := sb.open(t, timeout)
			start := time.Now()
			err := op.call(t.Context(), b)
			elapsed := time.Since(start)
			t.Logf("%s answered after %v with a %v timeout: %v", op.name, elapsed, timeout, err)
			if !errors.Is(err, origin.ErrTimeout) || origin.Status(err) != http.StatusGatewayTimeout {
				t.Errorf("error = %v (status %d), want ErrTimeout (504)", err, origin.Status(err))
			}
			sb.waitDropped(t)
			if reqs, _ := sb.counts(); reqs != 1 {
				t.Errorf("bucket saw %d requests, want 1 (no retry past the timeout)", reqs)
			}
		})
	}
}

func TestS3RetryOnlyWithinTheTimeout(t *testing.T) {
	t.Run("a quick failure is retried", func(t *testing.T) {
		for _, op := range timedOps[:2] {
			t.Run(op.name, func(t *testing.T) {
				sb := newScriptedBucket(t, func(n int, w http.ResponseWriter, r *http.Request) {
					if n == 1 {
						answer503(w, r)
						return
					}
					answerOK(w, r)
				})
				b := sb.open(t, 10*time.Second)
				if err := op.call(t.Context(), b); err != nil {
					t.Errorf("%s after one 503 = %v, want success on the retry", op.name, err)
				}
				if reqs, _ := sb.counts(); reqs != 2 {
					t.Errorf("bucket saw %d requests, want 2", reqs)
				}
			})
		}
	})

	// The first answer comes after 80% of the timeout: a retry could not
	// finish in what is left, so none is made.
	t.Run("a late failure is not retried", func(t *testing.T) {
		const timeout = time.Second
		for _, op := range timedOps[:2] {
			t.Run(op.name, func(t *testing.T) {
				sb := newScriptedBucket(t, func(n int, w http.ResponseWriter, r *http.Request) {
					select {
					case <-time.After(timeout * 8 / 10):
					case <-r.Context().Done():
						return
					}
					answer503(w, r)
				})
				b := sb.open(t, timeout)
				start := time.Now()
				err := op.call(t.Context(), b)
				t.Logf("%s answered after %v: %v", op.name, time.Since(start), err)
				// 502 normally; 504 if this machine took the whole timeout.
				if s := origin.Status(err); s != http.StatusBadGateway && s != http.StatusGatewayTimeout {
					t.Errorf("error = %v (status %d), want 502 (or 504)", err, s)
				}
				if reqs, _ := sb.counts(); reqs != 1 {
					t.Errorf("bucket saw %d requests, want 1", reqs)
				}
			})
		}
	})
}

// TestS3PooledConnectionWaitsItsFullTimeout: a connection reused after
// idling in the pool gives the next answer the whole timeout, counted from
// the request: with a 1 s timeout, a bucket answering in 0.7 s a request
// sent after 0.6 s of idling is one request that succeeds (the read the
// transport started when the connection went idle once timed it out 0.4 s
// in, and the GET was sent again).
func TestS3PooledConnectionWaitsItsFullTimeout(t *testing.T) {
	sb := newScriptedBucket(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			time.Sleep(700 * time.Millisecond)
		}
		answerOK(w, r)
	})
	b := sb.open(t, time.Second)
	if _, err := b.Head(t.Context(), "obj"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	start := time.Now()
	if _, err := b.Head(t.Context(), "obj"); err != nil {
		t.Fatalf("second request, on the pooled connection: %v after %v", err, time.Since(start))
	}
	if reqs, _ := sb.counts(); reqs != 2 {
		t.Errorf("the bucket saw %d requests, want 2 (no retry)", reqs)
	}
}
