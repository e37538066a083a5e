package cache

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/r2gate/r2gate/internal/flight"
	"github.com/r2gate/r2gate/origin"
)

// bypassTTL is how long a key marked no-store or private skips the
// coalesced fetch and goes straight to the bucket; tooLargeTTL the same for
// a key too large to cache. Finding out costs a bucket GET that is cut
// short, and sizes change less often than Cache-Control. A purge of the key
// forgets either at once.
const (
	bypassTTL   = time.Minute
	tooLargeTTL = time.Hour
)

// fetched is the shared result of one bucket fetch, handed to every
// request that waited for it.
type fetched struct {
	meta Meta
	// One of: the body in memory (a reference of this result's own), the
	// body on its way to disk, or neither when the bucket answered 304 and
	// the stale copy stays.
	ref         *BodyRef
	fill        *Fill
	mfill       *memFill // the body on its way into the memory tier
	revalidated bool

	status int    // what the bucket answered
	stored bool   // the answer is in a tier now
	purges uint64 // the cache's purge count when the fetch began
}

// response turns a fetch result into a Response for one request. stale is
// that request's own stale copy, if it had one.
func (f *fetched) response(stale *Response) (*Response, error) {
	if f.revalidated {
		if stale == nil || stale.Meta.ETag != f.meta.ETag {
			if stale != nil {
				stale.Close()
			}
			return nil, &PassThroughError{Info: f.meta.Info, Reason: "entry changed during revalidation"}
		}
		stale.Meta = f.meta
		return stale, nil
	}
	if stale != nil {
		stale.Close()
	}
	if f.ref != nil {
		ref := f.ref
		f.ref = nil // the response's now
		return &Response{Meta: f.meta, Body: ref, Tier: "bucket", closer: ref}, nil
	}
	if f.mfill != nil {
		it := f.mfill.it
		if !it.acquire() { // the fill failed and every reader has gone
			return nil, &PassThroughError{Info: f.meta.Info, Reason: "fill unavailable"}
		}
		ref := newBodyRef(it, f.meta)
		ref.fill = f.mfill
		return &Response{Meta: f.meta, Body: ref, Tier: "bucket", closer: ref}, nil
	}
	r, err := f.fill.NewReader()
	if err != nil { // the fill failed, or its entry is already gone
		return nil, &PassThroughError{Info: f.meta.Info, Reason: "fill unavailable: " + err.Error()}
	}
	return &Response{Meta: f.meta, Body: r, Tier: "bucket", closer: r}, nil
}

// Share gives one waiter its own copy of the result (see flight.Group).
func (f *fetched) Share() *fetched {
	if f.ref == nil {
		return f
	}
	c := *f
	c.ref = f.ref.Clone()
	return &c
}

// Release lets go of the result's own memory reference once every waiter
// has its share.
func (f *fetched) Release() {
	if f.ref != nil {
		f.ref.Close()
	}
}

// fetched holds a memory reference: Group must share and release it.
var _ flight.SharedResult[*fetched] = (*fetched)(nil)

// fetch asks the bucket for key: conditionally when a stale copy exists (a
// 304 refreshes it without a body), else in full. A body that fits the disk
// tier streams into it in the background, so waiters can read it as it
// arrives; one that fits only the memory tier is read whole first. The
// bucket request runs on the cache's own context: a fill continues when
// the requests that started it go away, and stops when the cache closes.
func (c *Cache) fetch(fctx context.Context, src Source, key, ckey string, stale *Meta, opts GetOptions) (*fetched, error) {
	var gopts origin.GetOptions
	if stale != nil && stale.ETag != "" {
		gopts.IfNoneMatch = stale.ETag
	}
	purges := c.purges.Load()
	// The bucket request lives on the cache's context, and is cancelled
	// when every waiting request has gone (fctx) until its body is handed
	// to a disk fill, which then completes on its own.
	gctx, gcancel := context.WithCancel(c.ctx)
	detach := context.AfterFunc(fctx, gcancel)
	handedOff := false
	defer func() {
		if !handedOff {
			detach()
			gcancel()
		}
	}()
	obj, err := src.Bucket.Get(gctx, key, gopts)
	if stale != nil && rewritten(stale, err) {
		// Same bytes, rewritten since (a copy onto itself with new
		// metadata keeps the ETag): the stored headers may be wrong.
		obj, err = src.Bucket.Get(gctx, key, origin.GetOptions{})
	}
	now := c.now()
	switch {
	case errors.Is(err, origin.ErrNotModified) && stale != nil:
		m := *stale
		var nm *origin.NotModifiedError
		if errors.As(err, &nm) && nm.Info.CacheControl != "" {
			m.CacheControl = nm.Info.CacheControl // what the 304 says wins
		}
		m.Stored = now
		var store bool
		store, m.Expires = opts.Policy.Decide(m.Info, now)
		if !store {
			c.drop(ckey)
			c.bypass.set(ckey, now.Add(bypassTTL), now)
			return nil, &PassThroughError{Info: m.Info, Reason: "marked no-store or private"}
		}
		c.refreshMeta(ckey, m)
		return &fetched{meta: m, revalidated: true, status: 304, stored: true}, nil
	case errors.Is(err, origin.ErrNotFound):
		c.drop(ckey) // the object is gone: so are its copies
		if opts.NegativeTTL > 0 && c.purges.Load() == purges {
			c.negative.set(ckey, now.Add(opts.NegativeTTL), now)
		}
		return nil, err
	case err != nil:
		return nil, err
	}

	meta := Meta{Info: obj.Info, Stored: now}
	store, expires := opts.Policy.Decide(obj.Info, now)
	meta.Expires = expires
	if !store {
		obj.Body.Close()
		c.drop(ckey)
		c.bypass.set(ckey, now.Add(bypassTTL), now)
		return nil, &PassThroughError{Info: obj.Info, Reason: "marked no-store or private"}
	}
	// startFill hands the body to copy on a goroutine of its own, which
	// continues when the requests go away; meanwhile requests read along
	// with f.
	startFill := func(f *fetched, copy func(io.ReadCloser, string, *fetched)) *fetched {
		c.fillMu.Lock()
		c.filling[ckey] = f
		c.fillMu.Unlock()
		c.fills.Add()
		handedOff = true
		detach()
		go func() {
			defer gcancel()
			copy(obj.Body, ckey, f)
		}()
		return f
	}
	if c.disk != nil && now.UnixNano() >= c.diskPausedUntil.Load() {
		fill, err := c.disk.Create(ckey, meta)
		if err == nil {
			return startFill(&fetched{meta: meta, fill: fill, status: 200, stored: true, purges: purges}, c.copyToDisk), nil
		}
		// Too large for the disk tier, or disk trouble (counted by the
		// tier): the memory tier may still take it.
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNoRoom) {
			c.diskFailed(err)
		}
	}
	if c.mem != nil && obj.Size >= 0 && obj.Size <= c.mem.maxItem {
		if b, err := c.mem.newBody(ckey, obj.Size); err == nil {
			// The bucket's bytes go straight into the tier's memory, in
			// the background: requests read them as they arrive.
			f := &fetched{meta: meta, mfill: newMemFill(newMemItem(ckey, meta, b)), status: 200, stored: true, purges: purges}
			return startFill(f, c.copyToMemory), nil
		}
	}
	obj.Body.Close()
	c.bypass.set(ckey, now.Add(tooLargeTTL), now)
	return nil, &PassThroughError{Info: obj.Info, Reason: "larger than the cache keeps"}
}

