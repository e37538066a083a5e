package cache

import (
	"time"

	"github.com/r2gate/r2gate/origin"
)

// maxDelta is the largest delta-seconds value kept: RFC 9111 §1.2.2 has
// caches treat anything larger as 2^31 seconds (about 68 years).
const maxDelta = (1 << 31) * time.Second

// Delta is the value of a delta-seconds directive such as max-age.
type Delta struct {
	// Present reports whether the directive appeared at all.
	Present bool
	// Valid reports whether its first occurrence carried delta-seconds
	// (digits, optionally quoted). Value is meaningful only then.
	Valid bool
	// Value is the duration, never negative and at most 2^31 seconds.
	Value time.Duration
}

// Directives is what an edge cache needs from a Cache-Control value. Flags
// are set by the directive's name whatever its argument: a qualified
// private="Set-Cookie" or no-cache="X" is treated like the bare directive,
// the safe reading for a cache that does not strip header fields.
type Directives struct {
	NoStore         bool
	NoCache         bool
	Private         bool
	Public          bool
	MustRevalidate  bool
	ProxyRevalidate bool
	Immutable       bool

	MaxAge               Delta
	SMaxAge              Delta
	StaleWhileRevalidate Delta
	StaleIfError         Delta
}

// ParseCacheControl reads a Cache-Control header value tolerantly: names in
// any case, values bare or quoted (with backslash escapes), commas, spaces
// or semicolons between directives, unknown directives skipped. For a
// repeated delta-seconds directive the first occurrence counts (RFC 9111
// §4.2.1), even when its value is invalid. It does not allocate.
func ParseCacheControl(v string) Directives {
	var d Directives
	for i := 0; i < len(v); {
		if isCCSep(v[i]) {
			i++
			continue
		}
		start := i
		for i < len(v) && v[i] != '=' && !isCCSep(v[i]) {
			i++
		}
		name := v[start:i]
		var val string
		if j := skipOWS(v, i); j < len(v) && v[j] == '=' {
			val, i = ccValue(v, skipOWS(v, j+1))
		}
		d.apply(name, val)
	}
	return d
}

// isCCSep reports whether b separates directives. Commas are the standard;
// spaces and semicolons are accepted so that "private max-age=60" (a
// missing comma) still reads as private.
func isCCSep(b byte) bool { return b == ',' || b == ' ' || b == '\t' || b == ';' }

func skipOWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// ccValue reads a directive's value starting at i: a quoted-string (returned
// without its quotes, escapes left in) or a token up to the next separator.
// It returns the value and the index after it.
func ccValue(v string, i int) (string, int) {
	if i < len(v) && v[i] == '"' {
		for j := i + 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				j++
			case '"':
				return v[i+1 : j], j + 1
			}
		}
		return v[i+1:], len(v) // unterminated: take the rest
	}
	j := i
	for j < len(v) && !isCCSep(v[j]) {
		j++
	}
	return v[i:j], j
}

// apply records one directive.
func (d *Directives) apply(name, val string) {
	eq := func(s string) bool { return equalFoldASCII(name, s) }
	switch {
	case eq("no-store"):
		d.NoStore = true
	case eq("no-cache"):
		d.NoCache = true
	case eq("private"):
		d.Private = true
	case eq("public"):
		d.Public = true
	case eq("must-revalidate"):
		d.MustRevalidate = true
	case eq("proxy-revalidate"):
		d.ProxyRevalidate = true
	case eq("immutable"):
		d.Immutable = true
	case eq("max-age"):
		d.MaxAge.set(val)
	case eq("s-maxage"):
		d.SMaxAge.set(val)
	case eq("stale-while-revalidate"):
		d.StaleWhileRevalidate.set(val)
	case eq("stale-if-error"):
		d.StaleIfError.set(val)
	}
}

// equalFoldASCII reports whether s equals lower, a lower-case ASCII name,
// ignoring ASCII case. Directive names are ASCII tokens; strings.EqualFold
// would also fold Unicode, reading "no-ſtore" (long s) as no-store.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// set records the first occurrence of a delta-seconds directive.
func (a *Delta) set(val string) {
	if a.Present {
		return
	}
	a.Present = true
	a.Value, a.Valid = parseDelta(val)
}

