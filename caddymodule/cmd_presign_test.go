package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/r2gate/r2gate/internal/s3test"
)

const (
	presignAKID   = "AKIDPRESIGNTEST"
	presignSecret = "presign-secret-never-printed-0123456789"
)

// envOf returns a getenv over vars.
func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// presignOut runs runPresign and returns its one line of output, parsed.
func presignOut(t *testing.T, args []string, f presignFlags, vars map[string]string) *url.URL {
	t.Helper()
	var out bytes.Buffer
	if err := runPresign(t.Context(), args, f, envOf(vars), &out); err != nil {
		t.Fatalf("runPresign(%q, %+v): %v", args, f, err)
	}
	line, ok := strings.CutSuffix(out.String(), "\n")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("output %q is not one line", out.String())
	}
	u, err := url.Parse(line)
	if err != nil {
		t.Fatalf("output %q: %v", line, err)
	}
	if strings.Contains(line, presignSecret) {
		t.Fatalf("output %q holds the secret key", line)
	}
	return u
}

func TestPresignCommandFlags(t *testing.T) {
	checkFlags(t, newPresignCommand(), map[string]string{
		"method": "GET", "expires": "15m", "content-type": "",
		"bucket": "", "endpoint": "", "account-id": "", "region": "",
	})
}

func TestPresignCommandPrintsOneURL(t *testing.T) {
	creds := map[string]string{"R2_ACCESS_KEY_ID": presignAKID, "R2_SECRET_ACCESS_KEY": presignSecret}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range creds {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		key     string
		f       presignFlags
		env     map[string]string
		host    string
		path    string // escaped
		expires string
		headers string
	}{
		{
			name: "defaults: GET for 15 minutes, R2 endpoint from the flags",
			key:  "img/cat.jpg",
			f:    presignFlags{Method: "GET", Expires: "15m", Bucket: bucketFlags{Bucket: "assets", AccountID: "acct123"}},
			env:  creds, host: "acct123.r2.cloudflarestorage.com", path: "/assets/img/cat.jpg",
			expires: "900", headers: "host",
		},
		{
			name: "bucket and account from the environment",
			key:  "a b/ü.txt",
			f:    presignFlags{Method: "get", Expires: "1h"},
			env:  with(map[string]string{"R2_BUCKET": "envbucket", "R2_ACCOUNT_ID": "envacct"}),
			host: "envacct.r2.cloudflarestorage.com", path: "/envbucket/a%20b/%C3%BC.txt",
			expires: "3600", headers: "host",
		},
		{
			name: "flags win over the environment; PUT with a content type for 7 days",
			key:  "uploads/x.png",
			f: presignFlags{Method: "PUT", Expires: "7d", ContentType: "image/png",
				Bucket: bucketFlags{Bucket: "flagbucket", Endpoint: "http://127.0.0.1:1/base"}},
			env:  with(map[string]string{"R2_BUCKET": "envbucket", "R2_ACCOUNT_ID": "envacct"}),
			host: "127.0.0.1:1", path: "/base/flagbucket/uploads/x.png",
			expires: "604800", headers: "content-type;host",
		},
		{
			name: "DELETE and HEAD are accepted",
			key:  "k",
			f:    presignFlags{Method: "DELETE", Expires: "90s", Bucket: bucketFlags{Bucket: "b", Endpoint: "https://s3.example.net"}},
			env:  creds, host: "s3.example.net", path: "/b/k", expires: "90", headers: "host",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := presignOut(t, []string{tc.key}, tc.f, tc.env)
			q := u.Query()
			if u.Host != tc.host || u.EscapedPath() != tc.path {
				t.Errorf("URL on %s%s, want %s%s", u.Host, u.EscapedPath(), tc.host, tc.path)
			}
			if got := q.Get("X-Amz-Expires"); got != tc.expires {
				t.Errorf("X-Amz-Expires %q, want %q", got, tc.expires)
			}
			if got := q.Get("X-Amz-SignedHeaders"); got != tc.headers {
				t.Errorf("X-Amz-SignedHeaders %q, want %q", got, tc.headers)
			}
			if cred := q.Get("X-Amz-Credential"); !strings.HasPrefix(cred, presignAKID+"/") || !strings.Contains(cred, "/auto/s3/") {
				t.Errorf("X-Amz-Credential %q, want the access key ID and region auto", cred)
			}
			if q.Get("X-Amz-Signature") == "" {
				t.Error("no X-Amz-Signature")
			}
		})
	}
}

