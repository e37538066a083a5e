package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/r2gate/r2gate/internal/flight"
	"github.com/r2gate/r2gate/origin"
)

// Config sets a Cache's tiers. A zero MemoryBytes disables the memory tier,
// a nil Disk the disk tier.
type Config struct {
	// MemoryBytes bounds the memory tier; MemoryItem is the largest body it
	// keeps.
	MemoryBytes, MemoryItem int64
	// Disk is the disk tier, opened by the caller (it may be shared).
	Disk *Disk
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnDiskError, if set, hears of the first disk tier failure (an entry
	// that could not be created or written) of each outage: after a
	// failure the cache leaves the disk tier alone for a while (diskPause)
	// and reports nothing more until an entry created after the failure
	// has committed. Requests are served all the same. The disk counts every
	// failure (DiskStats.WriteErrors).
	OnDiskError func(error)
	// OnBucketOutage, if set, hears when a bucket (a Source namespace)
	// goes down, with the failure that made it (every recent fetch failed:
	// requests now fail fast, see BackoffError), and when it comes up
	// again, with a nil error. Log those two, not every failed request.
	OnBucketOutage func(namespace string, down bool, err error)
}

// Cache is the tiered object cache: memory, then disk, then one coalesced
// fetch from the bucket per key. It is safe for concurrent use. Close it
// when done: work in flight finishes for the requests that wait on it.
type Cache struct {
	mem         *Memory
	disk        *Disk
	now         func() time.Time
	onDiskError func(error)

	flights    flight.Group[*fetchResult]
	backoff    backoff       // pacing against a failing bucket
	failedFast atomic.Uint64 // requests answered without asking it
	// negative remembers missing keys; bypass remembers keys that cannot
	// be cached (too large, no-store), so they skip the coalesced fetch.
	negative, bypass expiries

	transfers transfers      // bodies on their way into a tier
	copiers   flight.Running // their goroutines

	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{} // closed when Close's leftovers have ended

	// purgeStarts and purgeEnds count the purges begun and ended. An
	// answer read while no purge ran is kept only if none began since
	// (purgedSince), so a purge is never undone by an older answer; one
	// read from a tier while a purge ran is not kept at all (purgeMark).
	purgeStarts, purgeEnds atomic.Uint64

	// betweenTiers, when set, runs in PurgeFunc after the memory tier is
	// purged and before the disk tier is; tests use it to stage races.
	betweenTiers func()
	// The disk tier's outages, see disk_outage.go.
	diskPausedUntil atomic.Int64  // unix nanoseconds
	diskOutage      atomic.Uint64 // failures seen << 1 | 1 during an outage
}

// Source is where a key's object comes from: the bucket, and the namespace
// that keeps its keys apart from other buckets' in a shared cache.
type Source struct {
	Bucket    origin.Bucket
	Namespace string
}

// GetOptions are the per-request settings of a lookup.
type GetOptions struct {
	// Policy decides freshness and stale serving.
	Policy Policy
	// NegativeTTL is how long a missing object is remembered.
	NegativeTTL time.Duration
	// Revalidate treats a fresh entry as stale (a client's no-cache, when
	// the site honours it).
	Revalidate bool
	// Reuse lets a fresh memory hit come in a Response from a pool, given
	// back by its Close: the caller closes it exactly once and neither it
	// nor anything it started (a goroutine reading Body) touches the
	// Response or its Body after Close. A hit then costs no allocation.
	Reuse bool
}

// Response is an object ready to serve. Close it when done.
type Response struct {
	Meta Meta
	// Body reads the whole object and can seek (for ranges): a *BodyRef
	// over memory-tier bytes (memory hits, disk hits promoted to memory,
	// and objects on their way into memory, whose reads wait for the
	// bytes), the entry's *os.File for other disk hits, or a reader that
	// follows a disk entry being written (going on from the bucket if
	// writing it fails). Nothing read from it may be kept past Close.
	Body io.ReadSeeker
	// Tier answered: "memory" or "disk" for a hit of that tier (a disk
	// entry promoted to memory on the way is "disk"), "bucket" for an
	// object fetched for this request, possibly still arriving.
	Tier string
	// Status is the Cache-Status entry to send.
	Status CacheStatus

	closer io.Closer
	// ref is Body for a memory hit made in place (memoryHit), and pooled
	// says the Response goes back to responses on Close (GetOptions.Reuse).
	ref    BodyRef
	pooled bool
}

// responses are the Responses of memory hits asked with GetOptions.Reuse.
var responses = sync.Pool{New: func() any { return new(Response) }}

// Close releases the body. A Response from GetOptions.Reuse must be
// closed exactly once and not used afterwards.
func (r *Response) Close() error {
	if r.pooled {
		r.ref.Close()
		*r = Response{}
		responses.Put(r)
		return nil
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// memoryHit returns the memory tier's entry for ns + key as a Response
// (pooled with opts.Reuse), or nil when the tier does not have it. No
// key is joined and, pooled, nothing is allocated.
func (c *Cache) memoryHit(ns, key string, opts GetOptions) *Response {
	if c.mem == nil {
		return nil
	}
	var resp *Response
	if opts.Reuse {
		resp = responses.Get().(*Response)
	} else {
		resp = new(Response)
	}
	if !c.mem.getJoined(ns, key, &resp.ref) {
		if opts.Reuse {
			responses.Put(resp)
		}
		return nil
	}
	resp.Meta, resp.Body, resp.Tier, resp.closer, resp.pooled = resp.ref.Meta, &resp.ref, "memory", &resp.ref, opts.Reuse
	return resp
}

// MissingError is what Get returns for an object the bucket does not have:
// it wraps origin.ErrNotFound, with the Cache-Status entry for the 404.
type MissingError struct {
	Status CacheStatus
	err    error
}

func (e *MissingError) Error() string { return e.err.Error() }

// Unwrap returns the underlying origin.ErrNotFound.
func (e *MissingError) Unwrap() error { return e.err }

// BypassError says the cache will not answer for this object: it
// cannot be cached (larger than the tiers keep, or marked no-store or
// private), or not now (the cache is closed, the transfer it would have
// read along with failed). Serve it straight from the bucket. Info is its
// metadata when known.
type BypassError struct {
	Info   origin.Info
	Reason string
}

func (e *BypassError) Error() string { return "cache: bypass: " + e.Reason }

// New returns a Cache with the given tiers.
func New(cfg Config) (*Cache, error) {
	c := &Cache{disk: cfg.Disk, now: cfg.Now, onDiskError: cfg.OnDiskError, done: make(chan struct{})}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.MemoryBytes > 0 {
		m, err := NewMemory(cfg.MemoryBytes, cfg.MemoryItem)
		if err != nil {
			return nil, err
		}
		c.mem = m
	}
	c.negative.init(100_000)
	c.bypass.init(100_000)
	c.transfers.init()
	c.backoff.init(cfg.OnBucketOutage)
	return c, nil
}

// Close closes the cache without waiting. It is safe while requests are
// in flight, as on a config reload:
//   - Get calls from then on answer with a *BypassError: serve from
//     the bucket;
//   - fetches that requests wait on go on, and so do transfers that
//     Responses read: their readers get the whole body;
//   - a transfer nobody reads stops at once, or when its last reader
//     closes its Response; a background refresh nobody waits on ends
//     when the bucket answers.
//
// The memory tier is closed once that work has ended (bodies still being
// read stay valid until their Responses are closed); the disk tier
// belongs to the caller. Closed tells when all of it is done. Calling
// Close again does nothing.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.transfers.stopUnused()
		go func() {
			c.flights.Wait()
			c.copiers.Wait()
			if c.mem != nil {
				c.mem.Close()
			}
			close(c.done)
		}()
	})
	return nil
}

