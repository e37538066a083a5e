package caddymodule

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/r2gate/r2gate/origin"
)

// maxRanges is the most ranges a Range header may have (nginx's
// max_ranges, Apache's MaxRanges): beyond it the header is ignored.
const maxRanges = 100

// Range requests are served by http.ServeContent, which decides every
// status; r2gate bounds the bucket work behind them. The ranges are read
// through an origin.Reader whose hints are the ranges themselves, so
// nearby ranges share one ranged GET and a request costs at most
// origin.MaxReadGets GETs after its HEAD (see origin/plan.go).
//
// A header with more than maxRanges ranges, or whose ranges could only be
// read in more GETs than that because they go back or overlap (RFC 9110,
// section 14.2, names both as signs of a broken client or an attack), is
// ignored, as nginx's max_ranges and Apache's MaxRanges do: the answer is
// 200 with the whole object, in one GET. The rule depends only on the
// header and the object's size, so a cache hit answers as a miss does.

// rangePlan is what a request's Range header asks of an object of a given
// size: the byte spans http.ServeContent will read (hints for
// origin.NewReader; nil without a Range header, or when it is ignored or
// cannot be parsed), and whether the header is to be ignored.
type rangePlan struct {
	spans  []origin.Range
	ignore bool
}

// planRanges parses r's Range header for an object of size bytes.
func planRanges(r *http.Request, size int64) rangePlan {
	header := r.Header.Get("Range")
	if header == "" {
		return rangePlan{}
	}
	spans, n, ok := rangeSpans(header, size)
	if !ok {
		return rangePlan{} // ServeContent answers 416, reading nothing
	}
	if n > maxRanges || origin.ReadGets(spans, size) > origin.MaxReadGets {
		return rangePlan{ignore: true}
	}
	return rangePlan{spans: spans}
}

// request returns the request to hand http.ServeContent: r, or a copy
// without its Range header when the header is to be ignored.
func (p rangePlan) request(r *http.Request) *http.Request {
	if p.ignore {
		return withoutRange(r)
	}
	return r
}

// withoutRange returns a shallow copy of r without its Range header.
func withoutRange(r *http.Request) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	r2.Header.Del("Range")
	return r2
}

// rangeSpans parses a Range header as http.ServeContent does, and returns
// the byte spans it would read, in its order, with n the number of
// ranges in the header. Ranges past the end of the object and empty ones
// read nothing and give no span. ok is false when ServeContent would refuse
// the header (it then answers 416 and reads nothing).
func rangeSpans(header string, size int64) (spans []origin.Range, n int, ok bool) {
	specs, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return nil, 0, false
	}
	for spec := range strings.SplitSeq(specs, ",") {
		spec = textproto.TrimString(spec)
		if spec == "" {
			continue
		}
		n++
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, 0, false
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		var start, length int64
		if first == "" {
			if last == "" || last[0] == '-' {
				return nil, 0, false
			}
			sfx, err := strconv.ParseInt(last, 10, 64)
			if err != nil || sfx < 0 {
				return nil, 0, false
			}
			sfx = min(sfx, size)
			start, length = size-sfx, sfx
		} else {
			s, err := strconv.ParseInt(first, 10, 64)
			if err != nil || s < 0 {
				return nil, 0, false
			}
			if s >= size {
				continue // past the end: ServeContent drops it
			}
			start, length = s, size-s
			if last != "" {
				e, err := strconv.ParseInt(last, 10, 64)
				if err != nil || s > e {
					return nil, 0, false
				}
				length = min(e, size-1) - s + 1
			}
		}
		if length > 0 {
			spans = append(spans, origin.Range{Offset: start, Length: length})
		}
	}
	return spans, n, true
}
