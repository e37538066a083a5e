package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLen bounds a JWT; longer tokens are rejected before parsing.
const MaxTokenLen = 8 << 10

// Source says where to look for a token: Kind is "header", "cookie" or
// "query". From the Authorization header only a Bearer token is taken; other
// headers may carry the bare token or "Bearer <token>".
type Source struct {
	Kind string
	Name string
}

// JWTConfig configures JWT verification. Exactly one of Secret (HMAC),
// PublicKeyPEM (RSA, ECDSA or Ed25519; PKIX, PKCS#1 or a certificate) and
// JWKSURL is set.
type JWTConfig struct {
	Secret       []byte
	PublicKeyPEM []byte
	// JWKSURL is a JSON Web Key Set fetched in the background and refreshed
	// every JWKSRefresh (default 1h); a token whose kid is unknown triggers
	// a refetch at most once per minute. Tokens must carry a kid.
	JWKSURL     string
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS; default: a client with a 10s timeout.
	HTTPClient *http.Client
	// Algorithms allowed; default: the configured key's family
	// (HS256/384/512, RS*/PS*, the ES* matching the curve, or EdDSA).
	Algorithms []string
	// Issuer and Audience, when set, must match iss and one of aud.
	Issuer, Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration
	// Sources are tried in order; the first present one is used.
	// Default: header Authorization.
	Sources []Source
	// ScopeClaim names a claim holding a key prefix or a list of them; a key
	// outside every prefix is out of scope. Empty: no scope check.
	ScopeClaim string
	// WriteScopeClaim names a claim holding the key prefixes the token may
	// write (PUT, DELETE), with the same rules as ScopeClaim. Empty: no
	// token may write.
	WriteScopeClaim string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// JWT verifies bearer tokens. It is safe for concurrent use.
type JWT struct {
	parser  *jwt.Parser
	key     any   // static key, or nil with jwks
	jwks    *jwks // nil with a static key
	ctx     context.Context
	cancel  context.CancelFunc
	sources []Source
	scope   string
	write   string // the write-scope claim
}

var algFamilies = map[string][]string{
	"hmac":    {"HS256", "HS384", "HS512"},
	"rsa":     {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
	"ed25519": {"EdDSA"},
	"jwks":    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"},
}

// NewJWT checks cfg and builds a verifier. With a JWKS it starts a refresh
// goroutine that runs until Close is called; prefer NewJWTContext then.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	return NewJWTContext(context.Background(), cfg)
}

// NewJWTContext is NewJWT whose JWKS refresh goroutine (if any) also ends
// when ctx is done. It does not fetch synchronously, so it is cheap to call
// for configuration validation.
func NewJWTContext(ctx context.Context, cfg JWTConfig) (*JWT, error) {
	var (
		key    any
		family []string
	)
	n := 0
	for _, set := range []bool{len(cfg.Secret) > 0, len(cfg.PublicKeyPEM) > 0, cfg.JWKSURL != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("jwt: configure exactly one of secret, public_key and jwks")
	case cfg.JWKSURL != "":
		if !strings.HasPrefix(cfg.JWKSURL, "https://") && !strings.HasPrefix(cfg.JWKSURL, "http://") {
			return nil, errors.New("jwt: jwks must be an http(s) URL")
		}
		family = algFamilies["jwks"]
	case len(cfg.Secret) > 0:
		key, family = cfg.Secret, algFamilies["hmac"]
	case len(cfg.PublicKeyPEM) > 0:
		pub, err := parsePublicKeyPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		key = pub
		switch k := pub.(type) {
		case *rsa.PublicKey:
			family = algFamilies["rsa"]
		case *ecdsa.PublicKey:
			alg, ok := map[int]string{256: "ES256", 384: "ES384", 521: "ES512"}[k.Curve.Params().BitSize]
			if !ok {
				return nil, errors.New("jwt: unsupported ECDSA curve " + k.Curve.Params().Name)
			}
			family = []string{alg}
		case ed25519.PublicKey:
			family = algFamilies["ed25519"]
		default:
			return nil, fmt.Errorf("jwt: unsupported public key type %T", pub)
		}
	default:
		return nil, errors.New("jwt: no key configured")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = family
	}
	for _, a := range algs {
		if !slices.Contains(family, a) {
			return nil, fmt.Errorf("jwt: algorithm %q does not fit the configured key (allowed: %s)", a, strings.Join(family, ", "))
		}
	}
	sources := cfg.Sources
	if len(sources) == 0 {
		sources = []Source{{Kind: "header", Name: "Authorization"}}
	}
	for _, s := range sources {
		if s.Name == "" || (s.Kind != "header" && s.Kind != "cookie" && s.Kind != "query") {
			return nil, fmt.Errorf("jwt: bad token source %q %q", s.Kind, s.Name)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	j := &JWT{parser: jwt.NewParser(opts...), key: key, sources: sources, scope: cfg.ScopeClaim, write: cfg.WriteScopeClaim}
	if cfg.JWKSURL != "" {
		j.ctx, j.cancel = context.WithCancel(ctx)
		j.jwks = newJWKS(cfg.JWKSURL, cfg.HTTPClient, cfg.JWKSRefresh, now)
		go j.jwks.run(j.ctx)
	}
	return j, nil
}

// Close stops the JWKS refresh goroutine, if any.
func (j *JWT) Close() {
	if j.cancel != nil {
		j.cancel()
	}
}

func parsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("jwt: public_key is not PEM")
	}
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("jwt: public_key: %w", err)
		}
		return cert.PublicKey, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("jwt: public_key: %w", err)
		}
		return k, nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("jwt: public_key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("jwt: public_key: unsupported PEM block %q (a private key?)", block.Type)
	}
}

