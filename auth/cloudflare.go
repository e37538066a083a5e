package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cloudflare accepts the timed HMAC tokens of Cloudflare's "Sign requests"
// Worker example and of the WAF function is_timed_hmac_valid_v0 with the
// separator "?verify=", so apps that sign for Cloudflare keep working:
//
//	verify = <ts> "-" <mac>
//	ts     = unix seconds, decimal, no leading zeros
//	mac    = base64 (standard alphabet, padded) of HMAC-SHA256(secret, path + ts)
//	path   = the URL pathname exactly as sent (percent-encoded, no query)
//
// The value travels URL-encoded (encodeURIComponent), so "+", "/" and "="
// arrive as %2B, %2F and %3D. A token is valid while now <= ts + Lifetime and
// ts <= now + Skew. Unpadded and URL-safe base64 are also accepted, and a
// space is read as "+" (a client that forgot to encode the value).
//
// The token covers only the path: other query parameters (resize options)
// are not authenticated. Prefer the native scheme for variants.
type Cloudflare struct {
	Secret []byte
	// Lifetime is how long after ts a token is valid. Default 60s, the
	// EXPIRY of Cloudflare's example Worker.
	Lifetime time.Duration
	// Skew is how far ts may lie in the future. Default 60s.
	Skew time.Duration
}

// Default Cloudflare token lifetime and accepted clock skew.
const (
	DefaultCloudflareLifetime = 60 * time.Second
	DefaultCloudflareSkew     = 60 * time.Second
	maxVerifyLen              = 256
)

// Validate checks the configuration.
func (c *Cloudflare) Validate() error {
	if len(c.Secret) == 0 {
		return errors.New("signed_url: cloudflare secret is empty")
	}
	if c.Lifetime < 0 || c.Skew < 0 {
		return errors.New("signed_url: cloudflare lifetime and skew must not be negative")
	}
	return nil
}

// SignCloudflare returns the verify parameter value (not URL-encoded) for
// path at time ts, as Cloudflare's example Worker produces it.
func SignCloudflare(path string, secret []byte, ts time.Time) string {
	t := strconv.FormatInt(ts.Unix(), 10)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(path + t))
	return t + "-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func (c *Cloudflare) verify(path string, query url.Values, now time.Time) error {
	if len(query["verify"]) != 1 {
		return reject(ReasonMalformed, "need exactly one verify parameter")
	}
	v := query.Get("verify")
	if len(v) > maxVerifyLen {
		return reject(ReasonMalformed, "verify too long")
	}
	tsText, macText, ok := strings.Cut(v, "-")
	if !ok {
		return reject(ReasonMalformed, "verify is not <ts>-<mac>")
	}
	ts, err := parseUnix(tsText)
	if err != nil || (len(tsText) > 1 && tsText[0] == '0') {
		return reject(ReasonMalformed, "verify timestamp is not unix seconds")
	}
	macText = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(strings.TrimRight(macText, "="))
	got, err := base64.RawStdEncoding.Strict().DecodeString(macText)
	if err != nil || len(got) != sha256.Size {
		return reject(ReasonMalformed, "verify mac is not base64 of a SHA-256 HMAC")
	}
	h := hmac.New(sha256.New, c.Secret)
	h.Write([]byte(path))
	h.Write([]byte(tsText))
	if len(c.Secret) == 0 || !hmac.Equal(got, h.Sum(nil)) {
		return reject(ReasonBadSignature, "")
	}
	lifetime, skew := c.Lifetime, c.Skew
	if lifetime == 0 {
		lifetime = DefaultCloudflareLifetime
	}
	if skew == 0 {
		skew = DefaultCloudflareSkew
	}
	t := time.Unix(ts, 0)
	if now.After(t.Add(lifetime)) {
		return reject(ReasonExpired, "")
	}
	if t.After(now.Add(skew)) {
		return reject(ReasonMalformed, "verify timestamp is in the future")
	}
	return nil
}

// RequestPath returns the request's path exactly as it was sent on the
// request line (what a browser's URL.pathname holds), falling back to
// r.URL.EscapedPath(). Pass it to SignedURLs.Verify: Go's EscapedPath
// re-encodes characters such as "[", "|" and "^" that browsers send raw,
// which would break Cloudflare tokens (they sign the raw pathname).
func RequestPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(p, "/") {
		// absolute-form request target: scheme://authority/path
		if _, rest, ok := strings.Cut(p, "://"); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				p = rest[i:]
			}
		}
	}
	if strings.HasPrefix(p, "/") {
		return p
	}
	return r.URL.EscapedPath()
}
