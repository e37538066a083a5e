package origin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/r2gate/r2gate/origin"
)

const mib = 1 << 20

// genReader streams n bytes of pattern (byte i is pattern(n)[i]) without
// holding them, optionally failing with err once failAt bytes are read,
// and calling at, if set, before it hands out the byte at offset at.off.
type genReader struct {
	n, off int64
	failAt int64
	err    error
	at     *readHook
}

// readHook is a callback run once, when a read reaches offset off.
type readHook struct {
	off  int64
	fn   func()
	once sync.Once
}

func newGen(n int64) *genReader { return &genReader{n: n, failAt: -1} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.failAt >= 0 && g.off >= g.failAt {
		return 0, g.err
	}
	if g.off >= g.n {
		return 0, io.EOF
	}
	if g.at != nil && g.off+int64(len(p)) > g.at.off {
		g.at.once.Do(g.at.fn)
	}
	end := min(g.n, g.off+int64(len(p)))
	if g.failAt >= 0 {
		end = min(end, g.failAt)
	}
	k := fillPattern(p[:end-g.off], g.off)
	g.off = end
	return k, nil
}

// patternPeriod is the period of pattern's bytes: i*7 repeats every 256
// bytes, i/251 modulo 256 every 251×256.
const patternPeriod = 251 * 256

// patternTable is one period of pattern.
var patternTable = pattern(patternPeriod)

// fillPattern fills p with the bytes of pattern from offset off, and
// returns len(p).
func fillPattern(p []byte, off int64) int {
	for k := 0; k < len(p); {
		k += copy(p[k:], patternTable[(off+int64(k))%patternPeriod:])
	}
	return len(p)
}

// genAt is the content of genReader as an io.ReaderAt, failing with err
// for reads past failAt when failAt is not negative.
type genAt struct {
	n, failAt int64
	err       error
}

