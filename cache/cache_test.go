package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// fakeBucket is an in-memory origin.Bucket that counts requests and can
// be made to fail.
type fakeBucket struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	gets    atomic.Int64
	cond    atomic.Int64 // conditional gets
	down    atomic.Bool
	full304 atomic.Bool   // a 304 carries the object's Cache-Control too
	gate    chan struct{} // when not nil, Get waits for it
	late    chan struct{} // when not nil, Get waits for it after reading the object
	// lateRead, when not nil, gets a value when Get has read the object
	// and waits for late.
	lateRead chan struct{}
	ranged   atomic.Int64 // gets of a range
	// body, when not nil, wraps the body of every whole-object get.
	body func(ctx context.Context, key string, b []byte) io.Reader
}

type fakeObject struct {
	body []byte
	etag string
	cc   string
	lm   time.Time // zero: a fixed time
}

func newFakeBucket() *fakeBucket { return &fakeBucket{objects: make(map[string]fakeObject)} }

func (b *fakeBucket) put(key string, body []byte, cc string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects[key] = fakeObject{body: body, etag: fmt.Sprintf(`"%x-%d"`, len(body), time.Now().UnixNano()), cc: cc}
}

func (b *fakeBucket) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	b.gets.Add(1)
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("get %q: %w", key, ctx.Err())
		}
	}
	if b.down.Load() {
		return nil, fmt.Errorf("get %q: %w", key, origin.ErrTimeout)
	}
	b.mu.Lock()
	o, ok := b.objects[key]
	b.mu.Unlock()
	if b.late != nil {
		if b.lateRead != nil {
			b.lateRead <- struct{}{}
		}
		<-b.late
	}
	if !ok {
		return nil, origin.ErrNotFound
	}
	if opts.IfNoneMatch != "" {
		b.cond.Add(1)
		if opts.IfNoneMatch == o.etag {
			// Like S3: the 304 carries the ETag and Last-Modified, not
			// the object's other metadata.
			info := origin.Info{Key: key, ETag: o.etag, LastModified: o.lastModified()}
			if b.full304.Load() {
				info.CacheControl = o.cc
			}
			return nil, origin.NotModified(key, info)
		}
	}
	if opts.IfMatch != "" && opts.IfMatch != o.etag {
		return nil, fmt.Errorf("get %q: %w", key, origin.ErrPreconditionFailed)
	}
	info := origin.Info{Key: key, Size: int64(len(o.body)), ETag: o.etag, CacheControl: o.cc,
		LastModified: o.lastModified(), ContentType: "application/octet-stream"}
	if rg := opts.Range; rg != nil {
		b.ranged.Add(1)
		if rg.Offset >= info.Size {
			return nil, fmt.Errorf("get %q: %w", key, origin.ErrRangeNotSatisfiable)
		}
		end := info.Size
		if rg.Length >= 0 {
			end = min(end, rg.Offset+rg.Length)
		}
		return &origin.Object{Info: info, Body: io.NopCloser(bytes.NewReader(o.body[rg.Offset:end])),
			Offset: rg.Offset, Length: end - rg.Offset}, nil
	}
	var body io.Reader = bytes.NewReader(o.body)
	if b.body != nil {
		body = b.body(ctx, key, o.body)
	}
	return &origin.Object{Info: info, Body: io.NopCloser(body), Length: info.Size}, nil
}

func (o fakeObject) lastModified() time.Time {
	if o.lm.IsZero() {
		return time.Unix(1_700_000_000, 0)
	}
	return o.lm
}

// rewriteMeta gives key new metadata and a later Last-Modified, keeping
// its bytes and ETag, as an S3 copy onto itself does.
func (b *fakeBucket) rewriteMeta(key, cc string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.objects[key]
	o.cc, o.lm = cc, o.lastModified().Add(time.Minute)
	b.objects[key] = o
}

func (b *fakeBucket) Head(ctx context.Context, key string) (origin.Info, error) {
	return origin.Info{}, errors.New("not used")
}

func (b *fakeBucket) Put(context.Context, string, io.Reader, int64, origin.PutOptions) (origin.Info, error) {
	return origin.Info{}, errors.New("not used")
}

func (b *fakeBucket) Delete(context.Context, string) error { return errors.New("not used") }

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type rig struct {
	c     *Cache
	b     *fakeBucket
	clock *clock
	src   Source
	opts  GetOptions
}

