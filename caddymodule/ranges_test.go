package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

func TestRangeSpans(t *testing.T) {
	const size = 1000
	cases := []struct {
		header string
		want   []origin.Range
		n      int
		ok     bool
	}{
		{"bytes=0-99", []origin.Range{{Offset: 0, Length: 100}}, 1, true},
		{"bytes=900-", []origin.Range{{Offset: 900, Length: 100}}, 1, true},
		{"bytes=-100", []origin.Range{{Offset: 900, Length: 100}}, 1, true},
		{"bytes=-5000", []origin.Range{{Offset: 0, Length: 1000}}, 1, true},
		{"bytes=990-5000", []origin.Range{{Offset: 990, Length: 10}}, 1, true},
		{"bytes= 0-9 , 20-29", []origin.Range{{Offset: 0, Length: 10}, {Offset: 20, Length: 10}}, 2, true},
		{"bytes=0-9,5000-", []origin.Range{{Offset: 0, Length: 10}}, 2, true},
		{"bytes=20-29,0-9", []origin.Range{{Offset: 20, Length: 10}, {Offset: 0, Length: 10}}, 2, true},
		{"bytes=0-9,,\t,20-29", []origin.Range{{Offset: 0, Length: 10}, {Offset: 20, Length: 10}}, 2, true},
		{"bytes=-0,0-9", []origin.Range{{Offset: 0, Length: 10}}, 2, true}, // -0 reads nothing
		{"bytes=5000-", nil, 1, true},
		{"bytes=5-1", nil, 0, false},
		{"bytes=abc", nil, 0, false},
		{"bytes=--5", nil, 0, false},
		{"bytes=-", nil, 0, false},
		{"items=0-9", nil, 0, false},
		{"", nil, 0, false},
	}
	for _, c := range cases {
		got, n, ok := rangeSpans(c.header, size)
		if !reflect.DeepEqual(got, c.want) || (ok && n != c.n) || ok != c.ok {
			t.Errorf("rangeSpans(%q) = %v, %d, %v; want %v, %d, %v", c.header, got, n, ok, c.want, c.n, c.ok)
		}
	}
}

// readLog is an io.ReadSeeker over content that records the byte runs
// read from it (a run ends at a Seek).
type readLog struct {
	r    *bytes.Reader
	runs []origin.Range
	seek bool
}

func (l *readLog) Seek(off int64, whence int) (int64, error) {
	l.seek = true
	return l.r.Seek(off, whence)
}

func (l *readLog) Read(p []byte) (int, error) {
	pos, _ := l.r.Seek(0, io.SeekCurrent)
	n, err := l.r.Read(p)
	if n > 0 {
		if last := len(l.runs) - 1; !l.seek && last >= 0 && l.runs[last].Offset+l.runs[last].Length == pos {
			l.runs[last].Length += int64(n)
		} else {
			l.runs = append(l.runs, origin.Range{Offset: pos, Length: int64(n)})
		}
		l.seek = false
	}
	return n, err
}

// checkAgainstServeContent checks that rangeSpans names exactly what
// http.ServeContent reads for header, in its order.
func checkAgainstServeContent(t *testing.T, header string, content []byte) {
	if header == "" {
		return // no Range header: nothing to agree on
	}
	size := int64(len(content))
	spans, _, ok := rangeSpans(header, size)
	log := &readLog{r: bytes.NewReader(content)}
	req := httptest.NewRequest(http.MethodGet, "/obj", nil)
	req.Header.Set("Range", header)
	rec := httptest.NewRecorder()
	http.ServeContent(rec, req, "obj.bin", time.Time{}, log)
	switch {
	case !ok && size > 0 && rec.Code != http.StatusRequestedRangeNotSatisfiable:
		t.Fatalf("rangeSpans(%q, %d) refused the header, ServeContent answered %d", header, size, rec.Code)
	case rec.Code == http.StatusPartialContent && !reflect.DeepEqual(log.runs, spans):
		t.Fatalf("rangeSpans(%q, %d) = %v, ServeContent read %v", header, size, spans, log.runs)
	}
}

func TestRangeSpansAgreeWithServeContent(t *testing.T) {
	content := patterned(1000)
	for _, h := range []string{
		"bytes=0-99", "bytes=-100", "bytes=-5000", "bytes=990-5000", "bytes= 0-9 , 20-29",
		"bytes=0-9,5000-", "bytes=20-29,0-9", "bytes=0-9,,\t,20-29", "bytes=-0,0-9", "bytes=0-9,-0",
		"bytes=0-99,50-149", "bytes=5000-", "bytes=5-1", "bytes=abc", "bytes=+5-+9", "bytes=\v0-9",
	} {
		checkAgainstServeContent(t, h, content)
	}
}

func FuzzRangeSpans(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=1-,2-3", "bytes=9223372036854775807-", "bytes=-0,0-9"} {
		f.Add(s, uint16(1000))
	}
	f.Fuzz(func(t *testing.T, header string, size uint16) {
		spans, _, _ := rangeSpans(header, int64(size))
		for _, s := range spans {
			if s.Offset < 0 || s.Length <= 0 || s.Offset+s.Length > int64(size) {
				t.Fatalf("rangeSpans(%q, %d) gave %+v", header, size, s)
			}
		}
		checkAgainstServeContent(t, header, patterned(int(size)))
	})
}

func patterned(n int) []byte {
	b := make([]byte, n)
	rnd := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(rnd.UintN(256))
	}
	return b
}

// countingBucket counts the Gets made through it and records their
// ranges.
type countingBucket struct {
	origin.Bucket

	mu   sync.Mutex
	gets []string
}

