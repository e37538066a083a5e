package origin_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/origin"
)

// recordingBucket passes calls through to a Bucket and records each Get's
// options.
type recordingBucket struct {
	origin.Bucket

	mu   sync.Mutex
	gets []origin.GetOptions
}

func (b *recordingBucket) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	b.mu.Lock()
	b.gets = append(b.gets, opts)
	b.mu.Unlock()
	return b.Bucket.Get(ctx, key, opts)
}

// takeGets returns the Gets recorded since the last call.
func (b *recordingBucket) takeGets() []origin.GetOptions {
	b.mu.Lock()
	defer b.mu.Unlock()
	gets := b.gets
	b.gets = nil
	return gets
}

// readerFixture stores content under "obj" and returns its Info and a
// recording view of the bucket for Readers.
func readerFixture(t *testing.T, f fixture, content []byte) (origin.Info, *recordingBucket) {
	t.Helper()
	info := f.put(t, "obj", content, origin.PutOptions{})
	return info, &recordingBucket{Bucket: f.b}
}

func TestReader(t *testing.T) {
	const size = 1000
	content := pattern(size)
	forEachBucket(t, func(t *testing.T, f fixture) {
		info, rb := readerFixture(t, f, content)

		t.Run("reads the whole object in one request", func(t *testing.T) {
			r := origin.NewReader(t.Context(), rb, info, nil, nil)
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("ReadAll = %d bytes, %v; want the %d bytes stored", len(got), err, size)
			}
			if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
			}
			gets := rb.takeGets()
			if len(gets) != 1 || gets[0].Range != nil || gets[0].IfMatch != info.ETag {
				t.Errorf("Gets = %+v, want one without a range, If-Match %s", gets, info.ETag)
			}
			if err := r.Err(); err != nil {
				t.Errorf("Err = %v after a clean read", err)
			}
		})

		t.Run("seek then read gives the bytes at the new position", func(t *testing.T) {
			r := origin.NewReader(t.Context(), rb, info, nil, nil)
			defer r.Close()
			steps := []struct {
				whence  int
				offset  int64
				n       int
				wantPos int64
			}{
				{io.SeekStart, 100, 50, 100},
				{io.SeekCurrent, -20, 10, 130},
				{io.SeekEnd, -10, 10, size - 10},
				{io.SeekStart, 0, 5, 0},
				{io.SeekCurrent, 0, 5, 5},
				{io.SeekStart, size - 1, 1, size - 1},
			}
			for _, s := range steps {
				pos, err := r.Seek(s.offset, s.whence)
				if err != nil || pos != s.wantPos {
					t.Fatalf("Seek(%d, %d) = %d, %v; want %d", s.offset, s.whence, pos, err, s.wantPos)
				}
				buf := make([]byte, s.n)
				if _, err := io.ReadFull(r, buf); err != nil {
					t.Fatalf("reading %d bytes at %d: %v", s.n, pos, err)
				}
				if want := content[pos : pos+int64(s.n)]; !bytes.Equal(buf, want) {
					t.Errorf("bytes at %d = %v, want %v", pos, buf, want)
				}
			}
			for _, off := range []int64{size, size + 10} {
				r.Seek(off, io.SeekStart)
				if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("Read at %d = %d, %v; want 0, EOF", off, n, err)
				}
			}
			rb.takeGets()
		})

		t.Run("span hints ask for exactly the span", func(t *testing.T) {
			r := origin.NewReader(t.Context(), rb, info, nil, []origin.Range{{Offset: 100, Length: 100}})
			defer r.Close()
			r.Seek(100, io.SeekStart)
			buf := make([]byte, 100)
			if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, content[100:200]) {
				t.Fatalf("reading the span: %v, bytes equal %v", err, bytes.Equal(buf, content[100:200]))
			}
			if _, err := io.ReadFull(r, buf[:10]); err != nil || !bytes.Equal(buf[:10], content[200:210]) {
				t.Fatalf("reading past the span: %v", err)
			}
			gets := rb.takeGets()
			if len(gets) != 2 ||
				*gets[0].Range != (origin.Range{Offset: 100, Length: 100}) || gets[0].IfMatch != info.ETag ||
				*gets[1].Range != (origin.Range{Offset: 200, Length: -1}) || gets[1].IfMatch != info.ETag {
				t.Errorf("Gets = %+v; want the span, then the rest, both If-Match %s", gets, info.ETag)
			}
		})

		t.Run("takes over an open object", func(t *testing.T) {
			obj, err := f.b.Get(t.Context(), f.key("obj"), origin.GetOptions{Range: &origin.Range{Offset: 100, Length: 50}})
			if err != nil {
				t.Fatal(err)
			}
			r := origin.NewReader(t.Context(), rb, info, obj, nil)
			defer r.Close()
			r.Seek(100, io.SeekStart)
			buf := make([]byte, 60)
			if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, content[100:160]) {
				t.Fatalf("reading: %v, bytes equal %v", err, bytes.Equal(buf, content[100:160]))
			}
			if gets := rb.takeGets(); len(gets) != 1 || *gets[0].Range != (origin.Range{Offset: 150, Length: -1}) {
				t.Errorf("Gets = %+v; want one, for what the open object did not hold", gets)
			}
		})

		t.Run("read after close fails", func(t *testing.T) {
			r := origin.NewReader(t.Context(), rb, info, nil, nil)
			r.Close()
			if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil || err == io.EOF {
				t.Errorf("Read after Close = %d, %v; want an error", n, err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
			if gets := rb.takeGets(); len(gets) != 0 {
				t.Errorf("Gets = %+v, want none", gets)
			}
		})

		t.Run("seek to a negative position or with a bad whence fails", func(t *testing.T) {
			r := origin.NewReader(t.Context(), rb, info, nil, nil)
			defer r.Close()
			r.Seek(10, io.SeekStart)
			for _, s := range []struct {
				offset int64
				whence int
			}{{-1, io.SeekStart}, {-11, io.SeekCurrent}, {-size - 1, io.SeekEnd}, {0, 42}} {
				if _, err := r.Seek(s.offset, s.whence); err == nil {
					t.Errorf("Seek(%d, %d) succeeded", s.offset, s.whence)
				}
			}
			if pos, _ := r.Seek(0, io.SeekCurrent); pos != 10 {
				t.Errorf("position after failed seeks = %d, want 10", pos)
			}
		})
	})
}

