// Package publish syncs a local folder to a bucket, as "caddy r2gate sync"
// does: it walks the folder, compares each file with the bucket's listing,
// uploads what differs (single PUT or multipart, with the Content-Type of
// its extension and the Cache-Control of the first matching rule), deletes
// what the folder no longer has when asked, and purges the changed keys
// from running r2gate nodes.
//
// A file is unchanged when the bucket has an object under its key with
// the same size and the same content, told by the object's ETag: the MD5
// of the bytes for an object uploaded in one PUT, and for a multipart one
// the MD5 of its parts' MD5s with "-<parts>", computed again here with the
// part size that uploaded it. Sync records that size in the object's
// metadata (PartSizeMeta), so only multipart objects cost a HEAD; for
// objects uploaded by other tools the usual part sizes are tried. No
// second content hash is kept: R2's and S3's ETags already are one, and a
// listing carries them, so an unchanged folder costs one listing and a
// read of each file.
//
// The package knows nothing about Caddy.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// PartSizeMeta is the user metadata key (x-amz-meta-r2gate-part-size)
// under which Sync records the part size of a multipart upload, in bytes,
// so that the next run can compute the object's multipart ETag.
const PartSizeMeta = "r2gate-part-size"

// DefaultConcurrency is how many files Sync uploads at once by default.
const DefaultConcurrency = 8

// purgeTimeout bounds the purge requests of a sync, all nodes together.
const purgeTimeout = time.Minute

// Bucket is what Sync needs of a bucket; *origin.S3 has it (and
// *origin.Dir, for tests and local folders).
type Bucket interface {
	origin.Lister
	Head(ctx context.Context, key string) (origin.Info, error)
	Put(ctx context.Context, key string, body io.Reader, size int64, meta origin.PutOptions) (origin.Info, error)
	Delete(ctx context.Context, key string) error
}

// Options say what to sync and how.
type Options struct {
	// Dir is the folder to upload. Required.
	Dir string
	// Prefix is prepended to every file's relative path to make its key
	// (a '/' is added when missing, as the handler's prefix); --delete
	// touches only keys under it.
	Prefix string
	// Exclude lists globs (see Match) of relative paths to leave out:
	// neither uploaded nor, with Delete, deleted from the bucket.
	Exclude []string
	// CacheControl rules give the Cache-Control of each uploaded file:
	// the first rule whose glob matches its relative path. No match: none.
	CacheControl []Rule
	// ContentEncoding rules give the Content-Encoding of pre-compressed
	// files, as CacheControl.
	ContentEncoding []Rule
	// Delete removes the bucket's keys under Prefix that the folder no
	// longer has (excluded paths, folder markers ending in '/' and resize
	// variants "<key>?<options>" of kept files are kept). Deletes happen
	// after every upload has succeeded, and not at all after a failure.
	Delete bool
	// DryRun prints the plan (upload, skip, delete per key, with sizes)
	// and changes nothing: the bucket is only listed and read.
	DryRun bool
	// PartSize is the multipart part size: files larger than this are
	// uploaded in parts. Default origin.DefaultPartSize (8 MiB); at least
	// origin.MinPartSize.
	PartSize int64
	// Concurrency is how many files are uploaded (and compared) at once.
	// Default DefaultConcurrency. Multipart uploads are limited further,
	// to Concurrency/origin.DefaultPartConcurrency at once (at least 1),
	// each holding at most DefaultPartConcurrency+1 parts in memory.
	Concurrency int
	// Purge lists admin API URLs of running r2gate nodes
	// (http://host:2019, or the full http://host:2019/r2gate/purge): the
	// uploaded and deleted keys are purged from their caches at the end.
	Purge []string
	// Client makes the purge requests. Default: a client with a 30 s
	// timeout.
	Client *http.Client
	// Out receives the per-file lines (or the progress bar) and the
	// summary. Default io.Discard.
	Out io.Writer
	// Progress shows a progress bar on Out (a terminal) instead of one
	// line per file.
	Progress bool

	now func() time.Time // default time.Now
}

// Failure is a key that could not be synced.
type Failure struct {
	Key string
	Err error
}

