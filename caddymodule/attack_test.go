package caddymodule_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/r2gate/r2gate/auth"
)

// attackSite is one site with the four kinds of route a real asset domain
// has, each over its own key prefix of the test bucket (all under
// attack/): writes (PUT and DELETE, JWT with a write scope or signed
// URLs), /private/* (JWT or signed URLs), /img/* (resizing, small source
// limits) and everything else public. The handle blocks sit in one route
// so they are tried in the order written (else the Caddyfile sorts them by
// path, and the catch-all would take the writes). Caddy's default
// max_header_size (16 KiB) holds.
func attackSite(endpoint string) func(admin, port string) string {
	return func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %[1]s
	persist_config off
	metrics
}
http://127.0.0.1:%[2]s {
	bind 127.0.0.1
	@write method PUT DELETE
	route {
	handle @write {
		r2gate {
			%[3]s
			prefix attack/uploads/
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
				max_size 1MiB
				part_size 5MiB
			}
		}
	}
	handle /private/* {
		r2gate {
			%[3]s
			strip_prefix /private
			prefix attack/private/
			cache {
				memory 64MiB
			}
			jwt {
				secret %[4]s
			}
			signed_url {
				key k1 %[5]s
			}
		}
	}
	handle /img/* {
		r2gate {
			%[3]s
			strip_prefix /img
			prefix attack/img/
			cache {
				memory 64MiB
			}
			resize {
				widths 100 200
				max_source_pixels 4000000
				max_source_size 1MiB
			}
		}
	}
	handle {
		r2gate {
			%[3]s
			prefix attack/public/
			cache {
				memory 64MiB
			}
		}
	}
	}
}
`, admin, port, bucketLines(endpoint), jwtSecret, signK1)
	}
}

// attack is one hostile request and the answer it must get.
type attack struct {
	name string
	// method and target make the request line ("GET", "/x"); raw, when
	// set, is the whole request as sent, byte for byte.
	method, target string
	header         []string // "Name: value" lines
	body           []byte
	raw            string
	// status is the exact status expected; body, when set, the exact body.
	status int
	body2  string
	// object, when set, is the object the answer must carry whole.
	object []byte
}

// rawExchange writes req on a new connection to addr and reads one
// answer; the request bytes go out as they are (no normalisation).
func rawExchange(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	go func() { _, _ = io.WriteString(conn, req) }() // a refused request is answered before it is read whole
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.80q: %v", req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil && !(resp.Close && errors.Is(err, syscall.ECONNRESET)) {
		// (A server that refuses a request it has not read whole
		// closes the connection: the unread rest can reset it after
		// the answer.)
		t.Fatalf("reading the body of the answer to %.80q: %v", req, err)
	}
	return resp, b
}

// request is a's request as it goes on the wire.
func (a attack) request() string {
	if a.raw != "" {
		return a.raw
	}
	var b strings.Builder
	b.WriteString(a.method + " " + a.target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
	for _, h := range a.header {
		b.WriteString(h + "\r\n")
	}
	if a.body != nil {
		b.WriteString("Content-Length: " + strconv.Itoa(len(a.body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(a.body)
	return b.String()
}

// leaks are what no answer to a hostile request may hold: the bucket's
// XML and credentials, the test secrets, Go stack traces.
func leaks() []string {
	return []string{"<?xml", "<Error>", "NoSuchKey", "AccessDenied", "X-Amz", "AWS4-HMAC", "goroutine ", "panic", ".go:",
		env.s3.SecretKey, env.s3.AccessKey, jwtSecret, signK1}
}

// bucketListing returns every key of the test bucket with its ETag.
func bucketListing(t *testing.T) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(env.s3.Client(""), &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing the bucket: %v", err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key)+" "+aws.ToString(o.ETag))
		}
	}
	sort.Strings(out)
	return out
}

// pngChunkBytes is one PNG chunk with its CRC.
func pngChunkBytes(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// pngDeclaring is a tiny PNG whose header declares w×h RGBA pixels: a
// decompression bomb by its header alone.
func pngDeclaring(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 1<<16))
	_ = zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunkBytes("IHDR", ihdr)...)
	out = append(out, pngChunkBytes("IDAT", z.Bytes())...)
	return append(out, pngChunkBytes("IEND", nil)...)
}

// realBomb is a valid w×h grey PNG of one colour: a few KiB that decode
// to w×h pixels.
func realBomb(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jwtWith signs claims under method with key (HMAC secrets as []byte).
func jwtWith(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAttackHostileRequestsGetTheRightAnswer sends a table of hostile
// requests to a running Caddy (its own process, free ports, versitygw
// behind a recording proxy): path traversal in every encoding, control
// characters, oversized headers and queries, many ranges, forged and
// expired credentials, decompression bombs and truncated images, hostile
// writes. Each gets its exact status and a short body that leaks nothing;
// afterwards the bucket holds exactly what it held, and Caddy's memory has
// not grown. Then 10,000 distinct query strings on one public object leave
// the cache's entry count and the bucket's request count where they were.
func TestAttackHostileRequestsGetTheRightAnswer(t *testing.T) {
	hello := []byte("hello, public\n")
	secret := []byte("top secret\n")
	data := make([]byte, 100<<10)
	rnd := rand.New(rand.NewPCG(7, 9))
	for i := range data {
		data[i] = byte(rnd.UintN(256))
	}
	photo := testPhoto(t, 400, 300)
	putObject(t, env.s3, "attack/public/hello.txt", hello, "")
	putObject(t, env.s3, "attack/public/data.bin", data, "")
	putObject(t, env.s3, "attack/private/secret.txt", secret, "")
	putObject(t, env.s3, "attack/uploads/existing.txt", []byte("existing\n"), "")
	putTyped(t, "attack/img/photo.jpg", "image/jpeg", photo, nil)
	putTyped(t, "attack/img/declared.png", "image/png", pngDeclaring(100000, 100000), nil)
	putTyped(t, "attack/img/real-bomb.png", "image/png", realBomb(t, 6000, 6000), nil)
	putTyped(t, "attack/img/truncated.jpg", "image/jpeg", photo[:len(photo)/2], nil)
	pngPhoto := testPNG(t, 300, 200)
	putTyped(t, "attack/img/truncated.png", "image/png", pngPhoto[:len(pngPhoto)*2/3], nil)
	putTyped(t, "attack/img/not-an-image.jpg", "image/jpeg", []byte("<html>not an image</html>"), nil)
	putTyped(t, "attack/img/big.jpg", "image/jpeg", append(testPhoto(t, 64, 64), make([]byte, 2<<20)...), nil)

	p, admin, base := caddyOnFreePorts(t, attackSite(env.proxy.Endpoint))
	addr := strings.TrimPrefix(base, "http://")
	pid := p.cmd.Process.Pid

	now := time.Now()
	valid := jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix()}
	good := jwtWith(t, jwt.SigningMethodHS256, []byte(jwtSecret), valid)
	expired := jwtWith(t, jwt.SigningMethodHS256, []byte(jwtSecret), jwt.MapClaims{"sub": "u1", "exp": now.Add(-time.Hour).Unix()})
	otherKey := jwtWith(t, jwt.SigningMethodHS256, []byte("not-the-secret-0123456789abcdef"), valid)
	parts := strings.Split(good, ".")
	forgedClaims := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}`))
	tampered := parts[0] + "." + forgedClaims + "." + parts[2]
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	algNoneCase := b64([]byte(`{"alg":"nOnE","typ":"JWT"}`)) + "." + parts[1] + "."
	rs256 := b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]
	noExp := jwtWith(t, jwt.SigningMethodHS256, []byte(jwtSecret), jwt.MapClaims{"sub": "u1"})
	oversized := jwtWith(t, jwt.SigningMethodHS256, []byte(jwtSecret), jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix(), "pad": strings.Repeat("x", 9<<10)})
	writeTok := jwtWith(t, jwt.SigningMethodHS256, []byte(jwtSecret), jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix(), "write": "attack/uploads/"})
	otherScope := jwtWith(t, jwt.SigningMethodHS256, []byte(jwtSecret), jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix(), "write": []string{"attack/uploads-other/", "attack/upload"}})

	signed := auth.Sign("/private/secret.txt", nil, "k1", []byte(signK1), now.Add(time.Hour))
	u, _ := url.Parse(signed)
	q := u.Query()
	q.Set("exp", strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10))
	tamperedExp := u.Path + "?" + q.Encode()
	q = u.Query()
	q.Set("sig", strings.Repeat("A", 200))
	longSig := u.Path + "?" + q.Encode()
	expiredURL := auth.Sign("/private/secret.txt", nil, "k1", []byte(signK1), now.Add(-time.Minute))
	otherPath := strings.Replace(auth.Sign("/private/other.txt", nil, "k1", []byte(signK1), now.Add(time.Hour)), "/private/other.txt", "/private/secret.txt", 1)
	putURL := auth.Sign("/private/secret.txt", url.Values{"method": {"PUT"}}, "k1", []byte(signK1), now.Add(time.Hour))

	ranges := make([]string, 1000)
	for i := range ranges {
		ranges[i] = strconv.Itoa(i*2) + "-" + strconv.Itoa(i*2)
	}
	bigQuery := "/hello.txt?" + strings.Repeat("a", 1_000_000)
	bigHeader := "X-Big: " + strings.Repeat("b", 1<<20)

	const (
		bad       = "400 Bad Request"
		goBad     = "400 Bad Request" // net/http's own answer, before Caddy
		dotdot    = "400 Bad Request: path contains a . or .. segment\n"
		control   = "400 Bad Request: path contains a control character\n"
		notUTF8   = "400 Bad Request: path is not valid UTF-8\n"
		notFound  = "404 Not Found\n"
		noCred    = "401 Unauthorized\n"
		tooLarge  = "422 Unprocessable Entity"
		corrupt   = "422 Unprocessable Entity"
		forbidden = "403 Forbidden: "
	)
	get := func(target string, header ...string) attack {
		return attack{method: "GET", target: target, header: header}
	}
	with := func(a attack, name string, status int, body string) attack {
		a.name, a.status, a.body2 = name, status, body
		return a
	}
	cases := []attack{
		// Traversal from the public route towards private/ keys.
		with(get("/../private/secret.txt"), "dot-dot", 400, dotdot),
		with(get("/a/../../private/secret.txt"), "dot-dot deeper", 400, dotdot),
		with(get("/./hello.txt"), "dot segment", 400, dotdot),
		with(get("/%2e%2e/private/secret.txt"), "encoded dot-dot", 400, dotdot),
		with(get("/%2E%2E/private/secret.txt"), "encoded dot-dot upper case", 400, dotdot),
		with(get("/.%2e/private/secret.txt"), "half-encoded dot-dot", 400, dotdot),
		with(get("/x/..%2fprivate%2fsecret.txt"), "encoded slash after dot-dot", 400, dotdot),
		with(get("/x%2F..%2F..%2Fprivate%2Fsecret.txt"), "encoded slashes around dot-dot", 400, dotdot),
		with(get("/..%5cprivate%5csecret.txt"), "encoded backslashes", 404, notFound),
		with(get(`/..\private\secret.txt`), "raw backslashes", 404, notFound),
		with(get(`/\..\private/secret.txt`), "leading backslash", 404, notFound),
		with(get("/%c0%ae%c0%ae/private/secret.txt"), "overlong UTF-8 dots", 400, notUTF8),
		with(get("/%c0%af..%c0%afprivate/secret.txt"), "overlong UTF-8 slash", 400, notUTF8),
		with(get("/%e0%80%ae%e0%80%ae/private/secret.txt"), "three-byte overlong dots", 400, notUTF8),
		with(get("/%252e%252e/private/secret.txt"), "double-encoded dot-dot", 404, notFound),
		with(get("/%252e%252e%252fprivate%252fsecret.txt"), "double-encoded slash", 404, notFound),
		with(get("//private/secret.txt"), "double slash into the protected route", 401, noCred),
		with(get("/private%2fsecret.txt"), "encoded slash into the protected route", 401, noCred),
		with(get("/PRIVATE/secret.txt"), "upper-case protected prefix", 401, noCred),
		with(get("/private/../public/hello.txt"), "dot-dot out of the protected route", 400, dotdot),
		with(get("/private/%2e%2e/private/secret.txt"), "encoded dot-dot in the protected route", 400, dotdot),
		with(get("/img/../private/secret.txt"), "dot-dot out of the resize route", 400, dotdot),
		with(get("/img/%2e%2e/private/secret.txt?w=100"), "encoded dot-dot on the resize route", 400, dotdot),
		// Control characters in keys.
		with(get("/hello.txt%00.jpg"), "encoded NUL", 400, control),
		with(get("/hello%0d%0aX-Injected:%201.txt"), "encoded CRLF", 400, control),
		with(get("/hello%0a.txt"), "encoded LF", 400, control),
		with(get("/hello%7f.txt"), "encoded DEL", 400, control),
		with(get("/hello%ff.txt"), "invalid UTF-8 byte", 400, notUTF8),
		with(attack{raw: "GET /hello\x00.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"}, "raw NUL in the request line", 400, goBad),
		with(attack{raw: "GET /hello\r.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"}, "raw CR in the request line", 400, goBad),
		with(attack{raw: "GET /hello\r\nX-Injected: 1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"}, "raw CRLF in the request line", 400, goBad),
		with(get("/hello.txt", "X-Evil: a\x00b"), "NUL in a header value", 400, goBad),
		// net/http replaces an obs-fold with a space (RFC 9112 5.2 allows
		// that or a 400).
		{name: "obsolete line folding", method: "GET", target: "/hello.txt", header: []string{"X-Folded: a", " b"}, status: 200, object: hello},
		with(attack{raw: "GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil\r\nConnection: close\r\n\r\n"}, "two Host headers", 400, goBad),
		// Sizes.
		with(get("/hello.txt", bigHeader), "header over Caddy's limit", 431, "431 Request Header Fields Too Large"),
		with(get("/"+strings.Repeat("k", 1100)), "key over 1024 bytes", 414, "414 Request URI Too Long: path is too long for an object key\n"),
		with(get(bigQuery), "1 MB query string (over Caddy's 16 KiB head limit)", 431, "431 Request Header Fields Too Large"),
		{name: "12 KB query string on a public route", method: "GET", target: "/hello.txt?" + strings.Repeat("x", 12_000), status: 200, object: hello},
		{name: "Range with 1,000 ranges", method: "GET", target: "/data.bin", header: []string{"Range: bytes=" + strings.Join(ranges, ",")}, status: 200, object: data},
		{name: "Range with 101 overlapping ranges", method: "GET", target: "/data.bin", header: []string{"Range: bytes=" + strings.Repeat("0-,", 100) + "0-"}, status: 200, object: data},
		with(get("/data.bin", "Range: bytes=999999999-"), "Range past the end", 416, ""),
		// bytes=-0 is unsatisfiable (RFC 9110 14.1.2), but http.ServeContent
		// (and so file_server) answers 206 with nothing: r2gate keeps its
		// semantics, and reads nothing from the bucket.
		with(get("/data.bin", "Range: bytes=-0"), "empty suffix range", 206, ""),
		with(get("/data.bin", "Range: bytes=99999999999999999999-1"), "Range overflowing int64", 416, ""),
		// Credentials on the protected route.
		with(get("/private/secret.txt"), "no credential", 401, noCred),
		with(get("/private/secret.txt", "Authorization: Bearer "+expired), "expired JWT", 403, forbidden+"expired\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+otherKey), "JWT signed with another secret", 403, forbidden+"bad signature\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+tampered), "JWT with forged claims", 403, forbidden+"bad signature\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+algNone), "alg none JWT", 403, forbidden+"bad signature\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+algNoneCase), "alg nOnE JWT", 403, forbidden+"invalid token\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+rs256), "RS256 header over an HMAC", 403, forbidden+"bad signature\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+noExp), "JWT without exp", 403, forbidden+"invalid token\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+oversized), "JWT over MaxTokenLen (12 KiB)", 403, forbidden+"invalid token\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+strings.Repeat("A", 14<<10)), "garbage token of 14 KiB", 403, forbidden+"invalid token\n"),
		with(get("/private/secret.txt", "Authorization: Bearer "+strings.Repeat("A", 200<<10)), "token of 200 KiB (over the head limit)", 431, "431 Request Header Fields Too Large"),
		with(get("/private/secret.txt", "Authorization: Bearer a.b.c.d.e"), "five-part token", 403, forbidden+"invalid token\n"),
		with(get("/private/secret.txt", "Authorization: Basic dXNlcjpwYXNz"), "Basic credentials", 401, noCred),
		with(get(expiredURL), "expired signed URL", 403, forbidden+"expired\n"),
		with(get(tamperedExp), "signed URL with a changed exp", 403, forbidden+"bad signature\n"),
		with(get(otherPath), "signed URL of another path", 403, forbidden+"bad signature\n"),
		with(get(longSig), "oversized sig", 403, forbidden+"malformed\n"),
		with(get(signed+"&sig=x"), "repeated sig", 403, forbidden+"malformed\n"),
		with(get(strings.Replace(signed, "kid=k1", "kid="+strings.Repeat("k", 100), 1)), "oversized kid", 403, forbidden+"malformed\n"),
		with(get(strings.Replace(signed, "kid=k1", "kid=k9", 1)), "unknown kid", 403, forbidden+"unknown key\n"),
		with(get(putURL), "URL signed for PUT used to read", 403, forbidden+"not signed for this method\n"),
		with(get("/private/secret.txt?verify=1700000000-AAAA"), "Cloudflare token on a route without it", 403, forbidden+"malformed\n"),
		// Images on the resize route.
		with(get("/img/declared.png?w=100"), "PNG declaring 100000x100000", 422, tooLarge),
		with(get("/img/real-bomb.png?w=100"), "valid PNG of 6000x6000 (36 MP) in a few KiB", 422, tooLarge),
		with(get("/img/big.jpg?w=100"), "source over max_source_size", 422, tooLarge),
		with(get("/img/truncated.jpg?w=100"), "truncated JPEG", 422, corrupt),
		with(get("/img/truncated.png?w=100"), "truncated PNG", 422, corrupt),
		with(get("/img/not-an-image.jpg?w=100"), "HTML named .jpg", 415, "415 Unsupported Media Type"),
		with(get("/img/photo.jpg?w=123"), "width outside the list", 400, bad),
		with(get("/img/photo.jpg?w=100&h=99999999999999999999"), "overflowing height", 400, bad),
		with(get("/img/photo.jpg?w=100&q=0x10"), "hex quality", 400, bad),
		with(get("/img/photo.jpg?w=100&format=svg"), "unknown format", 400, bad),
		with(get("/img/photo.jpg?w=100&dpr=1e308"), "huge dpr", 400, bad),
		with(get("/img/photo.jpg?"+strings.Repeat("w=100&", 2_000)), "12 KB of repeated options", 400, bad),
		{name: "2,800 unknown parameters on the resize route", method: "GET", target: "/img/photo.jpg?" + strings.Repeat("zz=1&", 2_800), status: 200, object: photo},
		with(get("/img/cdn-cgi/image/width=100/../../private/secret.txt"), "Cloudflare path with dot-dot", 400, dotdot),
		// Writes.
		with(attack{method: "PUT", target: "/../private/secret.txt", header: []string{"Authorization: Bearer " + writeTok}, body: []byte("x")}, "PUT with dot-dot", 400, dotdot),
		with(attack{method: "PUT", target: "/%2e%2e/private/secret.txt", header: []string{"Authorization: Bearer " + writeTok}, body: []byte("x")}, "PUT with encoded dot-dot", 400, dotdot),
		with(attack{method: "PUT", target: "/a%00b", header: []string{"Authorization: Bearer " + writeTok}, body: []byte("x")}, "PUT with NUL", 400, control),
		with(attack{method: "PUT", target: "/a%0d%0ab", header: []string{"Authorization: Bearer " + writeTok}, body: []byte("x")}, "PUT with CRLF", 400, control),
		with(attack{method: "PUT", target: "/a.jpg%3Fw=100", header: []string{"Authorization: Bearer " + writeTok}, body: []byte("x")}, "PUT to a variant key", 400, "400 Bad Request: keys with ? are reserved for image variants\n"),
		with(attack{method: "PUT", target: "/new.txt", body: []byte("x")}, "PUT without a credential", 401, noCred),
		with(attack{method: "PUT", target: "/new.txt", header: []string{"Authorization: Bearer " + good}, body: []byte("x")}, "PUT with a read-only JWT", 403, forbidden+"read only\n"),
		with(attack{method: "PUT", target: "/new.txt", header: []string{"Authorization: Bearer " + otherScope}, body: []byte("x")}, "PUT with a write scope of look-alike prefixes", 403, forbidden+"out of scope\n"),
		with(attack{method: "PUT", target: "/new.txt", header: []string{"Authorization: Bearer " + expired}, body: []byte("x")}, "PUT with an expired JWT", 403, forbidden+"expired\n"),
		with(attack{method: "PUT", target: auth.Sign("/new.txt", nil, "k1", []byte(signK1), now.Add(time.Hour)), body: []byte("x")}, "PUT with a URL signed for reading", 403, forbidden+"not signed for this method\n"),
		with(attack{method: "PUT", target: auth.Sign("/new.txt", url.Values{"method": {"PUT"}, "max_size": {"1"}}, "k1", []byte(signK1), now.Add(time.Hour)), body: []byte("xx")}, "PUT over the signed max_size", 413, "413 Request Entity Too Large: body larger than 1 bytes\n"),
		with(attack{raw: "PUT /new.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + writeTok + "\r\nContent-Length: 10737418240\r\n\r\n"}, "PUT declaring 10 GiB", 413, "413 Request Entity Too Large: body larger than 1048576 bytes\n"),
		with(attack{raw: "PUT /new.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + writeTok + "\r\nContent-Length: -1\r\n\r\n"}, "PUT with a negative Content-Length", 400, goBad),
		with(attack{raw: "PUT /new.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + writeTok + "\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"}, "PUT with two Content-Lengths", 400, goBad),
		// net/http lets Transfer-Encoding override Content-Length (RFC
		// 9112 6.3): the body is read as chunked, the smuggled request
		// after it is not a request of its own.
		with(attack{raw: "PUT /new.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /private/secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"}, "PUT with Content-Length and chunked", 401, noCred),
		with(attack{raw: "PUT /new.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + writeTok + "\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"}, "PUT with an unknown transfer coding", 501, "Unsupported transfer encoding"),
		with(attack{method: "PUT", target: "/existing.txt", header: []string{"Authorization: Bearer " + writeTok, `If-Match: "a", "b"`}, body: []byte("x")}, "PUT with two If-Match ETags", 400, "400 Bad Request: If-Match on a write takes one ETag\n"),
		with(attack{method: "PUT", target: "/existing.txt", header: []string{"Authorization: Bearer " + writeTok, `If-None-Match: "abc"`}, body: []byte("x")}, "PUT with If-None-Match other than *", 400, "400 Bad Request: If-None-Match on a write must be *\n"),
		with(attack{method: "PUT", target: "/existing.txt", header: []string{"Authorization: Bearer " + writeTok, `If-Match: "0123456789abcdef0123456789abcdef"`}, body: []byte("x")}, "PUT with a stale If-Match", 412, "412 Precondition Failed\n"),
		with(attack{method: "PUT", target: "/existing.txt", header: []string{"Authorization: Bearer " + writeTok, "If-None-Match: *"}, body: []byte("x")}, "PUT create-only over an existing key", 412, "412 Precondition Failed\n"),
		with(attack{method: "DELETE", target: "/%2e%2e/private/secret.txt", header: []string{"Authorization: Bearer " + writeTok}}, "DELETE with encoded dot-dot", 400, dotdot),
		with(attack{method: "DELETE", target: "/existing.txt"}, "DELETE without a credential", 401, noCred),
	}

	// Warm up (a first request of each route), then measure.
	for _, target := range []string{"/hello.txt", "/data.bin"} {
		resp, _ := rawExchange(t, addr, get(target).request())
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", target, resp.StatusCode)
		}
	}
	before := bucketListing(t)
	rssBefore := procStatus(t, pid, "VmRSS")
	hwmBefore := procStatus(t, pid, "VmHWM")

	for _, a := range cases {
		resp, body := rawExchange(t, addr, a.request())
		if resp.StatusCode != a.status {
			t.Errorf("%s: status %d %.120q, want %d", a.name, resp.StatusCode, body, a.status)
			continue
		}
		if a.object != nil {
			if !bytes.Equal(body, a.object) {
				t.Errorf("%s: %d bytes, want the object's %d", a.name, len(body), len(a.object))
			}
			continue
		}
		if len(body) > 256 {
			t.Errorf("%s: a body of %d bytes: %.120q", a.name, len(body), body)
		}
		if a.body2 != "" && !strings.HasPrefix(string(body), a.body2) {
			t.Errorf("%s: body %q, want %q", a.name, body, a.body2)
		}
		if bytes.Contains(body, secret) || bytes.Contains(body, []byte("hello, public")) {
			t.Errorf("%s: the answer holds an object's bytes: %q", a.name, body)
		}
		for _, l := range leaks() {
			if l != "" && bytes.Contains(body, []byte(l)) {
				t.Errorf("%s: the answer holds %q: %q", a.name, l, body)
			}
		}
		for name, vs := range resp.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-amz") || strings.EqualFold(name, "X-Injected") {
				t.Errorf("%s: answer header %s: %q", a.name, name, vs)
			}
		}
	}

	rssTable := procStatus(t, pid, "VmRSS")
	hwmTable := procStatus(t, pid, "VmHWM")

	// 10,000 distinct query strings on one public object: one cache entry,
	// no bucket request.
	items := `r2gate_cache_items{tier="memory"}`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, _ := rawExchange(t, addr, get("/hello.txt").request())
		if strings.Contains(resp.Header.Get("Cache-Status"), "; hit") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/hello.txt never became a hit: %q", resp.Header.Get("Cache-Status"))
		}
	}
	itemsBefore := metricValue(t, admin, items)
	getsBefore := len(bucketGets("attack/public/hello.txt"))
	requestsBefore := len(env.proxy.Matching("/attack/public/hello.txt"))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 10_000; i += 8 {
				resp, err := client.Get(fmt.Sprintf("%s/hello.txt?v=%d&cb=%x", base, i, i*7919))
				if err != nil {
					mu.Lock()
					wrong++
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Equal(b, hello) {
					mu.Lock()
					wrong++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if wrong != 0 {
		t.Errorf("%d of 10,000 requests with distinct query strings did not get the object", wrong)
	}
	time.Sleep(200 * time.Millisecond) // let the memory tier's buffers settle
	if got := metricValue(t, admin, items); got != itemsBefore {
		t.Errorf("10,000 distinct query strings: %s went from %v to %v", items, itemsBefore, got)
	}
	if n := len(bucketGets("attack/public/hello.txt")) - getsBefore; n != 0 {
		t.Errorf("10,000 distinct query strings made %d bucket GETs", n)
	}
	if n := len(env.proxy.Matching("/attack/public/hello.txt")) - requestsBefore; n != 0 {
		t.Errorf("10,000 distinct query strings made %d bucket requests", n)
	}

	after := bucketListing(t)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("the bucket changed:\nbefore %q\nafter  %q", before, after)
	}
	rssAfter := procStatus(t, pid, "VmRSS")
	hwmAfter := procStatus(t, pid, "VmHWM")
	t.Logf("Caddy (race-instrumented) RSS before %d MiB, after the table %d, after 10,000 queries %d; peak %d, %d, %d MiB (shared 2-core machine)",
		rssBefore>>20, rssTable>>20, rssAfter>>20, hwmBefore>>20, hwmTable>>20, hwmAfter>>20)
	if grown := hwmTable - hwmBefore; grown > 24<<20 {
		t.Errorf("Caddy's peak RSS grew by %d MiB during the table: a bomb was decoded?", grown>>20)
	}
	if grown := rssAfter - rssBefore; grown > 64<<20 {
		t.Errorf("Caddy's RSS grew by %d MiB", grown>>20)
	}
	if grown := hwmAfter - hwmBefore; grown > 64<<20 {
		t.Errorf("Caddy's peak RSS grew by %d MiB", grown>>20)
	}
}