// Closed returns a channel closed once Close has been called, the fetches
// and transfers it left running have ended (after their last readers
// closed their Responses) and the memory tier is closed. Tests use it.
func (c *Cache) Closed() <-chan struct{} { return c.done }

// Get returns the object under key: from memory, from disk, or fetched
// from the bucket (one fetch per key however many ask at once). Errors are
// origin errors (origin.ErrNotFound, ...), a *BackoffError wrapping one
// (the bucket was not asked: it is failing, see backoff.go), or a
// *BypassError (serve from the bucket, bypassing the cache).
func (c *Cache) Get(ctx context.Context, src Source, key string, opts GetOptions) (*Response, error) {
	if c.closed.Load() {
		return nil, &BypassError{Reason: "cache closed"}
	}
	now := c.now()
	var stale *Response
	if hit := c.memoryHit(src.Namespace, key, opts); hit != nil {
		if hit.Meta.Fresh(now) && !opts.Revalidate {
			hit.Status = CacheStatus{Hit: true, TTL: hit.Meta.Expires.Sub(now), HasTTL: true, Detail: hit.Tier}
			return hit, nil
		}
		if hit.pooled { // the rest of Get may hand it to other goroutines
			r := hit.ref.Clone()
			st := &Response{Meta: hit.Meta, Body: r, Tier: hit.Tier, closer: r}
			hit.Close()
			hit = st
		}
		stale = hit
	}
	ckey := src.Namespace + key
	if stale == nil {
		var err error
		if stale, err = c.lookupDisk(ckey); err != nil {
			return nil, err
		}
	}
	if stale != nil {
		if stale.Meta.Fresh(now) && !opts.Revalidate {
			stale.Status = CacheStatus{Hit: true, TTL: stale.Meta.Expires.Sub(now), HasTTL: true, Detail: stale.Tier}
			return stale, nil
		}
		if !opts.Revalidate && opts.Policy.CanServeStale(&stale.Meta, now) {
			c.refreshInBackground(src, key, ckey, stale.Meta, opts)
			stale.Status = CacheStatus{Hit: true, TTL: stale.Meta.Expires.Sub(now), HasTTL: true, Detail: stale.Tier}
			return stale, nil
		}
	} else {
		if until, ok := c.negative.until(ckey, now); ok {
			return nil, &MissingError{
				Status: CacheStatus{Hit: true, TTL: until.Sub(now), HasTTL: true, Detail: "negative"},
				err:    fmt.Errorf("cache: %q remembered as missing: %w", key, origin.ErrNotFound),
			}
		}
		if c.bypass.valid(ckey, now) {
			return nil, &BypassError{Reason: "not cacheable (remembered)"}
		}
	}

	// A transfer of this key in progress (the fetch that started it has
	// returned): read along with it.
	if t := c.transfers.of(ckey, now); t != nil {
		if f := t.result(); f != nil {
			if resp, err := f.response(ctx, stale); err == nil {
				resp.Status = CacheStatus{Fwd: FwdURIMiss, FwdStatus: f.status, Stored: true, Collapsed: true,
					TTL: resp.Meta.Expires.Sub(now), HasTTL: true}
				return resp, nil
			}
			stale = nil // response closed it
		}
	}

	var staleMeta *Meta
	if stale != nil {
		staleMeta = &stale.Meta
	}
	res, shared, err := c.flights.Do(ctx, ckey, func(fctx context.Context) (*fetchResult, error) {
		if f := c.foundSinceLookup(ckey, !opts.Revalidate); f != nil {
			return f, nil
		}
		return c.fetch(fctx, src, key, ckey, staleMeta, opts)
	})
	if errors.Is(err, origin.ErrNotFound) {
		if stale != nil {
			stale.Close()
		}
		st := CacheStatus{Fwd: FwdURIMiss, FwdStatus: http.StatusNotFound, Collapsed: shared}
		if stale != nil {
			st.Fwd = FwdStale
		}
		if _, ok := c.negative.until(ckey, now); ok {
			st.Stored, st.TTL, st.HasTTL = true, opts.NegativeTTL, true
		}
		return nil, &MissingError{Status: st, err: err}
	}
	if err != nil {
		if be := (*BackoffError)(nil); errors.As(err, &be) {
			c.failedFast.Add(1)
		}
		if stale != nil && servesStaleOn(err) && opts.Policy.CanServeOnError(&stale.Meta, now) {
			stale.Status = CacheStatus{TTL: stale.Meta.Expires.Sub(now), HasTTL: true,
				Fwd: FwdStale, FwdStatus: origin.Status(err), Detail: stale.Tier}
			if be := (*BackoffError)(nil); errors.As(err, &be) {
				// The bucket was not asked: a (stale) hit.
				stale.Status = CacheStatus{Hit: true, TTL: stale.Meta.Expires.Sub(now), HasTTL: true, Detail: stale.Tier}
			}
			return stale, nil
		}
		if stale != nil {
			stale.Close()
		}
		return nil, err
	}
	resp, err := res.response(ctx, stale)
	if err != nil {
		return nil, err
	}
	fwd := FwdURIMiss
	if stale != nil {
		fwd = FwdStale
	}
	resp.Status = CacheStatus{Fwd: fwd, FwdStatus: res.status, Stored: res.stored, Collapsed: shared,
		TTL: resp.Meta.Expires.Sub(now), HasTTL: res.stored}
	return resp, nil
}