func (g genAt) ReadAt(p []byte, off int64) (int, error) {
	if g.failAt >= 0 && off+int64(len(p)) > g.failAt {
		return 0, g.err
	}
	if off >= g.n {
		return 0, io.EOF
	}
	k := fillPattern(p[:min(int64(len(p)), g.n-off)], off)
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// file is n bytes of pattern as a body that can be read at any offset,
// as an *os.File can.
func file(n int64) *io.SectionReader { return io.NewSectionReader(genAt{n: n, failAt: -1}, 0, n) }

// onlyReader hides every method of a reader but Read (bytes.Reader is a
// ReadSeeker, WriterTo, ...).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// s3Fixture is a fresh prefix on the package's versitygw.
func s3Fixture(t *testing.T) (*origin.S3, fixture) {
	t.Helper()
	b := newS3(t, "")
	return b, fixture{b: b, prefix: t.Name() + "/"}
}

// noUploads fails the test if multipart uploads are left under prefix.
func noUploads(t *testing.T, b *origin.S3, prefix string) {
	t.Helper()
	ups, err := b.ListUploads(context.Background(), prefix)
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	if len(ups) != 0 {
		t.Errorf("%d multipart uploads left under %q: %+v", len(ups), prefix, ups)
	}
}

// etagOf returns what S3 names content stored with parts of partSize,
// as a multipart upload or, when plain, a single PutObject.
func etagOf(t *testing.T, content []byte, partSize int64, plain bool) string {
	t.Helper()
	var tag string
	var err error
	if plain {
		tag, err = origin.PlainETag(bytes.NewReader(content))
	} else {
		tag, err = origin.MultipartETag(bytes.NewReader(content), partSize)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func checkObject(t *testing.T, f fixture, name string, want []byte, meta origin.PutOptions) origin.Info {
	t.Helper()
	obj, got := f.get(t, name, origin.GetOptions{})
	if !bytes.Equal(got, want) {
		t.Fatalf("%q holds %d bytes that differ from the %d put", name, len(got), len(want))
	}
	if obj.Size != int64(len(want)) {
		t.Errorf("Size = %d, want %d", obj.Size, len(want))
	}
	if meta.ContentType != "" && obj.ContentType != meta.ContentType {
		t.Errorf("ContentType = %q, want %q", obj.ContentType, meta.ContentType)
	}
	if obj.CacheControl != meta.CacheControl || obj.ContentDisposition != meta.ContentDisposition ||
		obj.ContentLanguage != meta.ContentLanguage || obj.ContentEncoding != meta.ContentEncoding {
		t.Errorf("headers = %+v, want those of %+v", obj.Info, meta)
	}
	for k, v := range meta.Metadata {
		if obj.Metadata[k] != v {
			t.Errorf("Metadata[%q] = %q, want %q (all: %v)", k, obj.Metadata[k], v, obj.Metadata)
		}
	}
	return obj.Info
}

var testMeta = origin.PutOptions{
	ContentType:        "application/x-test",
	CacheControl:       "public, max-age=60",
	ContentDisposition: "attachment; filename=\"x.bin\"",
	ContentLanguage:    "fr",
	Metadata:           map[string]string{"origin": "test", "n": "42"},
}

func TestS3PutSingle(t *testing.T) {
	_, f := s3Fixture(t)
	content := pattern(100 << 10)
	for name, body := range map[string]io.Reader{
		"seeker": bytes.NewReader(content),
		"reader": onlyReader{bytes.NewReader(content)},
	} {
		t.Run(name, func(t *testing.T) {
			info, err := f.b.Put(t.Context(), f.key(name), body, int64(len(content)), testMeta)
			if err != nil {
				t.Fatal(err)
			}
			if want := etagOf(t, content, 0, true); info.ETag != want {
				t.Errorf("ETag = %s, want the plain MD5 %s", info.ETag, want)
			}
			checkObject(t, f, name, content, testMeta)
		})
	}
}

func TestS3PutMultipart(t *testing.T) {
	b, f := s3Fixture(t)
	content := pattern(12 * mib)
	meta := testMeta
	meta.PartSize = 5 * mib
	for name, body := range map[string]io.Reader{
		"seeker": bytes.NewReader(content),
		"reader": onlyReader{bytes.NewReader(content)},
	} {
		t.Run(name, func(t *testing.T) {
			info, err := b.Put(t.Context(), f.key(name), body, int64(len(content)), meta)
			if err != nil {
				t.Fatal(err)
			}
			want := etagOf(t, content, 5*mib, false)
			if info.ETag != want || !strings.HasSuffix(info.ETag, `-3"`) {
				t.Errorf("ETag = %s, want the 3-part ETag %s", info.ETag, want)
			}
			checkObject(t, f, name, content, meta)
		})
	}
	t.Run("seeker not at its start", func(t *testing.T) {
		// Put sends what is left from the body's position, as io.Copy
		// would read it.
		whole := append(pattern(mib), content...)
		r := bytes.NewReader(whole)
		if _, err := r.Seek(mib, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(t.Context(), f.key("offset"), r, int64(len(content)), meta); err != nil {
			t.Fatal(err)
		}
		checkObject(t, f, "offset", content, meta)
	})
	noUploads(t, b, f.prefix)
}

func TestS3PutUnknownSize(t *testing.T) {
	b, f := s3Fixture(t)
	for _, tc := range []struct {
		name  string
		size  int
		parts int // 0: one PutObject
	}{
		{"empty", 0, 0},
		{"small", 1000, 0},
		{"exactly one part", 5 * mib, 0},
		{"one byte more", 5*mib + 1, 2},
		{"exactly two parts", 10 * mib, 2},
		{"multipart", 12 * mib, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := pattern(tc.size)
			meta := testMeta
			meta.PartSize = 5 * mib
			info, err := b.Put(t.Context(), f.key(tc.name), onlyReader{bytes.NewReader(content)}, -1, meta)
			if err != nil {
				t.Fatal(err)
			}
			want := etagOf(t, content, 5*mib, tc.parts == 0)
			if info.ETag != want {
				t.Errorf("ETag = %s, want %s", info.ETag, want)
			}
			if tc.parts > 0 && !strings.HasSuffix(info.ETag, fmt.Sprintf(`-%d"`, tc.parts)) {
				t.Errorf("ETag = %s, want %d parts", info.ETag, tc.parts)
			}
			checkObject(t, f, tc.name, content, meta)
		})
	}
	noUploads(t, b, f.prefix)
}

func TestS3PutSizeMismatch(t *testing.T) {
	b, f := s3Fixture(t)
	for _, tc := range []struct {
		name       string
		have, said int
	}{
		{"short single", 1000, 2000},
		{"long single", 2000, 1000},
		{"short multipart", 11 * mib, 12 * mib},
		{"long multipart", 12 * mib, 11 * mib},
		{"long by one byte past a full part", 10*mib + 1, 10 * mib},
		{"short by a part", 10 * mib, 15 * mib},
	} {
		for _, seek := range []bool{false, true} {
			name := fmt.Sprintf("%s seeker=%v", tc.name, seek)
			t.Run(name, func(t *testing.T) {
				var body io.Reader = bytes.NewReader(pattern(tc.have))
				if !seek {
					body = onlyReader{body}
				}
				_, err := b.Put(t.Context(), f.key(name), body, int64(tc.said), origin.PutOptions{PartSize: 5 * mib})
				if !errors.Is(err, origin.ErrBodySize) || origin.Status(err) != http.StatusBadRequest {
					t.Fatalf("Put of %d bytes said to be %d = %v (status %d), want ErrBodySize, 400", tc.have, tc.said, err, origin.Status(err))
				}
				if short := tc.have < tc.said; short != errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("short=%v but errors.Is(err, io.ErrUnexpectedEOF)=%v: %v", short, !short, err)
				}
				if _, err := b.Head(t.Context(), f.key(name)); !errors.Is(err, origin.ErrNotFound) {
					t.Errorf("after the failed Put, Head = %v, want ErrNotFound", err)
				}
			})
		}
	}
	noUploads(t, b, f.prefix)
}

func TestS3PutBodyError(t *testing.T) {
	b, f := s3Fixture(t)
	errBoom := errors.New("client hung up")
	for _, size := range []int64{12 * mib, -1} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			g := newGen(12 * mib)
			g.failAt, g.err = 7*mib, errBoom
			key := f.key(fmt.Sprint("boom", size))
			_, err := b.Put(t.Context(), key, g, size, origin.PutOptions{PartSize: 5 * mib})
			if !errors.Is(err, errBoom) || !errors.Is(err, origin.ErrBodyRead) || origin.Status(err) != http.StatusBadRequest {
				t.Fatalf("Put = %v (status %d), want the reader's error and ErrBodyRead, 400", err, origin.Status(err))
			}
			if !strings.HasPrefix(err.Error(), "put "+origin.QuoteKey(key)+": ") {
				t.Errorf("error %q does not start with put and the key", err)
			}
			if _, err := b.Head(t.Context(), key); !errors.Is(err, origin.ErrNotFound) {
				t.Errorf("after the failed Put, Head = %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("a file that fails to read", func(t *testing.T) {
		body := io.NewSectionReader(genAt{n: 12 * mib, failAt: 7 * mib, err: errBoom}, 0, 12*mib)
		_, err := b.Put(t.Context(), f.key("file"), body, 12*mib, origin.PutOptions{PartSize: 5 * mib})
		if !errors.Is(err, errBoom) || !errors.Is(err, origin.ErrBodyRead) {
			t.Fatalf("Put = %v, want the reader's error and ErrBodyRead", err)
		}
		if _, err := b.Head(t.Context(), f.key("file")); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head = %v, want ErrNotFound", err)
		}
	})
	t.Run("io.ErrUnexpectedEOF from the reader is an error, not the end", func(t *testing.T) {
		// What net/http's request body returns when a chunked upload's
		// client hangs up: the object must not be stored cut short.
		g := newGen(12 * mib)
		g.failAt, g.err = 6*mib, io.ErrUnexpectedEOF
		_, err := b.Put(t.Context(), f.key("unexpected"), g, -1, origin.PutOptions{PartSize: 5 * mib})
		if !errors.Is(err, origin.ErrBodyRead) {
			t.Fatalf("Put = %v, want ErrBodyRead", err)
		}
		if _, err := b.Head(t.Context(), f.key("unexpected")); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head = %v, want ErrNotFound", err)
		}
	})
	t.Run("MaxBytesReader over its limit is 413", func(t *testing.T) {
		rec := httptest.NewRecorder()
		body := http.MaxBytesReader(rec, io.NopCloser(newGen(12*mib)), 6*mib)
		_, err := b.Put(t.Context(), f.key("limited"), body, -1, origin.PutOptions{PartSize: 5 * mib})
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) || origin.Status(err) != http.StatusRequestEntityTooLarge {
			t.Fatalf("Put = %v (status %d), want an *http.MaxBytesError, 413", err, origin.Status(err))
		}
	})
	noUploads(t, b, f.prefix)
}

