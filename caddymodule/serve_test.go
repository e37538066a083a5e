package caddymodule_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// get sends a GET with optional header pairs and returns the response
// with its body read.
func get(t *testing.T, tester *caddytest.Tester, url string, kv ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, string(b)
}

// rawGet sends path exactly as given, bypassing Go's URL handling, so
// malformed and hostile paths reach the server unchanged.
func rawGet(t *testing.T, base, path string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestObjectHeaders(t *testing.T) {
	tester := newTester(t)
	head, err := env.s3.Client("").HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("report.pdf"),
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, tester, bucketURL+"/report.pdf")
	for name, want := range map[string]string{
		"Etag":                aws.ToString(head.ETag),
		"Last-Modified":       aws.ToTime(head.LastModified).UTC().Format(http.TimeFormat),
		"Content-Type":        "application/pdf",
		"Content-Disposition": `attachment; filename="report.pdf"`,
		"Content-Language":    "en",
		"Accept-Ranges":       "bytes",
		"Content-Length":      "20",
		"Cache-Control":       "public, max-age=60", // the object's own: no rule matches
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if body != "%PDF-1.4 not really\n" {
		t.Errorf("body = %q", body)
	}

	resp, _ = get(t, tester, bucketURL+"/app.js.gz", "Accept-Encoding", "identity")
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("Content-Encoding = %q, want gzip", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/javascript" {
		t.Errorf("Content-Type = %q, want the stored application/javascript", got)
	}
}

func TestCacheControlRules(t *testing.T) {
	tester := newTester(t)
	for path, want := range map[string]string{
		"/static/app.css": "public, max-age=31536000, immutable", // first rule wins over *.css
		"/style.css":      "public, max-age=3600",
		"/report.pdf":     "public, max-age=60", // no rule: the object's own
		"/hello.txt":      "public, max-age=300",
	} {
		resp, _ := get(t, tester, bucketURL+path)
		if got := resp.Header.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control = %q, want %q", path, got, want)
		}
	}
	// The folder site has no rules and the objects no Cache-Control.
	resp, _ := get(t, tester, dirURL+"/hello.txt")
	if got := resp.Header.Get("Cache-Control"); got != "" {
		t.Errorf("no rule, no object value: Cache-Control = %q, want none", got)
	}
}

func TestMethodsOtherThanGetAndHeadAre405(t *testing.T) {
	tester := newTester(t)
	env.proxy.Reset()
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		req, _ := http.NewRequest(m, bucketURL+"/hello.txt", strings.NewReader("x"))
		resp, err := tester.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d Allow %q, want 405 with Allow: GET, HEAD", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if reqs := env.proxy.Requests(); len(reqs) != 0 {
		t.Errorf("the bucket saw %d requests for refused methods: %+v", len(reqs), reqs)
	}
	resp, body := get(t, tester, bucketURL+"/hello.txt")
	if resp.StatusCode != 200 || body != "hello, r2gate\n" {
		t.Errorf("object changed after refused writes: %d %q", resp.StatusCode, body)
	}
}

func TestKeyMapping(t *testing.T) {
	newTester(t)
	cases := []struct {
		name, path, body string
	}{
		{"percent-encoded space", "/space%20name.txt", "space\n"},
		{"literal plus is a plus", "/plus+sign.txt", "plus\n"},
		{"encoded plus is a plus", "/plus%2Bsign.txt", "plus\n"},
		{"unicode", "/unicod%C3%A9/%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB.txt", "unicode\n"},
		{"encoded slash is a slash", "/a%2Fb%2Fc.txt", "nested\n"},
		{"nested path", "/a/b/c.txt", "nested\n"},
		{"index at root", "/", "<h1>home</h1>\n"},
		{"index in a folder", "/docs/", "<h1>docs</h1>\n"},
	}
	for _, base := range []string{bucketURL, dirURL} {
		for _, c := range cases {
			resp, body := rawGet(t, base, c.path)
			if resp.StatusCode != 200 || body != c.body {
				t.Errorf("%s %s (%s): %d %q, want 200 %q", base, c.path, c.name, resp.StatusCode, body, c.body)
			}
		}
	}
}

