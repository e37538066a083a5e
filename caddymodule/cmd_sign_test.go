package caddymodule

import (
	"bytes"
	"errors"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/r2gate/r2gate/auth"
)

const signAt = 1700000000

func signEnv(name string) string {
	return map[string]string{
		"SIGNING_KEY": "k1:s3cret",
		"CF_SECRET":   "my secret symmetric key",
		"BAD_KEY":     "no-colon",
	}[name]
}

// verifySigned checks line (one line of runSign output) with v at now.
func verifySigned(t *testing.T, v *auth.SignedURLs, line string, now time.Time) error {
	t.Helper()
	path, rawQuery, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "?")
	if !ok {
		t.Fatalf("output %q has no query", line)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("output %q: %v", line, err)
	}
	v.Now = func() time.Time { return now }
	return v.Verify(path, q)
}

func TestSignCommand(t *testing.T) {
	native := &auth.SignedURLs{Keys: []auth.Key{{ID: "k1", Secret: []byte("s3cret")}}}
	cf := &auth.SignedURLs{Cloudflare: &auth.Cloudflare{Secret: []byte("my secret symmetric key"), Lifetime: time.Hour}}
	at := time.Unix(signAt, 0)
	tests := []struct {
		name    string
		args    []string
		flags   signFlags
		want    string // exact output, when set
		v       *auth.SignedURLs
		validAt time.Time
		expired time.Time
	}{
		{
			name:    "native signed path carries the resize options and verifies",
			args:    []string{"/img/cat.jpg?w=400"},
			flags:   signFlags{Key: "k1:s3cret", Expires: "1h", ExpiresSet: true, At: "1700000000"},
			want:    auth.Sign("/img/cat.jpg", url.Values{"w": {"400"}}, "k1", []byte("s3cret"), at.Add(time.Hour)) + "\n",
			v:       native,
			validAt: at.Add(59 * time.Minute),
			expired: at.Add(time.Hour),
		},
		{
			name:  "a write grant is added to the query and signed",
			args:  []string{"/uploads/a.jpg"},
			flags: signFlags{Key: "k1:s3cret", Expires: "1h", At: "1700000000", Method: "PUT", MaxSize: "1MiB", ContentType: "image/jpeg"},
			want: auth.Sign("/uploads/a.jpg", url.Values{"method": {"PUT"}, "max_size": {"1048576"}, "content_type": {"image/jpeg"}},
				"k1", []byte("s3cret"), at.Add(time.Hour)) + "\n",
			v:       native,
			validAt: at,
			expired: at.Add(2 * time.Hour),
		},
		{
			name:    "key from the environment and the default expiry of 1h",
			args:    []string{"/downloads/report.pdf"},
			flags:   signFlags{KeyEnv: "SIGNING_KEY", Expires: "1h", At: "1700000000"},
			want:    "/downloads/report.pdf?exp=1700003600&kid=k1&sig=" + sigOf(t, "/downloads/report.pdf", "exp=1700003600&kid=k1") + "\n",
			v:       native,
			validAt: at,
			expired: at.Add(2 * time.Hour),
		},
		{
			name:    "days are accepted and a path with spaces is encoded canonically",
			args:    []string{"/my file é.jpg?format=webp&w=200"},
			flags:   signFlags{Key: "k1:s3cret", Expires: "2d", ExpiresSet: true, At: "1700000000"},
			v:       native,
			validAt: at.Add(47 * time.Hour),
			expired: at.Add(48 * time.Hour),
		},
		{
			name:    "secret may contain colons",
			args:    []string{"/a"},
			flags:   signFlags{Key: "k1:s3:cr:et", Expires: "1h", At: "1700000000"},
			v:       &auth.SignedURLs{Keys: []auth.Key{{ID: "k1", Secret: []byte("s3:cr:et")}}},
			validAt: at,
			expired: at.Add(time.Hour),
		},
		{
			name:    "cloudflare token as the Worker example makes it",
			args:    []string{"/img/cat.jpg"},
			flags:   signFlags{Cloudflare: "my secret symmetric key", Expires: "1h", At: "1700000000"},
			want:    "/img/cat.jpg?verify=1700000000-25EEy0zy07tLLYzDACs%2F%2F1kKVi9PZd6zd0XXbZ%2B9lRY%3D\n",
			v:       cf,
			validAt: at.Add(time.Hour),
			expired: at.Add(time.Hour + time.Second),
		},
		{
			name:    "cloudflare signs the path as a browser sends it and keeps the query",
			args:    []string{"/my file é.jpg?w=400"},
			flags:   signFlags{CloudflareEnv: "CF_SECRET", Expires: "1h", At: "1700000000"},
			want:    "/my%20file%20%C3%A9.jpg?w=400&verify=1700000000-d5sszCrsbIz4jxvSR3ylCPv%2FDfKWDAhjFgxrsEw2%2B9U%3D\n",
			v:       cf,
			validAt: at,
			expired: at.Add(2 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runSign(tt.args, tt.flags, signEnv, &out); err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && out.String() != tt.want {
				t.Errorf("output\n got %q\nwant %q", out.String(), tt.want)
			}
			if err := verifySigned(t, tt.v, out.String(), tt.validAt); err != nil {
				t.Errorf("Verify at %v: %v", tt.validAt.Unix(), err)
			}
			if err := verifySigned(t, tt.v, out.String(), tt.expired); auth.Reason(err) != auth.ReasonExpired {
				t.Errorf("Verify at %v = %v, want expired", tt.expired.Unix(), err)
			}
		})
	}
}

