package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/r2gate/r2gate/internal/r2event"
)

const testSecret = "s3cr3t-0123456789abcdef"

// newTestWebhook provisions a webhook over reg that logs into the
// returned observer.
func newTestWebhook(t *testing.T, reg *cacheRegistry, bucket string) (*PurgeWebhook, *observer.ObservedLogs) {
	t.Helper()
	t.Setenv("R2GATE_TEST_PURGE_SECRET", testSecret)
	p := &PurgeWebhook{Secret: "{env.R2GATE_TEST_PURGE_SECRET}", Bucket: bucket}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	p.logger = zap.New(core)
	p.caches = reg
	return p, logs
}

// webhookCall posts body with the Authorization header auth ("" for
// none) and returns the recorded answer.
func webhookCall(t *testing.T, p *PurgeWebhook, method, auth, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/_r2gate/purge", strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	if err := p.ServeHTTP(w, req, nil); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

const (
	evPut    = `{"account":"0a1b","action":"PutObject","bucket":"assets","object":{"key":"img/cat.jpg","size":48213,"eTag":"9e10"},"eventTime":"2026-11-20T10:15:02.118Z"}`
	evDelete = `{"account":"0a1b","action":"DeleteObject","bucket":"assets","object":{"key":"img/old.png"},"eventTime":"2026-11-20T10:16:40.004Z"}`
	evCopy   = `{"account":"0a1b","action":"CopyObject","bucket":"assets","object":{"key":"img/new.jpg","size":48213,"eTag":"9e10"},"eventTime":"2026-11-20T10:17:11.530Z","copySource":{"bucket":"assets","object":"img/cat.jpg"}}`
)

func TestPurgeWebhookBodies(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(evDelete))
	quoted, _ := json.Marshal(evCopy)
	cases := []struct {
		name                      string
		body                      string
		purged, messages, ignored int
		left                      []string // keys left in the assets cache
	}{
		{"one message", evPut, 2, 1, 0,
			[]string{"css/site.css", "img/new.jpg", "img/old.png"}},
		{"an array of messages", "[" + evPut + "," + evDelete + "," + evCopy + "]", 4, 3, 0,
			[]string{"css/site.css"}},
		{"a queue batch", `{"messages":[{"id":"m1","body":` + evDelete + `},{"id":"m2","body":` + evCopy + `}]}`, 2, 2, 0,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg\x1fw=400"}},
		{"a pull API answer with string and base64 bodies",
			`{"success":true,"errors":[],"messages":[],"result":{"messages":[{"body":` + string(quoted) + `},{"body":"` + b64 + `"}]}}`, 2, 2, 0,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg\x1fw=400"}},
		{"an array of queue messages", `[{"body":` + evPut + `}]`, 2, 1, 0,
			[]string{"css/site.css", "img/new.jpg", "img/old.png"}},
		{"every create and delete action", `[
			{"action":"PutObject","bucket":"assets","object":{"key":"css/site.css"}},
			{"action":"CompleteMultipartUpload","bucket":"assets","object":{"key":"img/cat.jpg"}},
			{"action":"LifecycleDeletion","bucket":"assets","object":{"key":"img/old.png"}},
			{"action":"deleteobject","bucket":"assets","object":{"key":"img/new.jpg"}}]`, 5, 4, 0, nil},
		{"unknown actions are counted, not purged", `[
			{"action":"GetObject","bucket":"assets","object":{"key":"img/cat.jpg"}},
			{"action":"","bucket":"assets","object":{"key":"img/cat.jpg"}},
			{"bucket":"assets"}]`, 0, 3, 3,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg\x1fw=400", "img/new.jpg", "img/old.png"}},
		{"unreadable messages are ignored, the rest purged", `[1, "not base64!", {"action":"PutObject","object":"x"},
			{"action":"PutObject","bucket":"assets","object":{"key":"bad\u0000key"}}, ` + evDelete + `]`, 1, 5, 4,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg\x1fw=400", "img/new.jpg"}},
		{"a repeated key is purged once", "[" + evPut + "," + evPut + "]", 2, 2, 0,
			[]string{"css/site.css", "img/new.jpg", "img/old.png"}},
		{"an empty batch", `{"messages":[]}`, 0, 0, 0,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg\x1fw=400", "img/new.jpg", "img/old.png"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg, assets, other := purgeFixture()
			p, _ := newTestWebhook(t, reg, "")
			w := webhookCall(t, p, "POST", "Bearer "+testSecret, c.body)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var ans purgeWebhookAnswer
			if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
				t.Fatal(err)
			}
			want := purgeWebhookAnswer{Purged: c.purged, Messages: c.messages, Ignored: c.ignored}
			if ans != want {
				t.Errorf("answer %+v, want %+v", ans, want)
			}
			var left []string
			for _, k := range assets.left() {
				left = append(left, strings.TrimPrefix(k, "s3:assets\x00"))
			}
			if !slices.Equal(left, c.left) {
				t.Errorf("left %q, want %q", left, c.left)
			}
			if got := other.left(); len(got) != 1 {
				t.Errorf("a message for bucket assets purged bucket other: %q", got)
			}
		})
	}
}

func TestPurgeWebhookBucketFilter(t *testing.T) {
	reg, assets, other := purgeFixture()
	p, _ := newTestWebhook(t, reg, "other")
	body := `[` + evPut + `,{"action":"PutObject","bucket":"other","object":{"key":"img/cat.jpg"}},
		{"action":"PutObject","object":{"key":"img/cat.jpg"}}]`
	w := webhookCall(t, p, "POST", "Bearer "+testSecret, body)
	var ans purgeWebhookAnswer
	_ = json.Unmarshal(w.Body.Bytes(), &ans)
	// The message without a bucket counts as the configured one; both
	// name the same key, purged once.
	if want := (purgeWebhookAnswer{Purged: 1, Messages: 3, Ignored: 1}); w.Code != 200 || ans != want {
		t.Errorf("status %d, answer %+v, want %+v", w.Code, ans, want)
	}
	if len(assets.left()) != 5 || len(other.left()) != 0 {
		t.Errorf("left assets %q other %q", assets.left(), other.left())
	}
}

func TestPurgeWebhookWithoutBucketPurgesEveryCache(t *testing.T) {
	reg, assets, other := purgeFixture()
	p, _ := newTestWebhook(t, reg, "")
	w := webhookCall(t, p, "POST", "Bearer "+testSecret, `{"action":"PutObject","object":{"key":"img/cat.jpg"}}`)
	if w.Code != 200 || len(assets.left()) != 3 || len(other.left()) != 0 {
		t.Errorf("status %d %s, left assets %q other %q", w.Code, w.Body, assets.left(), other.left())
	}
}

func TestPurgeWebhookRefusals(t *testing.T) {
	bearer := "Bearer " + testSecret
	cases := []struct {
		name, method, auth, body string
		status                   int
	}{
		{"no Authorization is 401", "POST", "", evPut, 401},
		{"wrong secret is 401", "POST", "Bearer wrong", evPut, 401},
		{"secret with a suffix is 401", "POST", bearer + "x", evPut, 401},
		{"secret prefix is 401", "POST", bearer[:len(bearer)-1], evPut, 401},
		{"Basic scheme is 401", "POST", "Basic " + testSecret, evPut, 401},
		{"bare secret is 401", "POST", testSecret, evPut, 401},
		{"unexpanded placeholder is 401", "POST", "Bearer {env.R2GATE_TEST_PURGE_SECRET}", evPut, 401},
		{"empty bearer is 401", "POST", "Bearer ", evPut, 401},
		{"GET is 405", "GET", bearer, "", 405},
		{"PUT is 405", "PUT", bearer, evPut, 405},
		{"malformed JSON is 400", "POST", bearer, `{"action":"PutObject"`, 400},
		{"empty body is 400", "POST", bearer, ``, 400},
		{"a number is 400", "POST", bearer, `42`, 400},
		{"a string is 400", "POST", bearer, `"PutObject"`, 400},
		{"body over 1 MiB is 413", "POST", bearer, "[" + strings.Repeat(evPut+",", purgeMaxBody/len(evPut)) + evPut + "]", 413},
		{"unauthorized and oversized is 401", "POST", "", strings.Repeat(" ", purgeMaxBody+1), 401},
	}
	var unauthorized string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg, assets, _ := purgeFixture()
			p, _ := newTestWebhook(t, reg, "")
			w := webhookCall(t, p, c.method, c.auth, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if len(assets.callLog()) != 0 {
				t.Errorf("purged on a refused request: %q", assets.callLog())
			}
			switch c.status {
			case 401:
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				// The answer never tells which part was wrong.
				if unauthorized == "" {
					unauthorized = w.Body.String()
				} else if w.Body.String() != unauthorized {
					t.Errorf("401 body %q differs from %q", w.Body, unauthorized)
				}
			case 405:
				if w.Header().Get("Allow") != "POST" {
					t.Errorf("Allow = %q", w.Header().Get("Allow"))
				}
			}
			if strings.Contains(w.Body.String(), testSecret) {
				t.Error("the answer contains the secret")
			}
		})
	}
}

