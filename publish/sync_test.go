package publish

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// writeTree writes files (relative path: content) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runSync syncs with opts (Out and the clock set) and returns the summary,
// the output and the error.
func runSync(t *testing.T, b Bucket, opts Options) (Summary, string, error) {
	t.Helper()
	var out bytes.Buffer
	opts.Out = &out
	opts.now = fixedClock(time.Second)
	sum, err := Sync(context.Background(), b, opts)
	return sum, out.String(), err
}

var site = map[string]string{
	"index.html":           "<h1>home</h1>",
	"docs/guide.html":      "<h1>guide</h1>",
	"assets/app.3f9a1c.js": "console.log(1)",
	"assets/style.css":     "body{}",
	"img/logo.png":         "\x89PNG fake",
	"README":               "no extension",
}

var siteRules = []Rule{
	{"assets/*.[0-9a-f]*.js", "public, max-age=31536000, immutable"},
	{"*.html", "no-cache"},
}

func TestSyncUploadsThenSkips(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, site)
	b := newFake()
	opts := Options{Dir: dir, Prefix: "site", CacheControl: siteRules}

	sum, out, err := runSync(t, b, opts)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if sum.Uploaded != len(site) || sum.Skipped != 0 || sum.Bytes == 0 {
		t.Fatalf("first run: %+v\n%s", sum, out)
	}
	var want []string
	for rel := range site {
		want = append(want, "site/"+rel)
	}
	slices.Sort(want)
	if got := b.keys(); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %q, want %q", got, want)
	}
	for key, w := range map[string][2]string{
		"site/index.html":           {"text/html; charset=utf-8", "no-cache"},
		"site/docs/guide.html":      {"text/html; charset=utf-8", "no-cache"},
		"site/assets/app.3f9a1c.js": {"text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		"site/assets/style.css":     {"text/css; charset=utf-8", ""},
		"site/img/logo.png":         {"image/png", ""},
		"site/README":               {"application/octet-stream", ""},
	} {
		info := b.objects[key].info
		if info.ContentType != w[0] || info.CacheControl != w[1] {
			t.Errorf("%s: Content-Type %q, Cache-Control %q; want %q, %q", key, info.ContentType, info.CacheControl, w[0], w[1])
		}
	}
	// Pages go last: every asset was uploaded before the first page.
	lastAsset, firstPage := -1, len(b.puts)
	for i, k := range b.puts {
		if strings.HasSuffix(k, ".html") {
			firstPage = min(firstPage, i)
		} else {
			lastAsset = i
		}
	}
	if lastAsset > firstPage {
		t.Errorf("a page was uploaded before an asset: %q", b.puts)
	}
	if !strings.Contains(out, "uploaded  site/img/logo.png  (9 B, new)\n") {
		t.Errorf("no line for logo.png:\n%s", out)
	}

	b.reset()
	sum, out, err = runSync(t, b, opts)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if sum.Uploaded != 0 || sum.Skipped != len(site) || len(b.puts) != 0 {
		t.Fatalf("second run uploaded: %+v, puts %q", sum, b.puts)
	}
	if len(b.heads) != 0 {
		t.Errorf("single-part objects were compared with a HEAD each: %q", b.heads)
	}
	if !strings.Contains(out, "sync: uploaded 0 (0 B), skipped 6, deleted 0, failed 0") ||
		!strings.Contains(out, "nothing to upload: the bucket already holds all 6 files") {
		t.Errorf("second run does not say it uploaded nothing:\n%s", out)
	}
	if !strings.Contains(out, "skipped   site/README  (12 B, unchanged)") {
		t.Errorf("no skip line:\n%s", out)
	}
}

func TestSyncReuploadsChangedContent(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "aaaa", "b.txt": "bbbb", "c.txt": "cccc"})
	b := newFake()
	if _, _, err := runSync(t, b, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"a.txt": "AAAA", "b.txt": "bbbbb"}) // same size, longer
	b.reset()
	sum, out, err := runSync(t, b, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(b.puts)
	if sum.Uploaded != 2 || sum.Skipped != 1 || !slices.Equal(b.puts, []string{"a.txt", "b.txt"}) {
		t.Fatalf("%+v, puts %q\n%s", sum, b.puts, out)
	}
	for _, line := range []string{"uploaded  a.txt  (4 B, content differs)", "uploaded  b.txt  (5 B, size differs)"} {
		if !strings.Contains(out, line) {
			t.Errorf("no %q in:\n%s", line, out)
		}
	}
	if string(b.objects["a.txt"].body) != "AAAA" {
		t.Errorf("a.txt holds %q", b.objects["a.txt"].body)
	}
}

