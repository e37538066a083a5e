package caddymodule_test

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// validators are one server's ETag and Last-Modified for an object, used
// to build that server's conditional requests.
type validators struct {
	etag string
	lm   time.Time
}

// condCase is one request of the differential table. Header values may use
// {etag}, {W/etag}, {lm} and {lm-1h}; each server gets its own values.
type condCase struct {
	name    string
	method  string
	headers map[string]string
	status  int // what file_server answers; checked so the table stays honest
}

func differentialCases() []condCase {
	get := func(name string, status int, kv ...string) condCase {
		h := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return condCase{name: name, method: http.MethodGet, headers: h, status: status}
	}
	head := func(c condCase) condCase { c.name = "HEAD " + c.name; c.method = http.MethodHead; return c }
	cases := []condCase{
		get("plain GET", 200),
		get("first byte", 206, "Range", "bytes=0-0"),
		get("first hundred", 206, "Range", "bytes=0-99"),
		get("middle range", 206, "Range", "bytes=1000-1999"),
		get("suffix range", 206, "Range", "bytes=-500"),
		get("suffix longer than object", 206, "Range", "bytes=-999999"),
		get("open-ended range", 206, "Range", "bytes=102000-"),
		get("open-ended from zero", 206, "Range", "bytes=0-"),
		get("end past the object is clamped", 206, "Range", "bytes=102300-999999"),
		get("multiple ranges", 206, "Range", "bytes=0-99,200-299,-10"),
		get("overlapping ranges", 206, "Range", "bytes=0-99,50-150"),
		get("ranges with one past end", 206, "Range", "bytes=0-9,999999-"),
		get("range past end is 416", 416, "Range", "bytes=102400-"),
		get("range far past end is 416", 416, "Range", "bytes=999999-1000000"),
		get("malformed range is 416", 416, "Range", "bytes=abc"),
		get("reversed range is 416", 416, "Range", "bytes=5-1"),
		get("non-bytes unit is 416", 416, "Range", "items=0-5"),
		get("If-None-Match own etag is 304", 304, "If-None-Match", "{etag}"),
		get("If-None-Match weak form is 304", 304, "If-None-Match", "{W/etag}"),
		get("If-None-Match in a list is 304", 304, "If-None-Match", `"nope", {etag}`),
		get("If-None-Match star is 304", 304, "If-None-Match", "*"),
		get("If-None-Match other etag is 200", 200, "If-None-Match", `"nope"`),
		get("If-Modified-Since last-modified is 304", 304, "If-Modified-Since", "{lm}"),
		get("If-Modified-Since earlier is 200", 200, "If-Modified-Since", "{lm-1h}"),
		get("If-Modified-Since garbage is ignored", 200, "If-Modified-Since", "yesterday"),
		get("If-None-Match mismatch beats If-Modified-Since", 200, "If-None-Match", `"nope"`, "If-Modified-Since", "{lm}"),
		get("If-Match own etag is 200", 200, "If-Match", "{etag}"),
		get("If-Match star is 200", 200, "If-Match", "*"),
		get("If-Match other etag is 412", 412, "If-Match", `"nope"`),
		get("If-Match weak etag is 412", 412, "If-Match", "{W/etag}"),
		get("If-Unmodified-Since last-modified is 200", 200, "If-Unmodified-Since", "{lm}"),
		get("If-Unmodified-Since earlier is 412", 412, "If-Unmodified-Since", "{lm-1h}"),
		get("If-Match wins over If-Unmodified-Since", 200, "If-Match", "{etag}", "If-Unmodified-Since", "{lm-1h}"),
		get("If-Range etag match gives the range", 206, "Range", "bytes=10-19", "If-Range", "{etag}"),
		get("If-Range etag mismatch gives everything", 200, "Range", "bytes=10-19", "If-Range", `"nope"`),
		get("If-Range date match gives the range", 206, "Range", "bytes=10-19", "If-Range", "{lm}"),
		get("If-Range old date gives everything", 200, "Range", "bytes=10-19", "If-Range", "{lm-1h}"),
		get("If-Range weak etag gives everything", 200, "Range", "bytes=10-19", "If-Range", "{W/etag}"),
		get("Range with matching If-None-Match is 304", 304, "Range", "bytes=0-9", "If-None-Match", "{etag}"),
		get("Range with failing If-Match is 412", 412, "Range", "bytes=0-9", "If-Match", `"nope"`),
	}
	for _, c := range cases[:14] {
		cases = append(cases, head(c))
	}
	cases = append(cases, head(get("If-None-Match own etag is 304", 304, "If-None-Match", "{etag}")))
	return cases
}

