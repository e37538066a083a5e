package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// pipeBucket answers every Get with a body the test writes as it likes.
type pipeBucket struct {
	fakeBucket
	size int64
	mu   sync.Mutex
	w    []*io.PipeWriter // one per Get, in order
	got  chan struct{}    // a Get arrived
}

func newPipeBucket(size int64) *pipeBucket {
	return &pipeBucket{fakeBucket: *newFakeBucket(), size: size, got: make(chan struct{}, 16)}
}

func (b *pipeBucket) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	b.gets.Add(1)
	pr, pw := io.Pipe()
	b.mu.Lock()
	b.w = append(b.w, pw)
	b.mu.Unlock()
	b.got <- struct{}{}
	return &origin.Object{Info: origin.Info{Key: key, Size: b.size, ETag: `"p"`}, Body: pr, Length: b.size}, nil
}

func (b *pipeBucket) writer(i int) *io.PipeWriter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w[i]
}

func newMemoryOnlyCache(t *testing.T) *Cache {
	t.Helper()
	c, err := New(Config{MemoryBytes: 16 << 20, MemoryItem: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMemoryLoadStreamsToWaiters(t *testing.T) {
	const size = 3 << 20
	want := randomBytes(11, size)
	c := newMemoryOnlyCache(t)
	b := newPipeBucket(size)
	src := Source{Bucket: b, Namespace: "ns\x00"}
	opts := GetOptions{Policy: Policy{DefaultTTL: time.Hour}}

	// Three requests wait for one bucket GET.
	type result struct {
		body []byte
		err  error
	}
	first := make(chan []byte, 3)
	results := make(chan result, 3)
	for range 3 {
		go func() {
			resp, err := c.Get(context.Background(), src, "k", opts)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Close()
			head := make([]byte, 1000)
			if _, err := io.ReadFull(resp.Body, head); err != nil {
				results <- result{err: err}
				return
			}
			first <- head
			rest, err := io.ReadAll(resp.Body)
			results <- result{append(head, rest...), err}
		}()
	}
	<-b.got
	pw := b.writer(0)
	// The first megabyte only: every request must see its first bytes
	// while the bucket has not sent the rest.
	if _, err := pw.Write(want[:1<<20]); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case head := <-first:
			if !bytes.Equal(head, want[:1000]) {
				t.Fatal("wrong first bytes")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no first byte while the body was still arriving: the miss waited for the whole object")
		}
	}
	if _, err := pw.Write(want[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	for range 3 {
		r := <-results
		if r.err != nil || !bytes.Equal(r.body, want) {
			t.Fatalf("body: %d bytes, %v", len(r.body), r.err)
		}
	}
	c.Wait()
	if n := b.gets.Load(); n != 1 {
		t.Errorf("%d bucket GETs, want 1", n)
	}
	// Stored whole: a memory hit now.
	resp, err := c.Get(context.Background(), src, "k", opts)
	if err != nil || resp.Tier != "memory" {
		t.Fatalf("after the load: %v, tier %q; want a memory hit", err, resp.Tier)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Close()
	if !bytes.Equal(got, want) {
		t.Error("memory hit: wrong bytes")
	}
}

func TestMemoryLoadFailureCutsReadersAndStoresNothing(t *testing.T) {
	const size = 1 << 20
	want := randomBytes(12, size)
	c := newMemoryOnlyCache(t)
	b := newPipeBucket(size)
	src := Source{Bucket: b, Namespace: "ns\x00"}
	opts := GetOptions{Policy: Policy{DefaultTTL: time.Hour}}

	// The request attaches to the load before the bucket fails it (a
	// request arriving after that gets a pass-through instead).
	resp, err := c.Get(context.Background(), src, "k", opts)
	if err != nil {
		t.Fatal(err)
	}
	<-b.got
	pw := b.writer(0)
	go func() {
		pw.Write(want[:300<<10])
		pw.CloseWithError(errors.New("connection reset by peer"))
	}()
	got, err := io.ReadAll(resp.Body)
	resp.Close()
	if len(got) > 300<<10 || !bytes.Equal(got, want[:len(got)]) {
		t.Fatal("read bytes the bucket never sent")
	}
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("connection reset")) {
		t.Fatalf("reader got %v, want the bucket's failure", err)
	}
	c.Wait()
	if _, ok := c.mem.Get("ns\x00k"); ok {
		t.Error("a failed load was stored")
	}
	if n := c.mem.alloc.inUseBytes(); n != 0 {
		t.Errorf("%d bytes in use after a failed load and its readers", n)
	}
	// The next request asks the bucket again.
	go func() {
		<-b.got
		pw := b.writer(1)
		pw.Write(want)
		pw.Close()
	}()
	resp, err = c.Get(context.Background(), src, "k", opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("refetch: %d bytes, %v", len(got), err)
	}
}

func TestMemoryLoadRejectsALongerBody(t *testing.T) {
	c := newMemoryOnlyCache(t)
	b := newPipeBucket(1000)
	src := Source{Bucket: b, Namespace: "ns\x00"}
	resp, err := c.Get(context.Background(), src, "k", GetOptions{Policy: Policy{DefaultTTL: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	<-b.got
	go func() {
		pw := b.writer(0)
		pw.Write(bytes.Repeat([]byte("x"), 1500))
		pw.Close()
	}()
	io.Copy(io.Discard, resp.Body)
	resp.Close()
	c.Wait()
	if _, ok := c.mem.Get("ns\x00k"); ok {
		t.Error("a body longer than its size was stored")
	}
}
