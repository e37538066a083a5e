package publish

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/origin"
)

// The integration tests: Sync against a real S3 server (versitygw).

// listing returns the bucket's objects by key, listed with the SDK itself.
func listing(t *testing.T, bucket string) map[string]s3types {
	t.Helper()
	out, err := s3server.Client("").ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]s3types{}
	for _, o := range out.Contents {
		m[aws.ToString(o.Key)] = s3types{size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag)}
	}
	return m
}

type s3types struct {
	size int64
	etag string
}

// keysOf returns the sorted keys of a listing.
func keysOf(m map[string]s3types) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// headObject returns the object's headers as the SDK reads them.
func headObject(t *testing.T, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := s3server.Client("").HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("HeadObject(%q): %v", key, err)
	}
	return out
}

// randomBytes returns n reproducible random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// uploadsLeft returns the bucket's unfinished multipart uploads.
func uploadsLeft(t *testing.T, bucket string) []origin.Upload {
	t.Helper()
	ups, err := openS3(t, bucket, "").ListUploads(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return ups
}

func TestS3SyncFirstRunThenNothingThenAChange(t *testing.T) {
	bucket := newBucket(t)
	b := openS3(t, bucket, "")
	dir := t.TempDir()
	writeTree(t, dir, site)
	opts := Options{Dir: dir, Prefix: "site/", CacheControl: siteRules}

	sum, out, err := runSync(t, b, opts)
	if err != nil || sum.Uploaded != len(site) {
		t.Fatalf("first run: %+v, %v\n%s", sum, err, out)
	}
	var want []string
	for rel := range site {
		want = append(want, "site/"+rel)
	}
	slices.Sort(want)
	if got := keysOf(listing(t, bucket)); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %q, want exactly %q", got, want)
	}
	for key, w := range map[string][2]string{
		"site/index.html":           {"text/html; charset=utf-8", "no-cache"},
		"site/assets/app.3f9a1c.js": {"text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		"site/assets/style.css":     {"text/css; charset=utf-8", ""},
		"site/README":               {"application/octet-stream", ""},
	} {
		h := headObject(t, bucket, key)
		if aws.ToString(h.ContentType) != w[0] || aws.ToString(h.CacheControl) != w[1] {
			t.Errorf("%s: Content-Type %q, Cache-Control %q; want %q, %q", key,
				aws.ToString(h.ContentType), aws.ToString(h.CacheControl), w[0], w[1])
		}
	}

	before := listing(t, bucket)
	sum, out, err = runSync(t, b, opts)
	if err != nil || sum.Uploaded != 0 || sum.Skipped != len(site) {
		t.Fatalf("second run: %+v, %v\n%s", sum, err, out)
	}
	if !strings.Contains(out, "nothing to upload: the bucket already holds all 6 files") {
		t.Errorf("the second run does not say it uploaded nothing:\n%s", out)
	}
	if after := listing(t, bucket); !mapsEqual(before, after) {
		t.Errorf("the second run changed the bucket: %v -> %v", before, after)
	}

	writeTree(t, dir, map[string]string{"assets/style.css": "body{color:red}"})
	sum, out, err = runSync(t, b, opts)
	if err != nil || sum.Uploaded != 1 || !strings.Contains(out, "uploaded  site/assets/style.css  (15 B, size differs)") {
		t.Fatalf("after a change: %+v, %v\n%s", sum, err, out)
	}
	writeTree(t, dir, map[string]string{"assets/style.css": "body{color:RED}"})
	sum, out, err = runSync(t, b, opts)
	if err != nil || sum.Uploaded != 1 || !strings.Contains(out, "uploaded  site/assets/style.css  (15 B, content differs)") {
		t.Fatalf("after a same-size change: %+v, %v\n%s", sum, err, out)
	}
}

func mapsEqual(a, b map[string]s3types) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestS3SyncMultipartFileIsSkippedWhenUnchanged(t *testing.T) {
	bucket := newBucket(t)
	b := openS3(t, bucket, "")
	dir := t.TempDir()
	big := randomBytes(20<<20, 1)
	writeTree(t, dir, map[string]string{"video/big.bin": string(big)})
	opts := Options{Dir: dir, PartSize: 5 << 20}
	if sum, out, err := runSync(t, b, opts); err != nil || sum.Uploaded != 1 {
		t.Fatalf("first run: %+v %v\n%s", sum, err, out)
	}
	h := headObject(t, bucket, "video/big.bin")
	want, _ := origin.MultipartETag(bytes.NewReader(big), 5<<20)
	if aws.ToString(h.ETag) != want || !strings.HasSuffix(want, `-4"`) {
		t.Fatalf("ETag %s, want the 4-part multipart ETag %s", aws.ToString(h.ETag), want)
	}
	if h.Metadata[PartSizeMeta] != "5242880" {
		t.Errorf("metadata %v lacks the part size", h.Metadata)
	}
	// Skipped by a run with the default part size too: the recorded one
	// is used.
	sum, out, err := runSync(t, b, Options{Dir: dir})
	if err != nil || sum.Uploaded != 0 || sum.Skipped != 1 {
		t.Fatalf("second run: %+v %v\n%s", sum, err, out)
	}
	if ups := uploadsLeft(t, bucket); len(ups) != 0 {
		t.Errorf("unfinished uploads left: %v", ups)
	}
}

func TestS3SyncDeleteStaysUnderThePrefix(t *testing.T) {
	bucket := newBucket(t)
	b := openS3(t, bucket, "")
	client := s3server.Client("")
	for _, k := range []string{"site/old.txt", "site/img/a.jpg?w=100", "other/x.txt", "site-two/y.txt", "top.txt"} {
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
			Body: strings.NewReader("old")}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"img/a.jpg": "jpeg", "new.txt": "n"})
	sum, out, err := runSync(t, b, Options{Dir: dir, Prefix: "site", Delete: true})
	if err != nil || sum.Deleted != 1 || sum.Uploaded != 2 {
		t.Fatalf("%+v %v\n%s", sum, err, out)
	}
	want := []string{"other/x.txt", "site-two/y.txt", "site/img/a.jpg", "site/img/a.jpg?w=100", "site/new.txt", "top.txt"}
	if got := keysOf(listing(t, bucket)); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %q, want %q", got, want)
	}
}

