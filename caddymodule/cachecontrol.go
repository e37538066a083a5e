package caddymodule

import "github.com/r2gate/r2gate/publish"

// cacheControl returns the browser Cache-Control for a request path and an
// object's own value: the first matching rule, else the object's value,
// else the default. On a protected handler it is "private" unless a rule
// matches, so no shared cache downstream keeps a protected answer.
func (h *Handler) cacheControl(urlPath, objectValue string) string {
	for _, r := range h.CacheControlRules {
		if publish.Match(r.Path, urlPath) { // the glob rules of sync's --cache-control too
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
