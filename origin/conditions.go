package origin

import (
	"strings"
	"time"
)

// check evaluates the conditions in o against an object's metadata the way
// S3 does (RFC 9110 section 13.2.2 order): If-Match, else
// If-Unmodified-Since, then If-None-Match, else If-Modified-Since.
func (o GetOptions) check(info Info) error {
	lm := info.LastModified.Truncate(time.Second)
	switch {
	case o.IfMatch != "":
		if !matchETag(o.IfMatch, info.ETag, false) {
			return ErrPreconditionFailed
		}
	case !o.IfUnmodifiedSince.IsZero():
		if lm.After(o.IfUnmodifiedSince) {
			return ErrPreconditionFailed
		}
	}
	switch {
	case o.IfNoneMatch != "":
		if matchETag(o.IfNoneMatch, info.ETag, true) {
			return ErrNotModified
		}
	case !o.IfModifiedSince.IsZero():
		if !lm.After(o.IfModifiedSince) {
			return ErrNotModified
		}
	}
	return nil
}

// matchETag reports whether the comma-separated list of entity tags (or
// "*") matches etag. Weak comparison ignores the W/ prefix on both sides;
// strong comparison never matches a weak tag.
func matchETag(list, etag string, weak bool) bool {
	list = strings.TrimSpace(list)
	if list == "*" {
		return etag != ""
	}
	etagWeak := strings.HasPrefix(etag, "W/")
	opaque := strings.TrimPrefix(etag, "W/")
	for cand := range strings.SplitSeq(list, ",") {
		cand = strings.TrimSpace(cand)
		candWeak := strings.HasPrefix(cand, "W/")
		cand = strings.TrimPrefix(cand, "W/")
		if cand == "" || cand != opaque {
			continue
		}
		if weak || (!candWeak && !etagWeak) {
			return true
		}
	}
	return false
}

// strongTags drops the W/ prefix of each entity tag in list. If-None-Match
// compares weakly (W/"x" matches "x"); some S3 servers compare the header
// as sent, and S3 ETags are never weak, so the stripped list means the same.
func strongTags(list string) string {
	if !strings.Contains(list, "W/") {
		return list
	}
	var tags []string
	for tag := range strings.SplitSeq(list, ",") {
		tags = append(tags, strings.TrimPrefix(strings.TrimSpace(tag), "W/"))
	}
	return strings.Join(tags, ", ")
}

// clamp returns the offset and length of r within an object of size bytes.
// An empty range is refused, as S3 refuses it: HTTP cannot ask for one.
func (r Range) clamp(size int64) (off, n int64, err error) {
	if r.Offset < 0 || r.Offset >= size || r.Length == 0 {
		return 0, 0, ErrRangeNotSatisfiable
	}
	n = size - r.Offset
	if r.Length >= 0 && r.Length < n {
		n = r.Length
	}
	return r.Offset, n, nil
}
