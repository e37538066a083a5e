package origin

import (
	"cmp"
	"slices"
	"sort"
)

// How a Reader turns span hints into bucket requests. The spans are
// sorted and merged into windows: spans that overlap, or lie less than
// MergeGap apart, are one window, and while there are more than
// MaxReadGets windows the two with the smallest gap between them are
// joined (bounded by the object's size, the bytes in between cost less
// than a request each). A Read in a window asks for the rest of that
// window; an open body is read on, its bytes up to the new position
// dropped, when the position moved forward within its window or by at
// most MergeGap. So spans read in ascending order cost one GET per
// window, at most MaxReadGets; ReadGets tells what any order costs.
const (
	// MergeGap is the largest gap between two spans that one GET reads
	// through: another request costs a round trip to the bucket (tens of
	// milliseconds to R2), 64 KiB well under a millisecond of transfer.
	MergeGap = 64 << 10
	// MaxReadGets is the most windows a Reader reads its spans in.
	MaxReadGets = 8
)

// readPlan is the windows of a Reader: sorted, disjoint, not empty.
type readPlan []Range

func (r Range) end() int64 { return r.Offset + r.Length }

// planReads returns the windows for spans of an object of size bytes.
// Spans outside the object are dropped, spans past its end are cut.
func planReads(spans []Range, size int64) readPlan {
	ws := make([]Range, 0, len(spans))
	for _, s := range spans {
		if s, ok := clampSpan(s, size); ok {
			ws = append(ws, s)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	slices.SortFunc(ws, func(a, b Range) int { return cmp.Compare(a.Offset, b.Offset) })
	out := ws[:1]
	for _, w := range ws[1:] {
		last := &out[len(out)-1]
		if w.Offset-last.end() <= MergeGap {
			last.Length = max(last.end(), w.end()) - last.Offset
		} else {
			out = append(out, w)
		}
	}
	if extra := len(out) - MaxReadGets; extra > 0 {
		// Join across the extra smallest gaps (gap i lies after window i).
		gaps := make([]int, len(out)-1)
		for i := range gaps {
			gaps[i] = i
		}
		gap := func(i int) int64 { return out[i+1].Offset - out[i].end() }
		slices.SortStableFunc(gaps, func(a, b int) int { return cmp.Compare(gap(a), gap(b)) })
		join := make([]bool, len(out)-1)
		for _, i := range gaps[:extra] {
			join[i] = true
		}
		joined := out[:1]
		for i, w := range out[1:] {
			if join[i] {
				last := &joined[len(joined)-1]
				last.Length = w.end() - last.Offset
			} else {
				joined = append(joined, w)
			}
		}
		out = joined
	}
	return out
}

// clampSpan cuts s to an object of size bytes; ok is false when nothing
// of it is in the object.
func clampSpan(s Range, size int64) (Range, bool) {
	if s.Offset < 0 || s.Offset >= size || s.Length <= 0 {
		return Range{}, false
	}
	s.Length = min(s.Length, size-s.Offset)
	return s, true
}

// window returns the window holding offset off.
func (p readPlan) window(off int64) (Range, bool) {
	i := sort.Search(len(p), func(i int) bool { return p[i].end() > off })
	if i < len(p) && p[i].Offset <= off {
		return p[i], true
	}
	return Range{}, false
}

// length is how many bytes a GET opened at off asks for: the rest of the
// window holding off, or everything to the end of the object (-1).
func (p readPlan) length(off int64) int64 {
	if w, ok := p.window(off); ok {
		return w.end() - off
	}
	return -1
}

// reuse reports whether a body open at object offset pos and ending at
// end serves a read at off, by dropping the bytes before off.
func (p readPlan) reuse(pos, end, off int64) bool {
	if off < pos || off >= end {
		return false
	}
	if off-pos <= MergeGap {
		return true
	}
	w, ok := p.window(pos)
	return ok && off < w.end()
}

// ReadGets returns how many GETs a Reader over an object of size bytes,
// made with spans as its hints, sends to read the spans in their order,
// each from its first byte to its last, as http.ServeContent reads the
// ranges of a Range header. It is the number of windows (at most
// MaxReadGets) when the spans come in ascending order without overlaps,
// and up to one per span when they go back.
func ReadGets(spans []Range, size int64) int {
	p := planReads(spans, size)
	gets := 0
	var pos, end int64 // the open body, none when pos == end
	for _, s := range spans {
		s, ok := clampSpan(s, size)
		if !ok {
			continue
		}
		if pos >= end || !p.reuse(pos, end, s.Offset) {
			gets++
			end = size
			if n := p.length(s.Offset); n >= 0 {
				end = s.Offset + n
			}
		}
		pos = s.end()
	}
	return gets
}