func TestS3SyncDryRunChangesNothing(t *testing.T) {
	bucket := newBucket(t)
	b := openS3(t, bucket, "")
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a", "b.txt": "b"})
	if _, _, err := runSync(t, b, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"a.txt": "A", "c.txt": "c"})
	if err := os.Remove(filepath.Join(dir, "b.txt")); err != nil {
		t.Fatal(err)
	}
	before := listing(t, bucket)
	sum, out, err := runSync(t, b, Options{Dir: dir, Delete: true, DryRun: true, Purge: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if after := listing(t, bucket); !mapsEqual(before, after) {
		t.Fatalf("the dry run changed the bucket: %v -> %v", before, after)
	}
	for _, line := range []string{
		"upload    a.txt  (1 B, content differs)\n",
		"delete    b.txt  (1 B, not in the folder)\n",
		"upload    c.txt  (1 B, new)\n",
		"dry run: would upload 2 (2 B), skip 0, delete 1, purge 3 keys at 1 node; nothing was changed\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("the plan lacks %q:\n%s", line, out)
		}
	}
	if sum.Uploaded != 2 || sum.Deleted != 1 {
		t.Errorf("%+v", sum)
	}
}

// failingProxy is a proxy to the test server that answers the requests
// fail picks with 500 itself, as a bucket failing mid-run would.
func failingProxy(t *testing.T, fail func(r *http.Request) bool) string {
	t.Helper()
	target, _ := url.Parse(s3server.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	addr, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail(r) {
			http.Error(w, "<Error><Code>InternalError</Code></Error>", http.StatusInternalServerError)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.ListenAndServe()
	t.Cleanup(func() { srv.Close() })
	return "http://" + addr
}

func TestS3SyncFailingBucketLeavesNoUploads(t *testing.T) {
	bucket := newBucket(t)
	var parts atomic.Int64
	endpoint := failingProxy(t, func(r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		if r.URL.Query().Get("partNumber") == "3" {
			parts.Add(1)
			return true // the third part of a multipart upload, every try
		}
		return strings.HasSuffix(r.URL.Path, "/broken.txt")
	})
	b := openS3(t, bucket, endpoint)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"big.bin": string(randomBytes(16<<20, 2)), "broken.txt": "b", "fine.txt": "f", "index.html": "page",
	})
	sum, out, err := runSync(t, b, Options{Dir: dir, PartSize: 5 << 20, Delete: true})
	if err == nil {
		t.Fatalf("no error from a failing bucket:\n%s", out)
	}
	var failed []string
	for _, f := range sum.Failed {
		failed = append(failed, f.Key)
	}
	if !slices.Equal(failed, []string{"big.bin", "broken.txt"}) || !strings.Contains(err.Error(), `2 keys failed: "big.bin", "broken.txt"`) {
		t.Fatalf("failed %q, err %v\n%s", failed, err, out)
	}
	if parts.Load() < 2 {
		t.Errorf("the failing part was tried %d times: no retry", parts.Load())
	}
	if ups := uploadsLeft(t, bucket); len(ups) != 0 {
		t.Fatalf("the failed run left unfinished uploads: %v", ups)
	}
	if got := keysOf(listing(t, bucket)); !slices.Equal(got, []string{"fine.txt"}) {
		t.Errorf("bucket holds %q, want only fine.txt (the page is held back)", got)
	}
	if !strings.Contains(out, "failed keys:\n  big.bin\n  broken.txt\n") || sum.Held != 1 {
		t.Errorf("%+v\n%s", sum, out)
	}
}