func newRig(t *testing.T, withDisk bool) *rig {
	t.Helper()
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	cfg := Config{MemoryBytes: 8 << 20, MemoryItem: 1 << 20, Now: clk.Now}
	if withDisk {
		d, err := OpenDisk(t.TempDir(), 64<<20, 32<<20)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		cfg.Disk = d
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		<-c.Closed()
	})
	b := newFakeBucket()
	return &rig{c: c, b: b, clock: clk, src: Source{Bucket: b, Namespace: "ns\x00"},
		opts: GetOptions{Policy: Policy{DefaultTTL: time.Minute, StaleIfError: time.Hour}, NegativeTTL: 10 * time.Second}}
}

// get reads key whole and returns its body and Cache-Status.
func (r *rig) get(t *testing.T, key string) (string, string, error) {
	t.Helper()
	resp, err := r.c.Get(context.Background(), r.src, key, r.opts)
	if err != nil {
		return "", "", err
	}
	defer resp.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	r.c.Wait()
	return string(b), resp.Status.String(), nil
}

func TestCacheFlows(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", withDisk), func(t *testing.T) {
			t.Run("miss then hit", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.put("k", []byte("body"), "")
				if body, status, err := r.get(t, "k"); err != nil || body != "body" || status != "r2gate; fwd=uri-miss; fwd-status=200; ttl=60; stored" {
					t.Fatalf("miss: %q %q %v", body, status, err)
				}
				if body, status, _ := r.get(t, "k"); body != "body" || !strings.HasPrefix(status, "r2gate; hit; ttl=60; detail=") {
					t.Fatalf("hit: %q %q", body, status)
				}
				if n := r.b.gets.Load(); n != 1 {
					t.Errorf("bucket gets = %d, want 1", n)
				}
			})
			t.Run("expired entry is revalidated with a 304", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.put("k", []byte("body"), "max-age=5")
				r.get(t, "k")
				r.clock.Add(6 * time.Second)
				if body, status, _ := r.get(t, "k"); body != "body" || status != "r2gate; fwd=stale; fwd-status=304; ttl=5; stored" {
					t.Fatalf("revalidation: %q %q", body, status)
				}
				if r.b.cond.Load() != 1 {
					t.Errorf("conditional gets = %d, want 1", r.b.cond.Load())
				}
				if _, status, _ := r.get(t, "k"); !strings.HasPrefix(status, "r2gate; hit; ttl=5; detail=") {
					t.Errorf("after revalidation: %q, want a fresh hit", status)
				}
			})
			t.Run("a 304's Cache-Control updates the entry", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.full304.Store(true)
				r.b.put("k", []byte("body"), "max-age=5")
				r.get(t, "k")
				r.b.mu.Lock()
				o := r.b.objects["k"]
				o.cc = "max-age=100"
				r.b.objects["k"] = o
				r.b.mu.Unlock()
				r.clock.Add(6 * time.Second)
				resp, err := r.c.Get(context.Background(), r.src, "k", r.opts)
				if err != nil {
					t.Fatal(err)
				}
				resp.Close()
				if resp.Meta.CacheControl != "max-age=100" || resp.Status.String() != "r2gate; fwd=stale; fwd-status=304; ttl=100; stored" {
					t.Fatalf("after a 304 with new Cache-Control: %q, %q", resp.Meta.CacheControl, resp.Status)
				}
				r.b.mu.Lock()
				o.cc = "no-store"
				r.b.objects["k"] = o
				r.b.mu.Unlock()
				r.clock.Add(101 * time.Second)
				var pt *BypassError
				if _, _, err := r.get(t, "k"); !errors.As(err, &pt) {
					t.Fatalf("a 304 saying no-store: %v, want a bypass", err)
				}
				if _, ok := r.c.mem.Get("ns\x00k"); ok {
					t.Error("entry kept after a 304 said no-store")
				}
			})
			t.Run("metadata rewritten with the same ETag is refetched", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.put("k", []byte("body"), "max-age=5")
				r.get(t, "k")
				r.b.rewriteMeta("k", "max-age=100")
				r.clock.Add(6 * time.Second)
				resp, err := r.c.Get(context.Background(), r.src, "k", r.opts)
				if err != nil {
					t.Fatal(err)
				}
				resp.Close()
				if resp.Meta.CacheControl != "max-age=100" || resp.Status.String() != "r2gate; fwd=stale; fwd-status=200; ttl=100; stored" {
					t.Fatalf("after a rewrite: Cache-Control %q, %q; want the new metadata, fetched", resp.Meta.CacheControl, resp.Status)
				}
				if n := r.b.gets.Load(); n != 3 {
					t.Errorf("bucket gets = %d, want 3 (fill, conditional, whole)", n)
				}
				r.c.Wait()
				if _, status, _ := r.get(t, "k"); !strings.HasPrefix(status, "r2gate; hit; ttl=100; detail=") {
					t.Errorf("next request: %q, want a hit with the new ttl", status)
				}
			})
			t.Run("changed object is refetched on expiry", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.put("k", []byte("v1"), "max-age=5")
				r.get(t, "k")
				r.b.put("k", []byte("v2"), "max-age=5")
				if body, _, _ := r.get(t, "k"); body != "v1" {
					t.Fatalf("fresh entry: %q, want v1 until it expires", body)
				}
				r.clock.Add(6 * time.Second)
				if body, status, _ := r.get(t, "k"); body != "v2" || status != "r2gate; fwd=stale; fwd-status=200; ttl=5; stored" {
					t.Fatalf("after expiry: %q %q", body, status)
				}
			})
			t.Run("stale if error", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.put("k", []byte("body"), "max-age=5")
				r.get(t, "k")
				r.clock.Add(10 * time.Second)
				r.b.down.Store(true)
				body, status, err := r.get(t, "k")
				if err != nil || body != "body" || !strings.HasPrefix(status, "r2gate; fwd=stale; fwd-status=504; ttl=-5; detail=") {
					t.Fatalf("bucket down within stale_if_error: %q %q %v", body, status, err)
				}
				r.clock.Add(2 * time.Hour)
				if _, _, err := r.get(t, "k"); origin.Status(err) != 504 {
					t.Fatalf("past stale_if_error: %v, want the bucket's timeout", err)
				}
			})
			t.Run("stale while revalidate refreshes once in the background", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.opts.Policy.StaleWhileRevalidate = time.Minute
				r.b.put("k", []byte("v1"), "max-age=5")
				r.get(t, "k")
				r.b.put("k", []byte("v2"), "max-age=5")
				r.clock.Add(6 * time.Second)
				gate := make(chan struct{})
				r.b.gate = gate
				var once sync.Once
				open := func() { once.Do(func() { close(gate) }) }
				t.Cleanup(open) // a failed check must not leave the refresh blocked
				for range 5 {
					if body, status, _ := r.get(t, "k"); body != "v1" || !strings.HasPrefix(status, "r2gate; hit; ttl=-1; detail=") {
						t.Fatalf("stale hit: %q %q", body, status)
					}
				}
				open()
				deadline := time.Now().Add(5 * time.Second)
				for {
					if body, _, _ := r.get(t, "k"); body == "v2" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the background refresh never landed")
					}
					time.Sleep(10 * time.Millisecond)
				}
				if n := r.b.gets.Load(); n != 2 {
					t.Errorf("bucket gets = %d, want 2 (fill and one refresh for five stale hits)", n)
				}
			})
			t.Run("missing objects are remembered for negative_ttl", func(t *testing.T) {
				r := newRig(t, withDisk)
				want := []string{
					"r2gate; fwd=uri-miss; fwd-status=404; ttl=10; stored",
					"r2gate; hit; ttl=10; detail=negative",
					"r2gate; hit; ttl=8; detail=negative",
				}
				for i := range 3 {
					_, _, err := r.get(t, "nope")
					var me *MissingError
					if !errors.Is(err, origin.ErrNotFound) || !errors.As(err, &me) {
						t.Fatalf("missing: %v", err)
					}
					if got := me.Status.String(); got != want[i] {
						t.Errorf("request %d: Cache-Status %q, want %q", i, got, want[i])
					}
					if i == 1 {
						r.clock.Add(1500 * time.Millisecond)
					}
				}
				if n := r.b.gets.Load(); n != 1 {
					t.Errorf("bucket gets = %d, want 1", n)
				}
				r.b.put("nope", []byte("now here"), "")
				r.clock.Add(11 * time.Second)
				if body, _, err := r.get(t, "nope"); err != nil || body != "now here" {
					t.Errorf("after negative_ttl: %q %v", body, err)
				}
			})
			t.Run("no-store and private bypass the cache", func(t *testing.T) {
				r := newRig(t, withDisk)
				r.b.put("secret", []byte("x"), "private, max-age=60")
				var pt *BypassError
				if _, _, err := r.get(t, "secret"); !errors.As(err, &pt) {
					t.Fatalf("private object: %v, want a bypass", err)
				}
				if _, _, err := r.get(t, "secret"); !errors.As(err, &pt) || r.b.gets.Load() != 1 {
					t.Fatalf("second request: %v after %d gets; want a remembered bypass", err, r.b.gets.Load())
				}
			})
			t.Run("too large objects are remembered for an hour", func(t *testing.T) {
				r := newRig(t, false) // memory_item 1 MiB, no disk tier
				r.b.put("big", make([]byte, 2<<20), "")
				var pt *BypassError
				for i, wait := range []time.Duration{0, 2 * time.Minute, 50 * time.Minute} {
					r.clock.Add(wait)
					if _, _, err := r.get(t, "big"); !errors.As(err, &pt) {
						t.Fatalf("request %d: %v, want a bypass", i, err)
					}
				}
				if n := r.b.gets.Load(); n != 1 {
					t.Errorf("%d bucket GETs within the hour, want 1", n)
				}
				r.clock.Add(10 * time.Minute)
				r.get(t, "big")
				if n := r.b.gets.Load(); n != 2 {
					t.Errorf("%d bucket GETs after the hour, want 2", n)
				}
				r.c.Purge("ns\x00big")
				r.get(t, "big")
				if n := r.b.gets.Load(); n != 3 {
					t.Errorf("%d bucket GETs after a purge, want 3: a purge forgets the size", n)
				}
			})
			t.Run("purge", func(t *testing.T) {
				r := newRig(t, withDisk)
				for _, k := range []string{"a", "a?w=400", "b/c", "b/d"} {
					r.b.put(k, []byte(k), "")
					r.get(t, k)
				}
				if !r.c.Purge("ns\x00a") {
					t.Error("Purge of a cached key reported nothing removed")
				}
				if n := r.c.PurgePrefix("ns\x00b/"); n < 2 {
					t.Errorf("PurgePrefix removed %d, want at least 2", n)
				}
				before := r.b.gets.Load()
				r.get(t, "a")
				r.get(t, "b/c")
				r.get(t, "a?w=400")
				if got := r.b.gets.Load() - before; got != 2 {
					t.Errorf("after purging a and b/: %d refetches, want 2 (a?w=400 was not purged)", got)
				}
			})
		})
	}
}

