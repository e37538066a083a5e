package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Native signed URLs.
//
// A signed URL carries three query parameters: exp (expiry, unix seconds,
// decimal), kid (key id) and sig. sig is the unpadded base64url encoding
// (RFC 4648 §5) of HMAC-SHA256(secret, canonical string), where the
// canonical string is, with "\n" a single line feed byte:
//
//	"R2GATE-HMAC-SHA256" + "\n" + canonical path + "\n" + canonical query
//
// Canonical path: split the URL path (as it appears in the URL) on "/";
// percent-decode each segment; re-encode every byte of it that is not an
// RFC 3986 unreserved character (A-Z a-z 0-9 - . _ ~) as "%XX" with
// upper-case hex; join the segments with "/". A path not starting with "/"
// gets one prepended. "/a%2fb" thus stays "/a%2Fb", distinct from "/a/b";
// "/caf%C3%A9 x" becomes "/caf%C3%A9%20x".
//
// Canonical query: every query parameter except sig (so exp and kid, and
// resize options such as w, h, format, are included). Decode names and values
// as usual for a query string ("+" is a space), percent-encode each with the
// same rule as path bytes (so a space is "%20", "/" is "%2F"), sort the pairs
// by encoded name, then by encoded value, bytewise, and join them as
// name=value with "&" (a parameter without value is "name=").
//
// Example: path "/img/cat.jpg", query w=400, secret "s3cret", kid "k1",
// exp 1700000000 gives
//
//	R2GATE-HMAC-SHA256
//	/img/cat.jpg
//	exp=1700000000&kid=k1&w=400
//
// A parameter name may appear only once in a signed URL; a repeated name is
// rejected as malformed (otherwise reordering repeated values would change
// what a first-value-wins reader sees without changing the signature).

const (
	signPrefix = "R2GATE-HMAC-SHA256\n"

	// MaxSigLen bounds the sig parameter (a SHA-256 MAC is 43 characters).
	MaxSigLen = 128
	// MaxKidLen bounds the kid parameter.
	MaxKidLen = 64
	// MaxQueryLen bounds the canonical query string.
	MaxQueryLen = 8 << 10
	// MaxPathLen bounds the canonical path.
	MaxPathLen = 8 << 10
)

// Key is one signing key of the native scheme.
type Key struct {
	ID     string
	Secret []byte
}