func TestPurgeWebhookOversizedStream(t *testing.T) {
	reg, _, _ := purgeFixture()
	p, _ := newTestWebhook(t, reg, "")
	// No Content-Length: the limit must hold while reading.
	body := io.MultiReader(strings.NewReader("["), strings.NewReader(strings.Repeat(evPut+",", purgeMaxBody/len(evPut)+1)))
	req := httptest.NewRequest("POST", "/_r2gate/purge", body)
	req.ContentLength = -1
	req.Header.Set("Authorization", "bearer "+testSecret) // the scheme is case-insensitive
	w := httptest.NewRecorder()
	if err := p.ServeHTTP(w, req, nil); err != nil || w.Code != 413 {
		t.Errorf("status %d, error %v; want 413", w.Code, err)
	}
}

func TestPurgeWebhookNeverLogsTheSecret(t *testing.T) {
	reg, _, _ := purgeFixture()
	p, logs := newTestWebhook(t, reg, "")
	webhookCall(t, p, "POST", "Bearer "+testSecret, evPut)
	webhookCall(t, p, "POST", "Bearer "+testSecret+"-wrong", evPut)
	if logs.Len() == 0 {
		t.Fatal("nothing logged; the test would prove nothing")
	}
	for _, e := range logs.All() {
		line, _ := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		if strings.Contains(string(line), testSecret) || strings.Contains(string(line), "Bearer") {
			t.Errorf("log entry shows the secret: %s", line)
		}
	}
	if strings.Contains(func() string { b, _ := json.Marshal(p); return string(b) }(), testSecret) {
		t.Error("the expanded secret is kept in the config struct")
	}
}