func TestS3SyncInterruptedLeavesNoUploads(t *testing.T) {
	bucket := newBucket(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var parts atomic.Int64
	endpoint := failingProxy(t, func(r *http.Request) bool {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" && parts.Add(1) == 2 {
			cancel() // Ctrl-C in the middle of the upload
			time.Sleep(200 * time.Millisecond)
		}
		return false
	})
	b := openS3(t, bucket, endpoint)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"big.bin": string(randomBytes(30<<20, 3))})
	var out bytes.Buffer
	_, err := Sync(ctx, b, Options{Dir: dir, PartSize: 5 << 20, Out: &out})
	if err == nil {
		t.Fatalf("no error after the interrupt:\n%s", out.String())
	}
	if ups := uploadsLeft(t, bucket); len(ups) != 0 {
		t.Fatalf("the interrupted run left unfinished uploads: %v", ups)
	}
	if len(listing(t, bucket)) != 0 {
		t.Error("an object was published though the upload was interrupted")
	}
}

func TestS3CleanupAbortsStaleUploads(t *testing.T) {
	bucket := newBucket(t)
	client := s3server.Client("")
	for _, k := range []string{"site/killed.bin", "other/killed.bin"} {
		if _, err := client.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	b := openS3(t, bucket, "")
	var out bytes.Buffer
	// Started just now: younger than a day, kept.
	n, err := Cleanup(t.Context(), b, "site", StaleUploadAge, time.Now(), false, &out)
	if err != nil || n != 0 || len(uploadsLeft(t, bucket)) != 2 {
		t.Fatalf("young uploads: %d %v\n%s", n, err, out.String())
	}
	// A day and an hour later: aborted, but only under the prefix.
	out.Reset()
	n, err = Cleanup(t.Context(), b, "site", StaleUploadAge, time.Now().Add(25*time.Hour), true, &out)
	if err != nil || n != 1 || len(uploadsLeft(t, bucket)) != 2 || !strings.Contains(out.String(), "abort     site/killed.bin") {
		t.Fatalf("dry run: %d %v\n%s", n, err, out.String())
	}
	out.Reset()
	n, err = Cleanup(t.Context(), b, "site", StaleUploadAge, time.Now().Add(25*time.Hour), false, &out)
	if err != nil || n != 1 {
		t.Fatalf("%d %v\n%s", n, err, out.String())
	}
	ups := uploadsLeft(t, bucket)
	if len(ups) != 1 || ups[0].Key != "other/killed.bin" {
		t.Fatalf("left %v, want only the upload outside the prefix", ups)
	}
	if !strings.Contains(out.String(), "aborted   site/killed.bin  (unfinished upload started 25h ago)") ||
		!strings.Contains(out.String(), "cleanup: aborted 1 unfinished upload older than 24h; kept 0 younger") {
		t.Errorf("output:\n%s", out.String())
	}
}
