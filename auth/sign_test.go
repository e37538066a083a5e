package auth

import (
	"strings"
	"testing"
	"time"
)

func TestSignParseTarget(t *testing.T) {
	tests := []struct {
		in, path, query string
		err             string
	}{
		{in: "/img/cat.jpg?w=400", path: "/img/cat.jpg", query: "w=400"},
		{in: "/img/cat.jpg", path: "/img/cat.jpg"},
		{in: "img/cat.jpg?", path: "img/cat.jpg"},
		{in: "/a?w=1#top", path: "/a", query: "w=1"},
		{in: "/a#frag?w=1", path: "/a"},
		{in: "/my file é.jpg?format=webp", path: "/my file é.jpg", query: "format=webp"},
		{in: "https://example.com/a", err: "not a full URL"},
		{in: "/redirect?to=https://example.com", err: "not a full URL"},
		{in: "?w=1", err: "path is empty"},
		{in: "", err: "path is empty"},
		{in: "#x", err: "path is empty"},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTarget(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
		case got != (Target{Path: tt.path, RawQuery: tt.query}):
			t.Errorf("ParseTarget(%q) = %+v, want path %q query %q", tt.in, got, tt.path, tt.query)
		}
	}
}

func TestSignParseKey(t *testing.T) {
	for in, want := range map[string]Key{
		"k1:s3cret":                           {ID: "k1", Secret: []byte("s3cret")},
		"k1:s3:cr:et":                         {ID: "k1", Secret: []byte("s3:cr:et")},
		strings.Repeat("k", MaxKidLen) + ":s": {ID: strings.Repeat("k", MaxKidLen), Secret: []byte("s")},
	} {
		got, err := ParseKey(in)
		if err != nil || got.ID != want.ID || string(got.Secret) != string(want.Secret) {
			t.Errorf("ParseKey(%q) = %q %q, %v", in, got.ID, got.Secret, err)
		}
	}
	for in, want := range map[string]string{
		"s3cret":  "<kid>:<secret>",
		":s3cret": "<kid>:<secret>",
		"k1:":     "<kid>:<secret>",
		"":        "<kid>:<secret>",
		strings.Repeat("k", MaxKidLen+1) + ":s3c": "longer than 64",
	} {
		if _, err := ParseKey(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%q) error = %v, want one containing %q", in, err, want)
		}
	}
}

func TestSignTargetNative(t *testing.T) {
	key := Key{ID: "k1", Secret: []byte("s3cret")}
	v := &SignedURLs{Keys: []Key{key}}
	exp := t0.Add(time.Hour)
	tests := []struct {
		name, target, want string
	}{
		{"the documented example", "/img/cat.jpg?w=400", "/img/cat.jpg?exp=1700003600&kid=k1&w=400&sig="},
		{"no query", "/downloads/report.pdf", "/downloads/report.pdf?exp=1700003600&kid=k1&sig="},
		{"a path with spaces is encoded canonically", "/my file é.jpg?w=200&format=webp",
			"/my%20file%20%C3%A9.jpg?exp=1700003600&format=webp&kid=k1&w=200&sig="},
		{"a relative path gets its slash", "a.txt", "/a.txt?exp=1700003600&kid=k1&sig="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got, err := target.Sign(key, exp)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Sign = %q, want it to start with %q", got, tt.want)
			}
			path, query := parseReq(t, got)
			v.Now = fixedNow(exp.Add(-time.Second))
			if err := v.Verify(path, query); err != nil {
				t.Errorf("Verify(%q) before expiry: %v", got, err)
			}
			v.Now = fixedNow(exp)
			if err := v.Verify(path, query); Reason(err) != ReasonExpired {
				t.Errorf("Verify(%q) at expiry = %v, want expired", got, err)
			}
		})
	}
	// The known-answer vector of TestCanonicalStringDocumentedExample.
	target, _ := ParseTarget("/img/cat.jpg?w=400")
	if got, err := target.Sign(key, t0); err != nil || !strings.HasSuffix(got, "&sig="+knownSig) {
		t.Errorf("Sign = %q, %v; want sig %s", got, err, knownSig)
	}
}

