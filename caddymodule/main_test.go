package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/caddyserver/caddy/v2/caddytest"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/r2gate/r2gate/caddymodule"
	"github.com/r2gate/r2gate/internal/s3test"
)

// The integration tests run one versitygw for the package, a recording
// proxy in front of it, and one in-process Caddy (caddytest, fixed ports)
// with three sites serving the same fixtures:
//
//	fileServerURL  Caddy's own file_server over a folder (the reference)
//	bucketURL      r2gate over versitygw, through the proxy
//	dirURL         r2gate over the same folder
var (
	env *testEnv

	fileServerURL = "http://127.0.0.1:9080"
	bucketURL     = "http://127.0.0.1:9081"
	dirURL        = "http://127.0.0.1:9082"
	// passURL serves keys under a/ below /cdn, passes 404s to respond.
	passURL = "http://127.0.0.1:9083"
	// badKeyURL signs with a wrong secret key.
	badKeyURL = "http://127.0.0.1:9084"
	// stuckURL points at a bucket that accepts connections and never answers.
	stuckURL = "http://127.0.0.1:9085"
	// errorsURL has handle_errors routes.
	errorsURL = "http://127.0.0.1:9086"

	// Cached sites, all over the bucket through the proxy unless noted.
	cachedURL   = "http://127.0.0.1:9087" // memory and disk tiers
	diskOnlyURL = "http://127.0.0.1:9088" // disk tier only
	swrURL      = "http://127.0.0.1:9089" // memory, stale_while_revalidate 1m
	sieURL      = "http://127.0.0.1:9090" // memory, over the second S3 server, stale_if_error 1h
	noSieURL    = "http://127.0.0.1:9091" // memory, over the second S3 server, stale_if_error 0
	corruptURL  = "http://127.0.0.1:9092" // disk tier only, its own folder
	sharedURL   = "http://127.0.0.1:9093" // the same cache settings as cachedURL
	authURL     = "http://127.0.0.1:9094" // public route and /private/* protected, one cache
)

const (
	testBucket  = "assets"
	purgeSecret = "purge-secret-for-tests"
	jwtSecret   = "jwt-secret-for-tests-0123456789abcdef"
	signK1      = "signing-key-one-for-tests"
	signK0      = "signing-key-zero-for-tests"
)

type testEnv struct {
	s3      *s3test.Server
	proxy   *s3test.Proxy
	dir     string // the fixtures as a folder
	outside string // a secret file outside every served folder
	config  string // the Caddyfile
	stuck   net.Listener
	s3b     *s3test.Server // a second S3 server, stopped by a test
	disks   string         // parent of the disk tiers
}

// fixture is one object served by every site.
type fixture struct {
	key, contentType string
	body             []byte
	put              func(*s3.PutObjectInput) // extra metadata for the bucket copy
}

func fixtures() []fixture {
	rnd := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 100<<10)
	for i := range data {
		data[i] = byte(rnd.UintN(256))
	}
	return []fixture{
		{key: "hello.txt", contentType: "text/plain; charset=utf-8", body: []byte("hello, r2gate\n")},
		{key: "data.bin", contentType: "application/octet-stream", body: data},
		{key: "empty.txt", contentType: "text/plain; charset=utf-8", body: nil},
		{key: "style.css", contentType: "text/css; charset=utf-8", body: []byte("body { color: #333 }\n")},
		{key: "docs/index.html", contentType: "text/html; charset=utf-8", body: []byte("<h1>docs</h1>\n")},
		{key: "index.html", contentType: "text/html; charset=utf-8", body: []byte("<h1>home</h1>\n")},
		{key: "space name.txt", contentType: "text/plain; charset=utf-8", body: []byte("space\n")},
		{key: "plus+sign.txt", contentType: "text/plain; charset=utf-8", body: []byte("plus\n")},
		{key: "unicodé/ファイル.txt", contentType: "text/plain; charset=utf-8", body: []byte("unicode\n")},
		{key: "static/app.css", contentType: "text/css; charset=utf-8", body: []byte("a { }\n")},
		{key: "a/b/c.txt", contentType: "text/plain; charset=utf-8", body: []byte("nested\n")},
		{key: "report.pdf", contentType: "application/pdf", body: []byte("%PDF-1.4 not really\n"), put: func(in *s3.PutObjectInput) {
			in.ContentDisposition = aws.String(`attachment; filename="report.pdf"`)
			in.ContentLanguage = aws.String("en")
			in.CacheControl = aws.String("public, max-age=60")
		}},
		{key: "app.js.gz", contentType: "application/javascript", body: []byte("\x1f\x8bnot really gzip"), put: func(in *s3.PutObjectInput) {
			in.ContentEncoding = aws.String("gzip")
		}},
	}
}