// sigOf is the expected sig for a canonical path and query, computed from
// the documented canonical string with the "s3cret" key.
func sigOf(t *testing.T, path, query string) string {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	s := auth.Sign(path, q, "k1", []byte("s3cret"), time.Unix(signAt+3600, 0))
	_, sig, _ := strings.Cut(s, "&sig=")
	return sig
}

func TestSignCommandWithoutAtUsesTheClock(t *testing.T) {
	var out bytes.Buffer
	if err := runSign([]string{"/a"}, signFlags{Key: "k1:s3cret", Expires: "10m"}, signEnv, &out); err != nil {
		t.Fatal(err)
	}
	v := &auth.SignedURLs{Keys: []auth.Key{{ID: "k1", Secret: []byte("s3cret")}}}
	if err := verifySigned(t, v, out.String(), time.Now()); err != nil {
		t.Errorf("Verify now: %v", err)
	}
	if err := verifySigned(t, v, out.String(), time.Now().Add(11*time.Minute)); auth.Reason(err) != auth.ReasonExpired {
		t.Errorf("Verify in 11m = %v, want expired", err)
	}
}

func TestSignCommandErrors(t *testing.T) {
	key := signFlags{Key: "k1:s3cret", Expires: "1h"}
	with := func(mod func(*signFlags)) signFlags {
		f := key
		mod(&f)
		return f
	}
	tests := []struct {
		name  string
		args  []string
		flags signFlags
		want  string
	}{
		{"missing path", nil, key, "need exactly one path"},
		{"two paths", []string{"/a", "/b"}, key, "need exactly one path"},
		{"empty path", []string{"?w=1"}, key, "path is empty"},
		{"full URL", []string{"https://example.com/a"}, key, "not a full URL"},
		{"no secret", []string{"/a"}, signFlags{Expires: "1h"}, "need a secret"},
		{"key and cloudflare", []string{"/a"}, with(func(f *signFlags) { f.Cloudflare = "x" }), "only one of"},
		{"key and key-env", []string{"/a"}, with(func(f *signFlags) { f.KeyEnv = "SIGNING_KEY" }), "only one of"},
		{"key without colon", []string{"/a"}, with(func(f *signFlags) { f.Key = "s3cret" }), "<kid>:<secret>"},
		{"key without kid", []string{"/a"}, with(func(f *signFlags) { f.Key = ":s3cret" }), "<kid>:<secret>"},
		{"key without secret", []string{"/a"}, with(func(f *signFlags) { f.Key = "k1:" }), "<kid>:<secret>"},
		{"kid too long", []string{"/a"}, with(func(f *signFlags) { f.Key = strings.Repeat("k", 65) + ":s" }), "longer than 64"},
		{"key-env unset", []string{"/a"}, signFlags{KeyEnv: "NOPE", Expires: "1h"}, "NOPE is empty or unset"},
		{"key-env badly formed", []string{"/a"}, signFlags{KeyEnv: "BAD_KEY", Expires: "1h"}, "<kid>:<secret>"},
		{"cloudflare-env unset", []string{"/a"}, signFlags{CloudflareEnv: "NOPE", Expires: "1h"}, "NOPE is empty or unset"},
		{"expires not a duration", []string{"/a"}, with(func(f *signFlags) { f.Expires = "soon" }), `--expires "soon"`},
		{"expires zero", []string{"/a"}, with(func(f *signFlags) { f.Expires = "0s" }), "must be positive"},
		{"expires negative", []string{"/a"}, with(func(f *signFlags) { f.Expires = "-1h" }), "must be positive"},
		{"expires with cloudflare", []string{"/a"}, signFlags{Cloudflare: "x", Expires: "1h", ExpiresSet: true}, "does not apply to --cloudflare"},
		{"at not a number", []string{"/a"}, with(func(f *signFlags) { f.At = "yesterday" }), "--at"},
		{"repeated parameter", []string{"/a?w=1&w=2"}, key, `"w" is repeated`},
		{"credential parameter in the query", []string{"/a?sig=x"}, key, `"sig" is reserved`},
		{"bad query encoding", []string{"/a?w=%zz"}, key, "bad query"},
		{"unknown method", []string{"/a"}, with(func(f *signFlags) { f.Method = "POST" }), "--method"},
		{"max-size without PUT", []string{"/a"}, with(func(f *signFlags) { f.MaxSize = "1MiB" }), "go with --method PUT"},
		{"bad max-size", []string{"/a"}, with(func(f *signFlags) { f.Method, f.MaxSize = "PUT", "big" }), "--max-size"},
		{"method with cloudflare", []string{"/a"}, signFlags{Cloudflare: "x", Method: "PUT"}, "need a native key"},
		{"method given twice", []string{"/a?method=GET"}, with(func(f *signFlags) { f.Method = "PUT" }), `"method" is repeated`},
		{"path longer than the server accepts", []string{"/" + strings.Repeat("a", auth.MaxPathLen)}, key, "the path is 8193 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runSign(tt.args, tt.flags, signEnv, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %q on error", out.String())
			}
		})
	}
}

