package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzCloudflareVerify: a verify token is accepted only when its MAC is
// the HMAC of the path and its own timestamp under the secret, and the
// timestamp lies within the lifetime and the skew; every other token is
// a 403 (never a 500, never "no credential"). What SignCloudflare makes
// verifies for the path it was made for, within its lifetime, and for no
// other path.
func FuzzCloudflareVerify(f *testing.F) {
	now := t0
	good := SignCloudflare("/img/cat.jpg", secret2, now.Add(-10*time.Second))
	for _, s := range []struct {
		path, verify string
		age          int64
	}{
		{"/img/cat.jpg", good, 10},
		{"/img/cat.jpg", strings.TrimRight(good, "="), 0},
		{"/img/cat.jpg", strings.NewReplacer("+", "-", "/", "_").Replace(good), 59},
		{"/img/cat.jpg", strings.ReplaceAll(good, "+", " "), 61},
		{"/img/cat%20x.jpg", "1700000000-", -1},
		{"/a", "01700000000-AAAA", 0},
		{"/a", "-", 0},
		{"/a", "99999999999999999999-AAAA", 0},
		{"/a", "1700000000-" + strings.Repeat("A", 300), 0},
		{"/caf%C3%A9/%5Bx%5D", "1699999999-abc=def", 1},
	} {
		f.Add(s.path, s.verify, s.age)
	}
	cf := &Cloudflare{Secret: secret2}
	s := &SignedURLs{Cloudflare: cf, Now: fixedNow(now)}
	f.Fuzz(func(t *testing.T, path, verify string, age int64) {
		err := s.Verify(path, url.Values{"verify": {verify}})
		if err != nil {
			if StatusCode(err) != 403 {
				t.Fatalf("verify %q on %q: %v (status %d), want a 403", verify, path, err, StatusCode(err))
			}
		} else {
			// Accepted: the MAC is the right one for this path and timestamp.
			tsText, macText, _ := strings.Cut(verify, "-")
			ts, perr := strconv.ParseInt(tsText, 10, 64)
			if perr != nil || strconv.FormatInt(ts, 10) != tsText {
				t.Fatalf("accepted %q: timestamp %q is not canonical unix seconds", verify, tsText)
			}
			tt := time.Unix(ts, 0)
			if now.After(tt.Add(DefaultCloudflareLifetime)) || tt.After(now.Add(DefaultCloudflareSkew)) {
				t.Fatalf("accepted %q at %v: outside lifetime and skew", verify, now)
			}
			m := hmac.New(sha256.New, secret2)
			m.Write([]byte(path + tsText))
			macText = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(strings.TrimRight(macText, "="))
			got, derr := base64.RawStdEncoding.DecodeString(macText)
			if derr != nil || !hmac.Equal(got, m.Sum(nil)) {
				t.Fatalf("accepted %q for %q: its MAC is not the HMAC of the path and timestamp", verify, path)
			}
		}
		if len(path) > MaxPathLen {
			return
		}
		// Round trip: a fresh token for path verifies while within its
		// lifetime, is expired after it, and fits no other path.
		age %= 2 * int64(DefaultCloudflareLifetime/time.Second)
		issued := now.Add(-time.Duration(age) * time.Second)
		tok := SignCloudflare(path, secret2, issued)
		err = s.Verify(path, url.Values{"verify": {tok}})
		switch {
		case age <= 60 && age >= -60:
			if err != nil {
				t.Fatalf("a token for %q issued %ds ago is refused: %v", path, age, err)
			}
		case age > 60:
			if Reason(err) != ReasonExpired {
				t.Fatalf("a token for %q issued %ds ago: %v, want expired", path, age, err)
			}
		default:
			if Reason(err) != ReasonMalformed {
				t.Fatalf("a token for %q issued %ds ahead: %v, want malformed", path, -age, err)
			}
		}
		if err := s.Verify(path+"x", url.Values{"verify": {tok}}); Reason(err) != ReasonBadSignature {
			t.Fatalf("a token for %q verifies for %q: %v", path, path+"x", err)
		}
	})
}