func TestPurgeWebhookProvision(t *testing.T) {
	t.Setenv("R2GATE_TEST_PURGE_EMPTY", "")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	p := &PurgeWebhook{Secret: "{env.R2GATE_TEST_PURGE_EMPTY}"}
	if err := p.Provision(ctx); err == nil {
		t.Error("Provision accepted a secret that expands to nothing")
	}
	if err := (&PurgeWebhook{}).Validate(); err == nil {
		t.Error("Validate accepted a config without a secret")
	}
	// Without Provision there is no secret: nothing is authorized.
	var unprovisioned PurgeWebhook
	req := httptest.NewRequest("POST", "/", strings.NewReader(evPut))
	req.Header.Set("Authorization", "Bearer ")
	if unprovisioned.authorized(req) {
		t.Error("an unprovisioned webhook authorized an empty token")
	}
}

// FuzzWebhookKeys: whatever the body, the webhook purges only keys an
// object can have, each once per bucket, and counts every other message
// as ignored.
func FuzzWebhookKeys(f *testing.F) {
	for _, s := range []string{evPut, "[" + evDelete + "," + evDelete + "]", `{"messages":[{"body":` + evCopy + `}]}`,
		`{"result":{"messages":[{"body":"e30="}]}}`, `[1,"x",null]`,
		`[{"action":"PutObject","bucket":"assets","object":{"key":"bad\u0000key"}}]`} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "assets")
	}
	f.Fuzz(func(t *testing.T, body []byte, bucket string) {
		events, err := r2event.Parse(body)
		if err != nil {
			return
		}
		byBucket, n, ignored := webhookKeys(events, bucket)
		total := 0
		for b, keys := range byBucket {
			if bucket != "" && b != bucket {
				t.Errorf("purges bucket %q, limited to %q", b, bucket)
			}
			seen := make(map[string]bool)
			for _, k := range keys {
				if k == "" || checkPurgeKey(k) != nil || seen[k] {
					t.Errorf("purges key %q (bucket %q)", k, b)
				}
				seen[k] = true
			}
			total += len(keys)
		}
		if total != n || n+ignored > len(events) || (n == 0) != (ignored == len(events)) {
			t.Errorf("%d keys (%d counted), %d ignored of %d events", total, n, ignored, len(events))
		}
	})
}
