package publish

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*.html", "index.html", true},
		{"*.html", "docs/deep/page.html", true}, // * crosses /
		{"*.html", "index.htm", false},
		{"assets/*", "assets/a/b.js", true},
		{"assets/*", "other/assets/a.js", false},
		{"*/assets/*", "other/assets/a.js", true},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"assets/*.[0-9a-f]*.js", "assets/app.3f9a1c.js", true},
		{"assets/*.[0-9a-f]*.js", "assets/app.js", false},
		{"assets/*.[0-9a-f]*.js", "assets/app.min.js", false},
		{"[!.]*", "visible", true},
		{"[!.]*", ".hidden", false},
		{"[^.]*", ".hidden", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"a[", "a[", true}, // an unclosed class is literal
		{`\*.txt`, "*.txt", true},
		{`\*.txt`, "a.txt", false},
		{`a\[b]`, "a[b]", true},
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"**", "a/b", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"*.js", "é.js", true},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestMatchIsLinear(t *testing.T) {
	name := strings.Repeat("a", 10000)
	if Match(strings.Repeat("*a", 50)+"b", name) {
		t.Fatal("matched")
	}
}

func TestCheckPattern(t *testing.T) {
	for _, ok := range []string{"*.js", "assets/*.[0-9a-f]*.js", `\[x`, "[]]", "[!a]"} {
		if err := CheckPattern(ok); err != nil {
			t.Errorf("CheckPattern(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a[b", `trailing\`, "[!"} {
		if err := CheckPattern(bad); err == nil {
			t.Errorf("CheckPattern(%q) = nil, want an error", bad)
		}
	}
}

func TestParseRule(t *testing.T) {
	cases := []struct {
		in   string
		want Rule
		err  string
	}{
		{in: "*.html=no-cache", want: Rule{"*.html", "no-cache"}},
		{in: "assets/*=public, max-age=31536000, immutable", want: Rule{"assets/*", "public, max-age=31536000, immutable"}},
		{in: `a\=b=x`, want: Rule{`a\=b`, "x"}},
		{in: "*.map=", want: Rule{"*.map", ""}},
		{in: "no-cache", err: "want <glob>=<value>"},
		{in: "=no-cache", err: "empty"},
		{in: "a[=x", err: "without its ']'"},
	}
	for _, c := range cases {
		got, err := ParseRule(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseRule(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if !Match(`a\=b`, "a=b") {
		t.Error(`the escaped '=' of a rule's glob does not match '='`)
	}
}

func TestFirstMatchWins(t *testing.T) {
	rules := []Rule{{"*.html", "no-cache"}, {"docs/*", "public, max-age=60"}, {"*", "public, max-age=3600"}}
	for name, want := range map[string]string{
		"docs/index.html": "no-cache",
		"docs/a.png":      "public, max-age=60",
		"b.css":           "public, max-age=3600",
	} {
		if got, _ := firstMatch(rules, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if _, ok := firstMatch(nil, "a"); ok {
		t.Error("no rules matched")
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "site": "site/", "site/": "site/", "/a/b": "a/b/"} {
		if got := NormalizePrefix(in); got != want {
			t.Errorf("NormalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"index.html":   "text/html; charset=utf-8",
		"a/style.css":  "text/css; charset=utf-8",
		"img/logo.png": "image/png",
		"README":       "application/octet-stream",
		"x.unknownext": "application/octet-stream",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}
