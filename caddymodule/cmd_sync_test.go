package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/r2gate/r2gate/internal/s3test"
)

func TestSyncCommandFlags(t *testing.T) {
	checkFlags(t, newSyncCommand(), map[string]string{
		"prefix": "", "delete": "false", "dry-run": "false", "exclude": "[]", "cache-control": "[]",
		"content-encoding": "[]", "part-size": "8MiB", "concurrency": "8", "purge": "[]", "cleanup": "false",
		"bucket": "", "endpoint": "", "account-id": "", "region": "",
	})
}

func TestSyncCommandRefusesBadFlags(t *testing.T) {
	ok := syncFlags{PartSize: "8MiB", Concurrency: 8, Bucket: bucketFlags{Bucket: "b", Endpoint: "http://127.0.0.1:1"}}
	for _, tc := range []struct {
		args []string
		edit func(*syncFlags)
		want string
	}{
		{nil, nil, "need exactly one folder"},
		{[]string{"a", "b"}, nil, "need exactly one folder"},
		{[]string{"d"}, func(f *syncFlags) { f.PartSize = "1MiB" }, `--part-size "1MiB": want 5MiB to 5GiB`},
		{[]string{"d"}, func(f *syncFlags) { f.PartSize = "lots" }, `--part-size "lots"`},
		{[]string{"d"}, func(f *syncFlags) { f.Concurrency = 0 }, "--concurrency 0: want at least 1"},
		{[]string{"d"}, func(f *syncFlags) { f.CacheControl = []string{"no-cache"} }, "--cache-control: rule \"no-cache\": want <glob>=<value>"},
		{[]string{"d"}, func(f *syncFlags) { f.ContentEncoding = []string{"*.js"} }, "--content-encoding: rule"},
		{[]string{"d"}, func(f *syncFlags) { f.Exclude = []string{"a[b"} }, "--exclude: pattern \"a[b\" has a '[' without its ']'"},
		{[]string{"d"}, func(f *syncFlags) { f.Purge = []string{"localhost:2019"} }, "--purge: purge URL \"localhost:2019\""},
		{[]string{"d"}, func(f *syncFlags) { f.Bucket = bucketFlags{AccountID: "a"} }, "no bucket: pass --bucket or set R2_BUCKET"},
	} {
		f := ok
		if tc.edit != nil {
			tc.edit(&f)
		}
		var out bytes.Buffer
		err := runSync(t.Context(), tc.args, f, envOf(nil), &out, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %+v: err = %v, want one saying %q", tc.args, f, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("%q: output %q before the flags were checked", tc.args, out.String())
		}
	}
}

