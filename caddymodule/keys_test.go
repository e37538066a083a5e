package caddymodule

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/r2gate/r2gate/publish"
)

func TestMapKey(t *testing.T) {
	cases := []struct {
		name, path, strip, prefix string
		key                       string
		dir                       bool
		status                    int // 0: accepted
	}{
		{name: "root is a folder", path: "/", key: "", dir: true},
		{name: "plain key", path: "/img/cat.jpg", key: "img/cat.jpg"},
		{name: "folder keeps its slash", path: "/img/", key: "img/", dir: true},
		{name: "space stays a space", path: "/a b.txt", key: "a b.txt"},
		{name: "plus stays a plus", path: "/a+b.txt", key: "a+b.txt"},
		{name: "unicode passes through", path: "/ファイル/é.txt", key: "ファイル/é.txt"},
		{name: "double slash is kept", path: "/a//b", key: "a//b"},
		{name: "dots inside names are fine", path: "/a..b/.well-known/x..", key: "a..b/.well-known/x.."},
		{name: "prefix is prepended", path: "/cat.jpg", prefix: "public/", key: "public/cat.jpg"},
		{name: "prefix and root", path: "/", prefix: "public/", key: "public/", dir: true},
		{name: "strip_prefix at a boundary", path: "/cdn/cat.jpg", strip: "/cdn", key: "cat.jpg"},
		{name: "strip_prefix with trailing slash", path: "/cdn/cat.jpg", strip: "/cdn/", key: "cat.jpg"},
		{name: "strip_prefix alone is the root", path: "/cdn", strip: "/cdn", key: "", dir: true},
		{name: "strip_prefix needs a boundary", path: "/cdnx/cat.jpg", strip: "/cdn", key: "cdnx/cat.jpg"},
		{name: "path without a leading slash", path: "cat.jpg", key: "cat.jpg"},
		{name: "dot-dot segment is 400", path: "/a/../b", status: 400},
		{name: "leading dot-dot is 400", path: "/../etc/passwd", status: 400},
		{name: "trailing dot-dot is 400", path: "/a/..", status: 400},
		{name: "dot segment is 400", path: "/a/./b", status: 400},
		{name: "dot-dot after strip_prefix is 400", path: "/cdn/../x", strip: "/cdn", status: 400},
		{name: "NUL is 400", path: "/a\x00b", status: 400},
		{name: "control character is 400", path: "/a\x1bb", status: 400},
		{name: "DEL is 400", path: "/a\x7fb", status: 400},
		{name: "invalid UTF-8 is 400", path: "/\xff\xfe", status: 400},
		{name: "key over 1024 bytes is 414", path: "/" + strings.Repeat("k", 1025), status: 414},
		{name: "prefix counts toward the length", path: "/" + strings.Repeat("k", 1020), prefix: "abcdef/", status: 414},
		{name: "key of exactly 1024 bytes is fine", path: "/" + strings.Repeat("k", 1024), key: strings.Repeat("k", 1024)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key, dir, err := mapKey(c.path, c.strip, c.prefix)
			if c.status != 0 {
				if err == nil || statusOf(err) != c.status {
					t.Fatalf("mapKey(%q) = %q, %v; want status %d", c.path, key, err, c.status)
				}
				return
			}
			if err != nil || key != c.key || dir != c.dir {
				t.Fatalf("mapKey(%q) = %q, %v, %v; want %q, %v", c.path, key, dir, err, c.key, c.dir)
			}
		})
	}
}

// FuzzMapKey checks that any accepted path gives a key that stays below the
// prefix and that no bucket or folder would read as leaving it.
func FuzzMapKey(f *testing.F) {
	for _, s := range []string{"/", "/a/b.txt", "/../x", "/a/%2e%2e/b", "/\xff", "/a//b/", "/cdn/x", "/.", "/a/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		key, dir, err := mapKey(p, "/cdn", "pub/")
		if err != nil {
			if s := statusOf(err); s != http.StatusBadRequest && s != http.StatusRequestURITooLong {
				t.Fatalf("status %d for %q", s, p)
			}
			return
		}
		if !strings.HasPrefix(key, "pub/") || len(key) > maxKeyLen || !utf8.ValidString(key) {
			t.Fatalf("mapKey(%q) = %q", p, key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("mapKey(%q) = %q has a %q segment", p, key, seg)
			}
		}
		if strings.ContainsAny(key, "\x00\x7f") || dir != strings.HasSuffix(key, "/") {
			t.Fatalf("mapKey(%q) = %q, dir %v", p, key, dir)
		}
	})
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"/static/*", "/static/a/b.css", true},
		{"/static/*", "/static", false},
		{"*.css", "/a/b/c.css", true},
		{"*.css", "/a/b/c.css.map", false},
		{"/img/*.jpg", "/img/x/y.jpg", true},
		{"/a?c", "/abc", true},
		{"/a?c", "/ac", false},
		{"/exact", "/exact", true},
		{"/exact", "/exact/", false},
		{"*", "", true},
		{"**", "/anything", true},
		{"/a*b*c", "/a-b-b-c", true},
		{"/a*b*c", "/a-c-b", false},
	}
	for _, c := range cases {
		if got := publish.Match(c.pattern, c.s); got != c.want {
			t.Errorf("publish.Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestCacheControlOrder(t *testing.T) {
	h := &Handler{
		CacheControl: "public, max-age=60",
		CacheControlRules: []CacheControlRule{
			{Path: "/static/*", Value: "immutable-rule"},
			{Path: "*.css", Value: "css-rule"},
		},
	}
	for _, c := range []struct{ path, object, want string }{
		{"/static/a.css", "object", "immutable-rule"},
		{"/a.css", "object", "css-rule"},
		{"/a.txt", "object", "object"},
		{"/a.txt", "", "public, max-age=60"},
	} {
		if got := h.cacheControl(c.path, c.object); got != c.want {
			t.Errorf("cacheControl(%q, %q) = %q, want %q", c.path, c.object, got, c.want)
		}
	}
}
