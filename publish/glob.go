package publish

import (
	"fmt"
	"strings"
)

// Match reports whether name, a slash-separated path relative to the
// folder, matches pattern. `*` matches any run of bytes, `/` included (as
// in the handler's cache_control rules: `*.html` matches `docs/a.html`);
// `?` matches one byte; `[...]` matches one byte of a class such as
// `[0-9a-f]`, negated with `[!...]` or `[^...]`; `\` makes the next byte
// literal. Every other byte matches itself. Classes are of bytes, so name
// non-ASCII characters literally. A `[` without its `]` is literal.
//
// Without `[` and `\`, Match is the handler's matcher exactly. It runs in
// time linear in len(pattern)×len(name) at worst, backtracking only to the
// last star.
func Match(pattern, name string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(name) {
		if p < len(pattern) && pattern[p] == '*' {
			star, mark = p, i
			p++
			continue
		}
		if p < len(pattern) {
			if n, ok := matchOne(pattern[p:], name[i]); ok {
				p += n
				i++
				continue
			}
		}
		if star < 0 {
			return false
		}
		p = star + 1
		mark++
		i = mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchOne matches the single-byte item at the start of pat (a literal,
// `?`, an escape or a class) against c, and returns the item's width.
func matchOne(pat string, c byte) (int, bool) {
	switch pat[0] {
	case '?':
		return 1, true
	case '\\':
		if len(pat) > 1 {
			return 2, pat[1] == c
		}
		return 1, c == '\\'
	case '[':
		if n, ok, valid := matchClass(pat, c); valid {
			return n, ok
		}
	}
	return 1, pat[0] == c
}

// matchClass matches a class `[...]` at the start of pat against c. valid
// is false when pat holds no complete class (then `[` is a literal).
func matchClass(pat string, c byte) (n int, ok, valid bool) {
	i := 1
	negate := i < len(pat) && (pat[i] == '!' || pat[i] == '^')
	if negate {
		i++
	}
	matched := false
	for first := true; i < len(pat); first = false {
		if pat[i] == ']' && !first {
			return i + 1, matched != negate, true
		}
		lo := pat[i]
		if lo == '\\' && i+1 < len(pat) {
			i++
			lo = pat[i]
		}
		i++
		hi := lo
		if i+1 < len(pat) && pat[i] == '-' && pat[i+1] != ']' {
			hi = pat[i+1]
			if hi == '\\' && i+2 < len(pat) {
				i++
				hi = pat[i+1]
			}
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return 0, false, false
}

// CheckPattern reports a pattern that cannot mean what it says: an
// unclosed class or a trailing backslash. Match would take those bytes
// literally; flags are checked with it so that a typo is an error.
func CheckPattern(pattern string) error {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i+1 == len(pattern) {
				return fmt.Errorf("pattern %q ends with a lone backslash", pattern)
			}
			i++
		case '[':
			n, _, valid := matchClass(pattern[i:], 0)
			if !valid {
				return fmt.Errorf("pattern %q has a '[' without its ']'", pattern)
			}
			i += n - 1
		}
	}
	return nil
}

// Rule sets a value for the files whose relative path matches Pattern,
// such as a Cache-Control for `assets/*`. In a list of rules the first
// match wins.
type Rule struct {
	Pattern string
	Value   string
}

// ParseRule parses "<glob>=<value>", split at the first '=' that no
// backslash escapes, so values may hold '=' (max-age=60). The value may
// be empty (no header for those files, ahead of a later rule).
func ParseRule(s string) (Rule, error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '=':
			r := Rule{Pattern: s[:i], Value: strings.TrimSpace(s[i+1:])}
			if r.Pattern == "" {
				return Rule{}, fmt.Errorf("rule %q: the glob before '=' is empty (use * for every file)", s)
			}
			if err := CheckPattern(r.Pattern); err != nil {
				return Rule{}, fmt.Errorf("rule %q: %w", s, err)
			}
			return r, nil
		}
	}
	return Rule{}, fmt.Errorf("rule %q: want <glob>=<value>, such as '*.html=no-cache'", s)
}

// firstMatch returns the value of the first rule matching name.
func firstMatch(rules []Rule, name string) (string, bool) {
	for _, r := range rules {
		if Match(r.Pattern, name) {
			return r.Value, true
		}
	}
	return "", false
}

// matchAny reports whether any pattern matches name.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}
