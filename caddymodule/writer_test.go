package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/r2gate/r2gate/cache"
)

// memoryRef stores body in a memory tier and returns a reference to it.
func memoryRef(t *testing.T, body []byte) *cache.BodyRef {
	t.Helper()
	m, err := cache.NewMemory(8<<20, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m.Set("k", &cache.Entry{Body: body})
	m.Wait()
	ref, ok := m.Get("k")
	if !ok {
		t.Fatal("not admitted")
	}
	t.Cleanup(func() { ref.Close() })
	return ref
}

func TestBodyWriterSendsMemoryBodiesWithoutCopying(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 200_000/16) // several units, a partial last page
	ref := memoryRef(t, body)
	for _, tc := range []struct{ off, n int64 }{{0, int64(len(body))}, {70_000, 1}, {65_535, 70_000}, {199_999, 5}, {0, 0}} {
		rec := httptest.NewRecorder()
		ref.Seek(tc.off, io.SeekStart)
		lr := &io.LimitedReader{R: ref, N: tc.n}
		n, err := bodyWriter{ResponseWriter: rec}.ReadFrom(lr)
		want := body[tc.off:min(tc.off+tc.n, int64(len(body)))]
		if err != nil || n != int64(len(want)) || !bytes.Equal(rec.Body.Bytes(), want) || lr.N != tc.n-n {
			t.Errorf("range %d+%d: wrote %d, %v, left N=%d; bytes equal %v", tc.off, tc.n, n, err, lr.N, bytes.Equal(rec.Body.Bytes(), want))
		}
	}
	// No allocation on the way: the writer gets the tier's memory.
	sink := &countingWriter{}
	w := bodyWriter{ResponseWriter: responseOnly{sink}}
	lr := &io.LimitedReader{R: ref}
	allocs := testing.AllocsPerRun(100, func() {
		ref.Seek(0, io.SeekStart)
		lr.N = int64(len(body))
		w.ReadFrom(lr)
	})
	if allocs > 0 {
		t.Errorf("%.0f allocations per response from memory, want 0", allocs)
	}
	if sink.writes == 0 || sink.n != 101*int64(len(body)) {
		t.Errorf("sink got %d bytes in %d writes", sink.n, sink.writes)
	}
}

func TestBodyWriterCopiesOtherReadersThroughAPooledBuffer(t *testing.T) {
	rec := httptest.NewRecorder()
	src := strings.Repeat("x", 300_000)
	n, err := bodyWriter{ResponseWriter: rec}.ReadFrom(&io.LimitedReader{R: strings.NewReader(src), N: 250_000})
	if err != nil || n != 250_000 || rec.Body.String() != src[:250_000] {
		t.Fatalf("wrote %d, %v", n, err)
	}
	sink := &countingWriter{}
	allocs := testing.AllocsPerRun(50, func() {
		bodyWriter{ResponseWriter: responseOnly{sink}}.ReadFrom(&io.LimitedReader{R: strings.NewReader(src), N: 300_000})
	})
	if allocs > 4 {
		t.Errorf("%.0f allocations per copied response, want a few (no copy buffer each)", allocs)
	}
}

func TestIdleWriterFindsCaddysIdleWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	if idleWriter(rec) != nil {
		t.Error("plain writer reported as chunking")
	}
	idle := &caddyhttp.IdleTimeoutWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}}
	if idleWriter(idle) != idle || idleWriter(bodyWriter{ResponseWriter: &caddyhttp.ResponseWriterWrapper{ResponseWriter: idle}}) != idle {
		t.Error("the write-idle wrapper was not found")
	}
}

// countingWriter counts what it is given.
type countingWriter struct{ n, writes int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.writes++
	return len(p), nil
}

// responseOnly is a minimal http.ResponseWriter over a writer.
type responseOnly struct{ io.Writer }

func (responseOnly) Header() http.Header { return nil }
func (responseOnly) WriteHeader(int)     {}

// readerRecorder is a ResponseWriter whose ReadFrom records what it is
// handed (as net/http's does: it hands the reader to the connection, where
// only a file, or an io.LimitedReader of one, is sent with sendfile).
type readerRecorder struct {
	http.ResponseWriter
	got  []io.Reader
	data []byte // what was read or written
}

func (w *readerRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.got = append(w.got, r)
	b, err := io.ReadAll(r)
	w.data = append(w.data, b...)
	return int64(len(b)), err
}

func (w *readerRecorder) Write(b []byte) (int, error) {
	w.data = append(w.data, b...)
	return len(b), nil
}

