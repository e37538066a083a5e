package publish

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// StaleUploadAge is how old an unfinished multipart upload must be for
// Cleanup to abort it: old enough that no running sync still owns it.
const StaleUploadAge = 24 * time.Hour

// Uploads is a bucket's unfinished multipart uploads; *origin.S3 has it.
type Uploads interface {
	ListUploads(ctx context.Context, prefix string) ([]origin.Upload, error)
	AbortUpload(ctx context.Context, u origin.Upload) error
}

// Cleanup aborts the multipart uploads under prefix that were started
// before now minus olderThan: what a killed sync (kill -9, a lost
// machine) leaves behind, parts that are stored and billed but belong to
// no object. With dryRun it only lists them. It prints one line per
// upload on out and returns how many it aborted (or would).
func Cleanup(ctx context.Context, u Uploads, prefix string, olderThan time.Duration, now time.Time, dryRun bool, out io.Writer) (int, error) {
	prefix = NormalizePrefix(prefix)
	ups, err := u.ListUploads(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("listing unfinished uploads under %q: %w", prefix, err)
	}
	cutoff := now.Add(-olderThan)
	n, young := 0, 0
	var firstErr error
	for _, up := range ups {
		if !up.Initiated.Before(cutoff) {
			young++
			continue
		}
		age := roughDuration(now.Sub(up.Initiated))
		if dryRun {
			fmt.Fprintf(out, "abort     %s  (unfinished upload started %s ago)\n", up.Key, age)
			n++
			continue
		}
		if err := u.AbortUpload(ctx, up); err != nil {
			fmt.Fprintf(out, "failed    %s: aborting the upload: %v\n", up.Key, err)
			if firstErr == nil {
				firstErr = fmt.Errorf("aborting the upload of %s: %w", origin.QuoteKey(up.Key), err)
			}
			continue
		}
		fmt.Fprintf(out, "aborted   %s  (unfinished upload started %s ago)\n", up.Key, age)
		n++
	}
	verb := "aborted"
	if dryRun {
		verb = "would abort"
	}
	fmt.Fprintf(out, "cleanup: %s %d unfinished %s older than %s; kept %d younger\n",
		verb, n, plural(n, "upload", "uploads"), roughDuration(olderThan), young)
	return n, firstErr
}

// roughDuration prints d in whole hours and minutes: 26h5m, 40m.
func roughDuration(d time.Duration) string {
	d = d.Truncate(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}
