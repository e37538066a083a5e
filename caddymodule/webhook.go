package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/r2gate/r2gate/internal/r2event"
)

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
//
// It is also the endpoint of the purge fan-out (the global `peers`
// block): a purge this node accepts from R2 is forwarded to every peer,
// and a body {"forwarded": true, "id": ..., "purges": [...]} from a peer,
// with the same secret, is applied once per id and not forwarded again.
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
	caches     *cacheRegistry // set by tests: purge only these caches, no fan-out
	app        *App           // set by tests; nil: the running config's app
}

// purger returns the app whose caches and peers a purge goes to.
func (p *PurgeWebhook) purger() *App {
	if p.app != nil {
		return p.app
	}
	return activeApp()
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
	if err != nil {
		msg := "could not read the body"
		if errors.Is(err, errPurgeBodyTooLarge) {
			msg = err.Error()
		}
		return writePurgeError(w, purgeBodyStatus(err), msg)
	}
	if fwd, id, ok, err := forwardedPurge(body); ok {
		if err != nil {
			return writePurgeError(w, http.StatusBadRequest, err.Error())
		}
		return p.servePeer(w, fwd, id)
	}
	events, err := r2event.Parse(body)
	if err != nil {
		return writePurgeError(w, http.StatusBadRequest, err.Error())
	}

	byBucket, nKeys, ignored := webhookKeys(events, p.bucket)
	ans := purgeWebhookAnswer{Messages: len(events), Ignored: ignored}
	for bucket, keys := range byBucket {
		if p.caches != nil {
			ans.Purged += p.caches.purge(bucket, keys, nil)
		} else if app := p.purger(); app != nil {
			ans.Purged += app.purge("webhook", bucket, keys, nil)
		}
	}
	if p.logger != nil {
		if ce := p.logger.Check(zapcore.InfoLevel, "purged from webhook"); ce != nil {
			ce.Write(zap.Int("messages", ans.Messages), zap.Int("ignored", ans.Ignored),
				zap.Int("keys", nKeys), zap.Int("purged", ans.Purged))
		}
	}
	return writePurgeJSON(w, http.StatusOK, ans)
}

// webhookKeys picks the keys to purge from events, by bucket: each
// object an event creates, overwrites or deletes, once. A message without
// a bucket counts as bucket; when bucket is set, messages for other
// buckets are ignored, as are other actions and keys no object can have.
// It returns the keys, how many there are, and how many events it
// ignored.
func webhookKeys(events []r2event.Event, bucket string) (byBucket map[string][]string, keys, ignored int) {
	byBucket = make(map[string][]string)
	seen := make(map[[2]string]bool, len(events))
	for _, ev := range events {
		b := ev.Bucket
		if b == "" {
			b = bucket
		}
		if !ev.ChangesObject() || checkPurgeKey(ev.Object.Key) != nil || (bucket != "" && b != bucket) {
			ignored++
			continue
		}
		if k := [2]string{b, ev.Object.Key}; !seen[k] {
			seen[k] = true
			byBucket[b] = append(byBucket[b], ev.Object.Key)
		}
	}
	return byBucket, len(seen), ignored
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

// Interface guards.
var (
	_ caddy.Provisioner           = (*PurgeWebhook)(nil)
	_ caddy.Validator             = (*PurgeWebhook)(nil)
	_ caddyhttp.MiddlewareHandler = (*PurgeWebhook)(nil)
)
