package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/r2gate/r2gate/auth"
)

// uploadSite is a site where PUT and DELETE go to an r2gate route with an
// upload block (JWTs with a write scope, or signed URLs), and reads to a
// public route; both share one cache, as a real asset domain would.
func uploadSite(endpoint string) func(admin, port string) string {
	return func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %[1]s
	persist_config off
}
http://127.0.0.1:%[2]s {
	bind 127.0.0.1
	@write method PUT DELETE
	route @write {
		r2gate {
			%[3]s
			cache {
				memory 64MiB
			}
			jwt {
				secret %[4]s
				write_scope_claim write
			}
			signed_url {
				key k1 %[5]s
			}
			upload {
				max_size 40MiB
				part_size 5MiB
			}
		}
	}
	r2gate {
		%[3]s
		cache {
			memory 64MiB
		}
	}
}
`, admin, port, bucketLines(endpoint), jwtSecret, signK1)
	}
}

// writer is a JWT that may write below prefix.
func writer(t *testing.T, prefix string) string {
	c := validClaims()
	c["write"] = []string{prefix}
	return token(t, jwtSecret, c)
}

// send makes a request with a body and headers (name, value pairs) and
// returns the status, the headers and the body.
func send(t *testing.T, method, u string, body []byte, kv ...string) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// signedPath signs path (with extra signed query parameters) with k1.
func signedPath(path string, q url.Values) string {
	return auth.Sign(path, q, "k1", []byte(signK1), time.Now().Add(time.Hour))
}

// multipartUploads returns the multipart uploads in progress under prefix.
func multipartUploads(t *testing.T, prefix string) int {
	t.Helper()
	out, err := env.s3.Client("").ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatalf("listing multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

func TestUploadNeedsACredentialThatAllowsTheWrite(t *testing.T) {
	_, _, base := caddyOnFreePorts(t, uploadSite(env.proxy.Endpoint))
	dir := uniqueKey(t, "")
	key := dir + "a.txt"
	body := []byte("uploaded")
	roClaims := validClaims()
	readOnly := token(t, jwtSecret, roClaims)

	for _, c := range []struct {
		name   string
		path   string
		kv     []string
		status int
	}{
		{"no credential", "/" + key, nil, 401},
		{"a read-only token", "/" + key, []string{"Authorization", "Bearer " + readOnly}, 403},
		{"a token for another prefix", "/" + key, []string{"Authorization", "Bearer " + writer(t, "elsewhere/")}, 403},
		{"a token signed with another secret", "/" + key, []string{"Authorization", "Bearer " + token(t, "not-the-secret-0123456789abcdefgh", validClaims())}, 403},
		{"a signed GET URL", signedPath("/"+key, nil), nil, 403},
		{"a signed PUT URL for another key", "/" + key + "?" + strings.SplitN(signedPath("/"+dir+"b.txt", url.Values{"method": {"PUT"}}), "?", 2)[1], nil, 403},
		{"a signed DELETE URL", signedPath("/"+key, url.Values{"method": {"DELETE"}}), nil, 403},
		{"a signed PUT URL for another content type", signedPath("/"+key, url.Values{"method": {"PUT"}, "content_type": {"image/png"}}), []string{"Content-Type", "text/plain"}, 403},
	} {
		status, _, b := send(t, http.MethodPut, base+c.path, body, c.kv...)
		if status != c.status || len(b) > 120 {
			t.Errorf("%s: %d %q, want %d", c.name, status, b, c.status)
		}
	}
	if n := bucketCalls(http.MethodPut, key); n != 0 {
		t.Fatalf("refused writes reached the bucket %d times", n)
	}
	// The right credentials write.
	if status, _, b := send(t, http.MethodPut, base+"/"+key, body, "Authorization", "Bearer "+writer(t, dir)); status != 201 {
		t.Fatalf("PUT with a write token: %d %q, want 201", status, b)
	}
	signed := signedPath("/"+dir+"s.txt", url.Values{"method": {"PUT"}, "max_size": {"100"}, "content_type": {"text/plain"}})
	if status, _, b := send(t, http.MethodPut, base+signed, body, "Content-Type", "text/plain"); status != 201 {
		t.Fatalf("PUT with a signed PUT URL: %d %q, want 201", status, b)
	}
	if status, _, _ := send(t, http.MethodPut, base+signed, bytes.Repeat([]byte("x"), 101), "Content-Type", "text/plain"); status != 413 {
		t.Errorf("PUT over the signed max_size: %d, want 413", status)
	}
	if status, _, b := send(t, http.MethodDelete, base+signedPath("/"+dir+"s.txt", url.Values{"method": {"DELETE"}}), nil); status != 204 {
		t.Errorf("DELETE with a signed DELETE URL: %d %q, want 204", status, b)
	}
	// Keys are checked as for reads, and variant keys are reserved.
	for _, p := range []string{"/" + dir + "../x.txt", "/" + dir + "a.jpg%3Fw=400", "/" + dir} {
		if status, _, _ := send(t, http.MethodPut, base+p, body, "Authorization", "Bearer "+writer(t, "")); status != 400 {
			t.Errorf("PUT %s: %d, want 400", p, status)
		}
	}
	// Other methods go to the read route, which answers 405.
	if status, hdr, _ := send(t, http.MethodPost, base+"/"+key, body); status != 405 || hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q; want 405", status, hdr.Get("Allow"))
	}
}

func TestUploadIsVisibleAtOnceEverywhere(t *testing.T) {
	_, _, base := caddyOnFreePorts(t, uploadSite(env.proxy.Endpoint))
	dir := uniqueKey(t, "")
	key := dir + "page.html"
	auth := []string{"Authorization", "Bearer " + writer(t, dir)}

	// A miss is remembered (negative caching) ...
	if status, _, _ := send(t, http.MethodGet, base+"/"+key, nil); status != 404 {
		t.Fatalf("before the upload: %d, want 404", status)
	}
	// ... and forgotten by the write.
	status, hdr, b := send(t, http.MethodPut, base+"/"+key, []byte("v1"), append(auth, "Cache-Control", "public, max-age=600")...)
	if status != 201 || hdr.Get("Etag") == "" {
		t.Fatalf("first PUT: %d %q ETag %q, want 201 with an ETag", status, b, hdr.Get("Etag"))
	}
	etag1 := hdr.Get("Etag")
	for range 2 {
		if status, hdr, b := send(t, http.MethodGet, base+"/"+key, nil); status != 200 || b != "v1" ||
			hdr.Get("Content-Type") != "text/html; charset=utf-8" || hdr.Get("Cache-Control") != "public, max-age=600" {
			t.Fatalf("GET after the first PUT: %d %q %q %q", status, b, hdr.Get("Content-Type"), hdr.Get("Cache-Control"))
		}
	}
	if _, hdr, _ := send(t, http.MethodGet, base+"/"+key, nil); !strings.Contains(hdr.Get("Cache-Status"), "; hit") {
		t.Fatalf("the object is not cached: %q", hdr.Get("Cache-Status"))
	}
	status, hdr, _ = send(t, http.MethodPut, base+"/"+key, []byte("v2"), auth...)
	if status != 200 || hdr.Get("Etag") == etag1 {
		t.Fatalf("replacing PUT: %d ETag %q, want 200 with a new ETag", status, hdr.Get("Etag"))
	}
	if status, _, b := send(t, http.MethodGet, base+"/"+key, nil); status != 200 || b != "v2" {
		t.Errorf("GET right after the replacing PUT: %d %q, want the new bytes", status, b)
	}
	if status, _, _ := send(t, http.MethodDelete, base+"/"+key, nil, auth...); status != 204 {
		t.Fatalf("DELETE: %d, want 204", status)
	}
	if status, _, _ := send(t, http.MethodGet, base+"/"+key, nil); status != 404 {
		t.Errorf("GET right after DELETE: %d, want 404", status)
	}
}

func TestUploadConditionalWrites(t *testing.T) {
	_, _, base := caddyOnFreePorts(t, uploadSite(env.proxy.Endpoint))
	dir := uniqueKey(t, "")
	key := dir + "once.txt"
	auth := []string{"Authorization", "Bearer " + writer(t, dir)}
	if status, _, b := send(t, http.MethodPut, base+"/"+key, []byte("first"), append(auth, "If-None-Match", "*")...); status != 201 {
		t.Fatalf("create-only PUT of a new key: %d %q, want 201", status, b)
	}
	if status, _, _ := send(t, http.MethodPut, base+"/"+key, []byte("second"), append(auth, "If-None-Match", "*")...); status != 412 {
		t.Errorf("create-only PUT of an existing key: %d, want 412", status)
	}
	if status, _, _ := send(t, http.MethodPut, base+"/"+key, []byte("third"), append(auth, "If-Match", `"not-the-etag"`)...); status != 412 {
		t.Errorf("If-Match with another ETag: %d, want 412", status)
	}
	_, hdr, b := send(t, http.MethodGet, base+"/"+key, nil)
	if b != "first" {
		t.Fatalf("after refused writes the object is %q, want first", b)
	}
	if status, _, _ := send(t, http.MethodPut, base+"/"+key, []byte("fourth"), append(auth, "If-Match", hdr.Get("Etag"))...); status != 200 {
		t.Errorf("If-Match with the current ETag: %d, want 200", status)
	}
	if _, _, b := send(t, http.MethodGet, base+"/"+key, nil); b != "fourth" {
		t.Errorf("after the If-Match write: %q, want fourth", b)
	}
}

func TestUploadMaxSizeIsEnforcedBeforeTheBucket(t *testing.T) {
	_, _, base := caddyOnFreePorts(t, uploadSite(env.proxy.Endpoint))
	dir := uniqueKey(t, "")
	auth := "Bearer " + writer(t, dir)

	// Declared too large: 413 before anything is read or sent.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// A client that asks first (Expect: 100-continue) learns it without
	// sending the body.
	fmt.Fprintf(c, "PUT /%shuge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", dir, auth, 41<<20)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil || resp.StatusCode != 413 {
		t.Fatalf("Content-Length over max_size: %v %v, want 413", resp, err)
	}
	// Chunked and growing too large: cut off with 413, nothing stored.
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 1<<20)
		for i := 0; i < 45; i++ {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPut, base+"/"+dir+"chunked.bin", pr)
	req.Header.Set("Authorization", auth)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked body over max_size: %d, want 413", resp.StatusCode)
	}
	if n := bucketCalls(http.MethodPut, dir+"huge.bin"); n != 0 {
		t.Errorf("the declared-too-large body reached the bucket %d times", n)
	}
	awaitNoUploads(t, dir)
	if headObject(t, dir+"chunked.bin") != nil {
		t.Error("the cut-off chunked body was stored")
	}
}

// awaitNoUploads waits until no multipart upload is left under prefix.
func awaitNoUploads(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for multipartUploads(t, prefix) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("multipart uploads left under %s: %d", prefix, multipartUploads(t, prefix))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUploadClientHangUpLeavesNoParts(t *testing.T) {
	_, _, base := caddyOnFreePorts(t, uploadSite(env.proxy.Endpoint))
	dir := uniqueKey(t, "")
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT /%sgone.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", dir, writer(t, dir), 30<<20)
	chunk := make([]byte, 1<<20)
	for range 16 { // past two 5 MiB parts
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// The parts are on their way: wait until the bucket has seen one.
	deadline := time.Now().Add(10 * time.Second)
	for bucketCalls(http.MethodPut, dir+"gone.bin") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	awaitNoUploads(t, dir)
	if headObject(t, dir+"gone.bin") != nil {
		t.Error("a body cut short by the client was stored")
	}
}

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// patternReader yields n deterministic bytes.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x*7 + x>>13)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// TestUploadOneGiBWithFlatMemory streams 1 GiB through the gateway into
// a multipart upload: the Caddy process's peak RSS grows by a bounded
// amount (three 5 MiB parts plus buffers), not by the body.
func TestUploadOneGiBWithFlatMemory(t *testing.T) {
	const size = 1 << 30
	site := func(admin, port string) string {
		return strings.Replace(uploadSite(env.s3.Endpoint)(admin, port), "max_size 40MiB", "max_size 2GiB", 1)
	}
	p, _, base := caddyOnFreePorts(t, site)
	dir := uniqueKey(t, "")
	pid := p.cmd.Process.Pid
	// Warm up, then reset the peak.
	send(t, http.MethodPut, base+"/"+dir+"warm.bin", bytes.Repeat([]byte("w"), 12<<20), "Authorization", "Bearer "+writer(t, dir))
	idle := procStatus(t, pid, "VmRSS")
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/"+dir+"1gib.bin", &patternReader{n: size})
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+writer(t, dir))
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(t0)
	peak := procStatus(t, pid, "VmHWM")
	if resp.StatusCode != 201 {
		t.Fatalf("1 GiB PUT: %d", resp.StatusCode)
	}
	t.Logf("1 GiB PUT in %v (%.0f MiB/s); Caddy RSS idle %d MiB, peak %d MiB (+%d MiB)",
		took, float64(size>>20)/took.Seconds(), idle>>20, peak>>20, (peak-idle)>>20)
	if peak-idle > 100<<20 {
		t.Errorf("peak RSS grew by %d MiB during a 1 GiB upload, want under 100 MiB", (peak-idle)>>20)
	}
	// Every byte arrived.
	out, err := env.s3.Client("").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(dir + "1gib.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, want := sha256.New(), sha256.New()
	if _, err := io.Copy(got, out.Body); err != nil {
		t.Fatal(err)
	}
	io.Copy(want, &patternReader{n: size})
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("the stored 1 GiB object differs from what was sent")
	}
}