func TestReaderEmptyObjectMakesNoRequest(t *testing.T) {
	forEachBucket(t, func(t *testing.T, f fixture) {
		info, rb := readerFixture(t, f, nil)
		r := origin.NewReader(t.Context(), rb, info, nil, []origin.Range{{Offset: 0, Length: 1}})
		defer r.Close()
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read = %d, %v; want 0, EOF", n, err)
		}
		if gets := rb.takeGets(); len(gets) != 0 {
			t.Errorf("Gets = %+v, want none", gets)
		}
	})
}

func TestReaderReplacedObjectFailsTheRead(t *testing.T) {
	old, replacement := bytes.Repeat([]byte("old "), 250), bytes.Repeat([]byte("new "), 250)
	forEachBucket(t, func(t *testing.T, f fixture) {
		t.Run("before the first read", func(t *testing.T) {
			info, rb := readerFixture(t, f, old)
			f.put(t, "obj", replacement, origin.PutOptions{})
			r := origin.NewReader(t.Context(), rb, info, nil, nil)
			defer r.Close()
			got, err := io.ReadAll(r)
			if len(got) != 0 || !errors.Is(err, origin.ErrPreconditionFailed) {
				t.Errorf("ReadAll = %q, %v; want nothing and ErrPreconditionFailed", got, err)
			}
			if !errors.Is(r.Err(), origin.ErrPreconditionFailed) {
				t.Errorf("Err = %v, want ErrPreconditionFailed", r.Err())
			}
		})

		t.Run("between two reads", func(t *testing.T) {
			info, rb := readerFixture(t, f, old)
			r := origin.NewReader(t.Context(), rb, info, nil, []origin.Range{{Offset: 0, Length: 100}})
			defer r.Close()
			first := make([]byte, 100)
			if _, err := io.ReadFull(r, first); err != nil {
				t.Fatal(err)
			}
			f.put(t, "obj", replacement, origin.PutOptions{})
			rest, err := io.ReadAll(r)
			if bytes.Contains(rest, []byte("new")) || !errors.Is(err, origin.ErrPreconditionFailed) {
				t.Errorf("reading on = %q, %v; want no new bytes and ErrPreconditionFailed", rest, err)
			}
		})
	})
}

