package auth

import (
	"net/url"
	"strconv"
)

// Write grants of native signed URLs.
//
// Three more query parameters may be part of a signed URL; like every
// parameter but sig they are covered by the signature (the canonical string
// is unchanged, so every URL signed before keeps verifying):
//
//   - method: the one HTTP method the URL allows, GET, HEAD, PUT or DELETE.
//     A URL without it allows GET and HEAD only, so no URL signed for
//     reading can ever write, and one signed for PUT cannot be used to read.
//   - max_size: for PUT, the largest body in bytes (a decimal).
//   - content_type: for PUT, the Content-Type the upload must carry.
//
// Cloudflare-style verify tokens carry none of these: they allow GET and
// HEAD only.

// Grant is what a verified signed URL allows.
type Grant struct {
	// Method is the method the URL was signed for; "" is GET and HEAD.
	Method string
	// MaxSize bounds a PUT's body; 0: the route's own bound only.
	MaxSize int64
	// ContentType, when set, is the Content-Type a PUT must carry.
	ContentType string
}

// GrantOf reads the grant of a signed URL's query. Call it once Verify
// accepted the URL. A method other than GET, HEAD, PUT or DELETE, or a
// max_size that is not a positive decimal, is malformed.
func GrantOf(query url.Values) (Grant, error) {
	var g Grant
	switch m := query.Get("method"); m {
	case "", "GET", "HEAD", "PUT", "DELETE":
		g.Method = m
	default:
		return Grant{}, reject(ReasonMalformed, "method must be GET, HEAD, PUT or DELETE")
	}
	if s := query.Get("max_size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return Grant{}, reject(ReasonMalformed, "max_size is not a positive number of bytes")
		}
		g.MaxSize = n
	}
	g.ContentType = query.Get("content_type")
	return g, nil
}

// Allows reports whether the grant allows method.
func (g Grant) Allows(method string) bool {
	if g.Method == "" {
		return method == "GET" || method == "HEAD"
	}
	return method == g.Method || (g.Method == "GET" && method == "HEAD")
}
