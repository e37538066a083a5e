package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	hsSecret = []byte("jwt-test-secret-0123456789abcdef")
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

func pubPEM(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "user-1",
		"iss": "https://issuer.example",
		"aud": "r2gate",
		"exp": t0.Add(time.Hour).Unix(),
		"iat": t0.Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/users/42/a.jpg", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func newJWT(t *testing.T, cfg JWTConfig) *JWT {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow(t0)
	}
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJWTVerify(t *testing.T) {
	testKeys(t)
	base := JWTConfig{Issuer: "https://issuer.example", Audience: "r2gate", Leeway: 30 * time.Second}
	hs := base
	hs.Secret = hsSecret
	hs256only := hs
	hs256only.Algorithms = []string{"HS256"}
	rs := base
	rs.PublicKeyPEM = pubPEM(t, &rsaKey.PublicKey)
	es := base
	es.PublicKeyPEM = pubPEM(t, &ecKey.PublicKey)
	ed := base
	ed.PublicKeyPEM = pubPEM(t, edKey.Public())

	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	hsTok := sign(t, jwt.SigningMethodHS256, hsSecret, claims(nil))
	oversized := sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", MaxTokenLen) }))

	for _, tc := range []struct {
		name   string
		cfg    JWTConfig
		req    *http.Request
		reason string // "" valid, "none" = ErrNoCredential
	}{
		{"valid HS256 passes", hs, bearer(hsTok), ""},
		{"valid HS512 passes by default", hs, bearer(sign(t, jwt.SigningMethodHS512, hsSecret, claims(nil))), ""},
		{"valid RS256 passes", rs, bearer(sign(t, jwt.SigningMethodRS256, rsaKey, claims(nil))), ""},
		{"valid PS256 passes", rs, bearer(sign(t, jwt.SigningMethodPS256, rsaKey, claims(nil))), ""},
		{"valid ES256 passes", es, bearer(sign(t, jwt.SigningMethodES256, ecKey, claims(nil))), ""},
		{"valid EdDSA passes", ed, bearer(sign(t, jwt.SigningMethodEdDSA, edKey, claims(nil))), ""},
		{"expired within leeway passes", hs, bearer(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["exp"] = t0.Add(-10 * time.Second).Unix() }))), ""},
		{"no token is 401", hs, httptest.NewRequest("GET", "/a", nil), "none"},
		{"basic auth is no token", hs, func() *http.Request { r := httptest.NewRequest("GET", "/a", nil); r.SetBasicAuth("u", "p"); return r }(), "none"},
		{"alg none is rejected", hs, bearer(noneTok), ReasonBadSignature},
		{"alg none is rejected for RSA keys", rs, bearer(noneTok), ReasonBadSignature},
		{"algorithm confusion: HS256 with the RSA public key as secret", rs, bearer(sign(t, jwt.SigningMethodHS256, rs.PublicKeyPEM, claims(nil))), ReasonBadSignature},
		{"algorithm outside the allowlist", hs256only, bearer(sign(t, jwt.SigningMethodHS384, hsSecret, claims(nil))), ReasonBadSignature},
		{"RSA token for an HMAC key", hs, bearer(sign(t, jwt.SigningMethodRS256, rsaKey, claims(nil))), ReasonBadSignature},
		{"ES384 token for a P-256 key", es, bearer(sign(t, jwt.SigningMethodES384, ec384, claims(nil))), ReasonBadSignature},
		{"HS256 token for an Ed25519 key", ed, bearer(hsTok), ReasonBadSignature},
		{"expired", hs, bearer(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["exp"] = t0.Add(-time.Minute).Unix() }))), ReasonExpired},
		{"missing exp", hs, bearer(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { delete(c, "exp") }))), ReasonInvalidToken},
		{"nbf in the future", hs, bearer(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Minute).Unix() }))), ReasonInvalidToken},
		{"wrong issuer", hs, bearer(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))), ReasonInvalidToken},
		{"wrong audience", hs, bearer(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["aud"] = []string{"other"} }))), ReasonInvalidToken},
		{"bad signature", hs, bearer(sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef!"), claims(nil))), ReasonBadSignature},
		{"tampered payload is bad signature", hs, bearer(tamperPayload(t, hsTok)), ReasonBadSignature},
		{"malformed token", hs, bearer("not.a.jwt"), ReasonInvalidToken},
		{"malformed: two segments", hs, bearer("abc.def"), ReasonInvalidToken},
		{"oversized token over 8 KiB", hs, bearer(oversized), ReasonInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newJWT(t, tc.cfg).Verify(tc.req, "users/42/a.jpg")
			checkResult(t, err, tc.reason)
			if tc.reason == "" && got["sub"] != "user-1" {
				t.Fatalf("claims = %v", got)
			}
		})
	}
}

