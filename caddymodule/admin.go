package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// PurgeAPI adds the route POST /r2gate/purge to Caddy's admin API. It
// removes objects from the caches of every r2gate handler, so the next
// request fetches them from the bucket again. The body is JSON:
//
//	{"keys": ["img/cat.jpg"], "prefixes": ["css/"], "bucket": "assets"}
//
// keys are object keys as stored in the bucket (including any `prefix`
// the handler adds); each key's resized variants go with it. prefixes
// remove every cached key that starts with one of them. bucket, when set,
// limits the purge to handlers serving that bucket. An empty prefix would
// remove everything, so it is refused unless "all": true is set;
// {"all": true} alone purges every cache (of the bucket, if given).
//
// The answer is 200 with {"purged": <entries removed>}. Bad requests get
// 400 and a short reason; there are at most 10,000 keys and prefixes per
// request, and a body over 1 MiB gets 413 (as at the webhook).
//
// With peers configured (the global `peers` block), the purge is also
// forwarded to every peer, in the background: the answer does not wait
// for them.
//
// The admin API is reachable only where Caddy's admin endpoint listens
// (localhost:2019 by default); protect it as you would the rest of the
// admin API.
type PurgeAPI struct {
	logger *zap.Logger
	caches *cacheRegistry // set by tests: purge only these caches, no fan-out
}

// purgeRequest is the body of POST /r2gate/purge.
type purgeRequest struct {
	// Keys are object keys to remove, each with its variants.
	Keys []string `json:"keys,omitempty"`
	// Prefixes remove every cached key that starts with one of them.
	Prefixes []string `json:"prefixes,omitempty"`
	// Bucket limits the purge to handlers serving this bucket. Default:
	// every handler.
	Bucket string `json:"bucket,omitempty"`
	// All purges every entry (of Bucket, if set). It is also required for
	// an empty prefix.
	All bool `json:"all,omitempty"`
}

// purgeAnswer is the answer to a successful admin purge.
type purgeAnswer struct {
	// Purged is how many cache entries were removed.
	Purged int `json:"purged"`
}

// CaddyModule returns the Caddy module information.
func (PurgeAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.r2gate",
		New: func() caddy.Module { return new(PurgeAPI) },
	}
}

// Provision sets up the admin route.
func (a *PurgeAPI) Provision(ctx caddy.Context) error {
	// Admin routers are not loaded through the module tree, so name the
	// module explicitly (as Caddy's own admin.api.pki does).
	a.logger = ctx.Logger(a)
	return nil
}

// Routes returns the admin routes: POST /r2gate/purge.
func (a *PurgeAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{
		Pattern: "/r2gate/purge",
		Handler: caddy.AdminHandlerFunc(a.handlePurge),
	}}
}

func (a *PurgeAPI) handlePurge(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed,
			Err: fmt.Errorf("method %s not allowed: use POST", r.Method)}
	}
	body, err := readPurgeBody(w, r)
	if err != nil {
		return caddy.APIError{HTTPStatus: purgeBodyStatus(err), Err: err}
	}
	req, err := parsePurgeRequest(body)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	keys, prefixes := req.Keys, req.Prefixes
	if req.All {
		keys, prefixes = nil, []string{""}
	}
	var n int
	if a.caches != nil {
		n = a.caches.purge(req.Bucket, keys, prefixes)
	} else if app := activeApp(); app != nil {
		n = app.purge("admin", req.Bucket, keys, prefixes)
	}
	if a.logger != nil {
		a.logger.Info("purged",
			zap.Int("keys", len(keys)), zap.Int("prefixes", len(prefixes)),
			zap.String("bucket", req.Bucket), zap.Bool("all", req.All), zap.Int("purged", n))
	}
	return writePurgeJSON(w, http.StatusOK, purgeAnswer{Purged: n})
}

// parsePurgeRequest decodes and checks an admin purge body.
func parsePurgeRequest(body []byte) (purgeRequest, error) {
	var req purgeRequest
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD, which
	// could purge the wrong key.
	if !utf8.Valid(body) {
		return req, errors.New("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // a typo such as "key" must not pass silently
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return req, errors.New("malformed JSON: data after the object")
	}
	if len(req.Keys) == 0 && len(req.Prefixes) == 0 && !req.All {
		return req, errors.New(`nothing to purge: give "keys", "prefixes" or "all": true`)
	}
	if n := len(req.Keys) + len(req.Prefixes); n > purgeMaxItems {
		return req, fmt.Errorf("too many keys and prefixes: %d (at most %d per request)", n, purgeMaxItems)
	}
	for _, k := range req.Keys {
		if k == "" {
			return req, errors.New("empty key")
		}
		if err := checkPurgeKey(k); err != nil {
			return req, err
		}
	}
	for _, p := range req.Prefixes {
		if p == "" && !req.All {
			return req, errors.New(`empty prefix would purge everything: set "all": true to do that`)
		}
		if err := checkPurgeKey(p); err != nil {
			return req, err
		}
	}
	return req, nil
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*PurgeAPI)(nil)
	_ caddy.Provisioner = (*PurgeAPI)(nil)
)
