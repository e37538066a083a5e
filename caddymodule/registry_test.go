package caddymodule

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/r2gate/r2gate/cache"
)

// fakeCache is a purgeable over a set of keys that logs every call.
type fakeCache struct {
	mu    sync.Mutex
	keys  map[string]bool
	calls []string
	stats cache.Stats
}

func newFakeCache(keys ...string) *fakeCache {
	c := &fakeCache{keys: make(map[string]bool)}
	for _, k := range keys {
		c.keys[k] = true
	}
	return c
}

func (c *fakeCache) PurgeFunc(prefix string, match func(string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "func "+prefix)
	n := 0
	for k := range c.keys {
		if match(k) {
			delete(c.keys, k)
			n++
		}
	}
	return n
}

func (c *fakeCache) Stats() cache.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// left returns the keys still cached, sorted.
func (c *fakeCache) left() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (c *fakeCache) callLog() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func TestRegistryPurgeKeyTakesItsVariants(t *testing.T) {
	var r cacheRegistry
	c := newFakeCache("ns/a.jpg", "ns/a.jpg\x1fw=400", "ns/a.jpg\x1fw=800&format=webp",
		"ns/a.jpgx", "ns/a.jpg.bak", "ns/b.jpg", "other/a.jpg")
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: c})

	if n := r.purge("", []string{"a.jpg"}, nil); n != 3 {
		t.Errorf("purge removed %d entries, want 3", n)
	}
	want := []string{"ns/a.jpg.bak", "ns/a.jpgx", "ns/b.jpg", "other/a.jpg"}
	if got := c.left(); !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}

func TestRegistryPurgePrefix(t *testing.T) {
	var r cacheRegistry
	c := newFakeCache("ns/img/a.jpg", "ns/img/a.jpg\x1fw=400", "ns/img2/b.jpg", "ns/css/s.css", "other/img/a.jpg")
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: c})

	if n := r.purge("", nil, []string{"img/"}); n != 2 {
		t.Errorf("purge removed %d entries, want 2", n)
	}
	want := []string{"ns/css/s.css", "ns/img2/b.jpg", "other/img/a.jpg"}
	if got := c.left(); !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}

func TestRegistryPurgesSharedCacheOnce(t *testing.T) {
	var r cacheRegistry
	shared := newFakeCache("ns/a", "ns2/a")
	other := newFakeCache("ns/a")
	// Two routes (one with jwt, one without) over the same bucket and
	// cache, a third handler with another namespace in that cache, and a
	// handler with a cache of its own.
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: shared})
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: shared})
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns2/", cache: shared})
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: other})

	if n := r.purge("", []string{"a"}, []string{"p/"}); n != 3 {
		t.Errorf("purge removed %d entries, want 3", n)
	}
	got := shared.callLog()
	slices.Sort(got)
	want := []string{"func ns/", "func ns2/"}
	if !slices.Equal(got, want) {
		t.Errorf("shared cache calls %q, want each (cache, namespace) once: %q", got, want)
	}
	if got := other.callLog(); len(got) != 1 {
		t.Errorf("other cache calls %q, want 1", got)
	}
}

func TestRegistryBucketFilter(t *testing.T) {
	var r cacheRegistry
	a := newFakeCache("a/k")
	b := newFakeCache("b/k")
	dir := newFakeCache("d/k")
	r.register(&Handler{}, cacheUse{bucket: "bucket-a", namespace: "a/", cache: a})
	r.register(&Handler{}, cacheUse{bucket: "bucket-b", namespace: "b/", cache: b})
	r.register(&Handler{}, cacheUse{bucket: "", namespace: "d/", cache: dir}) // a local folder

	if n := r.purge("bucket-a", []string{"k"}, nil); n != 1 {
		t.Errorf("purge of bucket-a removed %d, want 1", n)
	}
	if len(b.callLog()) != 0 || len(dir.callLog()) != 0 {
		t.Errorf("purge of bucket-a touched other caches: %q %q", b.callLog(), dir.callLog())
	}
	if n := r.purge("nope", []string{"k"}, nil); n != 0 {
		t.Errorf("purge of an unknown bucket removed %d", n)
	}
	if n := r.purge("", []string{"k"}, nil); n != 2 {
		t.Errorf("purge of every bucket removed %d, want 2 (b and the folder)", n)
	}
}

func TestRegistryReloadOverlap(t *testing.T) {
	var r cacheRegistry
	c := newFakeCache("ns/a", "ns/b", "ns/c")
	old, next := &Handler{}, &Handler{}
	// A reload provisions the new handler before cleaning up the old one.
	r.register(old, cacheUse{bucket: "assets", namespace: "ns/", cache: c})
	r.register(next, cacheUse{bucket: "assets", namespace: "ns/", cache: c})
	if n := r.purge("", []string{"a"}, nil); n != 1 || len(c.callLog()) != 1 {
		t.Errorf("purge during overlap: removed %d, calls %q; want 1 in one pass", n, c.callLog())
	}
	r.unregister(old)
	if n := r.purge("", []string{"b"}, nil); n != 1 {
		t.Errorf("after the old handler's cleanup: removed %d, want 1", n)
	}
	r.unregister(old) // twice is harmless
	r.unregister(&Handler{})
	r.register(next, cacheUse{bucket: "assets", namespace: "ns/", cache: nil}) // nil cache unregisters
	if n := r.purge("", []string{"c"}, nil); n != 0 {
		t.Errorf("after every cleanup: removed %d, want 0", n)
	}
	if got := r.distinctCaches(); len(got) != 0 {
		t.Errorf("caches left: %d", len(got))
	}
}

func TestRegistryReRegisterReplaces(t *testing.T) {
	var r cacheRegistry
	first, second := newFakeCache("ns/a"), newFakeCache("ns/a")
	h := &Handler{}
	r.register(h, cacheUse{bucket: "assets", namespace: "ns/", cache: first})
	r.register(h, cacheUse{bucket: "assets", namespace: "ns/", cache: second})
	r.purge("", []string{"a"}, nil)
	if len(first.callLog()) != 0 || len(second.callLog()) == 0 {
		t.Errorf("calls first %q second %q; want only the second cache", first.callLog(), second.callLog())
	}
}

func TestRegistryDistinctCaches(t *testing.T) {
	var r cacheRegistry
	a, b := newFakeCache(), newFakeCache()
	r.register(&Handler{}, cacheUse{bucket: "x", namespace: "1/", cache: a})
	r.register(&Handler{}, cacheUse{bucket: "y", namespace: "2/", cache: a})
	r.register(&Handler{}, cacheUse{bucket: "x", namespace: "1/", cache: b})
	if got := r.distinctCaches(); len(got) != 2 {
		t.Errorf("distinct caches: %d, want 2", len(got))
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	var r cacheRegistry
	c := newFakeCache()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				h := &Handler{}
				r.register(h, cacheUse{bucket: fmt.Sprint("b", i%2), namespace: "ns/", cache: c})
				r.purge("b0", []string{fmt.Sprint(j)}, []string{"p/"})
				r.distinctCaches()
				r.unregister(h)
			}
		}()
	}
	wg.Wait()
	if got := r.distinctCaches(); len(got) != 0 {
		t.Errorf("caches left: %d", len(got))
	}
}