func (v validators) expand(s string) string {
	return strings.NewReplacer(
		"{etag}", v.etag,
		"{W/etag}", "W/"+v.etag,
		"{lm-1h}", v.lm.Add(-time.Hour).UTC().Format(http.TimeFormat),
		"{lm}", v.lm.UTC().Format(http.TimeFormat),
	).Replace(s)
}

// answer is what the differential test compares.
type answer struct {
	status                                   int
	contentLength, contentRange, acceptRange string
	mediaType                                string
	parts                                    []string // body, or for multipart each part's Content-Range and body
}

func fetch(t *testing.T, tester *caddytest.Tester, base, key string, c condCase, v validators) answer {
	t.Helper()
	req, err := http.NewRequest(c.method, keyURL(base, key), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, val := range c.headers {
		req.Header.Set(k, v.expand(val))
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, base, err)
	}
	defer resp.Body.Close()
	a := answer{
		status:        resp.StatusCode,
		contentLength: resp.Header.Get("Content-Length"),
		contentRange:  resp.Header.Get("Content-Range"),
		acceptRange:   resp.Header.Get("Accept-Ranges"),
	}
	a.mediaType, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if a.mediaType == "multipart/byteranges" && c.method == http.MethodGet {
		_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		mr := multipart.NewReader(resp.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: reading multipart body: %v", base, err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("%s: reading part: %v", base, err)
			}
			a.parts = append(a.parts, p.Header.Get("Content-Range")+"\n"+p.Header.Get("Content-Type")+"\n"+string(b))
		}
		return a
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading body: %v", base, err)
	}
	a.parts = []string{string(b)}
	return a
}

func validatorsOf(t *testing.T, tester *caddytest.Tester, base, key string) validators {
	t.Helper()
	resp, err := tester.Client.Head(keyURL(base, key))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil || resp.Header.Get("Etag") == "" {
		t.Fatalf("%s: HEAD %s gave no validators (status %d)", base, key, resp.StatusCode)
	}
	return validators{etag: resp.Header.Get("Etag"), lm: lm}
}

// TestDifferentialAgainstFileServer serves the same bytes with Caddy's own
// file_server and with r2gate (over versitygw and over a folder, and from
// the memory and disk tiers of its cache), and
// checks that they agree on status, Content-Length, Content-Range,
// Accept-Ranges, media type and body for a table of Range and conditional
// requests.
func TestDifferentialAgainstFileServer(t *testing.T) {
	tester := newTester(t)
	for _, key := range []string{"data.bin", "hello.txt", "empty.txt"} {
		ref := validatorsOf(t, tester, fileServerURL, key)
		servers := map[string]validators{
			bucketURL:   validatorsOf(t, tester, bucketURL, key),
			dirURL:      validatorsOf(t, tester, dirURL, key),
			cachedURL:   validatorsOf(t, tester, cachedURL, key),
			diskOnlyURL: validatorsOf(t, tester, diskOnlyURL, key),
		}
		for _, c := range differentialCases() {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				want := fetch(t, tester, fileServerURL, key, c, ref)
				if key == "data.bin" && want.status != c.status {
					t.Fatalf("file_server answered %d, the table expects %d: fix the table", want.status, c.status)
				}
				for base, v := range servers {
					got := fetch(t, tester, base, key, c, v)
					if got.status != want.status || got.contentLength != want.contentLength ||
						got.contentRange != want.contentRange || got.acceptRange != want.acceptRange ||
						got.mediaType != want.mediaType {
						t.Errorf("%s: got status %d length %q range %q accept %q type %q; file_server: %d %q %q %q %q",
							base, got.status, got.contentLength, got.contentRange, got.acceptRange, got.mediaType,
							want.status, want.contentLength, want.contentRange, want.acceptRange, want.mediaType)
					}
					if strings.Join(got.parts, "\x00") != strings.Join(want.parts, "\x00") {
						t.Errorf("%s: body differs from file_server's (%d vs %d parts)", base, len(got.parts), len(want.parts))
					}
				}
			})
		}
	}
}
