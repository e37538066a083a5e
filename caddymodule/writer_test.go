package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

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
		n, err := bodyWriter{rec}.ReadFrom(lr)
		want := body[tc.off:min(tc.off+tc.n, int64(len(body)))]
		if err != nil || n != int64(len(want)) || !bytes.Equal(rec.Body.Bytes(), want) || lr.N != tc.n-n {
			t.Errorf("range %d+%d: wrote %d, %v, left N=%d; bytes equal %v", tc.off, tc.n, n, err, lr.N, bytes.Equal(rec.Body.Bytes(), want))
		}
	}
	// No allocation on the way: the writer gets the tier's memory.
	sink := &countingWriter{}
	w := bodyWriter{responseOnly{sink}}
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
	n, err := bodyWriter{rec}.ReadFrom(&io.LimitedReader{R: strings.NewReader(src), N: 250_000})
	if err != nil || n != 250_000 || rec.Body.String() != src[:250_000] {
		t.Fatalf("wrote %d, %v", n, err)
	}
	sink := &countingWriter{}
	allocs := testing.AllocsPerRun(50, func() {
		bodyWriter{responseOnly{sink}}.ReadFrom(&io.LimitedReader{R: strings.NewReader(src), N: 300_000})
	})
	if allocs > 4 {
		t.Errorf("%.0f allocations per copied response, want a few (no copy buffer each)", allocs)
	}
}

func TestChunksWritesFindsCaddysIdleWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	if chunksWrites(rec) {
		t.Error("plain writer reported as chunking")
	}
	idle := &caddyhttp.IdleTimeoutWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}}
	if !chunksWrites(idle) || !chunksWrites(bodyWriter{&caddyhttp.ResponseWriterWrapper{ResponseWriter: idle}}) {
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