// TestReaderOnTheWire checks, behind a recording proxy, the requests a
// Reader makes to a real S3 server.
func TestReaderOnTheWire(t *testing.T) {
	proxy, err := s3test.NewProxy(s3server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	f := fixture{b: newS3(t, proxy.Endpoint), prefix: t.Name() + "/"}
	content := pattern(1000)
	info := f.put(t, "obj", content, origin.PutOptions{})
	tests := []struct {
		name      string
		spans     []origin.Range
		off, n    int64
		wantRange string
	}{
		{"span is fetched as exactly that range", []origin.Range{{Offset: 100, Length: 100}}, 100, 100, "bytes=100-199"},
		{"second span of several", []origin.Range{{Offset: 0, Length: 10}, {Offset: 500, Length: 20}}, 500, 20, "bytes=500-519"},
		{"read without a span runs to the end", nil, 900, 100, "bytes=900-"},
		{"whole object has no range header", nil, 0, 1000, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proxy.Reset()
			r := origin.NewReader(t.Context(), f.b, info, nil, tc.spans)
			defer r.Close()
			r.Seek(tc.off, io.SeekStart)
			buf := make([]byte, tc.n)
			if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, content[tc.off:tc.off+tc.n]) {
				t.Fatalf("reading %d bytes at %d: %v", tc.n, tc.off, err)
			}
			reqs := proxy.Requests()
			if len(reqs) != 1 {
				t.Fatalf("bucket saw %d requests, want 1: %+v", len(reqs), reqs)
			}
			if got := reqs[0]; got.Method != "GET" || got.Range != tc.wantRange || got.IfMatch != info.ETag {
				t.Errorf("request = %+v; want GET, Range %q, If-Match %s", got, tc.wantRange, info.ETag)
			}
		})
	}
}

// stallBucket never delivers: Get waits for its context, or, with inBody,
// returns at once a body whose Read waits for it, as an HTTP body does.
type stallBucket struct {
	origin.Bucket // nil: only Get is called
	inBody        bool
	entered       chan struct{} // closed when a Read blocks
}

func (b *stallBucket) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	if !b.inBody {
		close(b.entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &origin.Object{Info: origin.Info{Key: key, Size: 100}, Length: 100,
		Body: &stallBody{ctx: ctx, entered: b.entered}}, nil
}

type stallBody struct {
	ctx     context.Context
	entered chan struct{}
}

func (s *stallBody) Read([]byte) (int, error) {
	close(s.entered)
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

func (s *stallBody) Close() error { return nil }

func TestReaderCloseUnblocksRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inBody bool
	}{{"read blocked opening the object", false}, {"read blocked in the body", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := &stallBucket{inBody: tc.inBody, entered: make(chan struct{})}
			r := origin.NewReader(t.Context(), b, origin.Info{Key: "slow", Size: 100, ETag: `"e"`}, nil, nil)
			readErr := make(chan error, 1)
			go func() {
				_, err := r.Read(make([]byte, 10))
				readErr <- err
			}()
			waitFor(t, b.entered, "Read to block")
			closed := make(chan struct{})
			go func() {
				r.Close()
				close(closed)
			}()
			waitFor(t, closed, "Close to return")
			select {
			case err := <-readErr:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("blocked Read = %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Read still blocked after Close")
			}
		})
	}
}

// failingBucket answers every Get with a body that breaks off early or
// starts at the wrong offset.
type failingBucket struct {
	origin.Bucket
	body   string
	offset int64
}

func (b failingBucket) Get(_ context.Context, key string, _ origin.GetOptions) (*origin.Object, error) {
	return &origin.Object{Info: origin.Info{Key: key, Size: 100}, Offset: b.offset, Length: 100,
		Body: io.NopCloser(strings.NewReader(b.body))}, nil
}

func TestReaderBucketMisbehaves(t *testing.T) {
	info := origin.Info{Key: "k", Size: 100, ETag: `"e"`}
	t.Run("short body is an unexpected EOF", func(t *testing.T) {
		r := origin.NewReader(t.Context(), failingBucket{body: "only ten b"}, info, nil, nil)
		got, err := io.ReadAll(r)
		if string(got) != "only ten b" || !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(r.Err(), io.ErrUnexpectedEOF) {
			t.Errorf("ReadAll = %q, %v (Err %v); want the ten bytes and io.ErrUnexpectedEOF", got, err, r.Err())
		}
	})
	t.Run("body from the wrong offset is refused", func(t *testing.T) {
		r := origin.NewReader(t.Context(), failingBucket{body: strings.Repeat("x", 100), offset: 7}, info, nil, nil)
		if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
			t.Errorf("Read = %d, %v; want an error", n, err)
		}
	})
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