func (b *countingBucket) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	rng := "all"
	if r := opts.Range; r != nil {
		rng = fmt.Sprintf("%d+%d", r.Offset, r.Length)
	}
	b.mu.Lock()
	b.gets = append(b.gets, rng)
	b.mu.Unlock()
	return b.Bucket.Get(ctx, key, opts)
}

func (b *countingBucket) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.gets
	b.gets = nil
	return g
}

// rangeHeader joins ranges into a Range header.
func rangeHeader(specs []string) string { return "bytes=" + strings.Join(specs, ",") }

// spaced returns n ranges of length bytes, every step bytes from first
// (a negative step goes down).
func spaced(n int, first, step, length int64) []string {
	specs := make([]string, n)
	for i := range specs {
		off := first + int64(i)*step
		specs[i] = fmt.Sprintf("%d-%d", off, off+length-1)
	}
	return specs
}

// checkBody checks an answer's body byte for byte against content: the
// whole object for a 200, each part at its Content-Range for a 206, and
// that the parts are the ranges asked for, in order (want, parsed as
// ServeContent does).
func checkBody(t *testing.T, rec *httptest.ResponseRecorder, content []byte, want []origin.Range) {
	t.Helper()
	body := rec.Body.Bytes()
	switch rec.Code {
	case http.StatusOK:
		if !bytes.Equal(body, content) {
			t.Errorf("200 body: %d bytes, not the %d of the object", len(body), len(content))
		}
		return
	case http.StatusPartialContent:
	default:
		t.Fatalf("status %d", rec.Code)
	}
	var got []origin.Range
	check := func(cr string, part []byte) {
		var first, last, total int64
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &total); err != nil || total != int64(len(content)) {
			t.Fatalf("Content-Range %q", cr)
		}
		if !bytes.Equal(part, content[first:last+1]) {
			t.Errorf("part %s: %d bytes, not the object's", cr, len(part))
		}
		got = append(got, origin.Range{Offset: first, Length: last - first + 1})
	}
	mt, params, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if mt != "multipart/byteranges" {
		check(rec.Header().Get("Content-Range"), body)
	} else {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("multipart body: %v", err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("multipart body: %v", err)
			}
			check(p.Header.Get("Content-Range"), b)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
}

// Bucket work per client request is bounded (issue 7, bug 6: 1,000 ranges
// made 1,001 bucket requests). The handler serves a Range request with a
// HEAD, then http.ServeContent over an origin.Reader; this test does the
// same over a counting bucket.
func TestRangesCostFewBucketRequests(t *testing.T) {
	const size = 2 << 20
	content := patterned(size)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "obj.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := origin.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := &countingBucket{Bucket: d}
	info, err := b.Head(t.Context(), "obj.bin")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		specs    []string
		ifRange  string
		status   int
		maxGets  int
		wantGets []string // when set, exactly these
	}{
		{name: "1,000 ranges, over the limit, are ignored", specs: spaced(1000, 0, 1000, 10), status: 200, wantGets: []string{"all"}},
		{name: "100 nearby ranges make one GET", specs: spaced(maxRanges, 0, 1000, 10), status: 206, wantGets: []string{"0+99010"}},
		{name: "30 ranges spread over the object make at most 8 GETs", specs: spaced(30, 0, 68<<10, 100), status: 206, maxGets: origin.MaxReadGets},
		{name: "far-apart ranges are one exact GET each", specs: []string{"0-99", "1000000-1000099", "-100"}, status: 206,
			wantGets: []string{"0+100", "1000000+100", fmt.Sprintf("%d+100", size-100)}},
		{name: "a few far-apart ranges going back are one GET each", specs: spaced(3, 1500000, -500000, 10), status: 206,
			wantGets: []string{"1500000+10", "1000000+10", "500000+10"}},
		{name: "two overlapping ranges are served as asked", specs: []string{"0-999", "500-1499"}, status: 206, wantGets: []string{"0+1500", "500+1000"}},
		{name: "many overlapping ranges are ignored", specs: spaced(20, 0, 10, 1000), status: 200, wantGets: []string{"all"}},
		{name: "many far-apart ranges going back are ignored", specs: spaced(20, 1900000, -90000, 10), status: 200, wantGets: []string{"all"}},
		{name: "a failed If-Range reads the object whole", specs: []string{"0-99", "5000-5099"}, ifRange: `"other"`, status: 200, maxGets: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/obj.bin", nil)
			req.Header.Set("Range", rangeHeader(tc.specs))
			if tc.ifRange != "" {
				req.Header.Set("If-Range", tc.ifRange)
			}
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/octet-stream") // as writeHeaders does: no sniffing read
			plan := planRanges(req, info.Size)
			body := origin.NewReader(t.Context(), b, info, nil, plan.spans)
			http.ServeContent(rec, plan.request(req), "", info.LastModified, body)
			body.Close()
			if err := body.Err(); err != nil {
				t.Fatalf("reading the bucket: %v", err)
			}
			gets := b.take()
			t.Logf("%d ranges: status %d, 1 HEAD + %d GETs %v", len(tc.specs), rec.Code, len(gets), gets)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			want, _, _ := rangeSpans(rangeHeader(tc.specs), size)
			checkBody(t, rec, content, want)
			switch {
			case tc.wantGets != nil && !reflect.DeepEqual(gets, tc.wantGets):
				t.Errorf("GETs %v, want %v", gets, tc.wantGets)
			case tc.maxGets > 0 && len(gets) > tc.maxGets:
				t.Errorf("%d GETs, want at most %d", len(gets), tc.maxGets)
			}
		})
	}
}
