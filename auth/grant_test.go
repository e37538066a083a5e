package auth

import (
	"net/url"
	"testing"
	"time"
)

func TestGrantOfSignedURLs(t *testing.T) {
	secret := []byte("grant-secret")
	s := &SignedURLs{Keys: []Key{{ID: "k", Secret: secret}}, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	exp := time.Unix(1_700_000_600, 0)
	cases := []struct {
		query        url.Values
		allow, block []string
		maxSize      int64
	}{
		{url.Values{}, []string{"GET", "HEAD"}, []string{"PUT", "DELETE", "POST"}, 0},
		{url.Values{"w": {"400"}}, []string{"GET", "HEAD"}, []string{"PUT", "DELETE"}, 0},
		{url.Values{"method": {"PUT"}, "max_size": {"1000"}}, []string{"PUT"}, []string{"GET", "HEAD", "DELETE"}, 1000},
		{url.Values{"method": {"DELETE"}}, []string{"DELETE"}, []string{"GET", "PUT"}, 0},
		{url.Values{"method": {"GET"}}, []string{"GET", "HEAD"}, []string{"PUT"}, 0},
	}
	for _, c := range cases {
		signed := Sign("/up/a.jpg", c.query, "k", secret, exp)
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(u.EscapedPath(), u.Query()); err != nil {
			t.Fatalf("%v: %v", c.query, err)
		}
		g, err := GrantOf(u.Query())
		if err != nil || g.MaxSize != c.maxSize {
			t.Fatalf("%v: grant %+v, %v", c.query, g, err)
		}
		for _, m := range c.allow {
			if !g.Allows(m) {
				t.Errorf("%v: %s refused", c.query, m)
			}
		}
		for _, m := range c.block {
			if g.Allows(m) {
				t.Errorf("%v: %s allowed", c.query, m)
			}
		}
		// The grant is signed: changing it breaks the signature.
		q := u.Query()
		q.Set("method", "DELETE")
		if c.query.Get("method") != "DELETE" && s.Verify(u.EscapedPath(), q) == nil {
			t.Errorf("%v: a URL whose method was changed still verifies", c.query)
		}
	}
	for _, bad := range []url.Values{{"method": {"POST"}}, {"method": {"put"}}, {"max_size": {"0"}}, {"max_size": {"-5"}}, {"max_size": {"lots"}}} {
		if _, err := GrantOf(bad); err == nil {
			t.Errorf("GrantOf(%v) gave no error", bad)
		}
	}
}