// Summary is what a sync did.
type Summary struct {
	// Uploaded, Skipped and Deleted count keys; in a dry run, what would
	// be done.
	Uploaded, Skipped, Deleted int
	// Failed lists the keys that failed, in key order.
	Failed []Failure
	// Held counts the steps not started because an earlier stage failed
	// or the sync was interrupted: pages wait for the other files, deletes
	// for every upload.
	Held int
	// Bytes is how many bytes were uploaded (would be, in a dry run).
	Bytes int64
	// Elapsed is the sync's wall time, planning included.
	Elapsed time.Duration
	// Purged counts the keys sent to each purge URL that answered 200.
	Purged int
	// PurgeErrors are the purge requests that failed.
	PurgeErrors []error
	// DryRun is set when nothing was changed on purpose.
	DryRun bool
	// Interrupted is set when the context ended the sync early.
	Interrupted bool
}

// Sync makes the bucket hold the folder's files under opts.Prefix, as
// described in the package documentation, reporting each step on
// opts.Out. The error is non-nil when anything failed: the folder could
// not be read or the bucket listed (then nothing was changed), or some
// keys failed (Summary.Failed; the others were synced), or a purge
// failed.
func Sync(ctx context.Context, b Bucket, opts Options) (Summary, error) {
	if err := opts.fill(); err != nil {
		return Summary{}, err
	}
	start := opts.now()
	rep := newReporter(opts)
	p, err := makePlan(ctx, b, opts, rep)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{DryRun: opts.DryRun}
	if opts.DryRun {
		rep.plan(p)
		sum.Uploaded, sum.Skipped, sum.Deleted, sum.Bytes = p.count(Upload), p.count(Skip), p.count(Delete), p.uploadBytes()
		sum.Failed = p.failed
		sum.Elapsed = opts.now().Sub(start)
		rep.summary(sum, p.purgeKeys(), opts.Purge)
		return sum, sum.err()
	}
	rep.start(p)
	changed := execute(ctx, b, opts, p, &sum, rep)
	sum.Interrupted = ctx.Err() != nil
	if len(changed) > 0 && len(opts.Purge) > 0 {
		// What changed is in the bucket: purge it even after an interrupt,
		// on a context of its own (bounded), or caches keep old versions.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeout)
		defer cancel()
		for _, u := range opts.Purge {
			n, err := purge(pctx, opts.Client, u, changed)
			if err != nil {
				sum.PurgeErrors = append(sum.PurgeErrors, err)
				continue
			}
			sum.Purged += n
		}
	}
	sum.Elapsed = opts.now().Sub(start)
	rep.summary(sum, changed, opts.Purge)
	return sum, sum.err()
}

// fill checks opts and sets its defaults.
func (o *Options) fill() error {
	if o.Dir == "" {
		return errors.New("no folder to sync")
	}
	o.Prefix = NormalizePrefix(o.Prefix)
	for _, p := range o.Exclude {
		if err := CheckPattern(p); err != nil {
			return fmt.Errorf("exclude: %w", err)
		}
	}
	switch {
	case o.PartSize == 0:
		o.PartSize = origin.DefaultPartSize
	case o.PartSize < origin.MinPartSize:
		return fmt.Errorf("part size %d is below the bucket's minimum of %d bytes (5 MiB)", o.PartSize, origin.MinPartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	for _, u := range o.Purge {
		if _, err := purgeURL(u); err != nil {
			return err
		}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.now == nil {
		o.now = time.Now
	}
	return nil
}

// err is the error a summary stands for: nil when nothing failed.
func (s Summary) err() error {
	var msgs []string
	if s.Interrupted {
		msgs = append(msgs, fmt.Sprintf("interrupted, %d %s not started", s.Held, plural(s.Held, "step", "steps")))
	}
	if n := len(s.Failed); n > 0 {
		keys := make([]string, 0, min(n, 10))
		for _, f := range s.Failed[:min(n, 10)] {
			keys = append(keys, origin.QuoteKey(f.Key))
		}
		more := ""
		if n > 10 {
			more = fmt.Sprintf(" and %d more", n-10)
		}
		msgs = append(msgs, fmt.Sprintf("%d %s failed: %s%s", n, plural(n, "key", "keys"), strings.Join(keys, ", "), more))
	}
	for _, e := range s.PurgeErrors {
		msgs = append(msgs, e.Error())
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New("sync: " + strings.Join(msgs, "; "))
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
