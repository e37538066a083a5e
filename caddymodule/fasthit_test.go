package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestFastHitAnswersAsServeContentDoes: a plain GET or HEAD of a memory hit
// takes the fast path (no http.ServeContent); its status, headers and body
// are those of the same request with a condition that does not apply
// (If-None-Match with another ETag), which goes through ServeContent. For
// an object with Content-Encoding (no Content-Length, as ServeContent),
// one with a cache_control rule, a folder's index file asked by the folder
// and by name (two paths, one entry, different rules), and with a `header`
// directive rewriting a value in place after r2gate answered.
func TestFastHitAnswersAsServeContentDoes(t *testing.T) {
	dir := uniqueKey(t, "")
	plainKey, gzKey, index := dir+"plain.bin", dir+"style.css", dir+"docs/index.html"
	putObject(t, env.s3, plainKey, bytes.Repeat([]byte("fast hit\n"), 20000), "")
	putObject(t, env.s3, index, []byte("<h1>docs</h1>"), "")
	_, err := env.s3.Client("").PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(gzKey), Body: bytes.NewReader([]byte("gzipped bytes")),
		ContentType: aws.String("text/css"), ContentEncoding: aws.String("gzip"),
		CacheControl: aws.String("public, max-age=60"),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, base := caddyOnFreePorts(t, func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %s
	persist_config off
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	header X-Rewritten "fast hit" {
		defer
	}
	header >Etag "\"" "'"
	r2gate {
		%s
		cache_control /%sdocs/ "public, max-age=10"
		cache_control *.bin "public, max-age=99"
		cache {
			memory 64MiB
		}
	}
}
`, admin, port, bucketLines(env.s3.Endpoint), dir)
	})
	// The gzip object's bytes are not gzip: the client must not decode.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	do := func(method, path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	for _, path := range []string{"/" + plainKey, "/" + gzKey, "/" + dir + "docs/", "/" + index} {
		// Until it is a memory hit.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, _ := do(http.MethodGet, path, nil)
			if strings.Contains(resp.Header.Get("Cache-Status"), "; hit;") && strings.Contains(resp.Header.Get("Cache-Status"), "detail=memory") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became a memory hit: %q", path, resp.Header.Get("Cache-Status"))
			}
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			fast, fastBody := do(method, path, nil)
			slow, slowBody := do(method, path, map[string]string{"If-None-Match": `"not-this-one"`})
			if fast.StatusCode != http.StatusOK || slow.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %s (fast) and %s (through ServeContent)", method, path, fast.Status, slow.Status)
			}
			if !bytes.Equal(fastBody, slowBody) {
				t.Errorf("%s %s: bodies differ: %d and %d bytes", method, path, len(fastBody), len(slowBody))
			}
			for _, h := range []http.Header{fast.Header, slow.Header} {
				h.Del("Date")
				h.Del("Age") // may tick between the two
			}
			if fmt.Sprint(fast.Header) != fmt.Sprint(slow.Header) {
				t.Errorf("%s %s: headers differ\n fast: %v\n slow: %v", method, path, fast.Header, slow.Header)
			}
			if fast.Header.Get("X-Rewritten") != "fast hit" || strings.Contains(fast.Header.Get("Etag"), `"`) {
				t.Errorf("%s %s: the header directive did not apply: %v", method, path, fast.Header)
			}
		}
	}
	// The per-entry headers are per path: the folder and its index file are
	// one entry but different cache_control rules.
	a, _ := do(http.MethodGet, "/"+dir+"docs/", nil)
	b, _ := do(http.MethodGet, "/"+index, nil)
	if a.Header.Get("Cache-Control") != "public, max-age=10" || b.Header.Get("Cache-Control") == a.Header.Get("Cache-Control") {
		t.Errorf("Cache-Control of the folder %q and of its index file %q: the rule for the folder must not leak", a.Header.Get("Cache-Control"), b.Header.Get("Cache-Control"))
	}
	// The in-place rewrite of one answer does not reach the next.
	c, _ := do(http.MethodGet, "/"+plainKey, nil)
	d, _ := do(http.MethodGet, "/"+plainKey, map[string]string{"If-None-Match": `"x"`})
	if c.Header.Get("Etag") != d.Header.Get("Etag") || !strings.HasPrefix(c.Header.Get("Etag"), "'") {
		t.Errorf("Etag rewritten twice or not at all: %q then %q", c.Header.Get("Etag"), d.Header.Get("Etag"))
	}
}
