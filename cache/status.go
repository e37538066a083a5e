package cache

import (
	"strconv"
	"strings"
	"time"
)

// Forward reasons for CacheStatus.Fwd, from RFC 9211 §2.2.
const (
	FwdBypass   = "bypass"    // configured to forward without looking
	FwdMethod   = "method"    // the method cannot be answered from cache
	FwdURIMiss  = "uri-miss"  // nothing stored for the key
	FwdVaryMiss = "vary-miss" // stored, but Vary did not match
	FwdMiss     = "miss"      // not in cache (reason unspecified)
	FwdRequest  = "request"   // the request asked to go forward
	FwdStale    = "stale"     // stored but stale: revalidated or refetched
	FwdPartial  = "partial"   // only part of the response was stored
)

// CacheName is the cache's name in Cache-Status when CacheStatus.Name is
// empty.
const CacheName = "r2gate"

// CacheStatus is one member of a Cache-Status response header (RFC 9211):
// how this cache handled the request. String serialises it as a Structured
// Fields list member with parameters, for example
//
//	r2gate; hit; ttl=120; detail=memory
//	r2gate; fwd=miss; fwd-status=200; stored
type CacheStatus struct {
	// Name identifies the cache; CacheName when empty.
	Name string
	// Hit: the response came from the cache without asking the bucket.
	// When set, Fwd and FwdStatus are not sent (the RFC makes them
	// exclusive).
	Hit bool
	// Fwd is why the request went to the bucket, one of the Fwd constants.
	Fwd string
	// FwdStatus is the status the bucket answered with; sent only with
	// Fwd, and only when it is a status code (1 to 999).
	FwdStatus int
	// TTL is the response's remaining freshness, negative when stale. It
	// is sent in whole seconds, rounded down, only when HasTTL is set (a
	// zero TTL is a real value).
	TTL    time.Duration
	HasTTL bool
	// Stored: the response was stored in the cache.
	Stored bool
	// Collapsed: the request was coalesced with others for the same key.
	Collapsed bool
	// Key is the cache key, sent only when not empty.
	Key string
	// Detail says more, for r2gate which tier answered ("memory", "disk").
	Detail string
}

// String returns the member as it goes into the Cache-Status header.
func (s CacheStatus) String() string {
	var b strings.Builder
	b.Grow(64)
	name := s.Name
	if name == "" {
		name = CacheName
	}
	writeSFItem(&b, name)
	if s.Hit {
		b.WriteString("; hit")
	} else if s.Fwd != "" && isSFToken(s.Fwd) {
		b.WriteString("; fwd=")
		b.WriteString(s.Fwd)
		if s.FwdStatus > 0 && s.FwdStatus <= 999 {
			b.WriteString("; fwd-status=")
			b.WriteString(itoa(int64(s.FwdStatus)))
		}
	}
	if s.HasTTL {
		b.WriteString("; ttl=")
		b.WriteString(itoa(FloorSeconds(s.TTL)))
	}
	if s.Stored {
		b.WriteString("; stored")
	}
	if s.Collapsed {
		b.WriteString("; collapsed")
	}
	if s.Key != "" {
		b.WriteString("; key=")
		writeSFString(&b, s.Key)
	}
	if s.Detail != "" {
		b.WriteString("; detail=")
		writeSFItem(&b, s.Detail)
	}
	return b.String()
}

// FloorSeconds rounds d down to whole seconds, so that a response stale by
// half a second says ttl=-1, not ttl=0.
func FloorSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second < 0 {
		s--
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// writeSFItem writes v as a Structured Fields token when it is one, else as
// a string.
func writeSFItem(b *strings.Builder, v string) {
	if isSFToken(v) {
		b.WriteString(v)
		return
	}
	writeSFString(b, v)
}

// isSFToken reports whether v is an sf-token (RFC 8941 §3.3.4):
// ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func isSFToken(v string) bool {
	if v == "" || !(isAlpha(v[0]) || v[0] == '*') {
		return false
	}
	for i := 1; i < len(v); i++ {
		c := v[i]
		if !isTChar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isTChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTChar(c byte) bool {
	return isAlpha(c) || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// writeSFString writes v as an sf-string (RFC 8941 §3.3.3): quoted, with
// backslash before \ and ". Bytes an sf-string cannot hold (controls and
// non-ASCII, e.g. UTF-8 in object keys) are percent-encoded.
func writeSFString(b *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
