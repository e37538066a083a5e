package caddymodule_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/r2gate/r2gate/auth"
)

func token(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user-1", "plan": "gold", "iss": "r2gate-tests", "exp": time.Now().Add(time.Hour).Unix()}
}

func TestProtectedRouteSharesTheCacheAndChecksEveryRequest(t *testing.T) {
	tester := newTester(t)
	key := uniqueKey(t, "doc.txt")
	body := []byte("members only")
	putObject(t, env.s3, key, body, "public, max-age=3600")

	// The public route fills the shared cache.
	pub := mustGet(t, authURL+"/"+key, body)
	if pub.Header.Get("Cache-Control") != "public, max-age=3600" { // the object's own
		t.Errorf("public answer Cache-Control = %q", pub.Header.Get("Cache-Control"))
	}
	private := authURL + "/private/" + key

	resp, got := get(t, tester, private)
	if resp.StatusCode != 401 || got != "401 Unauthorized\n" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no credential: %d %q WWW-Authenticate %q, want 401 with Bearer", resp.StatusCode, got, resp.Header.Get("WWW-Authenticate"))
	}

	good := token(t, jwtSecret, validClaims())
	resp = mustGet(t, private, body, "Authorization", "Bearer "+good)
	if !strings.Contains(resp.Header.Get("Cache-Status"), "; hit;") {
		t.Errorf("protected request after the public one: Cache-Status %q, want a hit from the shared cache", resp.Header.Get("Cache-Status"))
	}
	if resp.Header.Get("X-User") != "user-1" || resp.Header.Get("X-Plan") != "gold" {
		t.Errorf("claim placeholders: X-User %q X-Plan %q, want user-1 and gold", resp.Header.Get("X-User"), resp.Header.Get("X-Plan"))
	}
	if resp.Header.Get("Cache-Control") != "private" {
		t.Errorf("protected answer Cache-Control = %q, want private", resp.Header.Get("Cache-Control"))
	}
	if resp, _ := get(t, tester, private); resp.StatusCode != 401 {
		t.Errorf("a cached object without a credential: %d, want 401", resp.StatusCode)
	}

	expired := validClaims()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	wrongIssuer := validClaims()
	wrongIssuer["iss"] = "someone-else"
	for name, c := range map[string]struct {
		kv   []string
		want string
	}{
		"bad signature":  {[]string{"Authorization", "Bearer " + token(t, "another-secret-0123456789", validClaims())}, "403 Forbidden: bad signature\n"},
		"expired":        {[]string{"Authorization", "Bearer " + token(t, jwtSecret, expired)}, "403 Forbidden: expired\n"},
		"wrong issuer":   {[]string{"Authorization", "Bearer " + token(t, jwtSecret, wrongIssuer)}, "403 Forbidden: invalid token\n"},
		"garbage":        {[]string{"Authorization", "Bearer not.a.token"}, "403 Forbidden: invalid token\n"},
		"cookie token":   {[]string{"Cookie", "session=" + good}, string(body)},
		"alg none token": {[]string{"Authorization", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTEifQ."}, "403 Forbidden: bad signature\n"},
	} {
		_, got := get(t, tester, private, c.kv...)
		if got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
		if strings.Contains(got, jwtSecret) {
			t.Errorf("%s: the answer holds the secret", name)
		}
	}
	if _, got := get(t, tester, private+"?token="+good); got != string(body) {
		t.Errorf("query token: %q", got)
	}
}

func TestSignedURLsOnAProtectedRoute(t *testing.T) {
	tester := newTester(t)
	key := uniqueKey(t, "download.bin")
	body := []byte("signed download")
	putObject(t, env.s3, key, body, "")
	path := "/private/" + key

	signed := auth.Sign(path, nil, "k1", []byte(signK1), time.Now().Add(time.Hour))
	mustGet(t, authURL+signed, body)
	// Rotation: the older key still verifies; both share one cached copy.
	resp := mustGet(t, authURL+auth.Sign(path, nil, "k0", []byte(signK0), time.Now().Add(time.Hour)), body)
	if !strings.Contains(resp.Header.Get("Cache-Status"), "; hit;") {
		t.Errorf("second credential: Cache-Status %q, want one cached copy for every credential", resp.Header.Get("Cache-Status"))
	}

	u, _ := url.Parse(signed)
	q := u.Query()
	q.Set("exp", "9999999999")
	tampered := u.Path + "?" + q.Encode()
	if _, got := get(t, tester, authURL+tampered); got != "403 Forbidden: bad signature\n" {
		t.Errorf("tampered exp: %q", got)
	}
	q = u.Query()
	q.Set("w", "4000")
	if _, got := get(t, tester, authURL+u.Path+"?"+q.Encode()); got != "403 Forbidden: bad signature\n" {
		t.Errorf("added parameter: %q", got)
	}
	old := auth.Sign(path, nil, "k1", []byte(signK1), time.Now().Add(-time.Minute))
	if _, got := get(t, tester, authURL+old); got != "403 Forbidden: expired\n" {
		t.Errorf("expired signature: %q", got)
	}
	if _, got := get(t, tester, authURL+auth.Sign(path, nil, "k9", []byte("x"), time.Now().Add(time.Hour))); got != "403 Forbidden: unknown key\n" {
		t.Errorf("unknown kid: %q", got)
	}
}

func TestSignCommandOutputIsAccepted(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "cli.bin")
	body := []byte("signed on the command line")
	putObject(t, env.s3, key, body, "")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), caddyMainEnv+"="+strings.Join(
		[]string{"r2gate", "sign", "--key", "k1:" + signK1, "--expires", "1h", "/private/" + key}, "\x1f"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy r2gate sign: %v: %s", err, errOut.String())
	}
	signed := strings.TrimSpace(out.String())
	if !strings.HasPrefix(signed, "/private/") || !strings.Contains(signed, "sig=") {
		t.Fatalf("caddy r2gate sign printed %q", signed)
	}
	resp, got := get(t, newTester(t), authURL+signed)
	if resp.StatusCode != http.StatusOK || got != string(body) {
		t.Errorf("the command's URL: %d %q", resp.StatusCode, got)
	}
}
