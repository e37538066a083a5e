package origin_test

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// curlResult is what the curl binary got for one request.
type curlResult struct {
	status int
	body   []byte
}

// curl runs the real curl binary with args (the URL last) and returns the
// status and body of the answer. A curl that cannot run or reach the
// server fails the test: the status is the server's, never made up.
func curl(t *testing.T, args ...string) curlResult {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the presign tests need the curl binary (apt-get install curl): %v", err)
	}
	out := filepath.Join(t.TempDir(), "body")
	all := append([]string{"-sS", "--max-time", "20", "-o", out, "-w", "%{http_code}"}, args...)
	cmd := exec.CommandContext(t.Context(), "curl", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %q: %v; stderr: %s", args, err, stderr.String())
	}
	status, err := strconv.Atoi(string(code))
	if err != nil {
		t.Fatalf("curl %q: status %q: %v", args, code, err)
	}
	body, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) { // HEAD writes no file
		t.Fatal(err)
	}
	return curlResult{status: status, body: body}
}

// wantRefused fails the test unless r is a 403 whose S3 error code is
// code, so a refusal for another reason (a broken URL) does not pass.
func wantRefused(t *testing.T, what string, r curlResult, code string) {
	t.Helper()
	if r.status != 403 || !bytes.Contains(r.body, []byte("<Code>"+code+"</Code>")) {
		t.Errorf("%s: %d %s, want 403 %s", what, r.status, r.body, code)
	}
}

// presign presigns method on key, failing the test on an error.
func presign(t *testing.T, b *origin.S3, method, key string, expires time.Duration, opts origin.PresignOptions) string {
	t.Helper()
	u, err := b.Presign(t.Context(), method, key, expires, opts)
	if err != nil {
		t.Fatalf("Presign(%s, %q, %v): %v", method, key, expires, err)
	}
	return u
}

