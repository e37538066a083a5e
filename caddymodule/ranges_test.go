package caddymodule

import (
	"reflect"
	"testing"

	"github.com/r2gate/r2gate/origin"
)

func TestRangeSpans(t *testing.T) {
	const size = 1000
	cases := []struct {
		header string
		want   []origin.Range
	}{
		{"bytes=0-99", []origin.Range{{Offset: 0, Length: 100}}},
		{"bytes=900-", []origin.Range{{Offset: 900, Length: 100}}},
		{"bytes=-100", []origin.Range{{Offset: 900, Length: 100}}},
		{"bytes=-5000", []origin.Range{{Offset: 0, Length: 1000}}},
		{"bytes=990-5000", []origin.Range{{Offset: 990, Length: 10}}},
		{"bytes= 0-9 , 20-29", []origin.Range{{Offset: 0, Length: 10}, {Offset: 20, Length: 10}}},
		{"bytes=0-9,5000-", []origin.Range{{Offset: 0, Length: 10}}},
		{"bytes=5-1", nil},
		{"bytes=abc", nil},
		{"items=0-9", nil},
		{"bytes=-0", nil},
		{"", nil},
	}
	for _, c := range cases {
		if got := rangeSpans(c.header, size); !reflect.DeepEqual(got, c.want) {
			t.Errorf("rangeSpans(%q) = %v, want %v", c.header, got, c.want)
		}
	}
	if got := rangeSpans("bytes=0-9", 0); got != nil {
		t.Errorf("empty object: %v, want nil", got)
	}
	many := "bytes=0-0"
	for range maxSpans {
		many += ",0-0"
	}
	if got := rangeSpans(many, size); got != nil {
		t.Errorf("more than %d ranges: %d hints, want none", maxSpans, len(got))
	}
}

func FuzzRangeSpans(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=1-,2-3", "bytes=9223372036854775807-"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		for _, s := range rangeSpans(header, size) {
			if s.Offset < 0 || s.Length <= 0 || s.Offset+s.Length > size {
				t.Fatalf("rangeSpans(%q, %d) gave %+v", header, size, s)
			}
		}
	})
}