func TestS3PutCancelled(t *testing.T) {
	b, f := s3Fixture(t)
	for _, at := range []int64{2 * mib, 12 * mib} {
		t.Run(fmt.Sprint("at ", at), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			g := newGen(32 * mib)
			g.at = &readHook{off: at, fn: cancel}
			key := f.key(fmt.Sprint("cancel", at))
			_, err := b.Put(ctx, key, g, -1, origin.PutOptions{PartSize: 5 * mib})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want context.Canceled", err)
			}
			if _, err := b.Head(t.Context(), key); !errors.Is(err, origin.ErrNotFound) {
				t.Errorf("Head = %v, want ErrNotFound", err)
			}
		})
	}
	noUploads(t, b, f.prefix)
}

func TestS3PutMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 256 MiB twice")
	}
	const size = 256 * mib
	const part = 5 * mib
	want, err := origin.MultipartETag(newGen(size), part)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body func() io.Reader
		size int64
		// bound is the most the Put may allocate: Concurrency+1 = 5
		// buffers for a stream, whatever its length, none for a body
		// read at offsets; the rest leaves room for the SDK's own
		// allocations but not for a buffer per part.
		bound uint64
	}{
		{"stream of unknown length", func() io.Reader { return newGen(size) }, -1, 8 * part},
		{"file", func() io.Reader { return file(size) }, size, 2 * part},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, f := s3Fixture(t)
			meta := origin.PutOptions{PartSize: part, Concurrency: 4}
			body := tc.body()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			info, err := b.Put(t.Context(), f.key("big"), body, tc.size, meta)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("a %d MiB Put allocated %.1f MiB in all (%d parts of %d MiB, 4 at once)", size/mib, float64(alloc)/mib, size/part+1, part/mib)
			if alloc > tc.bound {
				t.Errorf("the Put allocated %.1f MiB, more than %.1f MiB", float64(alloc)/mib, float64(tc.bound)/mib)
			}
			if info.Size != size || info.ETag != want {
				t.Errorf("Size, ETag = %d, %s; want %d, %s", info.Size, info.ETag, size, want)
			}
			noUploads(t, b, f.prefix)
			if err := b.Delete(t.Context(), f.key("big")); err != nil {
				t.Error(err)
			}
		})
	}
}