// lookupDisk finds ckey on disk (the memory tier was asked first, by
// memoryHit), promoting small verified entries to memory. It returns nil
// when the disk tier does not have it.
func (c *Cache) lookupDisk(ckey string) (*Response, error) {
	if c.disk == nil {
		return nil, nil
	}
	purges := c.purgeMark() // before the disk read: a purge after it must win
	meta, f, err := c.disk.Get(ckey)
	if err != nil {
		return nil, nil // a miss, a dropped corrupt entry, or an unreadable one: ask the bucket
	}
	if c.mem != nil && meta.Size <= c.mem.maxItem {
		// Small entries move up to memory, their checksum verified on the
		// way (LoadFunc checks the whole body as it is read).
		var b *body
		err := c.disk.LoadFunc(ckey, func(m Meta, r io.Reader) error {
			meta = m
			var err error
			if b, err = c.mem.newBody(ckey, m.Size); err != nil {
				return err
			}
			return b.copyFrom(r, nil)
		})
		if err == nil {
			f.Close()
			ref := c.mem.put(ckey, meta, b, c.purgedSince(purges))
			return &Response{Meta: meta, Body: ref, Tier: "disk", closer: ref}, nil
		}
		if b != nil {
			b.a.free(b)
		}
		if !errors.Is(err, errNoMemory) {
			f.Close()
			return nil, nil // dropped as corrupt, or gone meanwhile
		}
		// No memory for it: serve from the file.
	}
	return &Response{Meta: meta, Body: f, Tier: "disk", closer: f}, nil
}

