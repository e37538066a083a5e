package origin_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/r2gate/r2gate/origin"
)

// every returns n spans of length bytes, every step bytes from first (a
// negative step goes down).
func every(n int, first, step, length int64) []origin.Range {
	spans := make([]origin.Range, n)
	for i := range spans {
		spans[i] = origin.Range{Offset: first + int64(i)*step, Length: length}
	}
	return spans
}

func TestReadGets(t *testing.T) {
	const size = 100 << 20
	far := int64(origin.MergeGap + 1)
	tests := []struct {
		name  string
		spans []origin.Range
		want  int
	}{
		{"no spans", nil, 0},
		{"one span", every(1, 5, 0, 10), 1},
		{"spans within the merge gap are one GET", every(100, 0, origin.MergeGap, 10), 1},
		{"far-apart spans are one GET each", every(3, 0, 10*far, 10), 3},
		{"1,000 far-apart ascending spans are at most MaxReadGets", every(1000, 0, 100<<10, 1), origin.MaxReadGets},
		{"far-apart spans going back are one GET each", every(20, 50<<20, -far-10, 10), 20},
		{"nearby spans going back reopen", every(3, 1000, -100, 10), 3},
		{"an overlapping span reopens", []origin.Range{{Offset: 0, Length: 100}, {Offset: 50, Length: 100}}, 2},
		{"a span inside the previous one reopens", []origin.Range{{Offset: 0, Length: 1000}, {Offset: 10, Length: 10}}, 2},
		{"spans outside the object cost nothing", []origin.Range{{Offset: size, Length: 10}, {Offset: -1, Length: 5}, {Offset: 3, Length: 0}}, 0},
	}
	for _, tc := range tests {
		if got := origin.ReadGets(tc.spans, size); got != tc.want {
			t.Errorf("%s: ReadGets = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// readSpans reads the spans from r in order, as http.ServeContent reads a
// Range header's ranges, and checks every byte.
func readSpans(t *testing.T, r *origin.Reader, spans []origin.Range, content []byte) {
	t.Helper()
	for _, s := range spans {
		if _, err := r.Seek(s.Offset, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, s.Length)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("reading %+v: %v", s, err)
		}
		if !bytes.Equal(buf, content[s.Offset:s.Offset+s.Length]) {
			t.Fatalf("bytes of %+v differ from the object's", s)
		}
	}
}

// TestReaderMergesSpans checks on both buckets that a Reader makes the
// GETs ReadGets counts, each for a window, and that every byte is right.
func TestReaderMergesSpans(t *testing.T) {
	const size = 1 << 20
	content := pattern(size)
	far := int64(origin.MergeGap + 1)
	tests := []struct {
		name   string
		spans  []origin.Range
		ranges []origin.Range // the GETs' ranges, when set
	}{
		{"1,000 nearby spans in one GET", every(1000, 0, 1000, 10), []origin.Range{{Offset: 0, Length: 999010}}},
		{"far-apart spans, one exact GET each", every(3, 100, 4*far, 100),
			[]origin.Range{{Offset: 100, Length: 100}, {Offset: 100 + 4*far, Length: 100}, {Offset: 100 + 8*far, Length: 100}}},
		{"many far-apart spans in at most MaxReadGets GETs", every(15, 0, far+20, 10), nil},
		{"overlapping spans", []origin.Range{{Offset: 0, Length: 100}, {Offset: 50, Length: 100}},
			[]origin.Range{{Offset: 0, Length: 150}, {Offset: 50, Length: 100}}},
		{"spans going back", every(3, 2*far, -far, 10), nil},
	}
	forEachBucket(t, func(t *testing.T, f fixture) {
		info, rb := readerFixture(t, f, content)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rb.takeGets()
				r := origin.NewReader(t.Context(), rb, info, nil, tc.spans)
				defer r.Close()
				readSpans(t, r, tc.spans, content)
				gets := rb.takeGets()
				t.Logf("%d spans: %d GETs", len(tc.spans), len(gets))
				if want := origin.ReadGets(tc.spans, size); len(gets) != want || want > origin.MaxReadGets {
					t.Errorf("%d GETs, ReadGets says %d (at most %d)", len(gets), want, origin.MaxReadGets)
				}
				for i, g := range gets {
					if g.Range == nil || g.IfMatch != info.ETag {
						t.Errorf("GET %d = %+v, want a range, If-Match %s", i, g, info.ETag)
					} else if tc.ranges != nil && (i >= len(tc.ranges) || *g.Range != tc.ranges[i]) {
						t.Errorf("GET %d for %+v, want %+v", i, *g.Range, tc.ranges)
					}
				}
			})
		}

		t.Run("reading everything after hints costs at most two GETs", func(t *testing.T) {
			r := origin.NewReader(t.Context(), rb, info, nil, []origin.Range{{Offset: 0, Length: 100}, {Offset: 5000, Length: 100}})
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
			}
			if gets := rb.takeGets(); len(gets) > 2 {
				t.Errorf("%d GETs, want at most 2", len(gets))
			}
		})
	})
}

func TestReaderSkipFailure(t *testing.T) {
	info := origin.Info{Key: "k", Size: 100, ETag: `"e"`}
	b := failingBucket{body: "only ten b"}
	r := origin.NewReader(t.Context(), b, info, nil, []origin.Range{{Offset: 0, Length: 5}, {Offset: 50, Length: 5}})
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	r.Seek(50, io.SeekStart) // past what the body holds: the skip breaks off
	if n, err := r.Read(make([]byte, 5)); n != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read after a short skip = %d, %v; want io.ErrUnexpectedEOF", n, err)
	}
	if !strings.Contains(r.Err().Error(), `"k"`) {
		t.Errorf("Err = %v, want it to name the key", r.Err())
	}
}