// tamperPayload swaps the payload for one with another subject, keeping the
// original signature.
func tamperPayload(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	other := strings.Split(sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) { c["sub"] = "admin" })), ".")
	return parts[0] + "." + other[1] + "." + parts[2]
}

func TestNewJWTConfigErrors(t *testing.T) {
	testKeys(t)
	rsaPEM := pubPEM(t, &rsaKey.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	for _, tc := range []struct {
		name string
		cfg  JWTConfig
	}{
		{"no key", JWTConfig{}},
		{"both secret and public key", JWTConfig{Secret: hsSecret, PublicKeyPEM: rsaPEM}},
		{"HS256 allowed with an RSA public key (confusion by config)", JWTConfig{PublicKeyPEM: rsaPEM, Algorithms: []string{"HS256"}}},
		{"RS256 allowed with a secret", JWTConfig{Secret: hsSecret, Algorithms: []string{"RS256"}}},
		{"alg none allowed", JWTConfig{Secret: hsSecret, Algorithms: []string{"none"}}},
		{"not PEM", JWTConfig{PublicKeyPEM: []byte("hello")}},
		{"private key PEM", JWTConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})}},
		{"unknown source kind", JWTConfig{Secret: hsSecret, Sources: []Source{{Kind: "body", Name: "t"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewJWT(tc.cfg); err == nil {
				t.Fatal("NewJWT accepted the config")
			}
		})
	}
}

func TestJWTScope(t *testing.T) {
	cfg := JWTConfig{Secret: hsSecret, ScopeClaim: "paths", Now: fixedNow(t0)}
	j := newJWT(t, cfg)
	for _, tc := range []struct {
		name   string
		scope  any
		key    string
		reason string
	}{
		{"string prefix covers key", "users/42/", "users/42/a.jpg", ""},
		{"list prefix covers key", []string{"public/", "users/42"}, "users/42/a.jpg", ""},
		{"leading slashes ignored", "/users/42/", "/users/42/a.jpg", ""},
		{"exact key is in scope", "users/42/a.jpg", "users/42/a.jpg", ""},
		{"key outside prefix is out of scope", "users/42/", "users/43/a.jpg", ReasonOutOfScope},
		{"sibling with common prefix is out of scope", "users/42", "users/420/a.jpg", ReasonOutOfScope},
		{"missing claim is out of scope", nil, "users/42/a.jpg", ReasonOutOfScope},
		{"empty prefix covers nothing", "", "users/42/a.jpg", ReasonOutOfScope},
		{"non-string list entry is out of scope", []any{"users/42/", 7}, "users/42/a.jpg", ReasonOutOfScope},
		{"number claim is out of scope", 42, "users/42/a.jpg", ReasonOutOfScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) {
				if tc.scope != nil {
					c["paths"] = tc.scope
				}
			}))
			_, err := j.Verify(bearer(tok), tc.key)
			checkResult(t, err, tc.reason)
		})
	}
}