// failingParts is a proxy in front of the test server that answers 500 to
// the UploadParts whose part number fail says to fail (the number of the
// attempt counts from 1), and records every part attempt.
type failingParts struct {
	mu       sync.Mutex
	attempts map[string]int // part number → attempts
	fail     func(part string, attempt int) bool
}

func newFailingParts(t *testing.T, fail func(part string, attempt int) bool) (*failingParts, string) {
	t.Helper()
	u, err := url.Parse(s3server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	fp := &failingParts{attempts: map[string]int{}, fail: fail}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if part := r.URL.Query().Get("partNumber"); part != "" && r.Method == http.MethodPut {
			fp.mu.Lock()
			fp.attempts[part]++
			n := fp.attempts[part]
			fp.mu.Unlock()
			if fp.fail(part, n) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return fp, srv.URL
}

func (fp *failingParts) count(part string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.attempts[part]
}

func TestS3PartRetries(t *testing.T) {
	content := pattern(12 * mib)
	meta := origin.PutOptions{PartSize: 5 * mib}

	t.Run("a part that fails twice is sent again", func(t *testing.T) {
		fp, endpoint := newFailingParts(t, func(part string, n int) bool { return part == "2" && n <= 2 })
		b := newS3(t, endpoint)
		f := fixture{b: b, prefix: t.Name() + "/"}
		info, err := b.Put(t.Context(), f.key("obj"), onlyReader{bytes.NewReader(content)}, int64(len(content)), meta)
		if err != nil {
			t.Fatal(err)
		}
		if got := fp.count("2"); got != 3 {
			t.Errorf("part 2 was sent %d times, want 3", got)
		}
		if got := fp.count("1"); got != 1 {
			t.Errorf("part 1 was sent %d times, want 1", got)
		}
		if want := etagOf(t, content, 5*mib, false); info.ETag != want {
			t.Errorf("ETag = %s, want %s", info.ETag, want)
		}
		checkObject(t, f, "obj", content, meta)
		noUploads(t, b, f.prefix)
	})

	t.Run("a part that keeps failing fails the Put and aborts the upload", func(t *testing.T) {
		fp, endpoint := newFailingParts(t, func(part string, _ int) bool { return part == "3" })
		b := newS3(t, endpoint)
		f := fixture{b: b, prefix: t.Name() + "/"}
		_, err := b.Put(t.Context(), f.key("obj"), onlyReader{bytes.NewReader(content)}, int64(len(content)), meta)
		if err == nil || origin.Status(err) != http.StatusBadGateway {
			t.Fatalf("Put = %v (status %d), want a 502 error", err, origin.Status(err))
		}
		if !strings.Contains(err.Error(), "part 3") || !strings.Contains(err.Error(), "500") {
			t.Errorf("error %q does not name part 3 and the bucket's 500", err)
		}
		if got := fp.count("3"); got != 4 {
			t.Errorf("part 3 was sent %d times, want 4 (3 retries)", got)
		}
		if _, err := b.Head(t.Context(), f.key("obj")); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head = %v, want ErrNotFound", err)
		}
		noUploads(t, b, f.prefix)
	})
}

func TestPutOptionsRefused(t *testing.T) {
	forEachBucket(t, func(t *testing.T, f fixture) {
		for _, tc := range []struct {
			name   string
			meta   origin.PutOptions
			status int
		}{
			{"part size under 5 MiB", origin.PutOptions{PartSize: 5*mib - 1}, http.StatusBadGateway},
			{"negative concurrency", origin.PutOptions{Concurrency: -1}, http.StatusBadGateway},
			{"If-None-Match with a tag", origin.PutOptions{IfNoneMatch: `"abc"`}, http.StatusBadRequest},
			{"both conditions", origin.PutOptions{IfNoneMatch: "*", IfMatch: `"abc"`}, http.StatusPreconditionFailed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.b.Put(t.Context(), f.key("x"), strings.NewReader("x"), 1, tc.meta)
				if err == nil || origin.Status(err) != tc.status {
					t.Errorf("Put = %v (status %d), want status %d", err, origin.Status(err), tc.status)
				}
			})
		}
	})
}

