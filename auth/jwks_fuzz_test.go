package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParseJWKS: whatever a JWKS endpoint sends, the keys kept are public
// signature keys only (RSA of at least 2048 bits with a sane exponent, EC
// on its curve, Ed25519), each under a kid, at most jwksMaxKeys of them;
// none can ever be used as an HMAC secret; and re-encoding a kept key
// gives the same key.
func FuzzParseJWKS(f *testing.F) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	rsaJWK := `{"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":"` + b64(rsaKey.N.Bytes()) + `","e":"AQAB"}`
	ecPub := ecKey.PublicKey
	ecPoint, _ := ecPub.Bytes()
	ecJWK := `{"kty":"EC","kid":"e1","crv":"P-256","x":"` + b64(ecPoint[1:33]) + `","y":"` + b64(ecPoint[33:]) + `"}`
	edJWK := `{"kty":"OKP","kid":"o1","crv":"Ed25519","x":"` + b64(edKey.Public().(ed25519.PublicKey)) + `"}`
	for _, s := range []string{
		`{"keys":[` + rsaJWK + `,` + ecJWK + `,` + edJWK + `]}`,
		`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","kid":"off","crv":"P-256","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"e","use":"enc","n":"` + b64(rsaKey.N.Bytes()) + `","e":"AQAB"}]}`,
		`{"keys":[` + rsaJWK + `,` + rsaJWK + `]}`,
		`{"keys":null}`, `[]`, `{"keys":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKS(body)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys with the error %v", err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > jwksMaxKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for kid, k := range keys {
			if kid == "" {
				t.Fatal("a key without a kid")
			}
			for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512, jwt.SigningMethodNone} {
				if methodFits(k.key, m) {
					t.Fatalf("key %q (%T) fits %s", kid, k.key, m.Alg())
				}
			}
			var again rawJWK
			switch pk := k.key.(type) {
			case *rsa.PublicKey:
				if pk.N.BitLen() < 2048 || pk.E < 3 {
					t.Fatalf("key %q: RSA of %d bits, e=%d", kid, pk.N.BitLen(), pk.E)
				}
				again = rawJWK{Kty: "RSA", N: b64(pk.N.Bytes()), E: b64(big.NewInt(int64(pk.E)).Bytes())}
			case *ecdsa.PublicKey:
				p, err := pk.Bytes()
				if err != nil {
					t.Fatalf("key %q: EC key not on its curve: %v", kid, err)
				}
				n := (len(p) - 1) / 2
				again = rawJWK{Kty: "EC", Crv: pk.Curve.Params().Name, X: b64(p[1 : 1+n]), Y: b64(p[1+n:])}
			case ed25519.PublicKey:
				again = rawJWK{Kty: "OKP", Crv: "Ed25519", X: b64(pk)}
			default:
				t.Fatalf("key %q is a %T", kid, k.key)
			}
			back, err := again.publicKey()
			if err != nil {
				t.Fatalf("key %q re-encoded does not parse: %v", kid, err)
			}
			if eq, ok := back.(interface{ Equal(crypto.PublicKey) bool }); ok && !eq.Equal(k.key) {
				t.Fatalf("key %q re-encoded is another key", kid)
			}
		}
	})
}
