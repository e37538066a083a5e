package publish

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"

	"github.com/r2gate/r2gate/origin"
)

// isPage reports whether a file is an HTML page, uploaded after every
// other file so that a page never lands before the assets it links to.
func isPage(rel string) bool {
	return Match("*.html", rel) || Match("*.htm", rel)
}

// execute runs a plan: the uploads of every file but the pages, then the
// pages, then the deletes, each of the last two only when nothing failed
// before it (planning included), so a failed run leaves the pages
// visitors see pointing to files that are still there. Steps not started
// because of a failure or an interrupt are held, not failed. It fills sum and returns the keys it
// changed (uploaded or deleted), for the purge.
func execute(ctx context.Context, b Bucket, opts Options, p *plan, sum *Summary, rep reporter) []string {
	var assets, pages, deletes []Step
	for _, s := range p.steps {
		switch {
		case s.Action == Skip:
			sum.Skipped++
		case s.Action == Delete:
			deletes = append(deletes, s)
		case isPage(s.File.Rel):
			pages = append(pages, s)
		default:
			assets = append(assets, s)
		}
	}
	var (
		mu      sync.Mutex
		changed []string
	)
	failed := append([]Failure(nil), p.failed...)
	record := func(s Step, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failed = append(failed, Failure{Key: s.Key, Err: err})
		case s.Action == Upload:
			sum.Uploaded++
			sum.Bytes += s.Size
			changed = append(changed, s.Key)
		case s.Action == Delete:
			sum.Deleted++
			changed = append(changed, s.Key)
		}
		rep.done(s, err)
	}
	up := uploader{b: b, opts: opts, rep: rep,
		big: make(chan struct{}, max(1, opts.Concurrency/origin.DefaultPartConcurrency))}
	hold := func(steps []Step) {
		why := "an earlier step failed"
		if ctx.Err() != nil {
			why = "interrupted"
		}
		for _, s := range steps {
			sum.Held++
			rep.held(s, why)
		}
	}
	for i, stage := range [][]Step{assets, pages, deletes} {
		if ctx.Err() != nil || (i > 0 && len(failed) > 0) {
			hold(stage)
			continue
		}
		hold(pool(ctx, opts.Concurrency, stage, func(s Step) {
			if s.Action == Delete {
				record(s, del(ctx, b, opts.Prefix, s.Key))
				return
			}
			record(s, up.upload(ctx, s))
		}))
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Key < failed[j].Key })
	sum.Failed = failed
	sort.Strings(changed)
	return changed
}

// pool calls fn for each step, n at once, and returns when all are done.
// Once ctx is done no new step starts: pool returns those it did not
// start.
func pool(ctx context.Context, n int, steps []Step, fn func(Step)) (notStarted []Step) {
	work := make(chan Step)
	var wg sync.WaitGroup
	for range min(n, len(steps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				fn(s)
			}
		}()
	}
	for i, s := range steps {
		if ctx.Err() == nil {
			select {
			case work <- s:
				continue
			case <-ctx.Done():
			}
		}
		notStarted = steps[i:]
		break
	}
	close(work)
	wg.Wait()
	return notStarted
}

// del deletes key, which must be under prefix (checked again here: a
// delete outside the prefix is a bug, never an action).
func del(ctx context.Context, b Bucket, prefix, key string) error {
	if len(key) < len(prefix) || key[:len(prefix)] != prefix {
		return fmt.Errorf("refusing to delete %s: not under the prefix %q", origin.QuoteKey(key), prefix)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.Delete(ctx, key)
}

// uploader uploads files.
type uploader struct {
	b    Bucket
	opts Options
	rep  reporter
	// big bounds the multipart uploads at once, and so memory: each holds
	// up to DefaultPartConcurrency+1 parts.
	big chan struct{}
}

// upload puts one file under its key with its metadata.
func (u *uploader) upload(ctx context.Context, s Step) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := s.File
	ps := uploadPartSize(u.opts.PartSize, f.Size)
	meta := origin.PutOptions{
		ContentType: ContentType(f.Rel),
		PartSize:    ps,
		Concurrency: origin.DefaultPartConcurrency,
	}
	meta.CacheControl, _ = firstMatch(u.opts.CacheControl, f.Rel)
	meta.ContentEncoding, _ = firstMatch(u.opts.ContentEncoding, f.Rel)
	if f.Size > ps {
		meta.Metadata = map[string]string{PartSizeMeta: strconv.FormatInt(ps, 10)}
		select {
		case u.big <- struct{}{}:
			defer func() { <-u.big }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != f.Size {
		return fmt.Errorf("%s changed while syncing (%d bytes, was %d): run again", f.Path, fi.Size(), f.Size)
	}
	body := &countingFile{f: fh, add: u.rep.add}
	_, err = u.b.Put(ctx, f.Key, body, f.Size, meta)
	body.settle(f.Size)
	return err
}

// countingFile is a file whose reads are reported as progress. It seeks
// (the SDK rewinds a body to retry it) and reports rewinds as negative
// progress, so the total is the bytes sent, once each.
type countingFile struct {
	f   *os.File
	pos int64 // the file position, as Read and Seek moved it
	at  int64 // bytes read with ReadAt (multipart parts)
	mu  sync.Mutex
	add func(int64)
}

// ReadAt lets a multipart upload send sections of the file itself, so its
// parts need no memory (origin.S3.Put uses it when the body is an
// io.ReaderAt).
func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.mu.Lock()
	c.at += int64(n)
	c.mu.Unlock()
	c.add(int64(n))
	return n, err
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.mu.Lock()
	c.pos += int64(n)
	c.mu.Unlock()
	c.add(int64(n))
	return n, err
}

func (c *countingFile) Seek(offset int64, whence int) (int64, error) {
	n, err := c.f.Seek(offset, whence)
	if err == nil {
		c.mu.Lock()
		d := n - c.pos
		c.pos = n
		c.mu.Unlock()
		c.add(d)
	}
	return n, err
}

// settle reports the rest of the file as progress after its upload
// (done or failed), so the bar ends at the planned total.
func (c *countingFile) settle(size int64) {
	c.mu.Lock()
	d := size - c.pos - c.at
	c.pos, c.at = size, 0
	c.mu.Unlock()
	c.add(d)
}

var (
	_ io.ReadSeeker = (*countingFile)(nil)
	_ io.ReaderAt   = (*countingFile)(nil)
)