func TestSignTargetCloudflare(t *testing.T) {
	secret := []byte("my secret symmetric key")
	v := &SignedURLs{Cloudflare: &Cloudflare{Secret: secret, Lifetime: time.Hour}}
	tests := []struct{ name, target, want string }{
		{"as the Worker example makes it", "/img/cat.jpg",
			"/img/cat.jpg?verify=1700000000-25EEy0zy07tLLYzDACs%2F%2F1kKVi9PZd6zd0XXbZ%2B9lRY%3D"},
		{"the path as a browser sends it, the query kept", "/my file é.jpg?w=400",
			"/my%20file%20%C3%A9.jpg?w=400&verify=1700000000-d5sszCrsbIz4jxvSR3ylCPv%2FDfKWDAhjFgxrsEw2%2B9U%3D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got, err := target.SignCloudflare(secret, t0)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("SignCloudflare\n got %q\nwant %q", got, tt.want)
			}
			path, query := parseReq(t, got)
			v.Now = fixedNow(t0.Add(time.Hour))
			if err := v.Verify(path, query); err != nil {
				t.Errorf("Verify(%q) within the lifetime: %v", got, err)
			}
			v.Now = fixedNow(t0.Add(time.Hour + time.Second))
			if err := v.Verify(path, query); Reason(err) != ReasonExpired {
				t.Errorf("Verify(%q) after the lifetime = %v, want expired", got, err)
			}
		})
	}
}

func TestSignTargetRefusals(t *testing.T) {
	key := Key{ID: "k1", Secret: []byte("s3cret")}
	for _, tt := range []struct{ name, target, want string }{
		{"repeated parameter", "/a?w=1&w=2", `"w" is repeated`},
		{"sig", "/a?sig=x", `"sig" is reserved`},
		{"exp", "/a?exp=1", `"exp" is reserved`},
		{"kid", "/a?kid=k2", `"kid" is reserved`},
		{"verify", "/a?verify=x", `"verify" is reserved`},
		{"bad escape", "/a?w=%zz", "bad query"},
		{"semicolon", "/a?w=1;h=2", "bad query"},
		// What the verifier would refuse: such a URL could never be used.
		{"path over the bound once encoded", "/" + strings.Repeat("\xfe", MaxPathLen/3+1), "the path is 8194 bytes once encoded"},
		{"path over the bound", "/" + strings.Repeat("a", MaxPathLen), "the path is 8193 bytes once encoded"},
		{"query over the bound once encoded", "/a?w=" + strings.Repeat("%FE", MaxQueryLen/3), "the query is"},
	} {
		target, err := ParseTarget(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := target.Sign(key, t0); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Sign = %.80q…, %v; want an error containing %q", tt.name, got, err, tt.want)
		}
	}
	path := "/" + strings.Repeat("a", MaxPathLen-1)
	target, _ := ParseTarget(path + "?w=" + strings.Repeat("b", MaxQueryLen-len("exp=1700000000&kid=k1&w=")-1))
	got, err := target.Sign(key, t0)
	if err != nil {
		t.Fatalf("Sign at the bounds: %v", err)
	}
	v := &SignedURLs{Keys: []Key{key}, Now: fixedNow(t0.Add(-time.Second))}
	if p, q := parseReq(t, got); v.Verify(p, q) != nil {
		t.Errorf("a URL signed at the bounds does not verify: %v", v.Verify(p, q))
	}
	target, _ = ParseTarget("/a?w=%zz")
	if got, err := target.SignCloudflare([]byte("x"), t0); err == nil || !strings.Contains(err.Error(), "bad query") {
		t.Errorf("SignCloudflare = %q, %v; want a bad query error", got, err)
	}
}

func TestSignBrowserPath(t *testing.T) {
	for in, want := range map[string]string{
		"/img/cat.jpg":         "/img/cat.jpg",
		"img":                  "/img",
		"/my file é.jpg":       "/my%20file%20%C3%A9.jpg",
		"/a%20b":               "/a%20b", // existing escapes stay
		"/q\"<>`{}#?":          "/q%22%3C%3E%60%7B%7D%23%3F",
		"/tab\t\x7f":           "/tab%09%7F",
		"/keep/!$&'()*+,;=:@~": "/keep/!$&'()*+,;=:@~",
	} {
		if got := browserPath(in); got != want {
			t.Errorf("browserPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSignTargetVerifies: whatever Sign accepts, the verifier accepts as
// a server receives it.
func FuzzSignTargetVerifies(f *testing.F) {
	for _, s := range []string{"/img/cat.jpg?w=400", "/my file é.jpg", "/a%2Fb?x=%20", "a?b", "/%zz?w=+"} {
		f.Add(s)
	}
	key := Key{ID: "k1", Secret: []byte("s3cret")}
	v := &SignedURLs{Keys: []Key{key}, Now: fixedNow(t0)}
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseTarget(s)
		if err != nil {
			return
		}
		signed, err := target.Sign(key, t0.Add(time.Hour))
		if err != nil {
			return
		}
		path, query := parseReq(t, signed)
		if err := v.Verify(path, query); err != nil {
			t.Errorf("%q signed as %q does not verify: %v", s, signed, err)
		}
	})
}