// TestWholeFileReachesSendfileThroughTheIdleWriter: a disk hit sent whole
// reaches the bottom writer as the file itself in pieces of writeChunk
// (one io.LimitedReader of the *os.File each: what sendfile takes), even
// with Caddy's write-idle wrapper in the chain, which is put back to its
// own chunk size afterwards. A part of the file (a Range) goes down the
// same way, in pieces that end exactly where the part does, and stays
// exact through a writer above the wrapper that copies.
func TestWholeFileReachesSendfileThroughTheIdleWriter(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*writeChunk+1000)/16)
	path := t.TempDir() + "/entry"
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	bottom := &readerRecorder{ResponseWriter: httptest.NewRecorder()}
	idle := &caddyhttp.IdleTimeoutWriter{
		ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: bottom},
		Ctrl:                  http.NewResponseController(bottom),
		Deadline:              caddyhttp.IdleDeadline{Timeout: time.Minute},
		MaxChunk:              64 << 10,
		Logger:                zap.NewNop(),
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bodyWriter{ResponseWriter: &caddyhttp.ResponseWriterWrapper{ResponseWriter: idle}}
	lr := &io.LimitedReader{R: f, N: int64(len(data))}
	n, err := w.ReadFrom(lr)
	if err != nil || n != int64(len(data)) || lr.N != 0 {
		t.Fatalf("ReadFrom: %d bytes, %v, %d left; want %d", n, err, lr.N, len(data))
	}
	if len(bottom.got) != 4 || !bytes.Equal(bottom.data, data) {
		t.Errorf("%d pieces of %d bytes in all, want the file's %d bytes in 4 of at most %d", len(bottom.got), len(bottom.data), len(data), writeChunk)
	}
	for i, r := range bottom.got {
		l, ok := r.(*io.LimitedReader)
		if !ok || l.R != f {
			t.Fatalf("piece %d is a %T over %T, want an io.LimitedReader of the file", i, r, l.R)
		}
	}
	if idle.MaxChunk != 64<<10 {
		t.Errorf("the idle writer's chunk is %d after the call, want its own 64 KiB back", idle.MaxChunk)
	}

	// A range goes down in pieces of writeChunk, each one LimitedReader
	// of the file, the last one ending where the range ends.
	for _, rg := range [][2]int64{{1000, 2*writeChunk + 123}, {int64(len(data)) - 300<<10, 256 << 10}, {7, 1}} {
		bottom.got, bottom.data = nil, nil
		f.Seek(rg[0], io.SeekStart)
		lr = &io.LimitedReader{R: f, N: rg[1]}
		if n, err := w.ReadFrom(lr); err != nil || n != rg[1] || lr.N != 0 {
			t.Fatalf("range %v: %d bytes, %v, %d left", rg, n, err, lr.N)
		}
		if !bytes.Equal(bottom.data, data[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("range %v: %d bytes sent, not the range's", rg, len(bottom.data))
		}
		if want := int((rg[1] + writeChunk - 1) / writeChunk); len(bottom.got) != want {
			t.Errorf("range %v: %d pieces, want %d", rg, len(bottom.got), want)
		}
		for i, r := range bottom.got {
			if l, ok := r.(*io.LimitedReader); !ok || l.R != f {
				t.Fatalf("range %v: piece %d is a %T, want an io.LimitedReader of the file", rg, i, r)
			}
		}
		if idle.MaxChunk != 64<<10 || idle.ResponseWriterWrapper.ResponseWriter != http.ResponseWriter(bottom) {
			t.Errorf("range %v: the idle writer was not put back (chunk %d, writer %T)", rg, idle.MaxChunk, idle.ResponseWriterWrapper.ResponseWriter)
		}
	}

	// Through a writer above the wrapper that copies instead of calling
	// ReadFrom, a range is still exact.
	bottom.got, bottom.data = nil, nil
	f.Seek(5000, io.SeekStart)
	lr = &io.LimitedReader{R: f, N: 2 << 20}
	w2 := bodyWriter{ResponseWriter: copyingWriter{idle}}
	if n, err := w2.ReadFrom(lr); err != nil || n != 2<<20 || !bytes.Equal(bottom.data, data[5000:5000+2<<20]) {
		t.Fatalf("range through a copying writer: %d bytes, %v, %d written below", n, err, len(bottom.data))
	}
}

// copyingWriter is a writer of the chain that has no ReadFrom of its own.
type copyingWriter struct{ http.ResponseWriter }

func (w copyingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
