package auth

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grantMethods are the methods a grant is asked about: the four it may
// name and some it never may.
var grantMethods = []string{"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "get", "put", ""}

// FuzzGrantOf: whatever the query of a signed URL says, the grant it
// gives names one of GET, HEAD, PUT and DELETE (or none), allows only
// those, never lets a URL signed for reading write nor one signed for
// writing read, and survives signing: a signed URL carrying the query
// verifies and gives the same grant.
func FuzzGrantOf(f *testing.F) {
	for _, s := range []string{
		"", "method=PUT", "method=PUT&max_size=1048576&content_type=image%2Fjpeg", "method=DELETE",
		"method=GET", "method=HEAD", "method=put", "method=POST", "method=PUT&method=GET",
		"max_size=0", "max_size=-1", "max_size=9223372036854775808", "max_size=%2B5", "max_size=0x10",
		"content_type=text%2Fplain%3B%20charset%3Dutf-8", "method=PUT%00", "method=%E2%80%8BPUT",
	} {
		f.Add(s)
	}
	key := Key{ID: "k1", Secret: secret1}
	v := &SignedURLs{Keys: []Key{key}, Now: fixedNow(t0)}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		g, err := GrantOf(q)
		if err != nil {
			if Reason(err) != ReasonMalformed || StatusCode(err) != 403 {
				t.Fatalf("GrantOf(%q) error %v: want a malformed credential (403)", rawQuery, err)
			}
			return
		}
		switch g.Method {
		case "", "GET", "HEAD", "PUT", "DELETE":
		default:
			t.Fatalf("GrantOf(%q) grants method %q", rawQuery, g.Method)
		}
		if g.Method != q.Get("method") || g.ContentType != q.Get("content_type") {
			t.Fatalf("GrantOf(%q) = %+v does not say what the query says", rawQuery, g)
		}
		// (A leading "+" or zeros are taken: harmless, the signature covers
		// the text as sent.)
		if s := q.Get("max_size"); (s == "") != (g.MaxSize == 0) || g.MaxSize < 0 ||
			(s != "" && strings.TrimLeft(strings.TrimPrefix(s, "+"), "0") != strconv.FormatInt(g.MaxSize, 10)) {
			t.Fatalf("GrantOf(%q) max size %d from %q", rawQuery, g.MaxSize, s)
		}
		for _, m := range grantMethods {
			if !g.Allows(m) {
				continue
			}
			read := m == "GET" || m == "HEAD"
			write := m == "PUT" || m == "DELETE"
			switch {
			case !read && !write:
				t.Fatalf("grant %+v allows %q", g, m)
			case g.Method == "" && write:
				t.Fatalf("a URL signed without a method allows %s", m)
			case (g.Method == "PUT" || g.Method == "DELETE") && m != g.Method:
				t.Fatalf("a URL signed for %s allows %s", g.Method, m)
			case (g.Method == "GET" || g.Method == "HEAD") && write:
				t.Fatalf("a URL signed for %s allows %s", g.Method, m)
			}
		}
		if !g.Allows(map[string]string{"": "GET"}[g.Method] + g.Method) {
			t.Fatalf("grant %+v does not allow its own method", g)
		}
		// Through signing and verifying, the grant is the same.
		for k, vs := range q {
			if len(vs) > 1 || k == "exp" || k == "kid" || k == "sig" || k == "verify" {
				return
			}
		}
		signed, err := Target{Path: "/up/a.bin", RawQuery: q.Encode()}.Sign(key, t0.Add(time.Hour))
		if err != nil {
			return
		}
		path, query := parseReq(t, signed)
		if err := v.Verify(path, query); err != nil {
			t.Fatalf("%q signed as %q does not verify: %v", rawQuery, signed, err)
		}
		if g2, err := GrantOf(query); err != nil || g2 != g {
			t.Fatalf("signed %q gives grant %+v (%v), want %+v", signed, g2, err, g)
		}
	})
}
