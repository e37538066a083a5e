package auth

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

var (
	t0      = time.Unix(1700000000, 0)
	secret1 = []byte("first-secret-0123456789abcdef")
	secret2 = []byte("second-secret-0123456789abcdef")
)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// signedReq signs path?rawQuery with kid/secret and returns the escaped path
// and parsed query a server would see for it.
func signedReq(t *testing.T, path, rawQuery, kid string, secret []byte, exp time.Time) (string, url.Values) {
	t.Helper()
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	return parseReq(t, Sign(path, q, kid, secret, exp))
}

func parseReq(t *testing.T, target string) (string, url.Values) {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	return RequestPath(r), r.URL.Query()
}

func TestCanonicalStringDocumentedExample(t *testing.T) {
	got, err := CanonicalString("/img/cat.jpg", url.Values{"w": {"400"}, "kid": {"k1"}, "exp": {"1700000000"}, "sig": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "R2GATE-HMAC-SHA256\n/img/cat.jpg\nexp=1700000000&kid=k1&w=400"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Known-answer vector, also computed with:
	// printf 'R2GATE-HMAC-SHA256\n/img/cat.jpg\nexp=1700000000&kid=k1&w=400' |
	//   openssl dgst -sha256 -hmac s3cret -binary | basenc --base64url | tr -d '='
	u := Sign("/img/cat.jpg", url.Values{"w": {"400"}}, "k1", []byte("s3cret"), t0)
	if !strings.HasPrefix(u, "/img/cat.jpg?exp=1700000000&kid=k1&w=400&sig=") {
		t.Fatalf("unexpected signed URL %q", u)
	}
	if sig := u[strings.LastIndex(u, "=")+1:]; sig != knownSig {
		t.Fatalf("sig = %q, want %q", sig, knownSig)
	}
}

func TestCanonicalEncoding(t *testing.T) {
	for _, tc := range []struct{ name, path, query, want string }{
		{"space and unicode are percent-encoded", "/my file é.jpg", "", "/my%20file%20%C3%A9.jpg\n"},
		{"escapes are upper-cased", "/a%2fb%7e", "", "/a%2Fb~\n"},
		{"plus in path is a literal plus", "/a+b", "", "/a%2Bb\n"},
		{"missing leading slash is added", "x/y", "", "/x/y\n"},
		{"query sorted by name then value", "/", "b=2&a=z&a%20b=1", "/\na=z&a%20b=1&b=2"},
		{"plus in query is a space", "/", "t=a+b&e=", "/\ne=&t=a%20b"},
		{"reserved chars in values are encoded", "/", "f=a/b:c?d", "/\nf=a%2Fb%3Ac%3Fd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := CanonicalString(tc.path, q)
			if err != nil {
				t.Fatal(err)
			}
			if want := signPrefix + tc.want; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestSignedURLVerify(t *testing.T) {
	s := &SignedURLs{
		Keys: []Key{{ID: "k2", Secret: secret2}, {ID: "k1", Secret: secret1}},
		Now:  fixedNow(t0),
	}
	exp := t0.Add(time.Hour)
	good := Sign("/img/cat.jpg", url.Values{"w": {"400"}, "format": {"webp"}}, "k1", secret1, exp)
	goodPath, goodQuery := parseReq(t, good)
	mutate := func(f func(url.Values)) url.Values {
		q := url.Values{}
		for k, v := range goodQuery {
			q[k] = append([]string(nil), v...)
		}
		f(q)
		return q
	}
	// flip changes one character of s in a way that stays in its alphabet.
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		path   string
		query  url.Values
		reason string // "" = valid; "none" = ErrNoCredential
	}{
		{"valid URL passes", goodPath, goodQuery, ""},
		{"rotation: second listed key verifies", "/img/cat.jpg", mustQuery(t, Sign("/img/cat.jpg", nil, "k2", secret2, exp)), ""},
		{"reordered parameters still pass", goodPath, mustQuery(t, reorder(good)), ""},
		{"re-encoded path still passes", "/img/c%61t.jpg", goodQuery, ""},
		{"no credential is 401", "/img/cat.jpg", url.Values{"w": {"400"}}, "none"},
		{"tampered path is bad signature", "/img/dog.jpg", goodQuery, ReasonBadSignature},
		{"encoded slash is a different path", "/img%2Fcat.jpg", goodQuery, ReasonBadSignature},
		{"tampered w is bad signature", goodPath, mutate(func(q url.Values) { q.Set("w", "4000") }), ReasonBadSignature},
		{"tampered format is bad signature", goodPath, mutate(func(q url.Values) { q.Set("format", "png") }), ReasonBadSignature},
		{"tampered exp is bad signature", goodPath, mutate(func(q url.Values) { q.Set("exp", "1900000000") }), ReasonBadSignature},
		{"tampered sig is bad signature", goodPath, mutate(func(q url.Values) { q.Set("sig", flip(q.Get("sig"))) }), ReasonBadSignature},
		{"kid of another key is bad signature", goodPath, mutate(func(q url.Values) { q.Set("kid", "k2") }), ReasonBadSignature},
		{"added parameter is bad signature", goodPath, mutate(func(q url.Values) { q.Set("h", "100") }), ReasonBadSignature},
		{"removed parameter is bad signature", goodPath, mutate(func(q url.Values) { q.Del("w") }), ReasonBadSignature},
		{"repeated parameter is malformed", goodPath, mutate(func(q url.Values) { q.Add("w", "9000") }), ReasonMalformed},
		{"unknown kid", goodPath, mutate(func(q url.Values) { q.Set("kid", "k9") }), ReasonUnknownKey},
		{"expired URL", "/img/cat.jpg", mustQuery(t, Sign("/img/cat.jpg", nil, "k1", secret1, t0)), ReasonExpired},
		{"missing sig is malformed", goodPath, mutate(func(q url.Values) { q.Del("sig") }), ReasonMalformed},
		{"missing exp is malformed", goodPath, mutate(func(q url.Values) { q.Del("exp") }), ReasonMalformed},
		{"non-numeric exp is malformed", goodPath, mutate(func(q url.Values) { q.Set("exp", "-1") }), ReasonMalformed},
		{"padded sig is malformed", goodPath, mutate(func(q url.Values) { q.Set("sig", q.Get("sig")+"=") }), ReasonMalformed},
		{"oversized sig is malformed", goodPath, mutate(func(q url.Values) { q.Set("sig", strings.Repeat("A", MaxSigLen+1)) }), ReasonMalformed},
		{"oversized query is malformed", goodPath, mutate(func(q url.Values) { q.Set("pad", strings.Repeat("a", MaxQueryLen)) }), ReasonMalformed},
		{"invalid path escape is malformed", "/img/%zz", goodQuery, ReasonMalformed},
		{"verify without cloudflare configured is malformed", "/img/cat.jpg", url.Values{"verify": {"1-x"}}, ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, s.Verify(tc.path, tc.query), tc.reason)
		})
	}
}

func checkResult(t *testing.T, err error, reason string) {
	t.Helper()
	switch reason {
	case "":
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
	case "none":
		if StatusCode(err) != 401 {
			t.Fatalf("want ErrNoCredential (401), got %v", err)
		}
	default:
		if got := Reason(err); got != reason || StatusCode(err) != 403 {
			t.Fatalf("want 403 %q, got %v", reason, err)
		}
	}
}

func TestSignedURLErrorsHideSecrets(t *testing.T) {
	s := &SignedURLs{Keys: []Key{{ID: "k1", Secret: secret1}}, Now: fixedNow(t0)}
	p, q := signedReq(t, "/a", "w=1", "k1", secret1, t0.Add(time.Minute))
	want := q.Get("sig")
	q.Set("w", "2")
	err := s.Verify(p, q)
	if err == nil {
		t.Fatal("tampered URL accepted")
	}
	_, q2 := signedReq(t, "/a", "w=2", "k1", secret1, t0.Add(time.Minute))
	for _, bad := range []string{string(secret1), want, q2.Get("sig")} {
		if strings.Contains(err.Error(), bad) {
			t.Fatalf("error %q leaks %q", err, bad)
		}
	}
}

func TestSignReplacesCredentialParameters(t *testing.T) {
	u := Sign("/a", url.Values{"sig": {"old"}, "exp": {"1"}, "kid": {"zz"}}, "k1", secret1, t0.Add(time.Minute))
	s := &SignedURLs{Keys: []Key{{ID: "k1", Secret: secret1}}, Now: fixedNow(t0)}
	p, q := parseReq(t, u)
	if err := s.Verify(p, q); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

func TestSignedURLsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    SignedURLs
		ok   bool
	}{
		{"one key is valid", SignedURLs{Keys: []Key{{ID: "a", Secret: secret1}}}, true},
		{"cloudflare only is valid", SignedURLs{Cloudflare: &Cloudflare{Secret: secret1}}, true},
		{"nothing configured is an error", SignedURLs{}, false},
		{"empty secret is an error", SignedURLs{Keys: []Key{{ID: "a"}}}, false},
		{"empty kid is an error", SignedURLs{Keys: []Key{{Secret: secret1}}}, false},
		{"duplicate kid is an error", SignedURLs{Keys: []Key{{ID: "a", Secret: secret1}, {ID: "a", Secret: secret2}}}, false},
		{"empty cloudflare secret is an error", SignedURLs{Cloudflare: &Cloudflare{}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func mustQuery(t *testing.T, target string) url.Values {
	t.Helper()
	_, q := parseReq(t, target)
	return q
}

// reorder reverses the order of the query parameters of target.
func reorder(target string) string {
	p, q, _ := strings.Cut(target, "?")
	parts := strings.Split(q, "&")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return p + "?" + strings.Join(parts, "&")
}

func FuzzParseSignedURL(f *testing.F) {
	f.Add("/img/cat.jpg", "w=400&format=webp", "/img/cat.jpg?w=400&exp=1&kid=k1&sig=abc")
	f.Add("/my file.jpg", "a=1&b=%20", "/x?verify=1700000000-abc%3D")
	f.Add("x", "sig=1&exp=2&kid=3", "/%zz?exp=99999999999999999999")
	s := &SignedURLs{
		Keys:       []Key{{ID: "k1", Secret: secret1}},
		Cloudflare: &Cloudflare{Secret: secret2},
		Now:        fixedNow(t0),
	}
	f.Fuzz(func(t *testing.T, path, rawQuery, target string) {
		// Arbitrary request targets never panic and only give known answers.
		if u, err := url.ParseRequestURI(target); err == nil {
			err := s.Verify(u.EscapedPath(), u.Query())
			if err != nil && StatusCode(err) == 500 {
				t.Fatalf("unexpected error type %v", err)
			}
		}
		// Round trip: whatever Sign produces verifies.
		q, err := url.ParseQuery(rawQuery)
		if err != nil || len(rawQuery) > 1024 || len(path) > 1024 {
			return
		}
		for k, v := range q {
			if len(v) > 1 || k == "sig" || k == "verify" {
				return
			}
		}
		signed := Sign(path, q, "k1", secret1, t0.Add(time.Hour))
		u, err := url.ParseRequestURI(signed)
		if err != nil {
			t.Fatalf("Sign produced unparsable %q: %v", signed, err)
		}
		if err := s.Verify(u.EscapedPath(), u.Query()); err != nil {
			t.Fatalf("Sign(%q, %q) = %q does not verify: %v", path, rawQuery, signed, err)
		}
	})
}

const knownSig = "xE3gkzA8liqJbKmh6PfEYGrkk39v89IiKydwG-jH2hU"