// servesStaleOn reports whether a fetch error allows serving a stale copy
// (stale-if-error): the bucket failed, as opposed to answering.
func servesStaleOn(err error) bool {
	var pt *BypassError
	if errors.As(err, &pt) || errors.Is(err, origin.ErrNotFound) || errors.Is(err, context.Canceled) {
		return false
	}
	return origin.Status(err) >= 500
}

// refreshInBackground revalidates a stale entry once per key, detached from
// the request.
func (c *Cache) refreshInBackground(src Source, key, ckey string, stale Meta, opts GetOptions) {
	if c.transfers.of(ckey, c.now()) != nil {
		return // the refresh is already on its way into a tier
	}
	c.flights.DoBackground(ckey, func(fctx context.Context) (*fetchResult, error) {
		if f := c.foundSinceLookup(ckey, true); f != nil {
			return f, nil
		}
		return c.fetch(fctx, src, key, ckey, &stale, opts)
	})
}

// foundSinceLookup returns what another request left for ckey since this
// one looked it up: a transfer it started, or, when fresh counts, a fresh
// entry it stored in memory. Nil means the bucket must be asked.
func (c *Cache) foundSinceLookup(ckey string, fresh bool) *fetchResult {
	now := c.now()
	if t := c.transfers.of(ckey, now); t != nil {
		if f := t.result(); f != nil {
			return f
		}
	}
	if fresh && c.mem != nil {
		if ref, ok := c.mem.Get(ckey); ok {
			if ref.Meta.Fresh(now) {
				return &fetchResult{meta: ref.Meta, ref: ref, status: http.StatusOK, stored: true}
			}
			ref.Close()
		}
	}
	return nil
}

