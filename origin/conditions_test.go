package origin

import (
	"errors"
	"testing"
	"time"
)

// Internal tests of the condition helpers Dir relies on; the behaviour both
// buckets share is in conformance_test.go.

func TestMatchETag(t *testing.T) {
	tests := []struct {
		name       string
		list, etag string
		weak, want bool
	}{
		{"same tag matches", `"a"`, `"a"`, false, true},
		{"other tag does not match", `"b"`, `"a"`, true, false},
		{"weak candidate fails strong comparison", `W/"a"`, `"a"`, false, false},
		{"weak candidate passes weak comparison", `W/"a"`, `"a"`, true, true},
		{"weak etag fails strong comparison", `"a"`, `W/"a"`, false, false},
		{"weak etag passes weak comparison", `"a"`, `W/"a"`, true, true},
		{"tag later in a list matches", `"x", "a"`, `"a"`, false, true},
		{"spaces around tags are ignored", `  "x" ,  "a"  `, `"a"`, false, true},
		{"star matches any tag", `*`, `"a"`, false, true},
		{"star needs a tag", `*`, ``, true, false},
		{"empty members match nothing", `,,`, `"a"`, true, false},
		{"unquoted tag does not match a quoted one", `a`, `"a"`, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchETag(tc.list, tc.etag, tc.weak); got != tc.want {
				t.Errorf("matchETag(%q, %q, weak %v) = %v, want %v", tc.list, tc.etag, tc.weak, got, tc.want)
			}
		})
	}
}

func TestStrongTags(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"weak tag loses its prefix", `W/"a"`, `"a"`},
		{"strong tag is kept as is", `"a"`, `"a"`},
		{"star is kept", `*`, `*`},
		{"each tag of a list", `"a", W/"b",W/"c"`, `"a", "b", "c"`},
		{"W/ inside a tag is not a prefix", `"xW/"`, `"xW/"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strongTags(tc.in); got != tc.want {
				t.Errorf("strongTags(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRangeClamp(t *testing.T) {
	tests := []struct {
		name          string
		r             Range
		size          int64
		wantOff, want int64
		wantErr       bool
	}{
		{"inside", Range{10, 5}, 100, 10, 5, false},
		{"to the end", Range{90, -1}, 100, 90, 10, false},
		{"cut at the end", Range{95, 50}, 100, 95, 5, false},
		{"starting at size", Range{100, -1}, 100, 0, 0, true},
		{"negative offset", Range{-5, 1}, 100, 0, 0, true},
		{"empty", Range{10, 0}, 100, 0, 0, true},
		{"any range of an empty object", Range{0, -1}, 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			off, n, err := tc.r.clamp(tc.size)
			if tc.wantErr {
				if !errors.Is(err, ErrRangeNotSatisfiable) {
					t.Errorf("clamp = %d, %d, %v; want ErrRangeNotSatisfiable", off, n, err)
				}
				return
			}
			if err != nil || off != tc.wantOff || n != tc.want {
				t.Errorf("clamp = %d, %d, %v; want %d, %d", off, n, err, tc.wantOff, tc.want)
			}
		})
	}
}

func TestCheckComparesWholeSeconds(t *testing.T) {
	sec := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// LastModified with a fraction, as a file system gives it; HTTP dates
	// have whole seconds, so the header a client got back must match.
	info := Info{ETag: `"a"`, LastModified: sec.Add(700 * time.Millisecond)}
	tests := []struct {
		name string
		opts GetOptions
		want error
	}{
		{"if-modified-since the same second is 304", GetOptions{IfModifiedSince: sec}, ErrNotModified},
		{"if-modified-since a second before", GetOptions{IfModifiedSince: sec.Add(-time.Second)}, nil},
		{"if-unmodified-since the same second", GetOptions{IfUnmodifiedSince: sec}, nil},
		{"if-unmodified-since a second before is 412", GetOptions{IfUnmodifiedSince: sec.Add(-time.Second)}, ErrPreconditionFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.opts.check(info); !errors.Is(err, tc.want) {
				t.Errorf("check = %v, want %v", err, tc.want)
			}
		})
	}
}
