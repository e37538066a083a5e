package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(PurgeAPI{})
	caddy.RegisterModule(PurgeWebhook{})
}

const (
	// purgeMaxBody bounds the body of a purge request (admin API and
	// webhook).
	purgeMaxBody = 1 << 20
	// purgeMaxItems bounds the keys plus prefixes of one admin purge.
	purgeMaxItems = 10000
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
// 400 and a short reason; there are at most 10,000 keys and prefixes and
// 1 MiB of body per request.
//
// The admin API is reachable only where Caddy's admin endpoint listens
// (localhost:2019 by default); protect it as you would the rest of the
// admin API.
type PurgeAPI struct {
	logger *zap.Logger
	caches *cacheRegistry // nil: the process-wide registry
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
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	req, err := parsePurgeRequest(body)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	keys, prefixes := req.Keys, req.Prefixes
	if req.All {
		keys, prefixes = nil, []string{""}
	}
	reg := a.caches
	if reg == nil {
		reg = caches
	}
	n := reg.purge(req.Bucket, keys, prefixes)
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

// checkPurgeKey refuses keys no object can have.
func checkPurgeKey(k string) error {
	if strings.IndexByte(k, 0) >= 0 {
		return fmt.Errorf("key %q contains NUL", k)
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("key %q is not valid UTF-8", k)
	}
	return nil
}

// errPurgeBodyTooLarge: the request body is over purgeMaxBody.
var errPurgeBodyTooLarge = fmt.Errorf("request body larger than %d bytes", purgeMaxBody)

// readPurgeBody reads at most purgeMaxBody bytes of the request body.
func readPurgeBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > purgeMaxBody {
		return nil, errPurgeBodyTooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, purgeMaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errPurgeBodyTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return data, nil
}

// writePurgeJSON answers with status and v as JSON.
func writePurgeJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding answer: %w", err)
	}
	data = append(data, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(data) // the status is sent; a failed write means the client left
	return nil
}

// PurgeWebhook purges cached objects when the bucket changes: it accepts
// Cloudflare R2 event notifications, forwarded by a Queues consumer, and
// removes each created, overwritten or deleted object (with its variants)
// from the caches of the r2gate handlers serving that bucket.
//
// It answers POST only, and only with the header
// `Authorization: Bearer <secret>`. The body is one R2 event message, a
// JSON array of them, or a Queues batch
// `{"messages": [{"body": <message>}, ...]}` (a body may also be a JSON
// string or base64 holding the message, as pull consumers deliver it).
// Actions PutObject, CopyObject, CompleteMultipartUpload, DeleteObject
// and LifecycleDeletion purge the message's object key; other actions,
// messages for other buckets and messages it cannot read are counted as
// ignored, so one odd message never makes the queue retry a whole batch.
//
// The answer is 200 with {"purged": <entries removed>, "messages": <read>,
// "ignored": <skipped>}; 401 without the right secret (it never says
// which part was wrong); 400 when the body is not JSON of those shapes;
// 413 over 1 MiB; 405 for other methods. The purge is done when the
// answer is sent. Give it a path matcher so it does not answer every
// request of the site.
type PurgeWebhook struct {
	// Secret is the shared secret the sender puts in
	// `Authorization: Bearer <secret>`. Use a placeholder such as
	// {env.R2GATE_PURGE_SECRET}; it is expanded at start, kept only as a
	// hash, and never logged (Caddy's access logs also redact the
	// Authorization header unless log_credentials is on). Required.
	Secret string `json:"secret,omitempty"`

	// Bucket, when set, limits purges to this bucket: messages for other
	// buckets are ignored. Default: every bucket the messages name.
	Bucket string `json:"bucket,omitempty"`

	secretHash [sha256.Size]byte
	bucket     string
	logger     *zap.Logger
	caches     *cacheRegistry // nil: the process-wide registry
}

// CaddyModule returns the Caddy module information.
func (PurgeWebhook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.r2gate_purge",
		New: func() caddy.Module { return new(PurgeWebhook) },
	}
}

// Provision expands placeholders in secret and bucket. The expanded secret
// is kept only as a hash.
func (p *PurgeWebhook) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	secret := repl.ReplaceAll(p.Secret, "")
	if secret == "" {
		return errors.New("r2gate_purge: secret is empty after placeholders (is its {env.*} variable set?)")
	}
	if len(secret) < 16 {
		p.logger.Warn("r2gate_purge: secret is shorter than 16 bytes; use a long random one")
	}
	p.secretHash = sha256.Sum256([]byte(secret))
	p.bucket = repl.ReplaceAll(p.Bucket, "")
	return nil
}

// Validate checks the configuration.
func (p *PurgeWebhook) Validate() error {
	if p.Secret == "" {
		return errors.New("r2gate_purge: secret is required")
	}
	return nil
}

// purgeWebhookAnswer is the webhook's answer.
type purgeWebhookAnswer struct {
	// Purged is how many cache entries were removed.
	Purged int `json:"purged"`
	// Messages is how many event messages the body held.
	Messages int `json:"messages"`
	// Ignored is how many of them purged nothing by design: unknown
	// actions, other buckets, unreadable messages.
	Ignored int `json:"ignored"`
}

