package auth

import (
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

type cfVector struct {
	secret string
	ts     int64
	url    string
}

func readCFVectors(t *testing.T) []cfVector {
	t.Helper()
	var vs []cfVector
	for _, cols := range readTSV(t, "testdata/cf_vectors.tsv", 3) {
		ts, err := strconv.ParseInt(cols[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, cfVector{cols[0], ts, cols[2]})
	}
	if len(vs) < 10 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

func verifyCF(secret string, ts time.Time, target string, now time.Time) error {
	s := &SignedURLs{Cloudflare: &Cloudflare{Secret: []byte(secret)}, Now: fixedNow(now)}
	r := httptest.NewRequest("GET", target, nil)
	return s.Verify(RequestPath(r), r.URL.Query())
}

// TestCloudflareRecordedWebCryptoVectors checks URLs recorded from
// testdata/cf_sign.mjs (Web Crypto, as in Cloudflare's example Worker).
func TestCloudflareRecordedWebCryptoVectors(t *testing.T) {
	for _, v := range readCFVectors(t) {
		t.Run(v.url, func(t *testing.T) {
			ts := time.Unix(v.ts, 0)
			if err := verifyCF(v.secret, ts, v.url, ts.Add(30*time.Second)); err != nil {
				t.Fatalf("recorded token rejected: %v", err)
			}
			if err := verifyCF(v.secret+"x", ts, v.url, ts); Reason(err) != ReasonBadSignature {
				t.Fatalf("wrong secret: got %v", err)
			}
			// Our own signer agrees with Web Crypto byte for byte.
			r := httptest.NewRequest("GET", v.url, nil)
			if got, want := SignCloudflare(RequestPath(r), []byte(v.secret), ts), r.URL.Query().Get("verify"); got != want {
				t.Fatalf("SignCloudflare = %q, Web Crypto = %q", got, want)
			}
		})
	}
}

// TestCloudflareLiveWebCryptoSigner runs the Web Crypto signer with node when
// it is installed; without node it checks the recorded vectors instead.
func TestCloudflareLiveWebCryptoSigner(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node not on PATH: checking the recorded Web Crypto vectors instead")
		TestCloudflareRecordedWebCryptoVectors(t)
		return
	}
	ts := time.Now().Truncate(time.Second)
	secret := "live secret " + strconv.FormatInt(ts.UnixNano(), 36)
	urls := []string{
		"https://example.com/img/cat.jpg",
		"https://example.com/my file é.jpg",
		"https://example.com/a/b%2Fc'!.png",
		"https://example.com/",
		"https://example.com/%7Euser/[x]|y^.gif",
	}
	out, err := exec.Command(node, append([]string{"testdata/cf_sign.mjs", secret, strconv.FormatInt(ts.Unix(), 10)}, urls...)...).Output()
	if err != nil {
		t.Fatalf("node cf_sign.mjs: %v", err)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) != len(urls) {
		t.Fatalf("got %d lines from node, want %d: %q", len(lines), len(urls), out)
	}
	for _, u := range lines {
		if err := verifyCF(secret, ts, u, ts.Add(time.Second)); err != nil {
			t.Errorf("%s: %v", u, err)
		}
		if err := verifyCF(secret, ts, u, ts.Add(2*time.Minute)); Reason(err) != ReasonExpired {
			t.Errorf("%s after lifetime: got %v, want expired", u, err)
		}
	}
}

func TestCloudflareRejections(t *testing.T) {
	secret := "my secret symmetric key"
	ts := t0
	tok := func(path string, ts time.Time) string { return SignCloudflare(path, []byte(secret), ts) }
	enc := func(v string) string { return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(v) }
	good := tok("/img/cat.jpg", ts)
	for _, tc := range []struct {
		name, target string
		now          time.Time
		reason       string
	}{
		{"valid token passes", "/img/cat.jpg?verify=" + enc(good), ts, ""},
		{"valid at the end of the lifetime", "/img/cat.jpg?verify=" + enc(good), ts.Add(60 * time.Second), ""},
		{"unpadded url-safe mac passes", "/img/cat.jpg?verify=" + strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(good), ts, ""},
		{"unencoded plus read as space still passes", "/img/cat.jpg?verify=" + strings.ReplaceAll(enc(good), "%2B", "+"), ts, ""},
		{"other parameters are not covered", "/img/cat.jpg?w=100&verify=" + enc(good), ts, ""},
		{"expired after the lifetime", "/img/cat.jpg?verify=" + enc(good), ts.Add(61 * time.Second), ReasonExpired},
		{"timestamp far in the future", "/img/cat.jpg?verify=" + enc(tok("/img/cat.jpg", ts.Add(time.Hour))), ts, ReasonMalformed},
		{"other path is bad signature", "/img/dog.jpg?verify=" + enc(good), ts, ReasonBadSignature},
		{"tampered timestamp is bad signature", "/img/cat.jpg?verify=" + enc(strings.Replace(good, "1700000000", "1700000001", 1)), ts, ReasonBadSignature},
		{"leading zero timestamp is malformed", "/img/cat.jpg?verify=0" + enc(good), ts, ReasonMalformed},
		{"no separator is malformed", "/img/cat.jpg?verify=1700000000", ts, ReasonMalformed},
		{"short mac is malformed", "/img/cat.jpg?verify=1700000000-AAAA", ts, ReasonMalformed},
		{"repeated verify is malformed", "/img/cat.jpg?verify=" + enc(good) + "&verify=" + enc(good), ts, ReasonMalformed},
		{"oversized verify is malformed", "/img/cat.jpg?verify=1-" + strings.Repeat("A", 300), ts, ReasonMalformed},
		{"no verify parameter is no credential", "/img/cat.jpg", ts, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, verifyCF(secret, ts, tc.target, tc.now), tc.reason)
		})
	}
}

func TestRequestPath(t *testing.T) {
	for _, tc := range []struct{ name, target, want string }{
		{"origin-form keeps raw bytes", "/%7Euser/[x]|y^.gif?a=1", "/%7Euser/[x]|y^.gif"},
		{"absolute-form strips scheme and host", "https://example.com/a%20b?x", "/a%20b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RequestURI = tc.target
			if got := RequestPath(r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
