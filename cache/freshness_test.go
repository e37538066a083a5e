package cache

import (
	"strings"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// sec is a valid delta-seconds value of n seconds.
func sec(n int64) Delta {
	return Delta{Present: true, Valid: true, Value: time.Duration(n) * time.Second}
}

// badDelta is a present but invalid delta-seconds value.
var badDelta = Delta{Present: true}

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Directives
	}{
		{"empty", "", Directives{}},
		{"only separators", " , ;\t,", Directives{}},
		{"no-store", "no-store", Directives{NoStore: true}},
		{"no-cache", "no-cache", Directives{NoCache: true}},
		{"private", "private", Directives{Private: true}},
		{"public", "public", Directives{Public: true}},
		{"must-revalidate", "must-revalidate", Directives{MustRevalidate: true}},
		{"proxy-revalidate", "proxy-revalidate", Directives{ProxyRevalidate: true}},
		{"immutable", "immutable", Directives{Immutable: true}},
		{"max-age", "max-age=60", Directives{MaxAge: sec(60)}},
		{"s-maxage", "s-maxage=600", Directives{SMaxAge: sec(600)}},
		{"stale-while-revalidate", "stale-while-revalidate=30", Directives{StaleWhileRevalidate: sec(30)}},
		{"stale-if-error", "stale-if-error=86400", Directives{StaleIfError: sec(86400)}},
		{"max-age zero", "max-age=0", Directives{MaxAge: sec(0)}},
		{"leading zeros", "max-age=007", Directives{MaxAge: sec(7)}},
		{"names are case-insensitive", "No-Store, MAX-AGE=5, S-MaxAge=6, Stale-While-Revalidate=7, STALE-IF-ERROR=8, Private, NO-CACHE, Must-Revalidate, IMMUTABLE",
			Directives{NoStore: true, Private: true, NoCache: true, MustRevalidate: true, Immutable: true,
				MaxAge: sec(5), SMaxAge: sec(6), StaleWhileRevalidate: sec(7), StaleIfError: sec(8)}},
		{"typical static asset", "public, max-age=31536000, immutable",
			Directives{Public: true, Immutable: true, MaxAge: sec(31536000)}},
		{"edge and browser TTLs", "public, max-age=60, s-maxage=3600, stale-while-revalidate=60, stale-if-error=86400",
			Directives{Public: true, MaxAge: sec(60), SMaxAge: sec(3600), StaleWhileRevalidate: sec(60), StaleIfError: sec(86400)}},
		{"quoted value", `max-age="120"`, Directives{MaxAge: sec(120)}},
		{"spaces everywhere", "  max-age = 60 ,   public  ", Directives{MaxAge: sec(60), Public: true}},
		{"no spaces", "public,max-age=1,no-cache", Directives{Public: true, MaxAge: sec(1), NoCache: true}},
		{"missing comma still reads both", "private max-age=60", Directives{Private: true, MaxAge: sec(60)}},
		{"semicolons as separators", "max-age=60; s-maxage=10", Directives{MaxAge: sec(60), SMaxAge: sec(10)}},
		{"duplicate: first wins", "max-age=10, max-age=20", Directives{MaxAge: sec(10)}},
		{"duplicate: first wins even when invalid", "max-age=abc, max-age=20", Directives{MaxAge: badDelta}},
		{"duplicate flags are harmless", "no-store, no-store", Directives{NoStore: true}},
		{"invalid number is present but not valid", "max-age=12abc", Directives{MaxAge: badDelta}},
		{"negative is invalid", "max-age=-5", Directives{MaxAge: badDelta}},
		{"plus sign is invalid", "s-maxage=+5", Directives{SMaxAge: badDelta}},
		{"fraction is invalid", "max-age=1.5", Directives{MaxAge: badDelta}},
		{"missing value is invalid", "max-age", Directives{MaxAge: badDelta}},
		{"empty value is invalid", "max-age=, public", Directives{MaxAge: badDelta, Public: true}},
		{"empty quoted value is invalid", `max-age=""`, Directives{MaxAge: badDelta}},
		{"escape inside quoted number is invalid", `max-age="1\2"`, Directives{MaxAge: badDelta}},
		{"huge value is capped at 2^31 seconds", "max-age=99999999999999999999999999", Directives{MaxAge: sec(1 << 31)}},
		{"2^31 exactly", "max-age=2147483648", Directives{MaxAge: sec(1 << 31)}},
		{"just under 2^31", "max-age=2147483647", Directives{MaxAge: sec(1<<31 - 1)}},
		{"qualified private", `private="Set-Cookie", max-age=60`, Directives{Private: true, MaxAge: sec(60)}},
		{"qualified no-cache with a comma inside the quotes", `no-cache="Set-Cookie, X-Foo", max-age=60`,
			Directives{NoCache: true, MaxAge: sec(60)}},
		{"escaped quote inside a quoted value", `foo="a\", max-age=1", s-maxage=2`, Directives{SMaxAge: sec(2)}},
		{"unterminated quote swallows the rest", `foo="abc, no-store`, Directives{}},
		{"flag with a value is still the flag", "no-store=1", Directives{NoStore: true}},
		{"unknown directives are skipped", "foo, bar=baz, max-age=3, x=\"y\"", Directives{MaxAge: sec(3)}},
		{"prefix of a name is not the name", "max-ag=3, no-stor, privat", Directives{}},
		{"name with a suffix is not the name", "max-agex=3, no-stores", Directives{}},
		{"stray equals", "=5, =, max-age=9", Directives{MaxAge: sec(9)}},
		{"non-ASCII is skipped", "ü=1, max-age=4, ☃", Directives{MaxAge: sec(4)}},
		{"Unicode case folding does not apply", "no-\u017ftore, \u212a", Directives{}},
		{"control byte is not a hyphen", "no\rstore, max\rage=1", Directives{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCacheControl(tc.in); got != tc.want {
				t.Errorf("ParseCacheControl(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCacheControlDoesNotAllocate(t *testing.T) {
	v := `public, max-age=60, s-maxage="3600", no-cache="Set-Cookie, X", stale-while-revalidate=30`
	if n := testing.AllocsPerRun(100, func() { _ = ParseCacheControl(v) }); n != 0 {
		t.Errorf("%v allocations per parse, want 0", n)
	}
}

var freshNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestPolicyDecide(t *testing.T) {
	p := Policy{DefaultTTL: 5 * time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: time.Hour}
	for _, tc := range []struct {
		name      string
		cc        string
		wantStore bool
		wantTTL   time.Duration
	}{
		{"nothing said: default TTL", "", true, 5 * time.Minute},
		{"public only: default TTL", "public", true, 5 * time.Minute},
		{"max-age", "max-age=60", true, time.Minute},
		{"s-maxage wins over max-age", "max-age=60, s-maxage=600", true, 10 * time.Minute},
		{"s-maxage wins when it comes second", "s-maxage=600, max-age=60", true, 10 * time.Minute},
		{"s-maxage alone", "s-maxage=7", true, 7 * time.Second},
		{"max-age=0 stored but stale at once", "max-age=0", true, 0},
		{"s-maxage=0 beats a long max-age", "max-age=3600, s-maxage=0", true, 0},
		{"no-store is not stored", "no-store", false, 0},
		{"no-store beats max-age", "max-age=3600, no-store", false, 0},
		{"private is not stored", "private, max-age=3600", false, 0},
		{"qualified private is not stored", `private="Set-Cookie"`, false, 0},
		{"no-cache stored but expires now", "no-cache", true, 0},
		{"no-cache beats s-maxage", "s-maxage=3600, no-cache", true, 0},
		{"no-store beats no-cache", "no-cache, no-store", false, 0},
		{"invalid max-age is stale at once", "max-age=soon", true, 0},
		{"invalid s-maxage is stale even with a valid max-age", "s-maxage=x, max-age=60", true, 0},
		{"invalid max-age does not matter under a valid s-maxage", "max-age=x, s-maxage=60", true, time.Minute},
		{"stale-* do not change the TTL", "stale-while-revalidate=60, stale-if-error=60", true, 5 * time.Minute},
		{"immutable does not change the TTL", "immutable", true, 5 * time.Minute},
		{"huge max-age is capped", "max-age=999999999999", true, 1 << 31 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, expires := p.Decide(origin.Info{Key: "k", CacheControl: tc.cc}, freshNow)
			if store != tc.wantStore {
				t.Fatalf("store = %v, want %v", store, tc.wantStore)
			}
			if !store {
				if !expires.IsZero() {
					t.Errorf("expires = %v for an object not stored", expires)
				}
				return
			}
			if got := expires.Sub(freshNow); got != tc.wantTTL {
				t.Errorf("TTL = %v, want %v", got, tc.wantTTL)
			}
		})
	}
}

func TestPolicyDecideWithoutDefaultTTLRevalidates(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		store, expires := Policy{DefaultTTL: ttl}.Decide(origin.Info{}, freshNow)
		if !store || !expires.Equal(freshNow) {
			t.Errorf("DefaultTTL %v: store %v, expires %v; want stored, expiring now", ttl, store, expires)
		}
	}
}

// staleMeta is an entry that expired `ago` before freshNow (negative: still
// fresh) with the given Cache-Control.
func staleMeta(cc string, ago time.Duration) *Meta {
	return &Meta{
		Info:    origin.Info{Key: "k", CacheControl: cc},
		Stored:  freshNow.Add(-ago - time.Hour),
		Expires: freshNow.Add(-ago),
	}
}

func TestPolicyStaleServing(t *testing.T) {
	p := Policy{DefaultTTL: time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: time.Hour}
	for _, tc := range []struct {
		name        string
		cc          string
		ago         time.Duration
		wantSWR     bool
		wantOnError bool
	}{
		{"fresh: not stale, servable on error", "", -time.Second, false, true},
		{"just expired", "", 0, true, true},
		{"inside both windows", "", 30 * time.Second, true, true},
		{"at the SWR edge", "", time.Minute, false, true},
		{"past SWR, inside SIE", "", 30 * time.Minute, false, true},
		{"at the SIE edge", "", time.Hour, false, false},
		{"past both", "", 2 * time.Hour, false, false},
		{"object's SWR overrides the policy", "stale-while-revalidate=600", 5 * time.Minute, true, true},
		{"object's SWR=0 turns it off", "stale-while-revalidate=0", time.Second, false, true},
		{"object's SIE overrides the policy", "stale-if-error=10", 30 * time.Second, true, false},
		{"object's SIE extends past the policy", "stale-if-error=86400", 2 * time.Hour, false, true},
		{"invalid object SWR falls back to the policy", "stale-while-revalidate=x", 30 * time.Second, true, true},
		{"must-revalidate forbids stale", "must-revalidate, stale-while-revalidate=600, stale-if-error=600", time.Second, false, false},
		{"proxy-revalidate forbids stale", "proxy-revalidate", time.Second, false, false},
		{"no-cache forbids stale", "no-cache", time.Second, false, false},
		{"must-revalidate still serves a fresh entry on error", "must-revalidate", -time.Second, false, true},
		{"s-maxage does not forbid stale", "s-maxage=60", time.Second, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := staleMeta(tc.cc, tc.ago)
			if got := p.CanServeStale(m, freshNow); got != tc.wantSWR {
				t.Errorf("CanServeStale = %v, want %v", got, tc.wantSWR)
			}
			if got := p.CanServeOnError(m, freshNow); got != tc.wantOnError {
				t.Errorf("CanServeOnError = %v, want %v", got, tc.wantOnError)
			}
		})
	}
}

func TestPolicyWithoutStaleWindowsNeverServesStale(t *testing.T) {
	var p Policy
	m := staleMeta("", time.Nanosecond)
	if p.CanServeStale(m, freshNow) || p.CanServeOnError(m, freshNow) {
		t.Error("zero Policy serves a stale entry")
	}
}

func TestCacheStatusString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   CacheStatus
		want string
	}{
		{"memory hit", CacheStatus{Hit: true, TTL: 120 * time.Second, HasTTL: true, Detail: "memory"},
			"r2gate; hit; ttl=120; detail=memory"},
		{"disk hit", CacheStatus{Hit: true, TTL: 5 * time.Second, HasTTL: true, Detail: "disk"},
			"r2gate; hit; ttl=5; detail=disk"},
		{"miss stored", CacheStatus{Fwd: FwdMiss, FwdStatus: 200, Stored: true},
			"r2gate; fwd=miss; fwd-status=200; stored"},
		{"uri-miss stored with TTL", CacheStatus{Fwd: FwdURIMiss, FwdStatus: 200, TTL: time.Hour, HasTTL: true, Stored: true},
			"r2gate; fwd=uri-miss; fwd-status=200; ttl=3600; stored"},
		{"revalidated with 304", CacheStatus{Fwd: FwdStale, FwdStatus: 304, TTL: time.Minute, HasTTL: true, Stored: true, Detail: "memory"},
			"r2gate; fwd=stale; fwd-status=304; ttl=60; stored; detail=memory"},
		{"stale while revalidate is a hit with negative TTL", CacheStatus{Hit: true, TTL: -30 * time.Second, HasTTL: true, Detail: "memory"},
			"r2gate; hit; ttl=-30; detail=memory"},
		{"stale by half a second rounds down to -1", CacheStatus{Hit: true, TTL: -500 * time.Millisecond, HasTTL: true},
			"r2gate; hit; ttl=-1"},
		{"fresh for 1.9s rounds down to 1", CacheStatus{Hit: true, TTL: 1900 * time.Millisecond, HasTTL: true},
			"r2gate; hit; ttl=1"},
		{"zero TTL is sent when set", CacheStatus{Hit: true, HasTTL: true}, "r2gate; hit; ttl=0"},
		{"bypass", CacheStatus{Fwd: FwdBypass, FwdStatus: 200}, "r2gate; fwd=bypass; fwd-status=200"},
		{"bucket error without status", CacheStatus{Fwd: FwdMiss}, "r2gate; fwd=miss"},
		{"collapsed miss", CacheStatus{Fwd: FwdMiss, FwdStatus: 200, Collapsed: true},
			"r2gate; fwd=miss; fwd-status=200; collapsed"},
		{"hit drops fwd", CacheStatus{Hit: true, Fwd: FwdMiss, FwdStatus: 200}, "r2gate; hit"},
		{"fwd-status without fwd is not sent", CacheStatus{FwdStatus: 200}, "r2gate"},
		{"fwd-status that is no status code is not sent", CacheStatus{Fwd: FwdMiss, FwdStatus: 1000}, "r2gate; fwd=miss"},
		{"invalid fwd token is not sent", CacheStatus{Fwd: "no such"}, "r2gate"},
		{"key as sf-string", CacheStatus{Hit: true, Key: `img/a "b".jpg`}, `r2gate; hit; key="img/a \"b\".jpg"`},
		{"key with backslash and UTF-8", CacheStatus{Hit: true, Key: `a\b/ü`}, `r2gate; hit; key="a\\b/%C3%BC"`},
		{"detail not a token becomes a string", CacheStatus{Hit: true, Detail: "memory tier"}, `r2gate; hit; detail="memory tier"`},
		{"detail starting with a digit becomes a string", CacheStatus{Hit: true, Detail: "2nd"}, `r2gate; hit; detail="2nd"`},
		{"custom name", CacheStatus{Name: "edge-1", Hit: true}, "edge-1; hit"},
		{"name not a token becomes a string", CacheStatus{Name: "my cache", Hit: true}, `"my cache"; hit`},
		{"nothing", CacheStatus{}, "r2gate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("String()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCacheStatusFwdConstantsAreTokens(t *testing.T) {
	for _, f := range []string{FwdBypass, FwdMethod, FwdURIMiss, FwdVaryMiss, FwdMiss, FwdRequest, FwdStale, FwdPartial} {
		if got := (CacheStatus{Fwd: f}).String(); got != "r2gate; fwd="+f {
			t.Errorf("fwd %q serialised as %q", f, got)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{
		"", "no-store", "public, max-age=31536000, immutable", `private="Set-Cookie, X"`,
		"max-age=60, s-maxage=3600, stale-while-revalidate=30, stale-if-error=86400",
		`max-age="12`, "max-age=99999999999999999999", "MAX-AGE=1;no-cache must-revalidate",
		`a="\"`, "=,=;=", "max-age=-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := ParseCacheControl(v)
		for name, a := range map[string]Delta{
			"max-age": d.MaxAge, "s-maxage": d.SMaxAge,
			"stale-while-revalidate": d.StaleWhileRevalidate, "stale-if-error": d.StaleIfError,
		} {
			if a.Value < 0 || a.Value > maxDelta {
				t.Errorf("%s = %v out of [0, 2^31s]", name, a.Value)
			}
			if !a.Valid && a.Value != 0 {
				t.Errorf("%s invalid but has value %v", name, a.Value)
			}
			if a.Valid && !a.Present {
				t.Errorf("%s valid but not present", name)
			}
			if a.Present && !containsFold(v, name) {
				t.Errorf("%s present but not in %q", name, v)
			}
		}
		for name, set := range map[string]bool{
			"no-store": d.NoStore, "no-cache": d.NoCache, "private": d.Private, "public": d.Public,
			"must-revalidate": d.MustRevalidate, "proxy-revalidate": d.ProxyRevalidate, "immutable": d.Immutable,
		} {
			if set && !containsFold(v, name) {
				t.Errorf("%s set but not in %q", name, v)
			}
		}
		if again := ParseCacheControl(v); again != d {
			t.Errorf("not deterministic for %q", v)
		}
		store, expires := Policy{DefaultTTL: time.Minute}.Decide(origin.Info{CacheControl: v}, freshNow)
		if store && expires.Before(freshNow) {
			t.Errorf("expires %v before now for %q", expires, v)
		}
		cs := CacheStatus{Key: v, Detail: v, Name: v, Fwd: v, Hit: len(v)%2 == 0}.String()
		for i := 0; i < len(cs); i++ {
			if cs[i] < 0x20 || cs[i] > 0x7e {
				t.Fatalf("Cache-Status %q has byte %#x outside printable ASCII", cs, cs[i])
			}
		}
	})
}

// containsFold reports whether s contains sub, ignoring ASCII case.
func containsFold(s, sub string) bool {
	lower := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, s)
	}
	return strings.Contains(lower(s), lower(sub))
}