// ServeHTTP handles one webhook call. It never calls next.
func (p *PurgeWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writePurgeError(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
	}
	if !p.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="r2gate_purge"`)
		return writePurgeError(w, http.StatusUnauthorized, "unauthorized")
	}
	body, err := readPurgeBody(w, r)
	switch {
	case errors.Is(err, errPurgeBodyTooLarge):
		return writePurgeError(w, http.StatusRequestEntityTooLarge, err.Error())
	case err != nil:
		return writePurgeError(w, http.StatusBadRequest, "could not read the body")
	}
	events, err := parseR2Events(body)
	if err != nil {
		return writePurgeError(w, http.StatusBadRequest, err.Error())
	}

	ans := purgeWebhookAnswer{Messages: len(events)}
	byBucket := make(map[string][]string)
	seen := make(map[[2]string]bool, len(events))
	for _, ev := range events {
		bucket := ev.Bucket
		if bucket == "" {
			bucket = p.bucket
		}
		if !ev.purges() || (p.bucket != "" && bucket != p.bucket) {
			ans.Ignored++
			continue
		}
		if k := [2]string{bucket, ev.Object.Key}; !seen[k] {
			seen[k] = true
			byBucket[bucket] = append(byBucket[bucket], ev.Object.Key)
		}
	}
	reg := p.caches
	if reg == nil {
		reg = caches
	}
	for bucket, keys := range byBucket {
		ans.Purged += reg.purge(bucket, keys, nil)
	}
	if p.logger != nil {
		if ce := p.logger.Check(zapcore.InfoLevel, "purged from webhook"); ce != nil {
			ce.Write(zap.Int("messages", ans.Messages), zap.Int("ignored", ans.Ignored),
				zap.Int("keys", len(seen)), zap.Int("purged", ans.Purged))
		}
	}
	return writePurgeJSON(w, http.StatusOK, ans)
}

// authorized reports whether r carries the secret as a bearer token. Both
// sides are hashed first, so the comparison takes the same time whatever
// the length or content of the token.
func (p *PurgeWebhook) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	ok = ok && strings.EqualFold(scheme, "Bearer")
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := subtle.ConstantTimeCompare(got[:], p.secretHash[:]) == 1
	return ok && match && p.secretHash != [sha256.Size]byte{}
}

// writePurgeError answers with status and {"error": msg}.
func writePurgeError(w http.ResponseWriter, status int, msg string) error {
	return writePurgeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// r2Event is the part of an R2 event notification message the webhook
// reads; other fields (account, object size and eTag, eventTime,
// copySource) are ignored.
type r2Event struct {
	Action string `json:"action"`
	Bucket string `json:"bucket"`
	Object struct {
		Key string `json:"key"`
	} `json:"object"`
}

// purges reports whether the event changes the object at its key.
func (e r2Event) purges() bool {
	if e.Object.Key == "" || checkPurgeKey(e.Object.Key) != nil {
		return false
	}
	switch strings.ToLower(e.Action) {
	case "putobject", "copyobject", "completemultipartupload", // object-create
		"deleteobject", "lifecycledeletion": // object-delete
		return true
	}
	return false
}

// parseR2Events reads the webhook body: one message, an array of
// messages, or a Queues batch {"messages": [{"body": ...}]} (also inside
// the pull API's {"result": {...}} envelope). Messages it cannot read
// come back as zero events, which purge nothing.
func parseR2Events(body []byte) ([]r2Event, error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, errors.New("malformed JSON")
	}
	var raws []json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
	case '{':
		var probe struct {
			Action   *string           `json:"action"`
			Messages []json.RawMessage `json:"messages"`
			Result   *struct {
				Messages []json.RawMessage `json:"messages"`
			} `json:"result"`
		}
		err := json.Unmarshal(body, &probe)
		switch {
		case err != nil || probe.Action != nil:
			raws = []json.RawMessage{body} // a message, read or ignored below
		case probe.Result != nil && probe.Result.Messages != nil:
			raws = probe.Result.Messages // pull API envelope
		case probe.Messages != nil:
			raws = probe.Messages
		default:
			raws = []json.RawMessage{body}
		}
	default:
		return nil, errors.New("body is not a message, an array of messages or a batch")
	}
	events := make([]r2Event, len(raws))
	for i, raw := range raws {
		events[i] = decodeR2Message(raw, true)
	}
	return events, nil
}

// decodeR2Message reads one message: the event object itself, a queue
// message {"body": <event>}, or either as a JSON string or base64 text.
func decodeR2Message(raw json.RawMessage, unwrap bool) r2Event {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return r2Event{}
		}
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "{") {
			dec, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return r2Event{}
			}
			s = string(dec)
		}
		raw = json.RawMessage(s)
	}
	var m struct {
		r2Event
		Body json.RawMessage `json:"body"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return r2Event{}
	}
	if m.Action == "" && len(m.Body) > 0 && unwrap {
		return decodeR2Message(m.Body, false)
	}
	return m.r2Event
}

// Interface guards.
var (
	_ caddy.AdminRouter           = (*PurgeAPI)(nil)
	_ caddy.Provisioner           = (*PurgeAPI)(nil)
	_ caddy.Provisioner           = (*PurgeWebhook)(nil)
	_ caddy.Validator             = (*PurgeWebhook)(nil)
	_ caddyhttp.MiddlewareHandler = (*PurgeWebhook)(nil)
)
