package origin_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/origin"
)

// testBucket is the bucket TestMain creates on the package's versitygw.
const testBucket = "r2gate-origin-test"

// s3server is the versitygw shared by every test of the package.
var s3server *s3test.Server

// TestMain starts one versitygw for the package. A missing or broken server
// fails the run: the S3 half of the suite is not optional.
func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	return s3test.Main(m, "origin", func(srv *s3test.Server) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.CreateBucket(ctx, testBucket); err != nil {
			return err
		}
		s3server = srv
		return nil
	})
}

// newS3 returns an S3 bucket on the test server, reached through endpoint
// (the server itself when empty).
func newS3(t *testing.T, endpoint string) *origin.S3 {
	t.Helper()
	if endpoint == "" {
		endpoint = s3server.Endpoint
	}
	b, err := origin.NewS3(t.Context(), origin.S3Config{
		Bucket:    testBucket,
		Endpoint:  endpoint,
		Region:    "auto",
		AccessKey: s3server.AccessKey,
		SecretKey: s3server.SecretKey,
	})
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newDir returns a Dir over a fresh temporary folder, and the folder.
func newDir(t *testing.T) (*origin.Dir, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := origin.OpenDir(dir)
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir
}

// fixture is one bucket under test. Keys go through key so that tests
// sharing the S3 bucket never see each other's objects.
type fixture struct {
	b      origin.Bucket
	prefix string
	// file is where the bucket's server keeps the object under a key.
	file func(key string) string
}

func (f fixture) key(name string) string { return f.prefix + name }

// backdate sets the modification time of the object under name to the
// whole second d ago, behind the bucket's back, and returns it. Date
// conditions can then be tested with dates that are neither in the future
// (which S3 servers ignore) nor within the second of the write (versitygw
// compares them with the file's nanosecond time, S3 and R2 do not).
func (f fixture) backdate(t *testing.T, name string, d time.Duration) time.Time {
	t.Helper()
	when := time.Now().Add(-d).Truncate(time.Second)
	if err := os.Chtimes(f.file(f.key(name)), when, when); err != nil {
		t.Fatalf("backdating %q: %v", name, err)
	}
	return when
}

// put stores body under name and returns the new object's Info.
func (f fixture) put(t *testing.T, name string, body []byte, meta origin.PutOptions) origin.Info {
	t.Helper()
	info, err := f.b.Put(t.Context(), f.key(name), bytes.NewReader(body), int64(len(body)), meta)
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	return info
}

// get reads the object under name whole, failing the test on any error.
func (f fixture) get(t *testing.T, name string, opts origin.GetOptions) (*origin.Object, []byte) {
	t.Helper()
	obj, err := f.b.Get(t.Context(), f.key(name), opts)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("reading %q: %v", name, err)
	}
	return obj, body
}

// buckets are the implementations every conformance test runs against.
var buckets = []struct {
	name string
	open func(t *testing.T) fixture
}{
	{"dir", func(t *testing.T) fixture {
		d, dir := newDir(t)
		return fixture{b: d, file: func(key string) string { return filepath.Join(dir, key) }}
	}},
	{"s3", func(t *testing.T) fixture {
		return fixture{b: newS3(t, ""), prefix: t.Name() + "/", file: func(key string) string {
			return filepath.Join(s3server.Dir, testBucket, key)
		}}
	}},
}

// forEachBucket runs test once per implementation, each with a fresh
// fixture.
func forEachBucket(t *testing.T, test func(t *testing.T, f fixture)) {
	for _, impl := range buckets {
		t.Run(impl.name, func(t *testing.T) { test(t, impl.open(t)) })
	}
}

// pattern returns n bytes that differ at every offset of a small window, so
// a wrong offset shows up as wrong bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
