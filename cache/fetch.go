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

// fetchResult is what one coalesced bucket fetch got: each request that
// waited for it gets its own share (see flight.Group), which it turns into
// its Response.
type fetchResult struct {
	meta Meta
	// One of: the body in memory (a reference of this result's own), the
	// body on its way into a tier (holding a use of the transfer, see
	// transfer), or neither when the bucket answered 304 and the stale copy
	// stays.
	ref         *BodyRef
	tr          *transfer
	revalidated bool

	status int  // what the bucket answered
	stored bool // the answer is in a tier now
}

// response turns a fetch result into a Response for one request, whose
// context is ctx, and consumes the result: its memory reference or its use
// of the transfer goes to the Response. stale is that request's own stale
// copy, if it had one.
func (f *fetchResult) response(ctx context.Context, stale *Response) (*Response, error) {
	if f.revalidated {
		if stale == nil || stale.Meta.ETag != f.meta.ETag {
			if stale != nil {
				stale.Close()
			}
			return nil, &BypassError{Info: f.meta.Info, Reason: "entry changed during revalidation"}
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
	t := f.tr
	if t == nil {
		return nil, &BypassError{Info: f.meta.Info, Reason: "transfer unavailable"}
	}
	f.tr = nil // the response's use now, or given back here
	if t.mem != nil {
		ref := newBodyRef(t.mem.it, f.meta) // with the use's item reference
		ref.load = t.mem
		return &Response{Meta: f.meta, Body: ref, Tier: "bucket", closer: &closeThen{c: ref, then: t.dropUse}}, nil
	}
	fr, err := t.disk.NewReader()
	if err != nil { // writing it failed, or its entry is already gone
		t.drop()
		return nil, &BypassError{Info: f.meta.Info, Reason: "transfer unavailable: " + err.Error()}
	}
	r := newDiskFollower(ctx, t.bucket, f.meta.Info, fr, t.drop)
	return &Response{Meta: f.meta, Body: r, Tier: "bucket", closer: r}, nil
}

// closeThen closes c, then calls then, once.
type closeThen struct {
	c    io.Closer
	then func()
	once sync.Once
}

func (c *closeThen) Close() error {
	var err error
	c.once.Do(func() {
		err = c.c.Close()
		c.then()
	})
	return err
}

// Share gives one waiter its own copy of the result (see flight.Group):
// another memory reference, or another use of the transfer.
func (f *fetchResult) Share() *fetchResult {
	switch {
	case f.ref != nil:
		c := *f
		c.ref = f.ref.Clone()
		return &c
	case f.tr != nil:
		c := *f
		if !f.tr.hold() { // cannot happen while f holds its own use
			c.tr = nil
		}
		return &c
	}
	return f
}

// Release lets go of the result's own memory reference, or its use of the
// transfer, once every waiter has its share.
func (f *fetchResult) Release() {
	if f.ref != nil {
		f.ref.Close()
	}
	if f.tr != nil {
		f.tr.drop()
	}
}

// fetchResult holds a memory reference or a transfer's use: Group must share
// and release it.
var _ flight.SharedResult[*fetchResult] = (*fetchResult)(nil)

// fetch asks the bucket for key: conditionally when a stale copy exists (a
// 304 refreshes it without a body), else in full. A body that fits a tier
// streams into it in the background (a transfer: into the disk tier if it
// fits there, else into memory), so waiters read it as it arrives. Until
// the body is handed to its transfer, the bucket request ends when every
// waiting request has gone (fctx); then the transfer goes on without them,
// until its end, or until the cache is closed and nobody reads it.
func (c *Cache) fetch(fctx context.Context, src Source, key, ckey string, stale *Meta, opts GetOptions) (*fetchResult, error) {
	var gopts origin.GetOptions
	if stale != nil && stale.ETag != "" {
		gopts.IfNoneMatch = stale.ETag
	}
	purges := c.purgeStarts.Load()
	if err := c.backoff.admit(src.Namespace, ckey, c.now()); err != nil {
		return nil, err // the bucket is failing: not asked
	}
	gctx, gcancel := context.WithCancel(context.Background())
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
	c.backoff.record(src.Namespace, ckey, now, err)
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
			return nil, &BypassError{Info: m.Info, Reason: "marked no-store or private"}
		}
		c.refreshMeta(ckey, m)
		return &fetchResult{meta: m, revalidated: true, status: 304, stored: true}, nil
	case errors.Is(err, origin.ErrNotFound):
		c.drop(ckey) // the object is gone: so are its copies
		if opts.NegativeTTL > 0 && c.purgeStarts.Load() == purges {
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
		return nil, &BypassError{Info: obj.Info, Reason: "marked no-store or private"}
	}
	// start hands the body to copy on a goroutine of its own; meanwhile
	// requests read along with t. The result holds t's first use.
	start := func(t *transfer, copy func(io.ReadCloser, *transfer)) *fetchResult {
		t.key, t.meta, t.bucket, t.purges = ckey, meta, src.Bucket, purges
		t.stop, t.closed, t.uses = gcancel, &c.closed, 1
		if t.mem != nil {
			t.mem.it.acquire() // the first use's, beside the copier's own
		}
		c.transfers.add(t)
		c.copiers.Add()
		handedOff = true
		detach()
		go func() {
			defer gcancel()
			copy(obj.Body, t)
		}()
		return &fetchResult{meta: meta, tr: t, status: 200, stored: true}
	}
	// The object is remembered as too large only when every tier refused
	// it for its size: a disk tier paused after a failure, full or
	// failing may take it again soon (remembering it for tooLargeTTL kept
	// large objects out of a recovered disk tier for an hour; found by the
	// long form of TestFaultDiskFullKeepsServing).
	diskTooLarge := c.disk == nil
	if c.disk != nil && now.UnixNano() >= c.diskPausedUntil.Load() {
		epoch := c.diskEpoch()
		// A purge that began after the bucket was asked, and walked the
		// disk tier before this entry existed, must still win.
		pe, err := c.disk.create(ckey, meta, c.purgedSince(purges))
		if err == nil {
			return start(&transfer{disk: pe, diskEpoch: epoch}, c.copyToDisk), nil
		}
		// Too large for the disk tier, or disk trouble (counted by the
		// tier): the memory tier may still take it.
		diskTooLarge = errors.Is(err, ErrTooLarge)
		if !diskTooLarge && !errors.Is(err, ErrNoRoom) && !errors.Is(err, ErrDiskClosed) {
			c.diskFailed(err)
		}
	}
	memTooLarge := true
	if c.mem != nil && obj.Size >= 0 && obj.Size <= c.mem.maxItem {
		b, err := c.mem.newBody(ckey, obj.Size)
		if err == nil {
			// The bucket's bytes go straight into the tier's memory, in
			// the background: requests read them as they arrive.
			return start(&transfer{mem: newMemoryLoad(newMemItem(ckey, meta, b))}, c.copyToMemory), nil
		}
		memTooLarge = errors.Is(err, ErrTooLarge) // not memory that cannot be mapped, or a closed tier
	}
	obj.Body.Close()
	if !diskTooLarge || !memTooLarge {
		return nil, &BypassError{Info: obj.Info, Reason: "no room for it now"}
	}
	c.bypass.set(ckey, now.Add(tooLargeTTL), now)
	return nil, &BypassError{Info: obj.Info, Reason: "larger than the cache keeps"}
}

// rewritten reports whether a 304 says the object was written again since
// stale was stored: a later Last-Modified.
func rewritten(stale *Meta, err error) bool {
	var nm *origin.NotModifiedError
	return errors.As(err, &nm) && nm.Info.LastModified.After(stale.LastModified.Add(time.Second-1))
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