// keyFunc hands out the key only for a signing method of its own family,
// independent of WithValidMethods, so a secret is never used with an RSA
// method or a public key as an HMAC secret.
func (j *JWT) keyFunc(t *jwt.Token) (any, error) {
	key := j.key
	if j.jwks != nil {
		kid, _ := t.Header["kid"].(string)
		if kid == "" || len(kid) > 256 {
			return nil, errors.New("token has no kid")
		}
		k, found := j.jwks.lookup(j.ctx, kid)
		if !found {
			return nil, errors.New("unknown kid")
		}
		if k.alg != "" && k.alg != t.Method.Alg() {
			return nil, errors.New("signing method does not fit the key")
		}
		key = k.key
	}
	if !methodFits(key, t.Method) {
		return nil, errors.New("signing method does not fit the key")
	}
	return key, nil
}

func methodFits(key any, m jwt.SigningMethod) bool {
	ok := false
	switch k := key.(type) {
	case []byte:
		_, ok = m.(*jwt.SigningMethodHMAC)
	case *rsa.PublicKey:
		switch m.(type) {
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			ok = true
		}
	case *ecdsa.PublicKey:
		em, isEC := m.(*jwt.SigningMethodECDSA)
		ok = isEC && em.CurveBits == k.Curve.Params().BitSize
	case ed25519.PublicKey:
		_, ok = m.(*jwt.SigningMethodEd25519)
	}
	return ok
}

// ExtractToken returns the token from the first configured source present
// in r, or ErrNoCredential.
func (j *JWT) ExtractToken(r *http.Request) (string, error) {
	return extractToken(r, j.sources)
}

func extractToken(r *http.Request, sources []Source) (string, error) {
	for _, s := range sources {
		var v string
		switch s.Kind {
		case "header":
			h := r.Header.Get(s.Name)
			if h == "" {
				continue
			}
			scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
			switch {
			case found && strings.EqualFold(scheme, "Bearer"):
				v = strings.TrimSpace(tok)
			case strings.EqualFold(s.Name, "Authorization"):
				continue // Basic or another scheme: not ours
			default:
				v = strings.TrimSpace(h)
			}
		case "cookie":
			c, err := r.Cookie(s.Name)
			if err != nil {
				continue
			}
			v = c.Value
		case "query":
			v = r.URL.Query().Get(s.Name)
		}
		if v != "" {
			return v, nil
		}
	}
	return "", ErrNoCredential
}

// Verify checks the request's token and that key (the object key) is in its
// scope. It returns the token's claims, ErrNoCredential, or an *Error whose
// reason is "expired", "bad signature", "out of scope" or "invalid token".
func (j *JWT) Verify(r *http.Request, key string) (map[string]any, error) {
	tok, err := j.ExtractToken(r)
	if err != nil {
		return nil, err
	}
	if len(tok) > MaxTokenLen {
		return nil, reject(ReasonInvalidToken, "token too long")
	}
	claims := jwt.MapClaims{}
	if _, err := j.parser.ParseWithClaims(tok, claims, j.keyFunc); err != nil {
		return nil, jwtError(err)
	}
	if j.scope != "" && !inScope(claims[j.scope], key) {
		return nil, reject(ReasonOutOfScope, "")
	}
	return claims, nil
}

// VerifyWrite checks the request's token like Verify, and that key is in
// the token's write scope (the WriteScopeClaim claim): a token without it,
// or a handler configured without a write-scope claim, may not write
// ("read only"); a key outside its prefixes is "out of scope".
func (j *JWT) VerifyWrite(r *http.Request, key string) (map[string]any, error) {
	claims, err := j.Verify(r, key)
	if err != nil {
		return nil, err
	}
	if j.write == "" {
		return nil, reject(ReasonReadOnly, "no write_scope_claim configured")
	}
	claim, ok := claims[j.write]
	if !ok {
		return nil, reject(ReasonReadOnly, "")
	}
	if !inScope(claim, key) {
		return nil, reject(ReasonOutOfScope, "not in the write scope")
	}
	return claims, nil
}

func jwtError(err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return reject(ReasonExpired, "")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return reject(ReasonBadSignature, "")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return reject(ReasonInvalidToken, "not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reject(ReasonInvalidToken, "wrong issuer")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return reject(ReasonInvalidToken, "wrong audience")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return reject(ReasonInvalidToken, "missing required claim")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reject(ReasonInvalidToken, "malformed")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return reject(ReasonInvalidToken, "unverifiable")
	default:
		return reject(ReasonInvalidToken, "")
	}
}

// inScope reports whether key lies under one of the prefixes in claim (a
// string or a list of strings). Leading slashes are ignored. A prefix ending
// in "/" covers everything below it; any other prefix covers itself and
// everything below prefix+"/" ("users/42" covers "users/42/a.jpg" but not
// "users/420/a.jpg"). Empty prefixes cover nothing.
func inScope(claim any, key string) bool {
	var prefixes []string
	switch c := claim.(type) {
	case string:
		prefixes = []string{c}
	case []any:
		for _, p := range c {
			s, ok := p.(string)
			if !ok {
				return false
			}
			prefixes = append(prefixes, s)
		}
	default:
		return false
	}
	key = strings.TrimLeft(key, "/")
	for _, p := range prefixes {
		p = strings.TrimLeft(p, "/")
		switch {
		case p == "":
		case strings.HasSuffix(p, "/"):
			if strings.HasPrefix(key, p) {
				return true
			}
		case key == p || strings.HasPrefix(key, p+"/"):
			return true
		}
	}
	return false
}