func TestCacheCoalescesMisses(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		r := newRig(t, withDisk)
		body := bytes.Repeat([]byte("x"), 200_000)
		r.b.put("hot", body, "")
		gate := make(chan struct{})
		r.b.gate = gate
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				got, _, err := r.get(t, "hot")
				if err != nil || got != string(body) {
					t.Errorf("disk=%v: %d bytes, %v", withDisk, len(got), err)
				}
			})
		}
		time.Sleep(50 * time.Millisecond)
		close(gate)
		wg.Wait()
		if n := r.b.gets.Load(); n != 1 {
			t.Errorf("disk=%v: 50 concurrent misses made %d bucket gets, want 1", withDisk, n)
		}
		if s := r.c.Stats(); s.Coalesced == 0 {
			t.Errorf("disk=%v: Stats.Coalesced = 0", withDisk)
		}
	}
}

func BenchmarkCacheGetMemoryHit(b *testing.B) {
	c, src, opts := hitCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(context.Background(), src, "k", opts)
		if err != nil || resp.Tier != "memory" {
			b.Fatalf("not a memory hit: %v", err)
		}
		resp.Close()
	}
}

func TestCacheKeepsServingWhenTheDiskFails(t *testing.T) {
	r := newRig(t, true)
	var reported atomic.Int64
	r.c.onDiskError = func(error) { reported.Add(1) }
	tmp := filepath.Join(r.c.disk.dir, "tmp")
	os.RemoveAll(tmp)
	if err := os.WriteFile(tmp, nil, 0o644); err != nil { // a file where the temp folder should be
		t.Fatal(err)
	}
	r.b.put("k", []byte("still served"), "")
	for range 2 {
		if body, _, err := r.get(t, "k"); err != nil || body != "still served" {
			t.Fatalf("with a broken disk tier: %q %v", body, err)
		}
	}
	if reported.Load() == 0 || r.c.Disk().Stats().WriteErrors == 0 {
		t.Errorf("disk failure reported %d times, counted %d; want both", reported.Load(), r.c.Disk().Stats().WriteErrors)
	}
}