func TestMain(m *testing.M) {
	// The test binary doubles as a Caddy binary for the tests that need a
	// separate process to restart or kill (see process_test.go).
	if args := os.Getenv(caddyMainEnv); args != "" {
		os.Args = append([]string{"caddy"}, strings.Split(args, "\x1f")...)
		caddycmd.Main()
		return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if s3test.FuzzingOnly() {
		return m.Run() // the fuzz targets need no servers
	}
	tmp, err := os.MkdirTemp("", "r2gate-caddymodule-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	env, err = setup(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration setup failed:", err)
		return 1
	}
	defer env.s3.Stop()
	defer env.proxy.Close()
	defer env.stuck.Close()
	defer env.s3b.Stop()
	return m.Run()
}

func setup(tmp string) (*testEnv, error) {
	srv, err := s3test.Start(filepath.Join(tmp, "s3"))
	if err != nil {
		return nil, err
	}
	e := &testEnv{s3: srv, dir: filepath.Join(tmp, "site"), outside: filepath.Join(tmp, "secret.txt")}
	if e.proxy, err = s3test.NewProxy(srv.Endpoint); err != nil {
		srv.Stop()
		return nil, err
	}
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, testBucket); err != nil {
		return nil, err
	}
	if e.s3b, err = s3test.Start(filepath.Join(tmp, "s3b")); err != nil {
		return nil, err
	}
	if err := e.s3b.CreateBucket(ctx, testBucket); err != nil {
		return nil, err
	}
	e.disks = filepath.Join(tmp, "disks")
	client := srv.Client("")
	for _, f := range fixtures() {
		in := &s3.PutObjectInput{
			Bucket: aws.String(testBucket), Key: aws.String(f.key),
			Body: bytes.NewReader(f.body), ContentType: aws.String(f.contentType),
		}
		if f.put != nil {
			f.put(in)
		}
		if _, err := client.PutObject(ctx, in); err != nil {
			return nil, fmt.Errorf("uploading %s: %w", f.key, err)
		}
		p := filepath.Join(e.dir, filepath.FromSlash(f.key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, f.body, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(e.outside, []byte("TOP SECRET"), 0o600); err != nil {
		return nil, err
	}
	// A symbolic link inside the folder that points outside it.
	if err := os.Symlink(e.outside, filepath.Join(e.dir, "escape.txt")); err != nil {
		return nil, err
	}
	// A bucket endpoint that accepts connections and never answers.
	if e.stuck, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	go func() {
		var held []net.Conn
		for {
			c, err := e.stuck.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	e.config = fmt.Sprintf(`{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}
(bucket) {
	bucket %[5]s
	endpoint %[6]s
	access_key %[7]s
	secret_key {env.R2GATE_TEST_SECRET}
}
%[1]s {
	bind 127.0.0.1
	file_server {
		root %[2]q
	}
}
%[3]s {
	bind 127.0.0.1
	r2gate {
		import bucket
		cache_control /static/* "public, max-age=31536000, immutable"
		cache_control *.css "public, max-age=3600"
		cache_control "public, max-age=300"
	}
}
%[4]s {
	bind 127.0.0.1
	r2gate {
		dir %[2]q
	}
}
%[8]s {
	bind 127.0.0.1
	route {
		r2gate {
			import bucket
			prefix a
			strip_prefix /cdn
			pass_thru
		}
		respond "custom not found" 404
	}
}
%[9]s {
	bind 127.0.0.1
	r2gate {
		bucket %[5]s
		endpoint %[6]s
		access_key %[7]s
		secret_key wrong-secret-do-not-leak
	}
}
%[10]s {
	bind 127.0.0.1
	r2gate {
		bucket %[5]s
		endpoint http://%[11]s
		access_key %[7]s
		secret_key {env.R2GATE_TEST_SECRET}
		timeout 300ms
	}
}
%[12]s {
	bind 127.0.0.1
	r2gate {
		dir %[2]q
	}
	handle_errors {
		respond "custom {err.status_code}"
	}
}
%[13]s {
	bind 127.0.0.1
	r2gate_purge /_r2gate/purge {
		secret {env.R2GATE_TEST_PURGE_SECRET}
	}
	r2gate {
		import bucket
		cache {
			memory 64MiB
			memory_item 1MiB
			disk %[19]s/both 512MiB
			disk_item 256MiB
		}
	}
}
%[14]s {
	bind 127.0.0.1
	r2gate {
		import bucket
		cache {
			memory 0
			disk %[19]s/only 64MiB
		}
	}
}
%[15]s {
	bind 127.0.0.1
	r2gate {
		import bucket
		cache {
			memory 16MiB
			stale_while_revalidate 1m
		}
	}
}
%[16]s {
	bind 127.0.0.1
	r2gate {
		bucket %[5]s
		endpoint %[18]s
		access_key %[7]s
		secret_key {env.R2GATE_TEST_SECRET}
		timeout 2s
		cache {
			memory 16MiB
			stale_if_error 1h
		}
	}
}
%[17]s {
	bind 127.0.0.1
	r2gate {
		bucket %[5]s
		endpoint %[18]s
		access_key %[7]s
		secret_key {env.R2GATE_TEST_SECRET}
		timeout 2s
		cache {
			memory 8MiB
			stale_if_error 0s
		}
	}
}
%[20]s {
	bind 127.0.0.1
	r2gate {
		import bucket
		cache {
			memory 0
			disk %[19]s/corrupt 16MiB
		}
	}
}
%[21]s {
	bind 127.0.0.1
	r2gate {
		import bucket
		cache_control "public, max-age=1"
		cache {
			memory 64MiB
			memory_item 1MiB
			disk %[19]s/both 512MiB
			disk_item 256MiB
			ttl 2h
		}
	}
}
%[22]s {
	bind 127.0.0.1
	handle /private/* {
		header {
			X-User {http.auth.user.id}
			X-Plan {http.auth.user.plan}
			defer
		}
		r2gate {
			import bucket
			strip_prefix /private
			cache {
				memory 32MiB
			}
			jwt {
				secret {env.R2GATE_TEST_JWT_SECRET}
				issuer r2gate-tests
				from header Authorization
				from cookie session
				from query token
			}
			signed_url {
				key k1 {env.R2GATE_TEST_SIGN_K1}
				key k0 {env.R2GATE_TEST_SIGN_K0}
			}
		}
	}
	handle {
		r2gate {
			import bucket
			cache_control "public, max-age=60"
			cache {
				memory 32MiB
			}
		}
	}
}
`, fileServerURL, e.dir, bucketURL, dirURL, testBucket, e.proxy.Endpoint, srv.AccessKey,
		passURL, badKeyURL, stuckURL, e.stuck.Addr(), errorsURL,
		cachedURL, diskOnlyURL, swrURL, sieURL, noSieURL, e.s3b.Endpoint, e.disks, corruptURL, sharedURL, authURL)
	os.Setenv("R2GATE_TEST_SECRET", srv.SecretKey)
	os.Setenv("R2GATE_TEST_PURGE_SECRET", purgeSecret)
	os.Setenv("R2GATE_TEST_JWT_SECRET", jwtSecret)
	os.Setenv("R2GATE_TEST_SIGN_K1", signK1)
	os.Setenv("R2GATE_TEST_SIGN_K0", signK0)
	return e, nil
}

// newTester returns a caddytest client with the package's config loaded.
func newTester(t *testing.T) *caddytest.Tester {
	t.Helper()
	if testing.Short() {
		t.Fatal("integration tests do not run with -short: they are the point")
	}
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{TestRequestTimeout: 30 * time.Second})
	tester.InitServer(env.config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	return tester
}

// keyURL escapes a key for use in a URL path, segment by segment.
func keyURL(base, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return base + "/" + strings.Join(segs, "/")
}