func TestS3PutTooLarge(t *testing.T) {
	b, f := s3Fixture(t)
	_, err := b.Put(t.Context(), f.key("huge"), newGen(0), origin.MaxParts*5*mib+1, origin.PutOptions{PartSize: 5 * mib})
	if !errors.Is(err, origin.ErrTooLarge) || origin.Status(err) != http.StatusRequestEntityTooLarge {
		t.Errorf("Put over MaxParts parts = %v, want ErrTooLarge (413)", err)
	}
	noUploads(t, b, f.prefix)
}

// conditionalSizes are the bodies conditional Puts are tried with: one
// PutObject, and on S3 a multipart upload.
func conditionalSizes(f fixture) []int {
	if _, ok := f.b.(*origin.S3); ok {
		return []int{100, 11 * mib}
	}
	return []int{100}
}

func TestPutConditions(t *testing.T) {
	forEachBucket(t, func(t *testing.T, f fixture) {
		for _, n := range conditionalSizes(f) {
			first, second := pattern(n), bytes.Repeat([]byte("z"), n)
			meta := func(m origin.PutOptions) origin.PutOptions { m.PartSize = 5 * mib; return m }
			put := func(t *testing.T, name string, body []byte, m origin.PutOptions) (origin.Info, error) {
				return f.b.Put(t.Context(), f.key(name), onlyReader{bytes.NewReader(body)}, int64(len(body)), meta(m))
			}
			t.Run(fmt.Sprintf("If-None-Match creates once/%d", n), func(t *testing.T) {
				name := fmt.Sprint("create", n)
				if _, err := put(t, name, first, origin.PutOptions{IfNoneMatch: "*"}); err != nil {
					t.Fatalf("first create: %v", err)
				}
				_, err := put(t, name, second, origin.PutOptions{IfNoneMatch: "*"})
				if origin.Status(err) != http.StatusPreconditionFailed || !errors.Is(err, origin.ErrPreconditionFailed) {
					t.Fatalf("second create = %v (status %d), want 412", err, origin.Status(err))
				}
				checkObject(t, f, name, first, origin.PutOptions{})
			})
			t.Run(fmt.Sprintf("If-Match replaces that version only/%d", n), func(t *testing.T) {
				name := fmt.Sprint("match", n)
				old := f.put(t, name, first, meta(origin.PutOptions{}))
				_, err := put(t, name, second, origin.PutOptions{IfMatch: `"0123456789abcdef0123456789abcdef"`})
				if origin.Status(err) != http.StatusPreconditionFailed {
					t.Fatalf("Put with a wrong If-Match = %v (status %d), want 412", err, origin.Status(err))
				}
				checkObject(t, f, name, first, origin.PutOptions{})
				info, err := put(t, name, second, origin.PutOptions{IfMatch: old.ETag})
				if err != nil {
					t.Fatalf("Put with the right If-Match: %v", err)
				}
				if info.ETag == old.ETag {
					t.Errorf("ETag %s did not change", info.ETag)
				}
				checkObject(t, f, name, second, origin.PutOptions{})
				_, err = put(t, name, first, origin.PutOptions{IfMatch: old.ETag})
				if origin.Status(err) != http.StatusPreconditionFailed {
					t.Errorf("Put with the replaced version's If-Match = %v, want 412", err)
				}
			})
			t.Run(fmt.Sprintf("If-Match on a missing object is 412/%d", n), func(t *testing.T) {
				_, err := put(t, fmt.Sprint("missing", n), first, origin.PutOptions{IfMatch: `"0123456789abcdef0123456789abcdef"`})
				if origin.Status(err) != http.StatusPreconditionFailed || errors.Is(err, origin.ErrNotFound) {
					t.Fatalf("Put = %v (status %d), want 412 and not ErrNotFound", err, origin.Status(err))
				}
				if _, err := f.b.Head(t.Context(), f.key(fmt.Sprint("missing", n))); !errors.Is(err, origin.ErrNotFound) {
					t.Errorf("Head = %v, want ErrNotFound", err)
				}
			})
		}
		if s, ok := f.b.(*origin.S3); ok {
			noUploads(t, s, f.prefix)
		}
	})
}

