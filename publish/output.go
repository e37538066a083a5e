package publish

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
)

// reporter shows a sync as it goes. Its methods are safe for concurrent
// use.
type reporter interface {
	// comparing says that n files are being read to compare them with
	// their objects.
	comparing(n int)
	// plan prints a dry run's plan.
	plan(p *plan)
	// start is called once the plan is made, before any change.
	start(p *plan)
	// done reports a finished upload or delete (err nil on success).
	done(s Step, err error)
	// held reports a step not started, and why: an earlier failure or an
	// interrupt.
	held(s Step, why string)
	// add reports n more bytes read for uploads (negative on a rewind).
	add(n int64)
	// summary prints the closing lines.
	summary(sum Summary, purged, purgeURLs []string)
}

// newReporter returns a progress bar reporter when opts.Progress is set
// (and there is something to upload), else a line per file.
func newReporter(opts Options) reporter {
	l := &lines{w: opts.Out}
	if opts.Progress && !opts.DryRun {
		return &bar{lines: l}
	}
	return l
}

// pastTense is what a line says of a finished step.
var pastTense = map[Action]string{Upload: "uploaded", Skip: "skipped", Delete: "deleted"}

// lines writes one plain line per file, for logs (CI).
type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// stepLine is a step's line: "<verb>  <key>  (<size>, <reason>)".
func stepLine(verb string, s Step) string {
	return fmt.Sprintf("%-9s %s  (%s, %s)\n", verb, safeText(s.Key), humanize.IBytes(uint64(s.Size)), s.Reason)
}

func (l *lines) plan(p *plan) {
	for _, s := range p.steps {
		l.printf("%s", stepLine(string(s.Action), s))
	}
	for _, f := range p.failed {
		l.printf("%-9s %s: %v\n", "failed", safeText(f.Key), safeErr(f.Err))
	}
}

func (l *lines) start(p *plan) {
	for _, f := range p.failed {
		l.printf("%-9s %s: %v\n", "failed", safeText(f.Key), safeErr(f.Err))
	}
	for _, s := range p.steps {
		if s.Action == Skip {
			l.printf("%s", stepLine(pastTense[Skip], s))
		}
	}
}

func (l *lines) done(s Step, err error) {
	if err != nil {
		l.printf("%-9s %s: %v\n", "failed", safeText(s.Key), safeErr(err))
		return
	}
	l.printf("%s", stepLine(pastTense[s.Action], s))
}

func (l *lines) held(s Step, why string) {
	l.printf("%-9s %s  (not %s: %s)\n", "held", safeText(s.Key), pastTense[s.Action], safeText(why))
}

func (l *lines) add(int64) {}

// comparing prints nothing: a log gets a line per file soon enough.
func (l *lines) comparing(int) {}

