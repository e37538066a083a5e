package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKS defaults.
const (
	DefaultJWKSRefresh   = time.Hour
	jwksMinRefetch       = time.Minute // unknown kid: at most one refetch per minute
	jwksMaxBody          = 1 << 20
	jwksTimeout          = 10 * time.Second
	jwksMaxKeys          = 100
	jwksFailureRetryWait = time.Minute
)

// jwks is a JSON Web Key Set fetched from a URL (RFC 7517), parsed with the
// standard library. Only public signature keys are kept: RSA, EC P-256/384/
// 521 and OKP Ed25519; "oct" (symmetric) keys are ignored so a JWKS can
// never turn into an HMAC secret.
type jwks struct {
	url     string
	client  *http.Client
	refresh time.Duration
	now     func() time.Time

	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time  // guarded by fetchMu

	mu   sync.RWMutex
	keys map[string]jwk
}

type jwk struct {
	key any
	alg string // optional; when set the token's alg must equal it
}

func newJWKS(url string, client *http.Client, refresh time.Duration, now func() time.Time) *jwks {
	if client == nil {
		client = &http.Client{Timeout: jwksTimeout}
	}
	if refresh <= 0 {
		refresh = DefaultJWKSRefresh
	}
	return &jwks{url: url, client: client, refresh: refresh, now: now}
}

// run fetches the set at once and then every refresh interval (every
// minute after a failure) until ctx ends.
func (s *jwks) run(ctx context.Context) {
	for first := true; ; first = false {
		wait := s.refresh
		// The first fetch is skipped if a request fetched a moment ago.
		if err := s.fetch(ctx, !first); err != nil && !errors.Is(err, errJWKSRateLimited) {
			wait = min(wait, jwksFailureRetryWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// lookup returns the key for kid, refetching the set once if kid is unknown
// and the last fetch is older than a minute.
func (s *jwks) lookup(ctx context.Context, kid string) (jwk, bool) {
	s.mu.RLock()
	k, ok := s.keys[kid]
	s.mu.RUnlock()
	if ok {
		return k, true
	}
	// Even when rate limited, a concurrent fetch may just have brought kid.
	_ = s.fetch(ctx, false)
	s.mu.RLock()
	k, ok = s.keys[kid]
	s.mu.RUnlock()
	return k, ok
}

var errJWKSRateLimited = errors.New("jwks: refetch rate limited")

func (s *jwks) fetch(ctx context.Context, scheduled bool) error {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if !scheduled && !s.lastFetch.IsZero() && s.now().Sub(s.lastFetch) < jwksMinRefetch {
		return errJWKSRateLimited
	}
	s.lastFetch = s.now()
	keys, err := s.download(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
	return nil
}

func (s *jwks) download(ctx context.Context) (map[string]jwk, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %d", s.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBody {
		return nil, errors.New("jwks: document too large")
	}
	return parseJWKS(body)
}

type rawJWK struct {
	Kty, Kid, Use, Alg, Crv string
	N, E, X, Y              string
}

func parseJWKS(body []byte) (map[string]jwk, error) {
	var doc struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(doc.Keys) > jwksMaxKeys {
		return nil, errors.New("jwks: too many keys")
	}
	keys := make(map[string]jwk, len(doc.Keys))
	for _, r := range doc.Keys {
		if r.Kid == "" || (r.Use != "" && r.Use != "sig") {
			continue
		}
		k, err := r.publicKey()
		if err != nil {
			continue // skip keys we cannot use; others still work
		}
		keys[r.Kid] = jwk{key: k, alg: r.Alg}
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: no usable signature keys")
	}
	return keys, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}

func (r rawJWK) publicKey() (any, error) {
	switch r.Kty {
	case "RSA":
		n, err := b64int(r.N)
		if err != nil {
			return nil, err
		}
		e, err := b64int(r.E)
		if err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("bad RSA exponent")
		}
		if n.BitLen() < 2048 {
			return nil, errors.New("RSA key too small")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		var c elliptic.Curve
		switch r.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err := base64.RawURLEncoding.DecodeString(r.X)
		if err != nil {
			return nil, err
		}
		y, err := base64.RawURLEncoding.DecodeString(r.Y)
		if err != nil {
			return nil, err
		}
		size := (c.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, errors.New("bad EC coordinates")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(c, point)
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, errors.New("unsupported OKP curve")
		}
		x, err := base64.RawURLEncoding.DecodeString(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	default:
		return nil, errors.New("unsupported key type")
	}
}
