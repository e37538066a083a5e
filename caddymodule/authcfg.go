package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/r2gate/r2gate/auth"
)

// JWTConfig lets through requests that carry a valid JSON Web Token.
// Exactly one of secret, public_key and jwks is set.
type JWTConfig struct {
	// Secret is the HMAC key; use a placeholder such as {env.JWT_SECRET}.
	Secret string `json:"secret,omitempty"`
	// PublicKey is a PEM file holding an RSA, ECDSA or Ed25519 public key
	// (or a certificate).
	PublicKey string `json:"public_key,omitempty"`
	// JWKS is the URL of a JSON Web Key Set, fetched in the background,
	// refreshed hourly, and refetched at most once a minute for an unknown
	// kid.
	JWKS string `json:"jwks,omitempty"`
	// Algorithms allowed. Default: the family of the configured key
	// (HS256/384/512 for a secret, RS*/PS*, ES* or EdDSA for a public key).
	// alg none is never accepted.
	Algorithms []string `json:"algorithms,omitempty"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must be one of the token's aud.
	Audience string `json:"audience,omitempty"`
	// Leeway is the clock skew allowed for exp and nbf. Default 0.
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// From lists where the token is looked for, in order. Default: the
	// Authorization header (Bearer).
	From []TokenSource `json:"from,omitempty"`
	// ScopeClaim names a claim holding a key prefix or a list of them that
	// the token may read; other keys are refused (403). Default: none, a
	// valid token reads anything the route serves.
	ScopeClaim string `json:"scope_claim,omitempty"`
	// WriteScopeClaim names a claim holding the key prefixes the token may
	// write (PUT, DELETE) on a route with an upload block; a token without
	// that claim is read-only (403). Default: none, no token may write.
	WriteScopeClaim string `json:"write_scope_claim,omitempty"`
}

// TokenSource is one place a token is looked for.
type TokenSource struct {
	// Kind is header, cookie or query.
	Kind string `json:"kind"`
	// Name is the header, cookie or query parameter name.
	Name string `json:"name"`
}

// SignedURLConfig lets through requests whose URL carries a valid
// signature (see the README for the exact signing algorithm).
type SignedURLConfig struct {
	// Keys verify native signatures (exp, kid, sig); several allow
	// rotation, and the first one signs.
	Keys []SigningKey `json:"keys,omitempty"`
	// Cloudflare accepts Cloudflare-style verify=<ts>-<mac> tokens made
	// with this secret.
	Cloudflare string `json:"cloudflare,omitempty"`
	// CloudflareLifetime is how long a Cloudflare token is valid after its
	// timestamp. Default 60s.
	CloudflareLifetime caddy.Duration `json:"cloudflare_lifetime,omitempty"`
}

// SigningKey is one named signing secret.
type SigningKey struct {
	// ID is the key id carried in the kid parameter.
	ID string `json:"id"`
	// Secret is the HMAC secret; use a placeholder such as {env.SIGN_K1}.
	Secret string `json:"secret"`
}

// provisionAuth builds the verifiers, expanding placeholders in secrets.
func (h *Handler) provisionAuth(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	if c := h.JWT; c != nil {
		cfg := auth.JWTConfig{
			Secret:          []byte(repl.ReplaceAll(c.Secret, "")),
			JWKSURL:         repl.ReplaceAll(c.JWKS, ""),
			Algorithms:      c.Algorithms,
			Issuer:          repl.ReplaceAll(c.Issuer, ""),
			Audience:        repl.ReplaceAll(c.Audience, ""),
			Leeway:          time.Duration(c.Leeway),
			ScopeClaim:      c.ScopeClaim,
			WriteScopeClaim: c.WriteScopeClaim,
		}
		if c.PublicKey != "" {
			pem, err := os.ReadFile(repl.ReplaceAll(c.PublicKey, ""))
			if err != nil {
				return fmt.Errorf("r2gate: jwt public_key: %w", err)
			}
			cfg.PublicKeyPEM = pem
		}
		for _, s := range c.From {
			cfg.Sources = append(cfg.Sources, auth.Source{Kind: s.Kind, Name: s.Name})
		}
		j, err := auth.NewJWTContext(ctx, cfg)
		if err != nil {
			return fmt.Errorf("r2gate: jwt: %w", err)
		}
		h.jwt = j
	}
	if c := h.SignedURL; c != nil {
		s := &auth.SignedURLs{}
		for _, k := range c.Keys {
			s.Keys = append(s.Keys, auth.Key{ID: k.ID, Secret: []byte(repl.ReplaceAll(k.Secret, ""))})
		}
		if c.Cloudflare != "" {
			s.Cloudflare = &auth.Cloudflare{Secret: []byte(repl.ReplaceAll(c.Cloudflare, "")),
				Lifetime: time.Duration(c.CloudflareLifetime)}
		}
		if err := s.Validate(); err != nil {
			return fmt.Errorf("r2gate: signed_url: %w", err)
		}
		h.signed = s
	}
	return nil
}

// protected reports whether the handler requires a credential.
func (h *Handler) protected() bool { return h.jwt != nil || h.signed != nil }

// authorize checks the request's credential before any cache or bucket
// work. Either a valid signed URL or a valid JWT lets it through. It
// answers 401 when there is no credential at all, 403 with a one-line
// reason when one is invalid, and reports whether the request may go on.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, key string) (auth.Grant, bool, error) {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	var firstErr error
	if h.signed != nil {
		err := h.signed.Verify(auth.RequestPath(r), r.URL.Query())
		if err == nil {
			g, gerr := auth.GrantOf(r.URL.Query())
			switch {
			case gerr != nil:
				err = gerr
			case !g.Allows(r.Method):
				err = &auth.Error{Reason: auth.ReasonWrongMethod, Detail: r.Method}
			default:
				return g, true, nil
			}
		}
		if !errors.Is(err, auth.ErrNoCredential) {
			firstErr = err
		}
	}
	if h.jwt != nil {
		verify := h.jwt.Verify
		if write {
			verify = h.jwt.VerifyWrite
		}
		claims, err := verify(r, key)
		if err == nil {
			setClaimPlaceholders(r, claims)
			return auth.Grant{}, true, nil
		}
		if !errors.Is(err, auth.ErrNoCredential) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		if h.jwt != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="r2gate"`)
		}
		return auth.Grant{}, false, fail(w, r, http.StatusUnauthorized, "")
	}
	reason := "forbidden"
	var ae *auth.Error
	if errors.As(firstErr, &ae) {
		reason = ae.Reason
	}
	return auth.Grant{}, false, fail(w, r, http.StatusForbidden, reason)
}

// setClaimPlaceholders exposes a token's claims as {http.auth.user.id}
// (sub) and {http.auth.user.<claim>} for strings, numbers and booleans.
func setClaimPlaceholders(r *http.Request, claims map[string]any) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	if sub, ok := claims["sub"].(string); ok {
		repl.Set("http.auth.user.id", sub)
	}
	for k, v := range claims {
		switch v.(type) {
		case string, float64, bool:
			if !strings.ContainsAny(k, "{}") {
				repl.Set("http.auth.user."+k, v)
			}
		}
	}
}
