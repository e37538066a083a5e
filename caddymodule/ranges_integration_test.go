package caddymodule_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// spacedRanges returns n range specs of length bytes, every step bytes
// from first.
func spacedRanges(n int, first, step, length int64) []string {
	specs := make([]string, n)
	for i := range specs {
		off := first + int64(i)*step
		specs[i] = fmt.Sprintf("%d-%d", off, off+length-1)
	}
	return specs
}

// TestManyRangesOnTheWire checks the bound through the handler, on the
// requests versitygw sees behind the recording proxy.
func TestManyRangesOnTheWire(t *testing.T) {
	tester := newTester(t)
	const size = 100 << 10 // data.bin
	for _, tc := range []struct {
		name   string
		specs  []string
		status int
		gets   int
	}{
		{"1,000 ranges are ignored", spacedRanges(1000, 0, 100, 1), 200, 1},
		{"100 ranges are one GET", spacedRanges(100, 0, 1000, 10), 206, 1},
		{"two far-apart ranges are two GETs", []string{"0-99", "90000-90099"}, 206, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.proxy.Reset()
			resp, body := get(t, tester, bucketURL+"/data.bin", "Range", "bytes="+strings.Join(tc.specs, ","))
			var heads, gets int
			for _, r := range env.proxy.Requests() {
				switch r.Method {
				case http.MethodHead:
					heads++
				case http.MethodGet:
					gets++
				}
			}
			t.Logf("%d ranges: %d, %d body bytes; bucket saw %d HEAD + %d GET", len(tc.specs), resp.StatusCode, len(body), heads, gets)
			if resp.StatusCode != tc.status || heads > 1 || gets != tc.gets {
				t.Errorf("%d with %d HEAD + %d GET, want %d with at most 1 HEAD + %d GET", resp.StatusCode, heads, gets, tc.status, tc.gets)
			}
			if tc.status == 200 && (len(body) != size || resp.Header.Get("Content-Length") != strconv.Itoa(size)) {
				t.Errorf("200 with %d bytes, want the whole %d", len(body), size)
			}
		})
	}
}