// syncProxy is a proxy to endpoint that fails the PUTs of keys ending in
// failSuffix with 500.
func syncProxy(t *testing.T, endpoint, failSuffix string) string {
	t.Helper()
	target, _ := url.Parse(endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, failSuffix) {
			http.Error(w, "<Error><Code>InternalError</Code></Error>", http.StatusInternalServerError)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// adminPurge is the real admin purge route (PurgeAPI) on a test server,
// over a cache of bucket holding cached; it records the bodies it
// accepted.
func adminPurge(t *testing.T, bucket string, cached ...string) (string, *fakeCache, func() [][]string) {
	t.Helper()
	ns := "s3:" + bucket + "\x00"
	for i, k := range cached {
		cached[i] = ns + k
	}
	reg := new(cacheRegistry)
	c := newFakeCache(cached...)
	reg.register(&Handler{}, cacheUse{bucket: bucket, namespace: ns, cache: c})
	api := &PurgeAPI{caches: reg}
	var (
		mu     sync.Mutex
		bodies [][]string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if r.URL.Path != "/r2gate/purge" {
			http.NotFound(w, r)
			return
		}
		rec := httptest.NewRecorder()
		if err := api.handlePurge(rec, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req purgeRequest
		_ = json.Unmarshal(raw, &req)
		mu.Lock()
		bodies = append(bodies, req.Keys)
		mu.Unlock()
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, c, func() [][]string { mu.Lock(); defer mu.Unlock(); return slices.Clone(bodies) }
}

// TestSyncCommandWithCaddyAndVersitygw runs "caddy r2gate sync" as a
// process (the test binary as Caddy) against a versitygw of its own on a
// free port.
func TestSyncCommandWithCaddyAndVersitygw(t *testing.T) {
	srv, err := s3test.Start(filepath.Join(t.TempDir(), "s3"))
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const bucket = "sync-cli"
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"R2_BUCKET=" + bucket, "R2_ACCOUNT_ID=", "AWS_EC2_METADATA_DISABLED=true",
		"R2_ACCESS_KEY_ID=" + srv.AccessKey, "R2_SECRET_ACCESS_KEY=" + srv.SecretKey,
	}
	dir := t.TempDir()
	for rel, body := range map[string]string{
		"index.html": "<h1>home</h1>", "assets/app.0a1b2c.js": "js", "assets/app.js.map": "map", "img/x.png": "png",
	} {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	client := srv.Client("")
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("web/stale.css"), Body: strings.NewReader("old")}); err != nil {
		t.Fatal(err)
	}
	admin, cached, purged := adminPurge(t, bucket, "web/index.html", "web/stale.css", "web/about.html")
	sync := func(t *testing.T, endpoint string, args ...string) (string, string, error) {
		t.Helper()
		args = append([]string{"r2gate", "sync", "--endpoint", endpoint, "--prefix", "web",
			"--cache-control", "assets/*.[0-9a-f]*.js=public, max-age=31536000, immutable",
			"--cache-control", "*.html=no-cache", "--exclude", "*.map"}, args...)
		stdout, stderr, err := runCaddyCLI(t, env, append(args, dir)...)
		if strings.Contains(stdout+stderr, srv.SecretKey) {
			t.Fatal("the output holds the secret key")
		}
		return stdout, stderr, err
	}

	stdout, stderr, err := sync(t, srv.Endpoint, "--dry-run", "--delete")
	if err != nil || !strings.Contains(stdout, "delete    web/stale.css  (3 B, not in the folder)\n") ||
		!strings.Contains(stdout, "dry run: would upload 3 (18 B), skip 0, delete 1; nothing was changed\n") {
		t.Fatalf("dry run: %v\nstdout:\n%s\nstderr: %s", err, stdout, stderr)
	}

	stdout, stderr, err = sync(t, srv.Endpoint, "--delete", "--purge", admin)
	if err != nil {
		t.Fatalf("first run: %v\nstdout:\n%s\nstderr: %s", err, stdout, stderr)
	}
	for _, line := range []string{
		"uploaded  web/assets/app.0a1b2c.js  (2 B, new)\n",
		"uploaded  web/index.html  (13 B, new)\n",
		"deleted   web/stale.css  (3 B, not in the folder)\n",
		"sync: uploaded 3 (18 B), skipped 0, deleted 1, failed 0 in ",
		"purge: 4 keys at 1 node\n",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("first run: stdout lacks %q:\n%s", line, stdout)
		}
	}
	if got := purged(); len(got) != 1 || !slices.Equal(got[0], []string{"web/assets/app.0a1b2c.js", "web/img/x.png", "web/index.html", "web/stale.css"}) {
		t.Errorf("the admin API purged %q", got)
	}
	if left := cached.left(); !slices.Equal(left, []string{"s3:" + bucket + "\x00web/about.html"}) {
		t.Errorf("the gateway's cache holds %q after the purge, want only the untouched web/about.html", left)
	}
	h, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("web/assets/app.0a1b2c.js")})
	if err != nil || aws.ToString(h.CacheControl) != "public, max-age=31536000, immutable" || aws.ToString(h.ContentType) != "text/javascript; charset=utf-8" {
		t.Errorf("the asset: %v, %+v", err, h)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("web/assets/app.js.map")}); err == nil {
		t.Error("the excluded source map was uploaded")
	}

	stdout, stderr, err = sync(t, srv.Endpoint, "--delete", "--purge", admin)
	if err != nil || !strings.Contains(stdout, "nothing to upload: the bucket already holds all 3 files\n") ||
		!strings.Contains(stdout, "purge: nothing changed, nothing to purge\n") || len(purged()) != 1 {
		t.Fatalf("second run: %v\nstdout:\n%s\nstderr: %s", err, stdout, stderr)
	}

	// A bucket that refuses one file: non-zero exit naming it.
	if err := os.WriteFile(filepath.Join(dir, "img", "x.png"), []byte("new png"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = sync(t, syncProxy(t, srv.Endpoint, "/x.png"))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("a failing upload exits with %v\nstdout:\n%s", err, stdout)
	}
	if msg := cliError(stderr); !strings.Contains(msg, `sync: 1 key failed: "web/img/x.png"`) ||
		!strings.Contains(stdout, "failed keys:\n  web/img/x.png\n") {
		t.Errorf("stdout:\n%s\nerror: %s", stdout, msg)
	}

	// --cleanup alone, with nothing stale.
	stdout, stderr, err = runCaddyCLI(t, env, "r2gate", "sync", "--endpoint", srv.Endpoint, "--cleanup", "--prefix", "web")
	if err != nil || !strings.Contains(stdout, "cleanup: aborted 0 unfinished uploads older than 24h; kept 0 younger\n") {
		t.Errorf("--cleanup: %v\nstdout:\n%s\nstderr: %s", err, stdout, stderr)
	}
}

