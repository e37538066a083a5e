package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Signing URLs for r2gate's routes, as `caddy r2gate sign` does: parse
// what to sign with ParseTarget, the key with ParseKey, then call
// Target.Sign (native) or Target.SignCloudflare.

// Target is what a signed URL covers: a URL path and its query, such as
// "/img/cat.jpg?w=400".
type Target struct {
	// Path is the URL path, as typed (it is encoded as needed when
	// signed). Never empty.
	Path string
	// RawQuery is the query without its "?", as typed.
	RawQuery string
}

// ParseTarget reads s, a path with an optional query and fragment such as
// "/img/cat.jpg?w=400". A full URL (with a scheme and host) is refused, so
// that a URL pasted from a browser is not signed with its host as part of
// the path; the fragment, which browsers never send, is dropped.
func ParseTarget(s string) (Target, error) {
	if strings.Contains(s, "://") {
		return Target{}, errors.New("give the path and query only (/img/cat.jpg?w=400), not a full URL")
	}
	s, _, _ = strings.Cut(s, "#")
	path, rawQuery, _ := strings.Cut(s, "?")
	if path == "" {
		return Target{}, errors.New("the path is empty")
	}
	return Target{Path: path, RawQuery: rawQuery}, nil
}

// ParseKey reads a native signing key written "<kid>:<secret>" (the
// secret may contain colons). Both parts must be non-empty and the key id
// at most MaxKidLen characters.
func ParseKey(s string) (Key, error) {
	kid, secret, ok := strings.Cut(s, ":")
	if !ok || kid == "" || secret == "" {
		return Key{}, errors.New("the key must be <kid>:<secret> with both parts non-empty")
	}
	if len(kid) > MaxKidLen {
		return Key{}, fmt.Errorf("the key id is longer than %d characters", MaxKidLen)
	}
	return Key{ID: kid, Secret: []byte(secret)}, nil
}

// Sign returns the target as a native signed URL path valid until
// expires: its canonical path and query with exp, kid and sig added (see
// the package's Sign). Every query parameter of the target, such as w=400,
// is covered by the signature; each may appear only once, and exp, kid,
// sig and verify are reserved for the credential. A target whose encoded
// path or query is longer than the verifier accepts (MaxPathLen,
// MaxQueryLen) is refused.
func (t Target) Sign(key Key, expires time.Time) (string, error) {
	query, err := url.ParseQuery(t.RawQuery)
	if err != nil {
		return "", fmt.Errorf("bad query: %w", err)
	}
	for name, vs := range query {
		if len(vs) > 1 {
			return "", fmt.Errorf("query parameter %q is repeated; a signed URL may carry each name only once", name)
		}
		if name == "exp" || name == "kid" || name == "sig" || name == "verify" {
			return "", fmt.Errorf("query parameter %q is reserved for the credential", name)
		}
	}
	signed := Sign(t.Path, query, key.ID, key.Secret, expires)
	// Refuse what the verifier would (MaxPathLen, MaxQueryLen): such a URL
	// could never be used.
	cpath, rest, _ := strings.Cut(signed, "?")
	cquery, _, _ := strings.Cut(rest, "&sig=")
	if len(cpath) > MaxPathLen {
		return "", fmt.Errorf("the path is %d bytes once encoded; a signed URL's may be at most %d", len(cpath), MaxPathLen)
	}
	if len(cquery)+1 > MaxQueryLen {
		return "", fmt.Errorf("the query is %d bytes once encoded; a signed URL's may be at most %d", len(cquery), MaxQueryLen-1)
	}
	return signed, nil
}

// SignCloudflare returns the target with a Cloudflare-style token issued
// at now appended as its last parameter, verify=<token> (see Cloudflare).
// The path is encoded as a browser sends it, since the token covers the
// pathname as sent; the query is kept as typed, and not covered.
func (t Target) SignCloudflare(secret []byte, now time.Time) (string, error) {
	if _, err := url.ParseQuery(t.RawQuery); err != nil {
		return "", fmt.Errorf("bad query: %w", err)
	}
	p := browserPath(t.Path)
	token := url.QueryEscape(SignCloudflare(p, secret, now))
	sep := "?"
	if t.RawQuery != "" {
		sep = "?" + t.RawQuery + "&"
	}
	return p + sep + "verify=" + token, nil
}

// browserPath percent-encodes p the way a browser's URL parser does for a
// path (the WHATWG path percent-encode set: controls, space, '"', '#', '<',
// '>', '?', '`', '{', '}' and non-ASCII bytes), leaving existing %XX as is.
// The result is what URL.pathname holds and what is sent on the wire.
func browserPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"#<>?`{}", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
