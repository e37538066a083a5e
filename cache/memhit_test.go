package cache

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"
	"time"
)

// hitCache is a cache with one fresh memory entry "k" of 100 KiB.
func hitCache(t testing.TB) (*Cache, Source, GetOptions) {
	t.Helper()
	c, err := New(Config{MemoryBytes: 64 << 20, MemoryItem: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bucket := newFakeBucket()
	bucket.put("k", bytes.Repeat([]byte("x"), 100<<10), "")
	src := Source{Bucket: bucket, Namespace: "ns\x00"}
	opts := GetOptions{Policy: Policy{DefaultTTL: time.Hour}, Reuse: true}
	resp, err := c.Get(context.Background(), src, "k", opts)
	if err != nil {
		t.Fatal(err)
	}
	resp.Close()
	c.Wait()
	return c, src, opts
}

// TestMemoryHitAllocatesNothing: a fresh memory hit asked with Reuse
// joins no key and takes its Response from a pool (under -race, where
// sync.Pool drops some of what it is given, fewer allocations than without
// Reuse, which makes one Response per hit).
func TestMemoryHitAllocatesNothing(t *testing.T) {
	c, src, opts := hitCache(t)
	ctx := context.Background()
	get := func(opts GetOptions) func() {
		return func() {
			resp, err := c.Get(ctx, src, "k", opts)
			if err != nil || resp.Tier != "memory" || !resp.Status.Hit {
				t.Fatalf("not a memory hit: %+v, %v", resp, err)
			}
			resp.Close()
		}
	}
	pooled := allocsPerHit(get(opts))
	opts.Reuse = false
	plain := allocsPerHit(get(opts))
	t.Logf("allocations per memory hit: %.2f with Reuse, %.2f without", pooled, plain)
	switch {
	case !raceEnabled && pooled >= 0.01:
		t.Errorf("a memory hit with Reuse allocates %.2f times, want 0", pooled)
	case raceEnabled && pooled > plain-0.25:
		t.Errorf("under -race a memory hit with Reuse allocates %.2f times, without %.2f: the pool saves almost nothing", pooled, plain)
	case plain < 0.99:
		t.Errorf("a memory hit without Reuse allocates %.2f times: the Response should be new", plain)
	}
}

// TestPooledHitReadsItsOwnBytes: pooled Responses handed out one after
// another each read their own entry whole, and a closed one is reset.
func TestPooledHitReadsItsOwnBytes(t *testing.T) {
	c, src, opts := hitCache(t)
	bucket := src.Bucket.(*fakeBucket)
	bucket.put("j", bytes.Repeat([]byte("y"), 3000), "")
	ctx := context.Background()
	if r, err := c.Get(ctx, src, "j", opts); err != nil {
		t.Fatal(err)
	} else {
		r.Close()
	}
	c.Wait()
	for i := range 50 {
		key, want := "k", bytes.Repeat([]byte("x"), 100<<10)
		if i%2 == 1 {
			key, want = "j", bytes.Repeat([]byte("y"), 3000)
		}
		resp, err := c.Get(ctx, src, key, opts)
		if err != nil || resp.Tier != "memory" {
			t.Fatalf("%s: %v (tier %q)", key, err, resp.Tier)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes (%v), want %d", key, len(got), err, len(want))
		}
		resp.Close()
		if resp.Body != nil || resp.Meta.Size != 0 {
			t.Fatalf("a closed pooled Response keeps its fields: %+v", resp)
		}
	}
}

// TestStalePooledHitIsServedAndRefreshed: a stale memory entry asked with
// Reuse is still served (stale-while-revalidate) from a Response of its
// own, and the background refresh gets the new bytes in.
func TestStalePooledHitIsServedAndRefreshed(t *testing.T) {
	now := time.Now()
	c, err := New(Config{MemoryBytes: 8 << 20, MemoryItem: 1 << 20, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bucket := newFakeBucket()
	bucket.put("k", []byte("old"), "")
	src := Source{Bucket: bucket, Namespace: "ns\x00"}
	opts := GetOptions{Policy: Policy{DefaultTTL: time.Second, StaleWhileRevalidate: time.Hour}, Reuse: true}
	ctx := context.Background()
	r, err := c.Get(ctx, src, "k", opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	c.Wait()
	bucket.put("k", []byte("new"), "")
	now = now.Add(5 * time.Second)
	r, err = c.Get(ctx, src, "k", opts)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	stale := r.Status.Hit && r.Status.TTL < 0
	r.Close()
	if string(got) != "old" || !stale {
		t.Fatalf("stale hit: %q, status %+v; want the old bytes, served stale", got, r.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.Wait()
		r, err := c.Get(ctx, src, "k", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r.Body)
		r.Close()
		if string(got) == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background refresh never stored the new bytes (still %q)", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAnnotationLivesWithTheEntry: what a caller stores on an entry is
// seen by later hits, and is gone once the entry's metadata changes or the
// entry is replaced.
func TestAnnotationLivesWithTheEntry(t *testing.T) {
	c, src, opts := hitCache(t)
	ctx := context.Background()
	annot := func() any {
		t.Helper()
		r, err := c.Get(ctx, src, "k", opts)
		if err != nil || r.Tier != "memory" {
			t.Fatalf("not a memory hit: %v", err)
		}
		defer r.Close()
		return r.Body.(*BodyRef).Annotation()
	}
	r, _ := c.Get(ctx, src, "k", opts)
	if a := r.Body.(*BodyRef).Annotation(); a != nil {
		t.Fatalf("a new entry has an annotation: %v", a)
	}
	r.Body.(*BodyRef).SetAnnotation("headers")
	r.Close()
	if a := annot(); a != "headers" {
		t.Fatalf("a later hit sees %v, want the annotation", a)
	}
	r, _ = c.Get(ctx, src, "k", opts)
	meta := r.Meta
	r.Close()
	meta.Expires = meta.Expires.Add(time.Minute)
	if !c.mem.UpdateMeta("ns\x00k", meta) {
		t.Fatal("UpdateMeta found no entry")
	}
	if a := annot(); a != nil {
		t.Fatalf("after a metadata change a hit sees %v, want none", a)
	}
}

// allocsPerHit is the mean number of allocations of f over 2,000 calls on
// one P (as testing.AllocsPerRun, without rounding down).
func allocsPerHit(f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	const n = 2000
	for range n {
		f()
	}
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs-a.Mallocs) / n
}
