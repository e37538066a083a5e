package publish

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/r2gate/r2gate/origin"
)

// listingBucket answers List with whatever entries it is given (a broken
// or hostile S3 server: keys outside the prefix, odd ETags, sizes that
// lie) and Head with the given part-size metadata; it counts writes.
type listingBucket struct {
	entries []origin.ListEntry
	meta    map[string]string
	mu      sync.Mutex
	writes  int
}

func (b *listingBucket) List(ctx context.Context, prefix string, fn func(origin.ListEntry) error) error {
	for _, e := range b.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (b *listingBucket) Head(ctx context.Context, key string) (origin.Info, error) {
	for _, e := range b.entries {
		if e.Key == key {
			return origin.Info{Key: key, Size: e.Size, ETag: e.ETag, Metadata: b.meta}, nil
		}
	}
	return origin.Info{}, origin.ErrNotFound
}

func (b *listingBucket) Put(ctx context.Context, key string, body io.Reader, size int64, meta origin.PutOptions) (origin.Info, error) {
	b.mu.Lock()
	b.writes++
	b.mu.Unlock()
	return origin.Info{}, errors.New("listingBucket: no writes")
}

func (b *listingBucket) Delete(ctx context.Context, key string) error {
	b.mu.Lock()
	b.writes++
	b.mu.Unlock()
	return errors.New("listingBucket: no writes")
}

// fuzzFile is the one local file of the fuzzed folder: 300 bytes, so
// part sizes from 1 to 301 give every multipart ETag it can have.
var fuzzFile = bytes.Repeat([]byte("r2gate sync "), 25)

// realETags are every ETag fuzzFile can have in a bucket: its MD5, and
// its multipart ETag for each part size (lower case, unquoted).
func realETags(t testing.TB) map[string]bool {
	out := map[string]bool{}
	e, err := origin.PlainETag(bytes.NewReader(fuzzFile))
	if err != nil {
		t.Fatal(err)
	}
	out[normalizeETag(e)] = true
	for ps := int64(1); ps <= int64(len(fuzzFile))+1; ps++ {
		e, err := origin.MultipartETag(bytes.NewReader(fuzzFile), ps)
		if err != nil {
			t.Fatal(err)
		}
		out[normalizeETag(e)] = true
	}
	return out
}

// FuzzSyncListing feeds a sync a hostile listing: the local file is
// skipped only when the listed ETag is one its bytes really have (any
// quoting, case or weak marker), whatever the part-size metadata says;
// --delete removes only keys under the prefix that the folder lacks (never
// a key outside it, a folder marker, or a variant of a kept file); and a
// dry run writes nothing.
func FuzzSyncListing(f *testing.F) {
	dir := f.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "img"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "img", "a.txt"), fuzzFile, 0o644); err != nil {
		f.Fatal(err)
	}
	real := realETags(f)
	plain, _ := origin.PlainETag(bytes.NewReader(fuzzFile))
	multi, _ := origin.MultipartETag(bytes.NewReader(fuzzFile), 100)
	for _, s := range []struct {
		etag, meta, other string
		size              int64
	}{
		{plain, "", "site/gone.txt", 300},
		{`W/` + strings.ToUpper(plain), "", "site/img/a.txt?w=400", 300},
		{multi, "100", "site/", 300},
		{multi, "", "other/x", 300},
		{multi, "99", "site", 300},
		{strings.TrimSuffix(multi, `"`) + `0"`, "-1", "sitex/y", 300},
		{`"` + strings.Repeat("0", 32) + `"`, "", "site/../x", 300},
		{`"abc-99999999999999999999"`, "9223372036854775807", "site/\x00", 300},
		{plain, "", "site/a\r\nb", 299},
		{"", "", "", -1},
	} {
		f.Add(s.etag, s.meta, s.other, s.size)
	}
	f.Fuzz(func(t *testing.T, etag, partMeta, other string, size int64) {
		if len(etag)+len(partMeta)+len(other) > 160 {
			return // long inputs add nothing here and make minimisation crawl
		}
		const prefix = "site/"
		b := &listingBucket{
			entries: []origin.ListEntry{{Key: prefix + "img/a.txt", Size: size, ETag: etag}, {Key: other, Size: 7, ETag: etag}},
			meta:    map[string]string{PartSizeMeta: partMeta},
		}
		opts := Options{Dir: dir, Prefix: prefix, Delete: true, DryRun: true, Concurrency: 2}
		if err := opts.fill(); err != nil {
			t.Fatal(err)
		}
		p, err := makePlan(context.Background(), b, opts, newReporter(opts))
		if err != nil {
			t.Fatalf("makePlan: %v", err)
		}
		if len(p.failed) != 0 {
			t.Fatalf("comparing failed: %v", p.failed)
		}
		var file *Step
		for i, s := range p.steps {
			switch s.Action {
			case Upload, Skip:
				if s.Key != prefix+"img/a.txt" || file != nil {
					t.Fatalf("step %+v", s)
				}
				file = &p.steps[i]
			case Delete:
				rel, under := strings.CutPrefix(s.Key, prefix)
				if !under || rel == "" || strings.HasSuffix(s.Key, "/") || s.Key == prefix+"img/a.txt" ||
					strings.HasPrefix(s.Key, prefix+"img/a.txt?") || s.Key != other {
					t.Fatalf("deletes %q (listed %q)", s.Key, other)
				}
			default:
				t.Fatalf("step %+v", s)
			}
		}
		if file == nil {
			t.Fatal("no step for the local file")
		}
		listed := size
		if other == prefix+"img/a.txt" {
			listed = 7 // the later entry of the same key wins
		}
		if file.Action == Skip && (listed != int64(len(fuzzFile)) || !real[normalizeETag(etag)]) {
			t.Fatalf("skipped with the listed ETag %q (size %d, part size %q): not an ETag of its bytes", etag, listed, partMeta)
		}
		if file.Action == Upload && listed == int64(len(fuzzFile)) && normalizeETag(etag) == normalizeETag(plain) {
			t.Fatalf("uploaded again though the listing has its MD5 %q", etag)
		}
		// The whole dry run over the same listing changes nothing.
		var out bytes.Buffer
		opts.Out = &out
		if _, err := Sync(context.Background(), b, opts); err != nil && !strings.Contains(err.Error(), "refusing") {
			t.Fatalf("dry run: %v", err)
		}
		if b.writes != 0 {
			t.Fatalf("a dry run wrote %d times", b.writes)
		}
	})
}
