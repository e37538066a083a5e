package caddymodule

import (
	"strconv"
	"strings"

	"github.com/r2gate/r2gate/origin"
)

// maxSpans bounds how many ranges of a Range header are used as read hints.
const maxSpans = 32

// rangeSpans parses a Range header into the byte spans http.ServeContent
// will read, so each can be fetched from the bucket as exactly that range.
// The result is only a hint: an unparsable header gives nil, and
// ServeContent alone decides what is served.
func rangeSpans(header string, size int64) []origin.Range {
	specs, ok := strings.CutPrefix(header, "bytes=")
	if !ok || size <= 0 {
		return nil
	}
	var spans []origin.Range
	for spec := range strings.SplitSeq(specs, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok || len(spans) == maxSpans {
			return nil
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		var start, end int64 // end is inclusive
		if first == "" {
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n <= 0 {
				return nil
			}
			start, end = max(size-n, 0), size-1
		} else {
			s, err := strconv.ParseInt(first, 10, 64)
			if err != nil || s < 0 {
				return nil
			}
			start, end = s, size-1
			if last != "" {
				e, err := strconv.ParseInt(last, 10, 64)
				if err != nil || e < s {
					return nil
				}
				end = min(e, size-1)
			}
		}
		if start >= size {
			continue
		}
		spans = append(spans, origin.Range{Offset: start, Length: end - start + 1})
	}
	return spans
}