// SignedURLs verifies native signed URLs and, when Cloudflare is set,
// Cloudflare timed HMAC tokens. Keys[0] is the one apps should sign with;
// every listed key verifies, which allows rotation.
type SignedURLs struct {
	Keys       []Key
	Cloudflare *Cloudflare
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Validate checks the configuration.
func (s *SignedURLs) Validate() error {
	if len(s.Keys) == 0 && s.Cloudflare == nil {
		return errors.New("signed_url: no key configured")
	}
	seen := make(map[string]bool, len(s.Keys))
	for _, k := range s.Keys {
		if k.ID == "" || len(k.ID) > MaxKidLen {
			return errors.New("signed_url: key id must be 1-64 characters")
		}
		if len(k.Secret) == 0 {
			return errors.New("signed_url: key " + k.ID + " has an empty secret")
		}
		if seen[k.ID] {
			return errors.New("signed_url: duplicate key id " + k.ID)
		}
		seen[k.ID] = true
	}
	if s.Cloudflare != nil {
		return s.Cloudflare.Validate()
	}
	return nil
}

func (s *SignedURLs) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Sign returns path?query with exp, kid and sig added, signed with secret.
// path is the URL path as it will appear in the URL (a plain path such as
// "/img/cat.jpg" or "/my file.jpg" is fine; it is returned canonically
// encoded). Existing exp, kid and sig parameters in query are replaced.
// query is not modified.
func Sign(path string, query url.Values, kid string, secret []byte, expires time.Time) string {
	cpath, err := canonicalPath(path)
	if err != nil {
		// Not valid percent-encoding: treat path as already decoded.
		cpath = encodeDecodedPath(path)
	}
	q := make(url.Values, len(query)+2)
	for k, v := range query {
		q[k] = append([]string(nil), v...)
	}
	delete(q, "sig")
	q.Set("exp", strconv.FormatInt(expires.Unix(), 10))
	q.Set("kid", kid)
	cq, _ := canonicalQuery(q, -1)
	sig := mac(secret, cpath, cq)
	return cpath + "?" + cq + "&sig=" + sig
}

// Verify checks a request's credential. path is the request's escaped path
// (r.URL.EscapedPath()) and query its parsed query (r.URL.Query()). It returns
// nil for a valid credential, ErrNoCredential when the request carries none
// (no sig, exp, kid or verify parameter), or an *Error.
func (s *SignedURLs) Verify(path string, query url.Values) error {
	_, hasSig := query["sig"]
	_, hasExp := query["exp"]
	_, hasKid := query["kid"]
	_, hasVerify := query["verify"]
	switch {
	case hasSig || hasExp || hasKid:
		return s.verifyNative(path, query, hasSig)
	case hasVerify:
		if s.Cloudflare == nil {
			return reject(ReasonMalformed, "verify tokens are not accepted here")
		}
		return s.Cloudflare.verify(path, query, s.now())
	default:
		return ErrNoCredential
	}
}

func (s *SignedURLs) verifyNative(path string, query url.Values, hasSig bool) error {
	if !hasSig || len(query["exp"]) != 1 || len(query["kid"]) != 1 || len(query["sig"]) != 1 {
		return reject(ReasonMalformed, "need exactly one each of exp, kid and sig")
	}
	sigText, kid, expText := query.Get("sig"), query.Get("kid"), query.Get("exp")
	if len(sigText) == 0 || len(sigText) > MaxSigLen {
		return reject(ReasonMalformed, "bad sig length")
	}
	if len(kid) == 0 || len(kid) > MaxKidLen {
		return reject(ReasonMalformed, "bad kid length")
	}
	exp, err := parseUnix(expText)
	if err != nil {
		return reject(ReasonMalformed, "exp is not unix seconds")
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sigText)
	if err != nil {
		return reject(ReasonMalformed, "sig is not unpadded base64url")
	}
	cpath, err := canonicalPath(path)
	if err != nil {
		return reject(ReasonMalformed, err.Error())
	}
	cq, err := canonicalQuery(query, MaxQueryLen)
	if err != nil {
		return reject(ReasonMalformed, err.Error())
	}
	var secret []byte
	for _, k := range s.Keys {
		if k.ID == kid && len(k.Secret) > 0 {
			secret = k.Secret
			break
		}
	}
	if secret == nil {
		return reject(ReasonUnknownKey, "")
	}
	if !hmac.Equal(got, macBytes(secret, cpath, cq)) {
		return reject(ReasonBadSignature, "")
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return reject(ReasonExpired, "")
	}
	return nil
}

// parseUnix parses decimal unix seconds: digits only, at most 19 of them.
func parseUnix(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func macBytes(secret []byte, cpath, cquery string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signPrefix))
	h.Write([]byte(cpath))
	h.Write([]byte{'\n'})
	h.Write([]byte(cquery))
	return h.Sum(nil)
}

func mac(secret []byte, cpath, cquery string) string {
	return base64.RawURLEncoding.EncodeToString(macBytes(secret, cpath, cquery))
}

// CanonicalString returns the string that sig signs for path and query
// (sig itself is ignored), for debugging signers in other languages.
func CanonicalString(path string, query url.Values) (string, error) {
	cpath, err := canonicalPath(path)
	if err != nil {
		return "", err
	}
	cq, err := canonicalQuery(query, -1)
	if err != nil {
		return "", err
	}
	return signPrefix + cpath + "\n" + cq, nil
}

func canonicalPath(p string) (string, error) {
	if len(p) > MaxPathLen {
		return "", errors.New("path too long")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	segs := strings.Split(p, "/")
	var b strings.Builder
	b.Grow(len(p) + 16)
	for i, seg := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", errors.New("invalid percent-encoding in path")
		}
		escapeTo(&b, dec)
	}
	return b.String(), nil
}

func encodeDecodedPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	var b strings.Builder
	for i, seg := range strings.Split(p, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		escapeTo(&b, seg)
	}
	return b.String()
}

// canonicalQuery encodes every parameter but sig; max < 0 means no bound.
// Repeated names are an error.
func canonicalQuery(q url.Values, max int) (string, error) {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(q))
	n := 0
	for k, vs := range q {
		if k == "sig" {
			continue
		}
		if max >= 0 && len(vs) > 1 {
			return "", errors.New("repeated query parameter")
		}
		ek := escape(k)
		for _, v := range vs {
			ev := escape(v)
			n += len(ek) + len(ev) + 2
			if max >= 0 && n > max {
				return "", errors.New("query too long")
			}
			pairs = append(pairs, pair{ek, ev})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	b.Grow(n)
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

const upperHex = "0123456789ABCDEF"

func escapeTo(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}

func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	escapeTo(&b, s)
	return b.String()
}