// TestVersitygwConditionalWrites checks that the test server itself
// evaluates If-None-Match and If-Match on PutObject and on
// CompleteMultipartUpload, so that the tests above test the bucket's
// check and not only Put's HEAD before a multipart upload.
func TestVersitygwConditionalWrites(t *testing.T) {
	c := s3server.Client("")
	ctx := t.Context()
	bucket := aws.String(testBucket)
	key := func(name string) *string { return aws.String(t.Name() + "/" + name) }
	is412 := func(err error) bool {
		var re interface{ HTTPStatusCode() int }
		return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
	}
	put := func(name, body string, inm, im *string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key(name), Body: strings.NewReader(body), IfNoneMatch: inm, IfMatch: im})
		return err
	}
	if err := put("p", "one", aws.String("*"), nil); err != nil {
		t.Fatalf("PutObject If-None-Match * on a free key: %v", err)
	}
	if err := put("p", "two", aws.String("*"), nil); !is412(err) {
		t.Errorf("PutObject If-None-Match * on a taken key = %v, want 412", err)
	}
	if err := put("p", "two", nil, aws.String(`"0123456789abcdef0123456789abcdef"`)); !is412(err) {
		t.Errorf("PutObject with a wrong If-Match = %v, want 412", err)
	}

	// A multipart upload whose key is taken after it started.
	complete := func(name string, inm, im *string) error {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key(name)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key(name), UploadId: up.UploadId})
		part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key(name), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
		if err != nil {
			t.Fatal(err)
		}
		if err := put(name, "meanwhile", nil, nil); err != nil {
			t.Fatal(err)
		}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key(name), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}},
			IfNoneMatch:     inm, IfMatch: im})
		return err
	}
	if err := complete("m1", aws.String("*"), nil); !is412(err) {
		t.Errorf("CompleteMultipartUpload If-None-Match * on a key taken meanwhile = %v, want 412", err)
	}
	if err := complete("m2", nil, aws.String(`"0123456789abcdef0123456789abcdef"`)); !is412(err) {
		t.Errorf("CompleteMultipartUpload with a wrong If-Match = %v, want 412", err)
	}
}