func TestCacheRevalidateOption(t *testing.T) {
	r := newRig(t, false)
	r.b.put("k", []byte("body"), "")
	r.get(t, "k")
	r.opts.Revalidate = true // a client's no-cache, on a site that honours it
	if body, status, _ := r.get(t, "k"); body != "body" || !strings.HasPrefix(status, "r2gate; fwd=stale; fwd-status=304") {
		t.Errorf("revalidate: %q %q, want a 304 revalidation", body, status)
	}
	if r.b.cond.Load() != 1 {
		t.Errorf("conditional gets = %d, want 1", r.b.cond.Load())
	}
}

// TestCachePurgeDuringAFetchIsNotUndone: a purge while a fetch is on its
// way wins, whether the bucket had not read the object yet when the
// purge came (it answers with the new version), or had read the old one
// (the answer reaches the cache after the purge has run, and the disk
// entry is created after the purge's walk: no tier may keep it).
func TestCachePurgeDuringAFetchIsNotUndone(t *testing.T) {
	for _, late := range []bool{false, true} {
		for _, withDisk := range []bool{false, true} {
			r := newRig(t, withDisk)
			r.b.put("k", []byte("old"), "")
			hold := make(chan struct{})
			if late {
				r.b.late, r.b.lateRead = hold, make(chan struct{}, 1)
			} else {
				r.b.gate = hold
			}
			done := make(chan string)
			go func() {
				body, _, _ := r.get(t, "k")
				done <- body
			}()
			if late {
				<-r.b.lateRead
			} else {
				for r.b.gets.Load() == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			r.b.put("k", []byte("new"), "")
			r.c.Purge("ns\x00k") // the object changed while a version was on the way
			close(hold)
			want := "new"
			if late {
				want = "old" // what the bucket had read
			}
			if body := <-done; body != want {
				t.Fatalf("late=%v disk=%v: the request in flight got %q, want %q", late, withDisk, body, want)
			}
			r.b.gate, r.b.late = nil, nil
			r.c.Wait()
			if body, status, _ := r.get(t, "k"); body != "new" {
				t.Errorf("late=%v disk=%v: after the purge: %q %q, want the new version", late, withDisk, body, status)
			}
		}
	}
}

// TestLargeObjectIsCachedAgainOnceTheDiskRecovers: an object too large for
// the memory tier, fetched while the disk tier is paused after a failure,
// is served from the bucket and not remembered as too large for the cache
// (it was kept out of the recovered disk tier for an hour); once the pause
// is over and the disk works, it is stored and then a disk hit.
func TestLargeObjectIsCachedAgainOnceTheDiskRecovers(t *testing.T) {
	r := newRig(t, true)
	tmp := filepath.Join(r.c.disk.dir, "tmp")
	os.RemoveAll(tmp)
	if err := os.WriteFile(tmp, nil, 0o644); err != nil { // the disk tier fails
		t.Fatal(err)
	}
	big := strings.Repeat("large object ", (2<<20)/13) // over MemoryItem (1 MiB)
	r.b.put("big", []byte(big), "")
	for range 2 { // the first fails on the disk and pauses it; the second skips it
		_, _, err := r.get(t, "big")
		var be *BypassError
		if !errors.As(err, &be) || be.Reason != "no room for it now" {
			t.Fatalf("with the disk failing: %v; want a bypass for now (the caller streams it from the bucket)", err)
		}
	}
	os.Remove(tmp) // the disk works again
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(diskPause + time.Second)
	if body, status, err := r.get(t, "big"); err != nil || body != big || !strings.Contains(status, "stored") {
		t.Fatalf("after the disk recovered: %d bytes, %q, %v; want it fetched and stored", len(body), status, err)
	}
	r.c.Wait()
	if _, status, _ := r.get(t, "big"); !strings.Contains(status, "; hit;") {
		t.Errorf("then: %q, want a hit", status)
	}
}

// TestCacheDiskHitDuringAPurgeIsNotPromoted: a request that misses the
// memory tier after a purge has walked it, but finds the disk entry the
// purge has not reached yet, must not move that entry up to memory, where
// the purge would never see it again (a cluster node once served a purged
// object from memory for the rest of its TTL this way).
func TestCacheDiskHitDuringAPurgeIsNotPromoted(t *testing.T) {
	r := newRig(t, true)
	r.b.put("k", []byte("old"), "")
	r.get(t, "k")
	if _, status, _ := r.get(t, "k"); !strings.Contains(status, "; hit") {
		t.Fatalf("before the purge: %q, want a hit", status)
	}
	r.b.put("k", []byte("new"), "")
	var during string
	r.c.betweenTiers = func() { // the memory tier is purged, the disk tier not yet
		body, status, err := r.get(t, "k")
		if err != nil {
			t.Errorf("during the purge: %v", err)
		}
		during = body + " " + status
	}
	r.c.Purge("ns\x00k")
	r.c.betweenTiers = nil
	if !strings.Contains(during, "detail=disk") {
		t.Fatalf("the request during the purge was %q, want a disk hit (the test no longer makes the race)", during)
	}
	gets := r.b.gets.Load()
	if body, status, _ := r.get(t, "k"); body != "new" || r.b.gets.Load() != gets+1 {
		t.Errorf("after the purge: %q %q (%d bucket gets), want the new version from the bucket", body, status, r.b.gets.Load()-gets)
	}
}