// parseDelta parses delta-seconds (1*DIGIT), capping at maxDelta.
func parseDelta(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	const limit = int64(maxDelta / time.Second)
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + int64(c-'0')
		}
	}
	return time.Duration(min(n, limit)) * time.Second, true
}

// edgeTTL returns the edge freshness lifetime a response's directives give:
// s-maxage, else max-age, else def. An invalid value of the directive that
// decides makes the response stale at once (RFC 9111 §4.2.1 encourages
// treating invalid freshness information as stale).
func (d *Directives) edgeTTL(def time.Duration) time.Duration {
	for _, a := range [...]Delta{d.SMaxAge, d.MaxAge} {
		if a.Present {
			if !a.Valid {
				return 0
			}
			return a.Value
		}
	}
	return max(def, 0)
}

// forbidsStale reports whether the response must not be served stale
// (RFC 9111 §4.2.4): no-cache, must-revalidate and proxy-revalidate.
// s-maxage formally implies proxy-revalidate too; like common CDNs, r2gate
// does not read it that way, so s-maxage only sets the edge TTL.
func (d *Directives) forbidsStale() bool {
	return d.NoCache || d.MustRevalidate || d.ProxyRevalidate || d.NoStore || d.Private
}

// Policy holds the edge freshness settings of the cache block: the TTL for
// objects whose Cache-Control says nothing, and the stale windows used when
// the object names none itself.
type Policy struct {
	// DefaultTTL is the edge TTL when the object has neither s-maxage nor
	// max-age (the `ttl` setting). Zero or negative: revalidate every time.
	DefaultTTL time.Duration
	// StaleWhileRevalidate is how long after expiry an entry may still be
	// served while it is refreshed in the background, unless the object
	// sets stale-while-revalidate itself.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after expiry an entry may be served when
	// the bucket errors or times out, unless the object sets
	// stale-if-error itself.
	StaleIfError time.Duration
}

// Decide reads the object's own Cache-Control (as stored in the bucket)
// and says whether the edge may store it and until when it is fresh:
// no-store and private are not stored; no-cache is stored but expires at
// once, so every use revalidates; otherwise the TTL is s-maxage, else
// max-age, else DefaultTTL.
func (p Policy) Decide(info origin.Info, now time.Time) (store bool, expires time.Time) {
	d := ParseCacheControl(info.CacheControl)
	switch {
	case d.NoStore || d.Private:
		return false, time.Time{}
	case d.NoCache:
		return true, now
	}
	return true, now.Add(d.edgeTTL(p.DefaultTTL))
}

// CanServeStale reports whether a stale entry may be served at once while
// a background refresh runs: it expired less than stale-while-revalidate
// ago (the object's own, else the policy's) and its Cache-Control does not
// forbid serving it stale. A fresh entry is not stale: false.
func (p Policy) CanServeStale(m *Meta, now time.Time) bool {
	d := ParseCacheControl(m.CacheControl)
	return staleWithin(m, now, &d, d.StaleWhileRevalidate, p.StaleWhileRevalidate)
}

// CanServeOnError reports whether the entry may be served instead of an
// error when the bucket failed: it is fresh, or it expired less than
// stale-if-error ago (the object's own, else the policy's) and its
// Cache-Control does not forbid serving it stale.
func (p Policy) CanServeOnError(m *Meta, now time.Time) bool {
	if m.Fresh(now) {
		return true
	}
	d := ParseCacheControl(m.CacheControl)
	return staleWithin(m, now, &d, d.StaleIfError, p.StaleIfError)
}

// staleWithin reports whether m is stale by less than the window: the
// object's directive when valid, else def.
func staleWithin(m *Meta, now time.Time, d *Directives, own Delta, def time.Duration) bool {
	if m.Fresh(now) || d.forbidsStale() {
		return false
	}
	window := def
	if own.Present && own.Valid {
		window = own.Value
	}
	return now.Before(m.Expires.Add(window))
}