// TestSignCommandCLI runs "caddy r2gate sign" through Caddy's own main (the
// test binary doubles as Caddy, see TestMain).
func TestSignCommandCLI(t *testing.T) {
	run := func(env []string, args ...string) (stdout, stderr string, err error) {
		return runCaddyCLI(t, env, args...)
	}

	t.Run("prints the signed path on stdout", func(t *testing.T) {
		stdout, stderr, err := run([]string{"R2GATE_TEST_SIGNING_KEY=k1:s3cret"},
			"r2gate", "sign", "--key-env", "R2GATE_TEST_SIGNING_KEY", "--expires", "1h", "--at", "1700000000", "/img/cat.jpg?w=400")
		if err != nil {
			t.Fatalf("%v; stderr: %s", err, stderr)
		}
		want := auth.Sign("/img/cat.jpg", url.Values{"w": {"400"}}, "k1", []byte("s3cret"), time.Unix(signAt+3600, 0)) + "\n"
		if stdout != want {
			t.Errorf("stdout %q, want %q", stdout, want)
		}
	})
	t.Run("cloudflare flag prints a verify URL", func(t *testing.T) {
		stdout, stderr, err := run(nil, "r2gate", "sign", "--cloudflare", "my secret symmetric key", "--at", "1700000000", "/img/cat.jpg")
		if err != nil {
			t.Fatalf("%v; stderr: %s", err, stderr)
		}
		if want := "/img/cat.jpg?verify=1700000000-25EEy0zy07tLLYzDACs%2F%2F1kKVi9PZd6zd0XXbZ%2B9lRY%3D\n"; stdout != want {
			t.Errorf("stdout %q, want %q", stdout, want)
		}
	})
	t.Run("bad key is an error on stderr with a non-zero exit", func(t *testing.T) {
		stdout, stderr, err := run(nil, "r2gate", "sign", "--key", "nocolon", "/a")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("err = %v, want a non-zero exit", err)
		}
		if stdout != "" {
			t.Errorf("stdout %q, want nothing", stdout)
		}
		if !strings.Contains(stderr, "<kid>:<secret>") {
			t.Errorf("stderr %q does not explain the key format", stderr)
		}
	})
}