// Purge removes key from every tier, and any memory of it being missing.
// It reports whether anything was removed.
func (c *Cache) Purge(key string) bool {
	return c.PurgeFunc(key, func(k string) bool { return k == key }) > 0
}

// PurgePrefix removes every key starting with prefix and returns how many
// entries went.
func (c *Cache) PurgePrefix(prefix string) int {
	return c.PurgeFunc(prefix, func(string) bool { return true })
}

// PurgeFunc removes every key under prefix that match accepts, from every
// tier, in one walk of each, and returns how many entries went. Use it to
// purge many keys at once.
func (c *Cache) PurgeFunc(prefix string, match func(key string) bool) int {
	if prefix != "" {
		inner := match
		match = func(k string) bool { return strings.HasPrefix(k, prefix) && inner(k) }
	}
	c.purgeStarts.Add(1)
	defer c.purgeEnds.Add(1)
	c.transfers.forget(match)
	n := c.negative.deleteFunc(match) + c.bypass.deleteFunc(match)
	if c.mem != nil {
		n += c.mem.DeleteFunc(match)
	}
	if c.betweenTiers != nil {
		c.betweenTiers()
	}
	if c.disk != nil {
		n += c.disk.DeleteFunc(match)
	}
	return n
}

// purgeBusy is purgeMark's answer while a purge runs.
const purgeBusy = ^uint64(0)

// purgeMark returns the count of purges begun, for purgedSince, or
// purgeBusy while a purge runs. Take it before reading an entry from a
// tier: a purge walks the memory tier before the disk tier, so an entry
// read from disk in between would be stored in memory behind the purge's
// back (a bucket answer, read after the purge began, is new enough: fetch
// takes the plain count).
func (c *Cache) purgeMark() uint64 {
	ends := c.purgeEnds.Load()
	if starts := c.purgeStarts.Load(); starts == ends {
		return starts
	}
	return purgeBusy
}

// purgedSince returns the check, for the tiers' inserts, that a purge
// began since the purge count was n (or was running then: purgeBusy): an
// entry read before it must not be stored.
func (c *Cache) purgedSince(n uint64) func() bool {
	return func() bool { return n == purgeBusy || c.purgeStarts.Load() != n }
}

// Stats returns the cache's own sizes and counters; the disk tier's are
// Disk().Stats().
func (c *Cache) Stats() Stats {
	s := Stats{Coalesced: uint64(c.flights.Coalesced()), FailedFast: c.failedFast.Load()}
	if c.mem != nil {
		ms := c.mem.Stats()
		s.MemoryBytes, s.MemoryItems, s.MemoryEvictions = ms.Bytes, int64(ms.Entries), ms.Evictions
	}
	return s
}

// Disk returns the cache's disk tier, nil without one. Several caches may
// share one: metrics should report each distinct Disk once.
func (c *Cache) Disk() *Disk { return c.disk }

// Wait lets the transfers in progress finish and makes pending
// memory-tier writes visible (ristretto sets are asynchronous); for tests,
// which must not start a transfer while Wait runs.
func (c *Cache) Wait() {
	c.copiers.Wait()
	if c.mem != nil {
		c.mem.Wait()
	}
}