// TestS3PutConditionCheckedAtComplete takes the key of a conditional
// multipart Put after its HEAD found it free: the bucket's check at
// CompleteMultipartUpload must refuse it.
func TestS3PutConditionCheckedAtComplete(t *testing.T) {
	b, f := s3Fixture(t)
	g := newGen(12 * mib)
	g.at = &readHook{off: 7 * mib, fn: func() {
		if _, err := b.Put(context.Background(), f.key("race"), strings.NewReader("meanwhile"), 9, origin.PutOptions{}); err != nil {
			t.Errorf("the racing Put: %v", err)
		}
	}}
	_, err := b.Put(t.Context(), f.key("race"), g, -1, origin.PutOptions{PartSize: 5 * mib, IfNoneMatch: "*"})
	if origin.Status(err) != http.StatusPreconditionFailed {
		t.Fatalf("Put = %v (status %d), want 412", err, origin.Status(err))
	}
	obj, body := f.get(t, "race", origin.GetOptions{})
	if string(body) != "meanwhile" {
		t.Errorf("the object holds %d bytes, want the racing Put's (%v)", len(body), obj.Info)
	}
	noUploads(t, b, f.prefix)
}

func TestDirPutUnknownSize(t *testing.T) {
	d, dir := newDir(t)
	f := fixture{b: d}
	for _, n := range []int{0, 1000, 3 * mib} {
		content := pattern(n)
		name := fmt.Sprint("u", n)
		info, err := d.Put(t.Context(), name, onlyReader{bytes.NewReader(content)}, -1, testMeta)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(n) {
			t.Errorf("Size = %d, want %d", info.Size, n)
		}
		checkObject(t, f, name, content, testMeta)
	}
	t.Run("a failing body writes nothing", func(t *testing.T) {
		errBoom := errors.New("client hung up")
		g := newGen(3 * mib)
		g.failAt, g.err = mib, errBoom
		_, err := d.Put(t.Context(), "boom", g, -1, origin.PutOptions{})
		if !errors.Is(err, errBoom) || !errors.Is(err, origin.ErrBodyRead) {
			t.Fatalf("Put = %v, want the reader's error and ErrBodyRead", err)
		}
		if _, err := d.Head(t.Context(), "boom"); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head = %v, want ErrNotFound", err)
		}
		checkNoTemporaryFiles(t, dir)
	})
	t.Run("a cancelled context writes nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		g := newGen(3 * mib)
		g.at = &readHook{off: mib, fn: cancel}
		_, err := d.Put(ctx, "cancel", g, -1, origin.PutOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put = %v, want context.Canceled", err)
		}
		if _, err := d.Head(t.Context(), "cancel"); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head = %v, want ErrNotFound", err)
		}
		checkNoTemporaryFiles(t, dir)
	})
}