func (l *lines) summary(sum Summary, purged, purgeURLs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.w
	secs := sum.Elapsed.Seconds()
	if sum.DryRun {
		fmt.Fprintf(w, "dry run: would upload %d (%s), skip %d, delete %d", sum.Uploaded,
			humanize.IBytes(uint64(sum.Bytes)), sum.Skipped, sum.Deleted)
		if len(sum.Failed) > 0 {
			fmt.Fprintf(w, ", %d failed", len(sum.Failed))
		}
		if len(purgeURLs) > 0 && len(purged) > 0 {
			fmt.Fprintf(w, ", purge %d %s at %d %s", len(purged), plural(len(purged), "key", "keys"),
				len(purgeURLs), plural(len(purgeURLs), "node", "nodes"))
		}
		fmt.Fprintln(w, "; nothing was changed")
	} else {
		fmt.Fprintf(w, "sync: uploaded %d (%s), skipped %d, deleted %d, failed %d", sum.Uploaded,
			humanize.IBytes(uint64(sum.Bytes)), sum.Skipped, sum.Deleted, len(sum.Failed))
		if sum.Held > 0 {
			fmt.Fprintf(w, ", held %d", sum.Held)
		}
		fmt.Fprintf(w, " in %s", sum.Elapsed.Round(time.Millisecond))
		if secs > 0 && sum.Uploaded > 0 {
			fmt.Fprintf(w, " (%s/s, %.0f files/s)", humanize.IBytes(uint64(float64(sum.Bytes)/secs)), float64(sum.Uploaded)/secs)
		}
		fmt.Fprintln(w)
		if sum.Uploaded == 0 && sum.Deleted == 0 && len(sum.Failed) == 0 {
			fmt.Fprintf(w, "nothing to upload: the bucket already holds all %d %s\n", sum.Skipped, plural(sum.Skipped, "file", "files"))
		}
		if len(purgeURLs) > 0 {
			switch {
			case len(purged) == 0:
				fmt.Fprintln(w, "purge: nothing changed, nothing to purge")
			case len(sum.PurgeErrors) == 0:
				fmt.Fprintf(w, "purge: %d %s at %d %s\n", len(purged), plural(len(purged), "key", "keys"),
					len(purgeURLs), plural(len(purgeURLs), "node", "nodes"))
			}
			for _, e := range sum.PurgeErrors {
				fmt.Fprintf(w, "purge failed: %s\n", safeErr(e))
			}
		}
	}
	if len(sum.Failed) > 0 {
		fmt.Fprintln(w, "failed keys:")
		for _, f := range sum.Failed {
			fmt.Fprintf(w, "  %s\n", safeText(f.Key))
		}
	}
}

// bar shows a progress bar of the bytes and files to upload, for a
// terminal; failures are printed above it, and the summary below.
type bar struct {
	*lines
	b     *progressbar.ProgressBar
	files int
	total int
	sent  atomic.Int64
}

func (b *bar) start(p *plan) {
	for _, f := range p.failed {
		b.printf("%-9s %s: %v\n", "failed", safeText(f.Key), safeErr(f.Err))
	}
	b.total = p.count(Upload) + p.count(Delete)
	if b.total == 0 {
		return
	}
	b.b = progressbar.NewOptions64(p.uploadBytes(),
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetDescription(b.describe()),
		progressbar.OptionSetRenderBlankState(true),
	)
}

// describe is the bar's text: files done of all.
func (b *bar) describe() string {
	return fmt.Sprintf("%d/%d files", b.files, b.total)
}

func (b *bar) done(s Step, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files++
	if err != nil {
		_ = b.b.Clear()
		fmt.Fprintf(b.w, "%-9s %s: %v\n", "failed", safeText(s.Key), safeErr(err))
	}
	b.b.Describe(b.describe())
}

func (b *bar) held(Step, string) {}

// comparing tells a terminal why nothing moves yet: reading large files
// to hash them takes a while (about 2 s per GiB).
func (b *bar) comparing(n int) {
	if n > 0 {
		b.printf("comparing %d %s with the bucket ...\n", n, plural(n, "file", "files"))
	}
}

func (b *bar) add(n int64) {
	v := b.sent.Add(n)
	if b.b != nil {
		b.mu.Lock()
		_ = b.b.Set64(v)
		b.mu.Unlock()
	}
}

func (b *bar) summary(sum Summary, purged, purgeURLs []string) {
	if b.b != nil {
		b.mu.Lock()
		_ = b.b.Finish()
		fmt.Fprintln(b.w)
		b.mu.Unlock()
	}
	b.lines.summary(sum, purged, purgeURLs)
}

// safeText returns s as it is, or quoted (strconv.Quote) when it holds a
// control character or is not valid UTF-8: a bucket key or an error from
// the bucket must not write terminal escapes or fake lines into an
// operator's terminal or CI log.
func safeText(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return strconv.Quote(s)
		}
	}
	return s
}

// safeErr is safeText of err's message ("" for nil).
func safeErr(err error) string {
	if err == nil {
		return ""
	}
	return safeText(err.Error())
}