// copyToDisk streams a bucket body into a disk fill.
func (c *Cache) copyToDisk(body io.ReadCloser, ckey string, f *fetched) {
	fill := f.fill
	defer c.fills.Done()
	defer body.Close()
	defer c.endFill(ckey, f)
	// A body small enough for memory is kept on the way, so the next
	// request is a memory hit.
	fw := &diskWriter{fill: fill}
	var w io.Writer = fw
	var mem *bodyWriter
	if c.mem != nil && f.meta.Size <= c.mem.maxItem {
		if b, err := c.mem.newBody(ckey, f.meta.Size); err == nil {
			mem = &bodyWriter{b: b}
			w = io.MultiWriter(fw, mem)
			defer func() {
				if mem != nil {
					b.a.free(b)
				}
			}()
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	_, err := io.CopyBuffer(w, body, *buf)
	copyBuffers.Put(buf)
	diskErr := fw.err
	if err == nil {
		if err = fill.Commit(); err != nil && !errors.Is(err, ErrSizeMismatch) {
			diskErr = err
		}
	}
	if err != nil {
		if diskErr != nil {
			c.diskFailed(diskErr)
		}
		fill.Abort()
		return
	}
	if mem != nil && mem.off == f.meta.Size && c.purges.Load() == f.purges {
		stored := c.mem.store(ckey, f.meta, mem.b)
		mem = nil // the tier's now
		if stored {
			c.mem.Wait()
		}
	}
}

// rewritten reports whether a 304 says the object was written again since
// stale was stored: a later Last-Modified.
func rewritten(stale *Meta, err error) bool {
	var nm *origin.NotModifiedError
	return errors.As(err, &nm) && nm.Info.LastModified.After(stale.LastModified.Add(time.Second-1))
}

// endFill stops requests from reading along with f.
func (c *Cache) endFill(ckey string, f *fetched) {
	c.fillMu.Lock()
	if c.filling[ckey] == f {
		delete(c.filling, ckey)
	}
	c.fillMu.Unlock()
}

// diskWriter writes to a fill and remembers a write failure, to tell disk
// trouble from a bucket read error.
type diskWriter struct {
	fill *Fill
	err  error
}

func (w *diskWriter) Write(p []byte) (int, error) {
	n, err := w.fill.Write(p)
	if err != nil && w.err == nil && !errors.Is(err, ErrAborted) {
		w.err = err
	}
	return n, err
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// diskPause is how long the disk tier is skipped after a write failed.
const diskPause = 30 * time.Second

// diskFailed reports a disk tier failure to Config.OnDiskError and skips
// the disk tier for a while: new objects go to memory or stream through.
func (c *Cache) diskFailed(err error) {
	c.diskPausedUntil.Store(c.now().Add(diskPause).UnixNano())
	if c.onDiskError != nil {
		c.onDiskError(err)
	}
}

// refreshMeta stores new timing for an entry after a 304.
func (c *Cache) refreshMeta(ckey string, m Meta) {
	if c.mem != nil {
		// A promotion from disk may still be queued: apply it first, or it
		// would land after this update with the old timing.
		c.mem.Wait()
		c.mem.UpdateMeta(ckey, m)
	}
	if c.disk != nil {
		_ = c.disk.UpdateMeta(ckey, m) // a failure leaves the entry stale: revalidated again next time
	}
}

// drop removes a key's copies from both tiers.
func (c *Cache) drop(ckey string) {
	if c.mem != nil {
		c.mem.Delete(ckey)
	}
	if c.disk != nil {
		c.disk.Delete(ckey)
	}
}
