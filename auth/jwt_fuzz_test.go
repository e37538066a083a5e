package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzJWT is the verifier the JWT fuzz targets attack: an HMAC secret,
// an issuer, an audience and a scope claim.
func fuzzJWT(f *testing.F) *JWT {
	j, err := NewJWT(JWTConfig{Secret: hsSecret, Issuer: "iss-x", Audience: "aud-x", ScopeClaim: "scope", Now: fixedNow(t0)})
	if err != nil {
		f.Fatal(err)
	}
	return j
}

// hsSign signs header and payload (raw JSON) with hsSecret under alg, as
// a token issuer would, without the library: the fuzzer chooses the JSON.
func hsSign(alg string, header, payload []byte) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	h := map[string]func() hash.Hash{"HS384": sha512.New384, "HS512": sha512.New}[alg]
	if h == nil {
		h = sha256.New
	}
	m := hmac.New(h, hsSecret)
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

// checkAccepted asserts what a token the verifier accepted must be: three
// parts, an HMAC algorithm, the right MAC over the first two, an expiry
// after now, our issuer and audience, and key in its scope.
func checkAccepted(t *testing.T, tok string, claims map[string]any, key string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted %q: not three parts", tok)
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("accepted %q: header is not base64url", tok)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		t.Fatalf("accepted %q: header %q is not JSON", tok, hb)
	}
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[hdr.Alg]
	if h == nil {
		t.Fatalf("accepted %q with alg %q", tok, hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	m := hmac.New(h, hsSecret)
	m.Write([]byte(parts[0] + "." + parts[1]))
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		t.Fatalf("accepted %q: the signature is not the secret's MAC", tok)
	}
	exp, ok := claims["exp"].(float64)
	if !ok || !time.Unix(int64(exp), 0).After(t0.Add(-time.Second)) {
		t.Fatalf("accepted %q: exp %v at %v", tok, claims["exp"], t0)
	}
	if nbf, ok := claims["nbf"].(float64); ok && time.Unix(int64(nbf), 0).After(t0.Add(time.Second)) {
		t.Fatalf("accepted %q: nbf %v at %v", tok, nbf, t0)
	}
	if claims["iss"] != "iss-x" {
		t.Fatalf("accepted %q: iss %v", tok, claims["iss"])
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != "aud-x" {
			t.Fatalf("accepted %q: aud %q", tok, aud)
		}
	case []any:
		found := false
		for _, a := range aud {
			found = found || a == "aud-x"
		}
		if !found {
			t.Fatalf("accepted %q: aud %v", tok, aud)
		}
	default:
		t.Fatalf("accepted %q: aud %v", tok, claims["aud"])
	}
	if !inScope(claims["scope"], key) {
		t.Fatalf("accepted %q for %q out of its scope %v", tok, key, claims["scope"])
	}
}

func bearerReq(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// FuzzJWTVerify: a token from anywhere is a 401 or a 403 unless it is
// signed with the secret under an HMAC algorithm and its claims hold
// (alg none, other algorithms, tampered parts, extra dots and oversized
// tokens never pass), and a valid token whose payload is changed in one
// place no longer verifies.
func FuzzJWTVerify(f *testing.F) {
	valid := `{"iss":"iss-x","aud":"aud-x","exp":1700003600,"scope":"img/"}`
	hs := `{"alg":"HS256","typ":"JWT"}`
	for _, tok := range []string{
		hsSign("HS256", []byte(hs), []byte(valid)),
		hsSign("HS512", []byte(`{"alg":"HS512"}`), []byte(`{"iss":"iss-x","aud":["a","aud-x"],"exp":1700000001,"scope":["x","img/cat.jpg"]}`)),
		hsSign("HS256", []byte(`{"alg":"none"}`), []byte(valid)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(valid)) + ".",
		hsSign("HS256", []byte(`{"alg":"RS256"}`), []byte(valid)),
		hsSign("HS256", []byte(hs), []byte(`{"iss":"iss-x","aud":"aud-x","exp":1699999999,"scope":"img/"}`)),
		hsSign("HS256", []byte(hs), []byte(`{"iss":"iss-x","aud":"aud-x","exp":"1700003600","scope":"img/"}`)),
		hsSign("HS256", []byte(hs), []byte(`{"iss":"iss-x","aud":"aud-x","exp":1700003600,"nbf":1700000100,"scope":"img/"}`)),
		hsSign("HS256", []byte(hs), []byte(`{"iss":"iss-x","aud":"aud-x","exp":1700003600,"exp":1,"scope":"img/"}`)),
		hsSign("HS256", []byte(hs), []byte(`{"iss":"iss-x","aud":"aud-x","exp":1e400,"scope":"img/"}`)),
		"a.b.c.d", "...", "e30.e30.", strings.Repeat("A", MaxTokenLen+1),
	} {
		f.Add(tok, "img/cat.jpg", []byte(valid), uint16(3))
	}
	j := fuzzJWT(f)
	f.Fuzz(func(t *testing.T, tok, key string, payload []byte, at uint16) {
		// Any token, as sent.
		claims, err := j.Verify(bearerReq(tok), key)
		if err != nil {
			if s := StatusCode(err); s != 401 && s != 403 {
				t.Fatalf("token %q: %v (status %d)", tok, err, s)
			}
		} else {
			checkAccepted(t, tok, claims, key)
		}
		// A token signed with the secret over the fuzzer's payload.
		if len(payload) > 2048 {
			return
		}
		signed := hsSign("HS256", []byte(`{"alg":"HS256","typ":"JWT"}`), payload)
		claims, err = j.Verify(bearerReq(signed), key)
		if err != nil {
			if s := StatusCode(err); s != 401 && s != 403 {
				t.Fatalf("payload %q: %v (status %d)", payload, err, s)
			}
			return
		}
		checkAccepted(t, signed, claims, key)
		// Tampered: one character of the payload part changed (not the
		// last, whose low bits base64 may ignore) no longer verifies.
		parts := strings.Split(signed, ".")
		if len(parts[1]) < 2 {
			return
		}
		i := int(at) % (len(parts[1]) - 1)
		c := byte('A')
		if parts[1][i] == 'A' {
			c = 'B'
		}
		parts[1] = parts[1][:i] + string(c) + parts[1][i+1:]
		tampered := strings.Join(parts, ".")
		if _, err := j.Verify(bearerReq(tampered), key); Reason(err) != ReasonBadSignature && Reason(err) != ReasonInvalidToken {
			t.Fatalf("tampered %q (from %q): %v", tampered, signed, err)
		}
		// And alg none over the same payload never verifies.
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
		if _, err := j.Verify(bearerReq(none), key); err == nil {
			t.Fatalf("alg none accepted: %q", none)
		}
	})
}
