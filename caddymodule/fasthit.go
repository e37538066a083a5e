package caddymodule

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/r2gate/r2gate/cache"
)

// The fast path of a memory hit. A plain GET or HEAD (no Range, no
// condition) of an object in the memory tier is answered without
// http.ServeContent, with headers formatted once per entry and kept on it
// (cache.BodyRef.Annotation), and the status line and the body written
// straight from the tier's memory. The answer is the one ServeContent
// gives such a request: status 200, Last-Modified unless the time is zero,
// Accept-Ranges: bytes, Content-Length unless the object has a
// Content-Encoding; TestFastHitAnswersAsServeContentDoes compares them.

// plainRequest reports whether r asks for the whole object with no
// condition: the requests the fast path answers. Such a request also lets
// the cache hand out a pooled Response (cache.GetOptions.Reuse): nothing
// reads the body after the handler returns.
func plainRequest(r *http.Request) bool {
	h := r.Header
	return len(h["Range"]) == 0 && len(h["If-Match"]) == 0 && len(h["If-None-Match"]) == 0 &&
		len(h["If-Modified-Since"]) == 0 && len(h["If-Unmodified-Since"]) == 0 && len(h["If-Range"]) == 0
}

// hitHeaders are an entry's formatted headers for one handler and request
// path (cache_control rules match the path, and two paths can name one
// key: a folder and its index file). Immutable once stored, except the
// per-second Age and Cache-Status memo.
type hitHeaders struct {
	h    *Handler
	path string
	// names and values of the entry's own headers, in order; set copies
	// the values into one fresh slice per request (a later handler may
	// change a header value in place).
	names  []string
	values []string
	size   int64
	status atomic.Pointer[hitStatus]
}

// hitStatus is the Age and Cache-Status of an entry for one second.
type hitStatus struct {
	key    statusKey
	age    string
	status string
}

// statusKey is what the two headers depend on, in whole seconds.
type statusKey struct {
	age, ttl int64
	hit      bool
	detail   string
}

// acceptRanges is the value ServeContent sends.
const acceptRanges = "bytes"

// newHitHeaders formats the headers of the entry ans holds, as
// writeHeaders and http.ServeContent would set them.
func (h *Handler) newHitHeaders(r *http.Request, ans *answer) *hitHeaders {
	info := ans.info
	hh := &hitHeaders{h: h, path: r.URL.Path, size: info.Size}
	add := func(name, value string) {
		if value != "" {
			hh.names = append(hh.names, name)
			hh.values = append(hh.values, value)
		}
	}
	add("Content-Type", contentType(info.ContentType, info.Key))
	add("Etag", info.ETag)
	add("Content-Encoding", info.ContentEncoding)
	add("Content-Disposition", info.ContentDisposition)
	add("Content-Language", info.ContentLanguage)
	add("Cache-Control", h.cacheControl(r.URL.Path, info.CacheControl))
	if t := info.LastModified; !t.IsZero() && !t.Equal(time.Unix(0, 0)) {
		add("Last-Modified", t.UTC().Format(http.TimeFormat))
	}
	add("Accept-Ranges", acceptRanges)
	if info.ContentEncoding == "" {
		add("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	return hh
}

// serveFastHit answers a plain request from a memory-tier body: the
// headers from the entry's annotation (made on the entry's first fast
// hit), the status line, and the body from the tier's memory.
func (h *Handler) serveFastHit(w http.ResponseWriter, r *http.Request, ans *answer, ref *cache.BodyRef) {
	hh, _ := ref.Annotation().(*hitHeaders)
	if hh == nil || hh.h != h || hh.path != r.URL.Path {
		hh = h.newHitHeaders(r, ans)
		ref.SetAnnotation(hh)
	}
	hdr := w.Header()
	vals := make([]string, len(hh.values)+2)
	copy(vals, hh.values)
	for i, name := range hh.names {
		hdr[name] = vals[i : i+1 : i+1]
	}
	st := hh.statusFor(ans)
	n := len(hh.values)
	vals[n], vals[n+1] = st.age, st.status
	hdr["Age"] = vals[n : n+1 : n+1]
	hdr["Cache-Status"] = vals[n+1 : n+2 : n+2]
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if hh.size > defaultWriteChunk {
			defer widenChunks(w)()
		}
		ref.WriteTo(w)
	}
	if h.metrics != nil {
		h.metrics.request(ans.tier, ans.outcome)
		if r.Method == http.MethodGet {
			h.metrics.served(ans.tier, hh.size)
		}
	}
}

// statusFor returns the Age and Cache-Status values of ans, formatted at
// most once a second per entry.
func (hh *hitHeaders) statusFor(ans *answer) *hitStatus {
	k := statusKey{age: int64(ans.age / time.Second), ttl: cache.FloorSeconds(ans.status.TTL), hit: ans.status.Hit, detail: ans.status.Detail}
	memo := ans.status.Fwd == "" && ans.status.HasTTL // k says all of the status
	if st := hh.status.Load(); memo && st != nil && st.key == k {
		return st
	}
	st := &hitStatus{key: k, age: strconv.FormatInt(k.age, 10), status: ans.status.String()}
	if memo {
		hh.status.Store(st)
	}
	return st
}