func TestSyncMultipartUnchangedIsSkipped(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // 20 MiB
	big[12345] = 'x'
	writeTree(t, dir, map[string]string{"big.bin": string(big), "small.txt": "s"})
	b := newFake()
	opts := Options{Dir: dir, PartSize: 5 << 20}
	if _, _, err := runSync(t, b, opts); err != nil {
		t.Fatal(err)
	}
	obj := b.objects["big.bin"]
	if !strings.HasSuffix(obj.info.ETag, `-4"`) || obj.meta.PartSize != 5<<20 || obj.info.Metadata[PartSizeMeta] != "5242880" {
		t.Fatalf("big.bin: ETag %s, part size %d, metadata %v", obj.info.ETag, obj.meta.PartSize, obj.info.Metadata)
	}
	if b.objects["small.txt"].info.Metadata != nil {
		t.Errorf("a single-part upload records a part size: %v", b.objects["small.txt"].info.Metadata)
	}
	// The next run, with another --part-size, still recognises it.
	b.reset()
	sum, out, err := runSync(t, b, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Uploaded != 0 || sum.Skipped != 2 {
		t.Fatalf("unchanged multipart file: %+v\n%s", sum, out)
	}
	if !slices.Equal(b.heads, []string{"big.bin"}) {
		t.Errorf("HEADs %q, want only the multipart object's", b.heads)
	}
	// One changed byte in the middle is seen.
	big[15<<20] ^= 1
	writeTree(t, dir, map[string]string{"big.bin": string(big)})
	sum, out, err = runSync(t, b, opts)
	if err != nil || sum.Uploaded != 1 || !strings.Contains(out, "uploaded  big.bin  (20 MiB, content differs)") {
		t.Fatalf("changed multipart file: %+v %v\n%s", sum, err, out)
	}
}

func TestSyncRecognisesOtherToolsMultipartUploads(t *testing.T) {
	dir := t.TempDir()
	body := bytes.Repeat([]byte{7}, 12<<20)
	writeTree(t, dir, map[string]string{"x.bin": string(body), "y.bin": string(body)})
	b := newFake()
	b.put(t, "x.bin", body, 5<<20, origin.PutOptions{})  // rclone's 5 MiB parts: 3 parts
	b.put(t, "y.bin", body, 16<<20, origin.PutOptions{}) // one 12 MiB PUT
	sum, out, err := runSync(t, b, Options{Dir: dir})
	if err != nil || sum.Skipped != 2 || sum.Uploaded != 0 {
		t.Fatalf("%+v %v\n%s", sum, err, out)
	}
	// A multipart ETag that no usual part size explains is uploaded again.
	b.put(t, "x.bin", body, 6<<20, origin.PutOptions{})
	sum, _, err = runSync(t, b, Options{Dir: dir})
	if err != nil || sum.Uploaded != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
}

func TestSyncDelete(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"keep.txt": "k", "img/cat.jpg": "jpg", "drafts/x.txt": "x"})
	b := newFake()
	for _, k := range []string{
		"site/gone.txt", "site/old/deep.css", // gone from the folder: deleted
		"site/img/cat.jpg?w=400",                // a variant of a kept file: kept
		"site/img/dog.jpg?w=400",                // a variant of a file that is gone: deleted
		"site/drafts/y.txt",                     // excluded: kept
		"site/folder/",                          // a folder marker: kept
		"sitemap.xml", "other/gone.txt", "site", // outside the prefix: never touched
	} {
		b.put(t, k, []byte("old"), 0, origin.PutOptions{})
	}
	opts := Options{Dir: dir, Prefix: "site/", Delete: true, Exclude: []string{"drafts/*"}}

	dry := opts
	dry.DryRun = true
	sum, out, err := runSync(t, b, dry)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.puts)+len(b.deletes) != 0 || sum.Deleted != 3 || sum.Uploaded != 2 || !sum.DryRun {
		t.Fatalf("dry run: %+v, puts %q, deletes %q\n%s", sum, b.puts, b.deletes, out)
	}
	for _, line := range []string{
		"upload    site/img/cat.jpg  (3 B, new)\n",
		"delete    site/gone.txt  (3 B, not in the folder)\n",
		"delete    site/img/dog.jpg?w=400  (3 B, not in the folder)\n",
		"dry run: would upload 2 (4 B), skip 0, delete 3; nothing was changed\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("dry run output lacks %q:\n%s", line, out)
		}
	}

	sum, out, err = runSync(t, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(b.deletes)
	if want := []string{"site/gone.txt", "site/img/dog.jpg?w=400", "site/old/deep.css"}; !slices.Equal(b.deletes, want) {
		t.Fatalf("deleted %q, want %q", b.deletes, want)
	}
	want := []string{"other/gone.txt", "site", "site/drafts/y.txt", "site/folder/", "site/img/cat.jpg",
		"site/img/cat.jpg?w=400", "site/keep.txt", "sitemap.xml"}
	if got := b.keys(); !slices.Equal(got, want) {
		t.Errorf("bucket holds %q, want %q", got, want)
	}
	if sum.Deleted != 3 || !strings.Contains(out, "deleted   site/gone.txt  (3 B, not in the folder)") {
		t.Errorf("%+v\n%s", sum, out)
	}
}

func TestSyncWithoutDeleteKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	b := newFake()
	b.put(t, "gone.txt", []byte("g"), 0, origin.PutOptions{})
	if _, _, err := runSync(t, b, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if len(b.deletes) != 0 || !slices.Contains(b.keys(), "gone.txt") {
		t.Fatalf("deleted without --delete: %q", b.deletes)
	}
}

func TestSyncFailureHoldsPagesAndDeletes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"index.html": "new page", "a.js": "a", "b.js": "b", "c.js": "c"})
	b := newFake()
	b.put(t, "old.js", []byte("old"), 0, origin.PutOptions{})
	b.put(t, "index.html", []byte("old page"), 0, origin.PutOptions{})
	b.failPut["b.js"] = true
	sum, out, err := runSync(t, b, Options{Dir: dir, Delete: true, Concurrency: 2})
	if err == nil || !strings.Contains(err.Error(), `1 key failed: "b.js"`) {
		t.Fatalf("err = %v, want one naming b.js\n%s", err, out)
	}
	if sum.Uploaded != 2 || len(sum.Failed) != 1 || sum.Failed[0].Key != "b.js" || sum.Held != 2 {
		t.Fatalf("%+v\n%s", sum, out)
	}
	if string(b.objects["index.html"].body) != "old page" || !slices.Contains(b.keys(), "old.js") {
		t.Errorf("the page or the delete went ahead after a failure: %q", b.keys())
	}
	for _, line := range []string{
		"failed    b.js: put b.js: bucket refused (fake)\n",
		"held      index.html  (not uploaded: an earlier step failed)\n",
		"held      old.js  (not deleted: an earlier step failed)\n",
		"sync: uploaded 2 (2 B), skipped 0, deleted 0, failed 1, held 2 in ",
		"failed keys:\n  b.js\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

func TestSyncInterruptedStartsNothingMore(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for _, c := range "abcdefghij" {
		files[string(c)+".txt"] = string(c)
	}
	writeTree(t, dir, files)
	b := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	b.onPut = func(string) { once.Do(cancel) }
	rec, admin := newPurgeRecorder(t, 200)
	var out bytes.Buffer
	sum, err := Sync(ctx, b, Options{Dir: dir, Concurrency: 1, Out: &out, Purge: []string{admin}})
	if err == nil {
		t.Fatalf("no error after an interrupt: %+v", sum)
	}
	if n := len(b.puts); n > 1 {
		t.Errorf("%d uploads after the interrupt", n)
	}
	if !sum.Interrupted || sum.Held != 9 || len(sum.Failed) != 0 || !strings.Contains(err.Error(), "interrupted, 9 steps not started") {
		t.Errorf("%+v: %v", sum, err)
	}
	if len(rec.bodies) != 1 || !slices.Equal(rec.bodies[0], b.puts) {
		t.Errorf("purged %q after the interrupt, want what was uploaded: %q", rec.bodies, b.puts)
	}
	if !strings.Contains(out.String(), "held      j.txt  (not uploaded: interrupted)") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestSyncRefusesABadFolder(t *testing.T) {
	b := newFake()
	b.put(t, "a.txt", []byte("a"), 0, origin.PutOptions{})
	_, _, err := runSync(t, b, Options{Dir: filepath.Join(t.TempDir(), "missing"), Delete: true})
	if err == nil {
		t.Fatal("a missing folder synced")
	}
	if len(b.deletes) != 0 {
		t.Fatalf("deleted %q", b.deletes)
	}
	file := filepath.Join(t.TempDir(), "f")
	writeTree(t, filepath.Dir(file), map[string]string{"f": "x"})
	if _, _, err := runSync(t, b, Options{Dir: file}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("a file as the folder: %v", err)
	}
	if _, _, err := runSync(t, b, Options{Dir: t.TempDir(), PartSize: 1 << 20}); err == nil {
		t.Fatal("a 1 MiB part size was accepted")
	}
}

// TestSyncUnreadableEntryChangesNothing: a walk error (here a link to
// nowhere; an unreadable folder is the same, but root reads every folder)
// ends the sync before any change, so --delete never acts on a partial
// view of the folder.
func TestSyncUnreadableEntryChangesNothing(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "broken")); err != nil {
		t.Fatal(err)
	}
	b := newFake()
	b.put(t, "old.txt", []byte("o"), 0, origin.PutOptions{})
	_, _, err := runSync(t, b, Options{Dir: dir, Delete: true})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("err = %v, want one naming the broken link", err)
	}
	if len(b.puts)+len(b.deletes) != 0 {
		t.Fatalf("changed the bucket: puts %q, deletes %q", b.puts, b.deletes)
	}
}

func TestSyncContentEncodingAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"app.js": "gz", "real/x.txt": "x"})
	if err := os.Symlink(filepath.Join(dir, "real", "x.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	b := newFake()
	_, _, err := runSync(t, b, Options{Dir: dir, ContentEncoding: []Rule{{"*.js", "gzip"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.keys(); !slices.Equal(got, []string{"app.js", "link.txt", "real/x.txt"}) {
		t.Errorf("keys %q: a link to a file is followed, to a folder not", got)
	}
	if ce := b.objects["app.js"].info.ContentEncoding; ce != "gzip" {
		t.Errorf("Content-Encoding %q", ce)
	}
}

func TestSyncDeleteRefusesAnEmptyFolder(t *testing.T) {
	b := newFake()
	b.put(t, "site/index.html", []byte("live"), 0, origin.PutOptions{})
	_, _, err := runSync(t, b, Options{Dir: t.TempDir(), Prefix: "site", Delete: true})
	if err == nil || !strings.Contains(err.Error(), `refusing to --delete every key under "site/"`) {
		t.Fatalf("err = %v", err)
	}
	if len(b.deletes) != 0 {
		t.Fatalf("deleted %q", b.deletes)
	}
	// Without --delete an empty folder is just nothing to do.
	if sum, _, err := runSync(t, b, Options{Dir: t.TempDir(), Prefix: "site"}); err != nil || sum.Uploaded != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
}

func TestSyncFileChangedWhileSyncingFails(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a", "b.txt": "b"})
	b := newFake()
	b.onPut = func(key string) {
		if key == "a.txt" {
			writeTree(t, dir, map[string]string{"b.txt": "grown"})
		}
	}
	sum, out, err := runSync(t, b, Options{Dir: dir, Concurrency: 1})
	if err == nil || len(sum.Failed) != 1 || sum.Failed[0].Key != "b.txt" ||
		!strings.Contains(out, "changed while syncing (5 bytes, was 1): run again") {
		t.Fatalf("%+v %v\n%s", sum, err, out)
	}
}

// TestSyncCompareFailureHoldsPagesOnly: a file that cannot be compared
// fails; the other files still go, the pages and deletes wait.
func TestSyncCompareFailureHoldsPagesOnly(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 6<<20)
	writeTree(t, dir, map[string]string{"big.bin": big, "a.js": "a", "index.html": "page"})
	b := newFake()
	b.put(t, "big.bin", []byte(big), 5<<20, origin.PutOptions{}) // multipart: needs a HEAD
	b.put(t, "old.js", []byte("o"), 0, origin.PutOptions{})
	b.failHead["big.bin"] = true
	sum, out, err := runSync(t, b, Options{Dir: dir, Delete: true})
	if err == nil || len(sum.Failed) != 1 || sum.Failed[0].Key != "big.bin" || !strings.Contains(out, "failed    big.bin: comparing with the bucket: reading the object's part size: head big.bin: bucket refused (fake)") {
		t.Fatalf("%+v %v\n%s", sum, err, out)
	}
	if !slices.Equal(b.puts, []string{"a.js"}) || sum.Held != 2 {
		t.Errorf("puts %q, held %d: want a.js uploaded, the page and the delete held", b.puts, sum.Held)
	}
}