func TestMalformedAndHostilePathsAre400(t *testing.T) {
	newTester(t)
	paths := []string{
		"/../secret.txt",
		"/a/../../secret.txt",
		"/%2e%2e/secret.txt",
		"/a/%2E%2E/%2e%2e/secret.txt",
		"/..%2Fsecret.txt",
		"/%2e%2e%2f%2e%2e%2fetc/passwd",
		"/a/./b/c.txt",
		"/hello.txt%00.png",
		"/%ff%fe.txt",
		"/bad%01control",
		"/..",
	}
	for _, base := range []string{bucketURL, dirURL} {
		env.proxy.Reset()
		for _, p := range paths {
			resp, body := rawGet(t, base, p)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %s: status %d, want 400", base, p, resp.StatusCode)
			}
			if strings.Contains(body, "TOP SECRET") || len(body) > 100 {
				t.Errorf("%s %s: body %q, want a short error", base, p, body)
			}
		}
		if base == bucketURL {
			if reqs := env.proxy.Requests(); len(reqs) != 0 {
				t.Errorf("refused paths reached the bucket: %+v", reqs)
			}
		}
	}
	resp, _ := rawGet(t, bucketURL, "/"+strings.Repeat("k", 1100))
	if resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("1100-byte key: status %d, want 414", resp.StatusCode)
	}
	// A 300-byte path segment is under R2's key limit, but versitygw
	// refuses it (KeyTooLongError): the client's fault, not a 502, with
	// and without a cache.
	for _, base := range []string{bucketURL, cachedURL} {
		// Under a folder that exists: versitygw answers a missing folder
		// with 404 NoSuchKey, whatever the name's length.
		resp, body := rawGet(t, base, "/docs/"+strings.Repeat("s", 300)+".txt")
		if resp.StatusCode != http.StatusRequestURITooLong || len(body) > 100 || strings.Contains(body, "<") {
			t.Errorf("%s, 300-byte segment: %d %q, want a short 414", base, resp.StatusCode, body)
		}
	}
}

func TestSymlinkOutOfFolderIsNotServed(t *testing.T) {
	newTester(t)
	resp, body := rawGet(t, dirURL, "/escape.txt")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "TOP SECRET") {
		t.Errorf("symlink out of the folder: %d %q, want 404 without the secret", resp.StatusCode, body)
	}
}

func TestMissingObjectIs404WithShortBody(t *testing.T) {
	tester := newTester(t)
	for _, base := range []string{bucketURL, dirURL} {
		resp, body := get(t, tester, base+"/no/such/object.png")
		if resp.StatusCode != 404 || body != "404 Not Found\n" ||
			resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: %d %q (%s), want 404 with a one-line body", base, resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
		resp, _ = get(t, tester, base+"/nothing-here/")
		if resp.StatusCode != 404 {
			t.Errorf("%s: folder without index: %d, want 404", base, resp.StatusCode)
		}
	}
}

