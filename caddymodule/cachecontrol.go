package caddymodule

// cacheControl returns the browser Cache-Control for a request path and an
// object's own value: the first matching rule, else the object's value,
// else the default. On a protected handler it is "private" unless a rule
// matches, so no shared cache downstream keeps a protected answer.
func (h *Handler) cacheControl(urlPath, objectValue string) string {
	for _, r := range h.CacheControlRules {
		if globMatch(r.Path, urlPath) {
			return r.Value
		}
	}
	if h.protected() {
		return "private"
	}
	if objectValue != "" {
		return objectValue
	}
	return h.CacheControl
}

// globMatch reports whether s matches pattern, where `*` matches any run of
// bytes (including `/`) and `?` matches one byte. It runs in linear time
// with backtracking to the last star only.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