// writeFile writes body to a fresh file and returns its path.
func writeFile(t *testing.T, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// presignFixture is the S3 of the test server with keys under the test's
// name.
func presignFixture(t *testing.T) (*origin.S3, fixture) {
	b := newS3(t, "")
	return b, fixture{b: b, prefix: t.Name() + "/"}
}

func TestPresignPutUploadsWithCurl(t *testing.T) {
	b, f := presignFixture(t)
	body := pattern(300 << 10)
	for _, name := range []string{"plain.bin", "dir/a b+c ü ファイル.bin"} {
		t.Run(name, func(t *testing.T) {
			u := presign(t, b, "PUT", f.key(name), 15*time.Minute, origin.PresignOptions{})
			if r := curl(t, "-X", "PUT", "--data-binary", "@"+writeFile(t, body), u); r.status != 200 {
				t.Fatalf("PUT with the presigned URL: %d %s", r.status, r.body)
			}
			obj, got := f.get(t, name, origin.GetOptions{})
			if !bytes.Equal(got, body) {
				t.Fatalf("the bucket holds %d bytes, want the %d uploaded", len(got), len(body))
			}
			if obj.Size != int64(len(body)) {
				t.Errorf("Size %d, want %d", obj.Size, len(body))
			}
			// The object is on the server's disk under its key, not under
			// some escaped form of it.
			disk, err := os.ReadFile(filepath.Join(s3server.Dir, testBucket, f.key(name)))
			if err != nil || !bytes.Equal(disk, body) {
				t.Errorf("server file for %q: %d bytes, %v", f.key(name), len(disk), err)
			}
		})
	}
}

func TestPresignGetHeadDeleteWithCurl(t *testing.T) {
	b, f := presignFixture(t)
	body := pattern(200<<10 + 7)
	name := "get me+now.bin"
	f.put(t, name, body, origin.PutOptions{ContentType: "application/x-test"})

	r := curl(t, presign(t, b, "GET", f.key(name), 15*time.Minute, origin.PresignOptions{}))
	if r.status != 200 || !bytes.Equal(r.body, body) {
		t.Fatalf("GET with the presigned URL: %d, %d bytes, want 200 with the %d stored", r.status, len(r.body), len(body))
	}
	// The same URL again: a presigned URL is reusable until it expires.
	u := presign(t, b, "get", f.key(name), time.Minute, origin.PresignOptions{})
	for i := range 2 {
		if r := curl(t, u); r.status != 200 || !bytes.Equal(r.body, body) {
			t.Fatalf("GET #%d: %d, %d bytes", i+1, r.status, len(r.body))
		}
	}

	hdr := filepath.Join(t.TempDir(), "headers")
	r = curl(t, "-I", "-D", hdr, presign(t, b, "HEAD", f.key(name), time.Minute, origin.PresignOptions{}))
	if r.status != 200 {
		t.Fatalf("HEAD with the presigned URL: %d", r.status)
	}
	h, err := os.ReadFile(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if want := "content-length: " + strconv.Itoa(len(body)); !strings.Contains(strings.ToLower(string(h)), want) {
		t.Errorf("HEAD headers lack %q:\n%s", want, h)
	}

	if r := curl(t, "-X", "DELETE", presign(t, b, "DELETE", f.key(name), time.Minute, origin.PresignOptions{})); r.status != 204 {
		t.Fatalf("DELETE with the presigned URL: %d %s", r.status, r.body)
	}
	if _, err := b.Head(t.Context(), f.key(name)); !errors.Is(err, origin.ErrNotFound) {
		t.Fatalf("after the presigned DELETE, Head: %v, want ErrNotFound", err)
	}
	if r := curl(t, u); r.status != 404 {
		t.Errorf("GET of the deleted object: %d, want 404", r.status)
	}
}

func TestPresignExpiredURLIsRefused(t *testing.T) {
	b, f := presignFixture(t)
	body := []byte("short-lived\n")
	f.put(t, "old.txt", body, origin.PutOptions{})
	get := presign(t, b, "GET", f.key("old.txt"), time.Second, origin.PresignOptions{})
	put := presign(t, b, "PUT", f.key("old.txt"), time.Second, origin.PresignOptions{})
	// X-Amz-Date counts whole seconds: 2s past the signing is past the
	// expiry whatever the fraction of the second it was signed in.
	time.Sleep(2100 * time.Millisecond)
	r := curl(t, get)
	wantRefused(t, "expired GET URL", r, "AccessDenied")
	if !bytes.Contains(bytes.ToLower(r.body), []byte("expired")) {
		t.Errorf("expired GET URL: the refusal does not say it expired: %s", r.body)
	}
	wantRefused(t, "expired PUT URL", curl(t, "-X", "PUT", "--data-binary", "@"+writeFile(t, []byte("overwritten")), put), "AccessDenied")
	if _, got := f.get(t, "old.txt", origin.GetOptions{}); !bytes.Equal(got, body) {
		t.Errorf("after the refused PUT the object holds %q, want %q", got, body)
	}
}

func TestPresignURLIsForItsMethodAndKeyOnly(t *testing.T) {
	b, f := presignFixture(t)
	body := []byte("the original\n")
	f.put(t, "mine.txt", body, origin.PutOptions{})
	f.put(t, "other.txt", []byte("someone else's\n"), origin.PutOptions{})
	put := presign(t, b, "PUT", f.key("mine.txt"), time.Minute, origin.PresignOptions{})
	get := presign(t, b, "GET", f.key("mine.txt"), time.Minute, origin.PresignOptions{})

	wantRefused(t, "a PUT URL used for GET", curl(t, put), "SignatureDoesNotMatch")
	wantRefused(t, "a PUT URL used for DELETE", curl(t, "-X", "DELETE", put), "SignatureDoesNotMatch")
	wantRefused(t, "a GET URL used for PUT", curl(t, "-X", "PUT", "--data-binary", "@"+writeFile(t, []byte("overwritten")), get), "SignatureDoesNotMatch")
	// The same signature on another key of the bucket.
	other, err := url.Parse(get)
	if err != nil {
		t.Fatal(err)
	}
	other.Path = strings.TrimSuffix(other.Path, "mine.txt") + "other.txt"
	other.RawPath = ""
	wantRefused(t, "a GET URL moved to another key", curl(t, other.String()), "SignatureDoesNotMatch")
	// A tampered expiry breaks the signature.
	longer, err := url.Parse(get)
	if err != nil {
		t.Fatal(err)
	}
	q := longer.Query()
	q.Set("X-Amz-Expires", "604800")
	longer.RawQuery = q.Encode()
	wantRefused(t, "a GET URL with a longer X-Amz-Expires", curl(t, longer.String()), "SignatureDoesNotMatch")
	if _, got := f.get(t, "mine.txt", origin.GetOptions{}); !bytes.Equal(got, body) {
		t.Errorf("the object holds %q after the refusals, want %q", got, body)
	}
}

func TestPresignPutContentType(t *testing.T) {
	b, f := presignFixture(t)
	body := []byte("\x89PNG not really\n")
	file := writeFile(t, body)
	u := presign(t, b, "PUT", f.key("pic.png"), time.Minute, origin.PresignOptions{ContentType: "image/png"})
	q, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if sh := q.Query().Get("X-Amz-SignedHeaders"); sh != "content-type;host" {
		t.Errorf("X-Amz-SignedHeaders %q, want content-type;host", sh)
	}

	// Another type, or none (curl then sends its form default), breaks
	// the signature: the uploader cannot choose.
	for _, ct := range []string{"text/html", "image/png; charset=utf-8", ""} {
		args := []string{"-X", "PUT", "--data-binary", "@" + file}
		if ct != "" {
			args = append(args, "-H", "Content-Type: "+ct)
		}
		wantRefused(t, "PUT with Content-Type "+strconv.Quote(ct)+" on a URL signed for image/png", curl(t, append(args, u)...), "SignatureDoesNotMatch")
	}
	if _, err := b.Head(t.Context(), f.key("pic.png")); !errors.Is(err, origin.ErrNotFound) {
		t.Fatalf("after the refused PUTs, Head: %v, want ErrNotFound", err)
	}

	if r := curl(t, "-X", "PUT", "--data-binary", "@"+file, "-H", "Content-Type: image/png", u); r.status != 200 {
		t.Fatalf("PUT with the signed Content-Type: %d %s", r.status, r.body)
	}
	obj, got := f.get(t, "pic.png", origin.GetOptions{})
	if !bytes.Equal(got, body) || obj.ContentType != "image/png" {
		t.Errorf("stored %q with Content-Type %q, want %q with image/png", got, obj.ContentType, body)
	}

	// Without a signed type, the uploader's type is stored.
	u = presign(t, b, "PUT", f.key("free.css"), time.Minute, origin.PresignOptions{})
	if r := curl(t, "-X", "PUT", "--data-binary", "@"+file, "-H", "Content-Type: text/css", u); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if info, err := b.Head(t.Context(), f.key("free.css")); err != nil || info.ContentType != "text/css" {
		t.Errorf("Head: %+v, %v; want Content-Type text/css", info, err)
	}
}

func TestPresignURLShape(t *testing.T) {
	b := newS3(t, "")
	for _, tc := range []struct {
		method  string
		expires time.Duration
		opts    origin.PresignOptions
		want    string // X-Amz-Expires
		headers string // X-Amz-SignedHeaders
	}{
		{"GET", 15 * time.Minute, origin.PresignOptions{}, "900", "host"},
		{"HEAD", time.Second, origin.PresignOptions{}, "1", "host"},
		{"PUT", 90*time.Second + 900*time.Millisecond, origin.PresignOptions{}, "90", "host"},
		{"PUT", origin.MaxPresignExpires, origin.PresignOptions{ContentType: "text/plain"}, "604800", "content-type;host"},
		{"DELETE", time.Hour, origin.PresignOptions{}, "3600", "host"},
	} {
		raw := presign(t, b, tc.method, "dir/a b.txt", tc.expires, tc.opts)
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		q := u.Query()
		if got := u.Scheme + "://" + u.Host; got != s3server.Endpoint {
			t.Errorf("%s: URL on %s, want the endpoint %s", tc.method, got, s3server.Endpoint)
		}
		if want := "/" + testBucket + "/dir/a%20b.txt"; u.EscapedPath() != want {
			t.Errorf("%s: path %q, want path-style %q", tc.method, u.EscapedPath(), want)
		}
		if got := q.Get("X-Amz-Expires"); got != tc.want {
			t.Errorf("%s %v: X-Amz-Expires %q, want %q", tc.method, tc.expires, got, tc.want)
		}
		if got := q.Get("X-Amz-SignedHeaders"); got != tc.headers {
			t.Errorf("%s: X-Amz-SignedHeaders %q, want %q", tc.method, got, tc.headers)
		}
		if got := q.Get("X-Amz-Algorithm"); got != "AWS4-HMAC-SHA256" {
			t.Errorf("%s: X-Amz-Algorithm %q", tc.method, got)
		}
		if cred := q.Get("X-Amz-Credential"); !strings.HasPrefix(cred, s3server.AccessKey+"/") || !strings.HasSuffix(cred, "/auto/s3/aws4_request") {
			t.Errorf("%s: X-Amz-Credential %q, want the access key ID, region auto and service s3", tc.method, cred)
		}
		if strings.Contains(raw, s3server.SecretKey) || strings.Contains(raw, url.QueryEscape(s3server.SecretKey)) {
			t.Errorf("%s: the URL holds the secret key", tc.method)
		}
	}
}

func TestPresignRefusesBadInput(t *testing.T) {
	b := newS3(t, "")
	for _, tc := range []struct {
		name    string
		method  string
		key     string
		expires time.Duration
		opts    origin.PresignOptions
		is      error  // errors.Is, when set
		msg     string // in the message
	}{
		{"POST", "POST", "k", time.Minute, origin.PresignOptions{}, nil, `method "POST" is not one of GET, HEAD, PUT, DELETE`},
		{"no method", "", "k", time.Minute, origin.PresignOptions{}, nil, `method "" is not one of`},
		{"empty key", "GET", "", time.Minute, origin.PresignOptions{}, origin.ErrInvalidKey, "empty key"},
		{"key too long", "PUT", strings.Repeat("k", origin.MaxKeyLen+1), time.Minute, origin.PresignOptions{}, origin.ErrKeyTooLong, ""},
		{"zero expiry", "GET", "k", 0, origin.PresignOptions{}, nil, "expiry 0s is out of range: want 1s to 168h0m0s"},
		{"negative expiry", "GET", "k", -time.Minute, origin.PresignOptions{}, nil, "expiry -1m0s is out of range"},
		{"under a second", "GET", "k", 999 * time.Millisecond, origin.PresignOptions{}, nil, "expiry 999ms is out of range"},
		{"over 7 days", "PUT", "k", origin.MaxPresignExpires + time.Second, origin.PresignOptions{}, nil, "expiry 168h0m1s is out of range"},
		{"content type on GET", "GET", "k", time.Minute, origin.PresignOptions{ContentType: "text/plain"}, nil, "a content type applies only to PUT"},
		{"content type with a line break", "PUT", "k", time.Minute, origin.PresignOptions{ContentType: "text/plain\r\nX-Evil: 1"}, nil, "line break"},
	} {
		u, err := b.Presign(t.Context(), tc.method, tc.key, tc.expires, tc.opts)
		if err == nil {
			t.Errorf("%s: got URL %q, want an error", tc.name, u)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %q does not say %q", tc.name, err, tc.msg)
		}
		if u != "" {
			t.Errorf("%s: a URL %q with the error", tc.name, u)
		}
	}
}