func TestPresignCommandRefusesBadFlags(t *testing.T) {
	okBucket := bucketFlags{Bucket: "b", AccountID: "acct"}
	creds := map[string]string{"R2_ACCESS_KEY_ID": presignAKID, "R2_SECRET_ACCESS_KEY": presignSecret}
	for _, tc := range []struct {
		name string
		args []string
		f    presignFlags
		env  map[string]string
		want string
	}{
		{"no key", nil, presignFlags{Method: "GET", Expires: "15m", Bucket: okBucket}, creds, "need exactly one object key"},
		{"two keys", []string{"a", "b"}, presignFlags{Method: "GET", Expires: "15m", Bucket: okBucket}, creds, "need exactly one object key"},
		{"leading slash", []string{"/img/cat.jpg"}, presignFlags{Method: "GET", Expires: "15m", Bucket: okBucket}, creds, "starts with a slash"},
		{"bad method", []string{"k"}, presignFlags{Method: "POST", Expires: "15m", Bucket: okBucket}, creds, `--method "POST": want one of GET, HEAD, PUT, DELETE`},
		{"empty method", []string{"k"}, presignFlags{Method: "", Expires: "15m", Bucket: okBucket}, creds, `--method "": want one of`},
		{"unparsable expires", []string{"k"}, presignFlags{Method: "GET", Expires: "soon", Bucket: okBucket}, creds, `--expires "soon"`},
		{"zero expires", []string{"k"}, presignFlags{Method: "GET", Expires: "0s", Bucket: okBucket}, creds, `--expires "0s": want 1s to 7d`},
		{"negative expires", []string{"k"}, presignFlags{Method: "GET", Expires: "-5m", Bucket: okBucket}, creds, `--expires "-5m": want 1s to 7d`},
		{"under a second", []string{"k"}, presignFlags{Method: "GET", Expires: "500ms", Bucket: okBucket}, creds, `--expires "500ms": want 1s to 7d`},
		{"over 7 days", []string{"k"}, presignFlags{Method: "PUT", Expires: "8d", Bucket: okBucket}, creds, `--expires "8d": want 1s to 7d`},
		{"content type on GET", []string{"k"}, presignFlags{Method: "GET", Expires: "15m", ContentType: "text/plain", Bucket: okBucket}, creds, "--content-type applies only to --method PUT"},
		{"no bucket", []string{"k"}, presignFlags{Method: "GET", Expires: "15m", Bucket: bucketFlags{AccountID: "acct"}}, creds, "no bucket: pass --bucket or set R2_BUCKET"},
		{"no endpoint", []string{"k"}, presignFlags{Method: "GET", Expires: "15m", Bucket: bucketFlags{Bucket: "b"}}, creds, "no endpoint: pass --endpoint or --account-id"},
		{"bad endpoint", []string{"k"}, presignFlags{Method: "GET", Expires: "15m", Bucket: bucketFlags{Bucket: "b", Endpoint: "ftp://x"}}, creds, "is not an http(s) URL"},
		{"secret without an access key", []string{"k"}, presignFlags{Method: "GET", Expires: "15m", Bucket: okBucket},
			map[string]string{"R2_SECRET_ACCESS_KEY": presignSecret}, "R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY must be set together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runPresign(t.Context(), tc.args, tc.f, envOf(tc.env), &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), presignSecret) {
				t.Errorf("the error holds the secret key: %v", err)
			}
			if out.Len() != 0 {
				t.Errorf("output %q with the error", out.String())
			}
		})
	}
}

func TestPresignCommandWithoutCredentials(t *testing.T) {
	// The AWS default chain finds nothing: no variables, files or
	// instance metadata.
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var out bytes.Buffer
	err := runPresign(t.Context(), []string{"k"}, presignFlags{Method: "GET", Expires: "15m", Bucket: bucketFlags{Bucket: "b", AccountID: "a"}},
		envOf(nil), &out)
	if err == nil || !strings.Contains(err.Error(), "no usable credentials: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY") {
		t.Fatalf("err = %v, want one naming the credential variables", err)
	}
	if out.Len() != 0 {
		t.Errorf("output %q with the error", out.String())
	}
}

// cliError returns the messages of the JSON log lines in stderr (Caddy
// logs a command's error as one), else stderr itself.
func cliError(stderr string) string {
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var entry struct{ Msg string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg != "" {
			msgs = append(msgs, entry.Msg)
		}
	}
	if len(msgs) == 0 {
		return stderr
	}
	return strings.Join(msgs, "\n")
}