func TestSyncCommandWithoutCredentials(t *testing.T) {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := syncFlags{PartSize: "8MiB", Concurrency: 8, Bucket: bucketFlags{Bucket: "b", Endpoint: "http://127.0.0.1:1"}}
	err := runSync(t.Context(), []string{dir}, f, envOf(nil), io.Discard, false)
	if err == nil || !strings.Contains(err.Error(), "no usable credentials: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY") {
		t.Fatalf("err = %v, want one naming the credential variables", err)
	}
}

// TestSyncCommandInterruptAbortsTheUpload: Ctrl-C (SIGINT) in the middle
// of a multipart upload aborts it: the process exits non-zero and the
// bucket keeps no parts.
func TestSyncCommandInterruptAbortsTheUpload(t *testing.T) {
	srv, err := s3test.Start(filepath.Join(t.TempDir(), "s3"))
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	t.Cleanup(srv.Stop)
	const bucket = "sync-interrupt"
	if err := srv.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	partSeen := make(chan struct{}, 100)
	target, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("partNumber") != "" {
			partSeen <- struct{}{}
			time.Sleep(300 * time.Millisecond)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	dir := t.TempDir()
	big := make([]byte, 40<<20)
	for i := range big {
		big[i] = byte(i * 31 / 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "R2_BUCKET="+bucket, "R2_ACCOUNT_ID=", "AWS_EC2_METADATA_DISABLED=true",
		"R2_ACCESS_KEY_ID="+srv.AccessKey, "R2_SECRET_ACCESS_KEY="+srv.SecretKey,
		testCaddyMainEnv+"="+strings.Join([]string{"r2gate", "sync", "--endpoint", slow.URL, "--part-size", "5MiB", dir}, "\x1f"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-partSeen:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no part was uploaded; stderr: %s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the interrupted sync did not exit")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit %v after the interrupt; stdout:\n%s", err, stdout.String())
	}
	if !strings.Contains(stderr.String(), "interrupted: aborting the uploads in flight") ||
		!strings.Contains(stdout.String(), "failed keys:\n  big.bin\n") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	ups, err := srv.Client("").ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("the interrupted sync left %d unfinished uploads", len(ups.Uploads))
	}
	if _, err := srv.Client("").HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big.bin")}); err == nil {
		t.Error("the interrupted upload was completed")
	}
}