func TestFolderWithoutSlashRedirects(t *testing.T) {
	tester := newTester(t)
	tester.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer func() { tester.Client.CheckRedirect = nil }()
	for _, base := range []string{bucketURL, dirURL} {
		resp, _ := get(t, tester, base+"/docs?x=1")
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "/docs/?x=1" {
			t.Errorf("%s/docs: %d Location %q, want 308 to /docs/?x=1", base, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A path starting with // must not become a redirect to another host.
	resp, _ := rawGet(t, bucketURL, "//docs")
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "//") {
		t.Errorf("//docs redirected to %q, an open redirect", loc)
	}
}

func TestPrefixStripPrefixAndPassThru(t *testing.T) {
	tester := newTester(t)
	resp, body := get(t, tester, passURL+"/cdn/b/c.txt")
	if resp.StatusCode != 200 || body != "nested\n" {
		t.Errorf("/cdn/b/c.txt → key a/b/c.txt: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, tester, passURL+"/cdn/hello.txt") // key a/hello.txt is missing
	if resp.StatusCode != 404 || body != "custom not found" {
		t.Errorf("pass_thru: %d %q, want the next handler's 404", resp.StatusCode, body)
	}
	resp, body = get(t, tester, passURL+"/b/c.txt") // no /cdn: key a/b/c.txt all the same
	if resp.StatusCode != 200 || body != "nested\n" {
		t.Errorf("path without strip_prefix: %d %q", resp.StatusCode, body)
	}
}

func TestBucketErrorsAreShortAndSafe(t *testing.T) {
	tester := newTester(t)
	resp, body := get(t, tester, badKeyURL+"/hello.txt")
	if resp.StatusCode != http.StatusBadGateway || body != "502 Bad Gateway\n" {
		t.Errorf("wrong secret: %d %q, want 502 with a one-line body", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body = get(t, tester, stuckURL+"/hello.txt")
	if resp.StatusCode != http.StatusGatewayTimeout || body != "504 Gateway Timeout\n" {
		t.Errorf("stuck bucket: %d %q, want 504 with a one-line body", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("5xx Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a 300ms timeout took %v to answer", time.Since(start))
	}
}

func TestRangesAreForwardedAsRangedGets(t *testing.T) {
	tester := newTester(t)
	etag := validatorsOf(t, tester, bucketURL, "data.bin").etag

	env.proxy.Reset()
	get(t, tester, bucketURL+"/data.bin")
	if reqs := env.proxy.Requests(); len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Range != "" {
		t.Errorf("plain GET: bucket saw %+v, want one full GET", reqs)
	}

	env.proxy.Reset()
	resp, body := get(t, tester, bucketURL+"/data.bin", "Range", "bytes=1000-1999")
	if resp.StatusCode != 206 || len(body) != 1000 {
		t.Fatalf("range: %d with %d bytes", resp.StatusCode, len(body))
	}
	reqs := env.proxy.Requests()
	var gets []string
	for _, r := range reqs {
		if r.Method == "GET" {
			gets = append(gets, r.Range)
			if r.IfMatch != etag {
				t.Errorf("ranged GET If-Match = %q, want the ETag %q", r.IfMatch, etag)
			}
		}
	}
	if len(gets) != 1 || gets[0] != "bytes=1000-1999" {
		t.Errorf("range request: bucket GETs %q, want exactly [bytes=1000-1999] (all requests: %+v)", gets, reqs)
	}

	env.proxy.Reset()
	get(t, tester, bucketURL+"/data.bin", "Range", "bytes=0-99,90000-90099") // more than origin.MergeGap apart
	gets = nil
	for _, r := range env.proxy.Requests() {
		if r.Method == "GET" {
			gets = append(gets, r.Range)
		}
	}
	if strings.Join(gets, " ") != "bytes=0-99 bytes=90000-90099" {
		t.Errorf("multi-range: bucket GETs %q, want one ranged GET per range", gets)
	}
}

func TestHandleErrorsRoutesMakeTheAnswer(t *testing.T) {
	newTester(t)
	for path, want := range map[string]string{
		"/no/such/object": "custom 404",
		"/../secret.txt":  "custom 400",
	} {
		resp, body := rawGet(t, errorsURL, path)
		if body != want || strconv.Itoa(resp.StatusCode) != want[len("custom "):] {
			t.Errorf("%s: %d %q, want %q from handle_errors", path, resp.StatusCode, body, want)
		}
	}
	resp, body := rawGet(t, errorsURL, "/hello.txt")
	if resp.StatusCode != 200 || body != "hello, r2gate\n" {
		t.Errorf("found object with handle_errors: %d %q", resp.StatusCode, body)
	}
}