// TestPresignCommandWithCaddyAndVersitygw runs "caddy r2gate presign" as
// a process (the test binary as Caddy) against a versitygw of its own on a
// free port, and uses the URLs it prints.
func TestPresignCommandWithCaddyAndVersitygw(t *testing.T) {
	srv, err := s3test.Start(filepath.Join(t.TempDir(), "s3"))
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const bucket = "presign-cli"
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"R2_BUCKET=" + bucket, "R2_ACCOUNT_ID=", "AWS_EC2_METADATA_DISABLED=true",
		"R2_ACCESS_KEY_ID=" + srv.AccessKey, "R2_SECRET_ACCESS_KEY=" + srv.SecretKey,
	}
	presign := func(t *testing.T, args ...string) string {
		t.Helper()
		stdout, stderr, err := runCaddyCLI(t, env, append([]string{"r2gate", "presign", "--endpoint", srv.Endpoint}, args...)...)
		if err != nil {
			t.Fatalf("caddy r2gate presign %q: %v; stderr: %s", args, err, stderr)
		}
		line, ok := strings.CutSuffix(stdout, "\n")
		if !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, srv.Endpoint+"/"+bucket+"/") {
			t.Fatalf("stdout %q is not one URL line on the bucket", stdout)
		}
		if strings.Contains(stdout+stderr, srv.SecretKey) {
			t.Fatalf("the output holds the secret key")
		}
		return line
	}
	do := func(t *testing.T, method, u, contentType string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, got
	}

	body := []byte("uploaded by a browser, say\n")
	put := presign(t, "--method", "PUT", "--expires", "2m", "--content-type", "text/plain", "notes/hello world.txt")
	if st, b := do(t, "PUT", put, "text/html", body); st != 403 {
		t.Errorf("PUT with another Content-Type: %d %s, want 403", st, b)
	}
	if st, b := do(t, "PUT", put, "text/plain", body); st != 200 {
		t.Fatalf("PUT with the presigned URL: %d %s", st, b)
	}
	out, err := srv.Client("").HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("notes/hello world.txt")})
	if err != nil || aws.ToString(out.ContentType) != "text/plain" || aws.ToInt64(out.ContentLength) != int64(len(body)) {
		t.Fatalf("after the upload, HeadObject: %v, %v; want text/plain, %d bytes", err, out, len(body))
	}

	get := presign(t, "notes/hello world.txt") // the defaults: GET, 15m
	if q, _ := url.Parse(get); q.Query().Get("X-Amz-Expires") != "900" {
		t.Errorf("default expiry: %q", get)
	}
	if st, b := do(t, "GET", get, "", nil); st != 200 || !bytes.Equal(b, body) {
		t.Errorf("GET with the presigned URL: %d %q, want 200 %q", st, b, body)
	}
	if st, _ := do(t, "PUT", get, "text/plain", []byte("x")); st != 403 {
		t.Errorf("the GET URL used for PUT: %d, want 403", st)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "PATCH", "k"}, `--method "PATCH": want one of GET, HEAD, PUT, DELETE`},
		{[]string{"--expires", "30d", "k"}, `--expires "30d": want 1s to 7d`},
		{[]string{"k", "--bucket", ""}, ""}, // the flag is empty: R2_BUCKET applies, no error
	} {
		stdout, stderr, err := runCaddyCLI(t, env, append([]string{"r2gate", "presign", "--endpoint", srv.Endpoint}, tc.args...)...)
		if tc.want == "" {
			if err != nil || !strings.HasPrefix(stdout, srv.Endpoint+"/"+bucket+"/k?") {
				t.Errorf("%q: %v, stdout %q, stderr %s", tc.args, err, stdout, stderr)
			}
			continue
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%q: err = %v, want a non-zero exit", tc.args, err)
		}
		if !strings.Contains(cliError(stderr), tc.want) || stdout != "" {
			t.Errorf("%q: stdout %q, stderr %q; want no output and an error saying %q", tc.args, stdout, stderr, tc.want)
		}
	}
	stdout, stderr, err := runCaddyCLI(t, []string{"R2_BUCKET=", "R2_ACCOUNT_ID="}, "r2gate", "presign", "--account-id", "a", "k")
	if err == nil || !strings.Contains(cliError(stderr), "no bucket: pass --bucket or set R2_BUCKET") || stdout != "" {
		t.Errorf("without a bucket: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
}

// checkFlags checks that cmd has each flag in defaults with that default,
// and that r2gateSubcommands registers it.
func checkFlags(t *testing.T, cmd *cobra.Command, defaults map[string]string) {
	t.Helper()
	for flag, def := range defaults {
		fl := cmd.Flags().Lookup(flag)
		if fl == nil {
			t.Errorf("%s has no --%s", cmd.Name(), flag)
			continue
		}
		if fl.DefValue != def {
			t.Errorf("--%s defaults to %q, want %q", flag, fl.DefValue, def)
		}
	}
	root := &cobra.Command{Use: "r2gate"}
	root.AddCommand(r2gateSubcommands()...)
	if c, _, err := root.Find([]string{cmd.Name()}); err != nil || c.Name() != cmd.Name() {
		t.Errorf("r2gateSubcommands has no %s: %v", cmd.Name(), err)
	}
}
