package origin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/r2gate/r2gate/origin"
)

// listKeys are names whose byte order differs from a walk of folders
// sorted by name ("a-b" < "a/b" < "a0"), with nesting and non-ASCII.
var listKeys = []string{
	"a-b", "a.txt", "a/b-c", "a/b/c", "a/bc", "a0", "b/ü/x.txt", "b/z", "c.txt", "zz/top",
}

// collect lists prefix whole.
func collect(t *testing.T, l origin.Lister, prefix string) []origin.ListEntry {
	t.Helper()
	var got []origin.ListEntry
	if err := l.List(t.Context(), prefix, func(e origin.ListEntry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

func entryKeys(es []origin.ListEntry, trim string) []string {
	var keys []string
	for _, e := range es {
		keys = append(keys, strings.TrimPrefix(e.Key, trim))
	}
	return keys
}

func TestList(t *testing.T) {
	forEachBucket(t, func(t *testing.T, f fixture) {
		l := f.b.(origin.Lister)
		if s, ok := f.b.(*origin.S3); ok {
			origin.SetListPageSize(s, 3) // pages of 3 keys
		}
		infos := map[string]origin.Info{}
		for i, name := range listKeys {
			infos[name] = f.put(t, name, pattern(i*10+1), origin.PutOptions{})
		}
		sorted := slices.Clone(listKeys)
		sort.Strings(sorted)

		got := collect(t, l, f.prefix)
		if keys := entryKeys(got, f.prefix); !slices.Equal(keys, sorted) {
			t.Errorf("List = %q, want %q", keys, sorted)
		}
		for _, e := range got {
			info := infos[strings.TrimPrefix(e.Key, f.prefix)]
			if e.Size != info.Size || e.ETag != info.ETag || !strings.HasPrefix(e.ETag, `"`) {
				t.Errorf("entry %+v, want size %d and ETag %s (from Put)", e, info.Size, info.ETag)
			}
			if d := e.LastModified.Sub(info.LastModified); d < -2e9 || d > 2e9 {
				t.Errorf("entry %s LastModified %v, Put said %v", e.Key, e.LastModified, info.LastModified)
			}
		}

		for prefix, want := range map[string][]string{
			"a/":   {"a/b-c", "a/b/c", "a/bc"},
			"a/b":  {"a/b-c", "a/b/c", "a/bc"},
			"a":    {"a-b", "a.txt", "a/b-c", "a/b/c", "a/bc", "a0"},
			"b/ü":  {"b/ü/x.txt"},
			"c":    {"c.txt"},
			"nope": nil,
			"a/b/": {"a/b/c"},
		} {
			if keys := entryKeys(collect(t, l, f.prefix+prefix), f.prefix); !slices.Equal(keys, want) {
				t.Errorf("List(%q) = %q, want %q", prefix, keys, want)
			}
		}

		errStop := errors.New("enough")
		n := 0
		err := l.List(t.Context(), f.prefix, func(origin.ListEntry) error {
			n++
			if n == 5 {
				return errStop
			}
			return nil
		})
		if err != errStop || n != 5 {
			t.Errorf("List stopped after %d entries with %v, want 5 and fn's error as is", n, err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := l.List(ctx, f.prefix, func(origin.ListEntry) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("List with a cancelled context = %v, want context.Canceled", err)
		}
	})
}

func TestS3ListPagesOfTheDefaultSize(t *testing.T) {
	b, f := s3Fixture(t)
	const n = 1100 // more than the 1000 keys of a default page
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := b.Put(t.Context(), f.key(fmt.Sprintf("k%05d", i)), bytes.NewReader(nil), 0, origin.PutOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := entryKeys(collect(t, b, f.prefix), f.prefix)
	if len(got) != n || !slices.IsSorted(got) || got[0] != "k00000" || got[n-1] != fmt.Sprintf("k%05d", n-1) {
		t.Errorf("List gave %d keys (sorted %v, from %q), want %d", len(got), slices.IsSorted(got), got[:min(3, len(got))], n)
	}
}

func TestDirListSkipsWhatNoKeyNames(t *testing.T) {
	d, dir := newDir(t)
	f := fixture{b: d}
	f.put(t, "a/b", []byte("ab"), origin.PutOptions{ContentType: "text/plain"}) // writes a sidecar
	f.put(t, "top", []byte("top"), origin.PutOptions{})
	mustWrite(t, filepath.Join(dir, "a", ".r2gate-tmp-0123"), []byte("partial"))
	mustWrite(t, filepath.Join(dir, ".r2gate-other"), []byte("x"))
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "..", filepath.Base(dir)+"-outside"), []byte("outside"))
	mustSymlink(t, filepath.Join(dir, "..", filepath.Base(dir)+"-outside"), filepath.Join(dir, "escape"))
	mustSymlink(t, "top", filepath.Join(dir, "link"))
	mustSymlink(t, "a", filepath.Join(dir, "linkdir"))

	got := collect(t, d, "")
	if keys := entryKeys(got, ""); !slices.Equal(keys, []string{"a/b", "link", "top"}) {
		t.Errorf("List = %q, want a/b, link, top", keys)
	}
	for _, prefix := range []string{".r2gate-meta/", ".r2gate", "a/.r2gate", "../"} {
		if got := collect(t, d, prefix); len(got) != 0 {
			t.Errorf("List(%q) = %v, want nothing", prefix, got)
		}
	}
	info, err := d.Head(t.Context(), "link")
	if err != nil {
		t.Fatal(err)
	}
	if got[1].ETag != info.ETag || got[1].Size != 3 {
		t.Errorf("entry %+v, want Head's ETag %s and size 3", got[1], info.ETag)
	}
}

func TestS3ListUploadsAndAbort(t *testing.T) {
	b, f := s3Fixture(t)
	c := s3server.Client("")
	var ids []string
	for _, name := range []string{"u1", "u2", "u3", "u4", "u5", "v", "v"} {
		out, err := c.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(testBucket), Key: aws.String(f.key(name))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.UploadId)
	}
	if both, err := b.ListUploads(t.Context(), f.prefix+"v"); err != nil || len(both) != 2 || both[0].UploadID == both[1].UploadID {
		t.Errorf("ListUploads(v) = %+v, %v; want the 2 uploads of v", both, err)
	}
	// Pages of 2 (versitygw cannot page within a key's uploads: see
	// ListUploads).
	origin.SetListPageSize(b, 2)
	ups, err := b.ListUploads(t.Context(), f.prefix+"u")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range ups {
		keys = append(keys, strings.TrimPrefix(u.Key, f.prefix))
	}
	if !slices.Equal(keys, []string{"u1", "u2", "u3", "u4", "u5"}) {
		t.Errorf("ListUploads(u) in pages of 2 = %q, want u1 to u5", keys)
	}
	origin.SetListPageSize(b, 0)
	ups, err = b.ListUploads(t.Context(), f.prefix)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, u := range ups {
		gotIDs = append(gotIDs, u.UploadID)
		if !strings.HasPrefix(u.Key, f.prefix) || u.Initiated.IsZero() {
			t.Errorf("upload %+v: want a key under %q and a start time", u, f.prefix)
		}
	}
	if !sameSet(gotIDs, ids) {
		t.Fatalf("ListUploads = %+v, want the IDs %q", ups, ids)
	}
	for _, u := range ups {
		if err := b.AbortUpload(t.Context(), u); err != nil {
			t.Errorf("AbortUpload(%+v): %v", u, err)
		}
	}
	noUploads(t, b, f.prefix)
	if err := b.AbortUpload(t.Context(), ups[0]); !errors.Is(err, origin.ErrNotFound) {
		t.Errorf("aborting an aborted upload = %v, want ErrNotFound", err)
	}
	if err := b.AbortUpload(t.Context(), origin.Upload{Key: f.key("x")}); !errors.Is(err, origin.ErrBadRequest) {
		t.Errorf("aborting without an ID = %v, want ErrBadRequest", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestETagHelpersMatchTheBucket(t *testing.T) {
	b, f := s3Fixture(t)
	for _, tc := range []struct {
		name string
		size int
	}{{"small", 1234}, {"12 MiB", 12 * mib}, {"empty", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			content := pattern(tc.size)
			info := f.put(t, tc.name, content, origin.PutOptions{PartSize: 5 * mib})
			want, err := origin.PutETag(bytes.NewReader(content), int64(tc.size), 5*mib)
			if err != nil {
				t.Fatal(err)
			}
			if info.ETag != want {
				t.Errorf("versitygw says %s, PutETag %s", info.ETag, want)
			}
			var listed string
			if err := b.List(t.Context(), f.key(tc.name), func(e origin.ListEntry) error { listed = e.ETag; return nil }); err != nil {
				t.Fatal(err)
			}
			if listed != info.ETag {
				t.Errorf("List says %s, Head %s", listed, info.ETag)
			}
		})
	}
	// Known values: MD5("") and the multipart ETag of one empty part.
	if tag, _ := origin.PlainETag(strings.NewReader("")); tag != `"d41d8cd98f00b204e9800998ecf8427e"` {
		t.Errorf("PlainETag(\"\") = %s", tag)
	}
	if tag, _ := origin.MultipartETag(strings.NewReader(""), 5*mib); tag != `"59adb24ef3cdbe0297f05b395827453f-1"` {
		t.Errorf("MultipartETag(\"\") = %s", tag)
	}
	if _, err := origin.PutETag(strings.NewReader("abc"), 4, 0); !errors.Is(err, origin.ErrBodySize) {
		t.Errorf("PutETag of 3 bytes said to be 4 = %v, want ErrBodySize", err)
	}
}