func TestJWTSources(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, hsSecret, claims(nil))
	bad := sign(t, jwt.SigningMethodHS256, []byte("wrong-secret-0123456789abcdef!!"), claims(nil))
	cfg := JWTConfig{Secret: hsSecret, Now: fixedNow(t0), Sources: []Source{
		{Kind: "header", Name: "Authorization"},
		{Kind: "header", Name: "X-Token"},
		{Kind: "cookie", Name: "session"},
		{Kind: "query", Name: "token"},
	}}
	j := newJWT(t, cfg)
	req := func(f func(r *http.Request)) *http.Request {
		r := httptest.NewRequest("GET", "/a.jpg", nil)
		f(r)
		return r
	}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		reason string
	}{
		{"bearer header", bearer(tok), ""},
		{"lower-case bearer scheme", req(func(r *http.Request) { r.Header.Set("Authorization", "bearer "+tok) }), ""},
		{"bare token in custom header", req(func(r *http.Request) { r.Header.Set("X-Token", tok) }), ""},
		{"cookie", req(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: tok}) }), ""},
		{"query", httptest.NewRequest("GET", "/a.jpg?token="+tok, nil), ""},
		{"first source wins, no fallthrough on a bad token", req(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+bad)
			r.AddCookie(&http.Cookie{Name: "session", Value: tok})
		}), ReasonBadSignature},
		{"empty bearer falls through to the next source", req(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer ")
			r.AddCookie(&http.Cookie{Name: "session", Value: tok})
		}), ""},
		{"nothing anywhere is no credential", req(func(r *http.Request) {}), "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := j.Verify(tc.req, "a.jpg")
			checkResult(t, err, tc.reason)
		})
	}
}

func FuzzExtractToken(f *testing.F) {
	tok := "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.sig"
	f.Add("Bearer "+tok, "session="+tok, "token="+tok)
	f.Add("Basic dTpw", "a=b; session=", "token=%zz&token=x")
	f.Add("bearer   ", "", "")
	j, err := NewJWT(JWTConfig{Secret: hsSecret, Now: fixedNow(t0), Sources: []Source{
		{Kind: "header", Name: "Authorization"},
		{Kind: "cookie", Name: "session"},
		{Kind: "query", Name: "token"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authz, cookie, rawQuery string) {
		r := &http.Request{Method: "GET", Header: http.Header{}, URL: &url.URL{RawQuery: rawQuery}}
		r.Header.Set("Authorization", authz)
		r.Header.Set("Cookie", cookie)
		got, err := j.ExtractToken(r)
		if err == nil && (got == "" || len(got) > len(authz)+len(cookie)+len(rawQuery)) {
			t.Fatalf("ExtractToken = %q", got)
		}
		if err != nil && err != ErrNoCredential {
			t.Fatalf("ExtractToken error %v", err)
		}
		if _, err := j.Verify(r, "k"); err != nil && StatusCode(err) == 500 {
			t.Fatalf("Verify error of unknown kind: %v", err)
		}
	})
}

func TestJWTWriteScope(t *testing.T) {
	j := newJWT(t, JWTConfig{Secret: hsSecret, WriteScopeClaim: "write", Now: fixedNow(t0)})
	readOnly := newJWT(t, JWTConfig{Secret: hsSecret, Now: fixedNow(t0)})
	for _, tc := range []struct {
		name   string
		j      *JWT
		write  any
		key    string
		reason string
	}{
		{"write prefix covers key", j, "uploads/42/", "uploads/42/a.jpg", ""},
		{"list of prefixes", j, []string{"a/", "uploads/42/"}, "uploads/42/a.jpg", ""},
		{"other prefix", j, "uploads/42/", "uploads/43/a.jpg", ReasonOutOfScope},
		{"token without the claim is read only", j, nil, "uploads/42/a.jpg", ReasonReadOnly},
		{"route without write_scope_claim writes nothing", readOnly, "uploads/42/", "uploads/42/a.jpg", ReasonReadOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, hsSecret, claims(func(c jwt.MapClaims) {
				if tc.write != nil {
					c["write"] = tc.write
				}
			}))
			_, err := tc.j.VerifyWrite(bearer(tok), tc.key)
			checkResult(t, err, tc.reason)
			if _, err := tc.j.Verify(bearer(tok), tc.key); err != nil {
				t.Errorf("the same token cannot read: %v", err)
			}
		})
	}
}
