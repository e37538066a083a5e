package caddymodule

import (
	"strings"
	"sync"

	"github.com/r2gate/r2gate/cache"
)

// purgeable is what purges and metrics need of a cache (*cache.Cache
// satisfies it).
type purgeable interface {
	// PurgeFunc removes the keys under prefix that match accepts.
	PurgeFunc(prefix string, match func(key string) bool) int
	Stats() cache.Stats
}

// cacheUse is one provisioned handler's use of a cache: the bucket it
// serves and the namespace its cache keys start with.
type cacheUse struct {
	bucket    string
	namespace string
	cache     purgeable
	// disk is the cache's disk tier, or nil; caches with different memory
	// settings may share one.
	disk *cache.Disk
}

// cacheRegistry knows every provisioned r2gate handler that has a cache,
// so that purges (admin API, webhook) and the metrics collector can reach
// the caches. The app owns it; a config reload provisions the new
// handlers before it cleans up the old ones, so for a moment both are in
// it; they usually share caches, which purge and the collector visit once
// each. It is safe for concurrent use; the zero value is ready.
type cacheRegistry struct {
	mu   sync.RWMutex
	uses map[*Handler]cacheUse
}

// register records that h serves u.bucket through u.cache, with cache
// keys u.namespace+objectKey. Call it from Provision once the cache
// exists; a second call for h replaces the first. A nil cache unregisters
// h.
func (r *cacheRegistry) register(h *Handler, u cacheUse) {
	if u.cache == nil {
		r.unregister(h)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses == nil {
		r.uses = make(map[*Handler]cacheUse)
	}
	r.uses[h] = u
}

// unregister forgets h; call it from Cleanup. Unknown handlers are
// ignored.
func (r *cacheRegistry) unregister(h *Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.uses, h)
}

// targets returns the distinct (cache, namespace) pairs of the handlers
// serving bucket (all handlers when bucket is empty), so that handlers
// sharing a cache and a namespace are purged once.
func (r *cacheRegistry) targets(bucket string) []cacheUse {
	type target struct {
		cache     purgeable
		namespace string
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := make(map[target]bool, len(r.uses))
	out := make([]cacheUse, 0, len(r.uses))
	for _, u := range r.uses {
		if bucket != "" && u.bucket != bucket {
			continue
		}
		t := target{u.cache, u.namespace}
		if seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, u)
	}
	return out
}

// distinctDisks returns each registered disk tier once, for metrics.
func (r *cacheRegistry) distinctDisks() []*cache.Disk {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := make(map[*cache.Disk]bool, len(r.uses))
	var out []*cache.Disk
	for _, u := range r.uses {
		if u.disk != nil && !seen[u.disk] {
			seen[u.disk] = true
			out = append(out, u.disk)
		}
	}
	return out
}

// distinctCaches returns each registered cache once, for metrics.
func (r *cacheRegistry) distinctCaches() []purgeable {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := make(map[purgeable]bool, len(r.uses))
	out := make([]purgeable, 0, len(r.uses))
	for _, u := range r.uses {
		if !seen[u.cache] {
			seen[u.cache] = true
			out = append(out, u.cache)
		}
	}
	return out
}

// purge removes keys (each with its variants) and every key below
// prefixes from the caches of every registered handler, or only of those
// serving bucket when bucket is not empty. It returns how many cache
// entries were removed. A key's variants
// are the cache keys key+variantSep+options. The caches
// are purged outside the registry's lock, so a slow purge never holds up
// a config reload.
func (r *cacheRegistry) purge(bucket string, keys, prefixes []string) (removed int) {
	set := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	for _, t := range r.targets(bucket) {
		ns := t.namespace
		removed += t.cache.PurgeFunc(ns, func(ckey string) bool {
			rest, ok := strings.CutPrefix(ckey, ns)
			if !ok {
				return false
			}
			if _, ok := set[rest]; ok {
				return true
			}
			if i := strings.Index(rest, variantSep); i >= 0 { // a variant of a key
				if _, ok := set[rest[:i]]; ok {
					return true
				}
			}
			for _, p := range prefixes {
				if strings.HasPrefix(rest, p) {
					return true
				}
			}
			return false
		})
	}
	return removed
}

// Interface guard.
var _ purgeable = (*cache.Cache)(nil)
