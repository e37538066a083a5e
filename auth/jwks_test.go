package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// jwksServer serves whatever keys currently holds and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	b, _ := k.Bytes()
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
}

func signKid(t *testing.T, m jwt.SigningMethod, key any, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims(nil))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSRotation(t *testing.T) {
	testKeys(t)
	rsa2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t)
	srv.set(rsaJWK("a", &rsaKey.PublicKey), ecJWK("e", &ecKey.PublicKey),
		map[string]string{"kty": "oct", "kid": "h", "k": b64(hsSecret)})
	clock := &fakeClock{t: t0}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	j, err := NewJWTContext(ctx, JWTConfig{JWKSURL: srv.URL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) error { _, err := j.Verify(bearer(tok), "k"); return err }

	if err := verify(signKid(t, jwt.SigningMethodRS256, rsaKey, "a")); err != nil {
		t.Fatalf("RS256 with kid a: %v", err)
	}
	if err := verify(signKid(t, jwt.SigningMethodES256, ecKey, "e")); err != nil {
		t.Fatalf("ES256 with kid e: %v", err)
	}
	for name, tok := range map[string]string{
		"token without kid":                 signKid(t, jwt.SigningMethodRS256, rsaKey, ""),
		"HS256 with a symmetric JWKS key":   signKid(t, jwt.SigningMethodHS256, hsSecret, "h"),
		"PS256 where the JWK says RS256":    signKid(t, jwt.SigningMethodPS256, rsaKey, "a"),
		"RS256 signed by another key":       signKid(t, jwt.SigningMethodRS256, rsa2, "a"),
		"HS256 with the RSA modulus secret": signKid(t, jwt.SigningMethodHS256, rsaKey.N.Bytes(), "a"),
	} {
		if err := verify(tok); StatusCode(err) != 403 {
			t.Errorf("%s: got %v, want 403", name, err)
		}
	}

	// Rotation: the issuer publishes key b. A token with kid b triggers one
	// refetch once the last fetch is a minute old.
	srv.set(rsaJWK("b", &rsa2.PublicKey))
	tokB := signKid(t, jwt.SigningMethodRS256, rsa2, "b")
	before := srv.fetches.Load()
	if err := verify(tokB); err == nil {
		t.Fatal("unknown kid accepted within a minute of the last fetch")
	}
	if err := verify(signKid(t, jwt.SigningMethodRS256, rsa2, "zz")); err == nil {
		t.Fatal("unknown kid zz accepted")
	}
	if got := srv.fetches.Load() - before; got != 0 {
		t.Fatalf("%d refetches within a minute, want 0", got)
	}
	clock.Add(61 * time.Second)
	if err := verify(tokB); err != nil {
		t.Fatalf("kid b after refetch: %v", err)
	}
	if err := verify(signKid(t, jwt.SigningMethodRS256, rsaKey, "a")); err == nil {
		t.Fatal("retired kid a still accepted")
	}
	if err := verify(signKid(t, jwt.SigningMethodRS256, rsa2, "zz")); err == nil {
		t.Fatal("unknown kid zz accepted")
	}
	if got := srv.fetches.Load() - before; got != 1 {
		t.Fatalf("%d refetches, want exactly 1", got)
	}
}

func TestJWKSRefreshGoroutineEndsWithContext(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t)
	srv.set(rsaJWK("a", &rsaKey.PublicKey))
	ctx, cancel := context.WithCancel(context.Background())
	_, err := NewJWTContext(ctx, JWTConfig{JWKSURL: srv.URL, JWKSRefresh: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.fetches.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("background refresh did not run")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // let an in-flight fetch finish
	n := srv.fetches.Load()
	time.Sleep(100 * time.Millisecond)
	if got := srv.fetches.Load(); got != n {
		t.Fatalf("fetches continued after cancel: %d -> %d", n, got)
	}
}

func TestJWKSConfigAndParsing(t *testing.T) {
	testKeys(t)
	if _, err := NewJWT(JWTConfig{JWKSURL: "https://x.example/jwks", Algorithms: []string{"HS256"}}); err == nil {
		t.Error("HS256 allowed with a JWKS")
	}
	if _, err := NewJWT(JWTConfig{JWKSURL: "file:///etc/passwd"}); err == nil {
		t.Error("non-http JWKS URL accepted")
	}
	if _, err := NewJWT(JWTConfig{JWKSURL: "https://x.example/jwks", Secret: hsSecret}); err == nil {
		t.Error("JWKS and secret together accepted")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		doc  string
		ok   bool
	}{
		{"not JSON is an error", "nope", false},
		{"no usable keys is an error", `{"keys":[{"kty":"oct","kid":"h","k":"AAAA"}]}`, false},
		{"encryption keys are skipped", mustJSON(map[string]any{"keys": []any{func() map[string]string { k := rsaJWK("a", &rsaKey.PublicKey); k["use"] = "enc"; return k }()}}), false},
		{"RSA keys under 2048 bits are skipped", mustJSON(map[string]any{"keys": []any{rsaJWK("a", &small.PublicKey)}}), false},
		{"EC key with wrong coordinate size is skipped", mustJSON(map[string]any{"keys": []any{func() map[string]string { k := ecJWK("e", &ecKey.PublicKey); k["crv"] = "P-384"; return k }()}}), false},
		{"P-384 key parses", func() string {
			b, _ := p384.PublicKey.Bytes()
			return mustJSON(map[string]any{"keys": []any{map[string]string{"kty": "EC", "kid": "e", "crv": "P-384", "x": b64(b[1:49]), "y": b64(b[49:])}}})
		}(), true},
		{"Ed25519 key parses", mustJSON(map[string]any{"keys": []any{map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "d", "x": b64(edKey.Public().(ed25519.PublicKey))}}}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseJWKS([]byte(tc.doc)); (err == nil) != tc.ok {
				t.Fatalf("parseJWKS: %v", err)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