func TestDirConcurrentCreateOnlyOneWins(t *testing.T) {
	d, dir := newDir(t)
	// A second Dir on the same folder: the hard link makes the check
	// hold across Dirs (and processes), not only within one.
	d2, err := origin.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, refused := 0, 0
	for i := range 16 {
		wg.Go(func() {
			b := d
			if i%2 == 1 {
				b = d2
			}
			_, err := b.Put(context.Background(), "once", strings.NewReader(fmt.Sprint("writer ", i)), -1, origin.PutOptions{IfNoneMatch: "*"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case origin.Status(err) == http.StatusPreconditionFailed:
				refused++
			default:
				t.Errorf("Put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || refused != 15 {
		t.Errorf("%d creations succeeded and %d were refused, want 1 and 15", wins, refused)
	}
	checkNoTemporaryFiles(t, dir)
}

// TestS3ConditionalMultipartUnmetSendsNoPart: the HEAD before a
// conditional multipart upload spares the parts of an upload the bucket
// would refuse at the end.
func TestS3ConditionalMultipartUnmetSendsNoPart(t *testing.T) {
	fp, endpoint := newFailingParts(t, func(string, int) bool { return false })
	b := newS3(t, endpoint)
	f := fixture{b: b, prefix: t.Name() + "/"}
	f.put(t, "taken", []byte("x"), origin.PutOptions{})
	content := pattern(12 * mib)
	for _, meta := range []origin.PutOptions{
		{PartSize: 5 * mib, IfNoneMatch: "*"},
		{PartSize: 5 * mib, IfMatch: `"0123456789abcdef0123456789abcdef"`},
	} {
		_, err := b.Put(t.Context(), f.key("taken"), bytes.NewReader(content), int64(len(content)), meta)
		if origin.Status(err) != http.StatusPreconditionFailed {
			t.Errorf("Put %+v = %v, want 412", meta, err)
		}
	}
	for _, part := range []string{"1", "2", "3"} {
		if n := fp.count(part); n != 0 {
			t.Errorf("part %s was sent %d times", part, n)
		}
	}
	noUploads(t, b, f.prefix)
}

func TestGeneratedPatternIsPattern(t *testing.T) {
	const n = 3*patternPeriod + 12345
	want := pattern(n)
	got, err := io.ReadAll(newGen(n))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("genReader differs from pattern (%v)", err)
	}
	got, err = io.ReadAll(file(n))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("genAt differs from pattern (%v)", err)
	}
}

func TestStatusOfPutErrors(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("put \"k\": %w", err) }
	for _, tc := range []struct {
		err  error
		want int
	}{
		{wrap(fmt.Errorf("%w: %w", origin.ErrBodyRead, errors.New("connection reset"))), http.StatusBadRequest},
		{wrap(fmt.Errorf("%w: %w", origin.ErrBodyRead, &http.MaxBytesError{Limit: 10})), http.StatusRequestEntityTooLarge},
		{wrap(fmt.Errorf("%w: %w", origin.ErrBodySize, io.ErrUnexpectedEOF)), http.StatusBadRequest},
		{wrap(origin.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{wrap(origin.ErrPreconditionFailed), http.StatusPreconditionFailed},
	} {
		if got := origin.Status(tc.err); got != tc.want {
			t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
