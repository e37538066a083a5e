package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// purgeFixture is a registry with two buckets' caches.
func purgeFixture() (*cacheRegistry, *fakeCache, *fakeCache) {
	r := new(cacheRegistry)
	assets := newFakeCache("s3:assets\x00img/cat.jpg", "s3:assets\x00img/cat.jpg?w=400",
		"s3:assets\x00img/old.png", "s3:assets\x00img/new.jpg", "s3:assets\x00css/site.css")
	other := newFakeCache("s3:other\x00img/cat.jpg")
	r.register(&Handler{}, "assets", "s3:assets\x00", assets)
	r.register(&Handler{}, "other", "s3:other\x00", other)
	return r, assets, other
}

func TestPurgeAdminAPI(t *testing.T) {
	tooMany, _ := json.Marshal(map[string]any{"keys": make([]string, purgeMaxItems+1)})
	tooMany = []byte(strings.ReplaceAll(string(tooMany), `""`, `"k"`))
	huge := `{"keys":["` + strings.Repeat("a", purgeMaxBody) + `"]}`

	cases := []struct {
		name   string
		method string
		body   string
		status int
		purged int
	}{
		{"a key and its variants", "POST", `{"keys":["img/cat.jpg"]}`, 200, 3},
		{"a prefix", "POST", `{"prefixes":["img/"]}`, 200, 5},
		{"keys limited to a bucket", "POST", `{"keys":["img/cat.jpg"],"bucket":"other"}`, 200, 1},
		{"unknown bucket purges nothing", "POST", `{"keys":["img/cat.jpg"],"bucket":"nope"}`, 200, 0},
		{"all purges everything", "POST", `{"all":true}`, 200, 6},
		{"all limited to a bucket", "POST", `{"all":true,"bucket":"assets"}`, 200, 5},
		{"empty prefix with all", "POST", `{"prefixes":[""],"all":true}`, 200, 6},
		{"GET is 405", "GET", ``, 405, 0},
		{"DELETE is 405", "DELETE", `{"keys":["a"]}`, 405, 0},
		{"malformed JSON is 400", "POST", `{"keys":[`, 400, 0},
		{"not an object is 400", "POST", `["img/cat.jpg"]`, 400, 0},
		{"empty body is 400", "POST", ``, 400, 0},
		{"empty request is 400", "POST", `{}`, 400, 0},
		{"empty lists are 400", "POST", `{"keys":[],"prefixes":[]}`, 400, 0},
		{"unknown field is 400", "POST", `{"key":"img/cat.jpg"}`, 400, 0},
		{"trailing data is 400", "POST", `{"keys":["a"]} {"all":true}`, 400, 0},
		{"empty prefix without all is 400", "POST", `{"prefixes":[""]}`, 400, 0},
		{"empty prefix with all false is 400", "POST", `{"prefixes":["img/",""],"all":false}`, 400, 0},
		{"empty key is 400", "POST", `{"keys":[""]}`, 400, 0},
		{"key with NUL is 400", "POST", `{"keys":["img/\u0000cat.jpg"]}`, 400, 0},
		{"prefix with NUL is 400", "POST", `{"prefixes":["\u0000"]}`, 400, 0},
		{"invalid UTF-8 is 400", "POST", "{\"keys\":[\"img/\xff.jpg\"]}", 400, 0},
		{"more than 10,000 keys is 400", "POST", string(tooMany), 400, 0},
		{"body over 1 MiB is 400", "POST", huge, 400, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg, _, _ := purgeFixture()
			a := &PurgeAPI{caches: reg, logger: zap.NewNop()}
			var body io.Reader = strings.NewReader(c.body)
			req := httptest.NewRequest(c.method, "/r2gate/purge", body)
			w := httptest.NewRecorder()
			err := a.handlePurge(w, req)
			if c.status != 200 {
				var apiErr caddy.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v (%T), want a caddy.APIError", err, err)
				}
				if apiErr.HTTPStatus != c.status {
					t.Errorf("status %d (%v), want %d", apiErr.HTTPStatus, err, c.status)
				}
				if len(err.Error()) > 200 {
					t.Errorf("message is not short: %d bytes", len(err.Error()))
				}
				if c.status == 405 && w.Header().Get("Allow") != "POST" {
					t.Errorf("Allow = %q, want POST", w.Header().Get("Allow"))
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
			}
			var ans struct{ Purged *int }
			if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || ans.Purged == nil {
				t.Fatalf("answer %q: %v", w.Body, err)
			}
			if *ans.Purged != c.purged {
				t.Errorf("purged %d, want %d", *ans.Purged, c.purged)
			}
		})
	}
}

func TestPurgeAdminModule(t *testing.T) {
	info, err := caddy.GetModule("admin.api.r2gate")
	if err != nil {
		t.Fatal(err)
	}
	router, ok := info.New().(caddy.AdminRouter)
	if !ok {
		t.Fatalf("%T is not an AdminRouter", info.New())
	}
	if p, ok := router.(caddy.Provisioner); ok {
		if err := p.Provision(caddy.Context{Context: context.Background()}); err != nil {
			t.Fatal(err)
		}
	}
	routes := router.Routes()
	if len(routes) != 1 || routes[0].Pattern != "/r2gate/purge" || routes[0].Handler == nil {
		t.Fatalf("routes %+v", routes)
	}
	// Served by the process-wide registry.
	h := &Handler{}
	c := newFakeCache("ns/k")
	registerCache(h, "purge-admin-module-test", "ns/", c)
	defer unregisterCache(h)
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/r2gate/purge", strings.NewReader(`{"keys":["k"],"bucket":"purge-admin-module-test"}`))
	if err := routes[0].Handler.ServeHTTP(w, req); err != nil || strings.TrimSpace(w.Body.String()) != `{"purged":1}` {
		t.Errorf("answer %q, error %v", w.Body, err)
	}
}

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
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg?w=400"}},
		{"a pull API answer with string and base64 bodies",
			`{"success":true,"errors":[],"messages":[],"result":{"messages":[{"body":` + string(quoted) + `},{"body":"` + b64 + `"}]}}`, 2, 2, 0,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg?w=400"}},
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
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg?w=400", "img/new.jpg", "img/old.png"}},
		{"unreadable messages are ignored, the rest purged", `[1, "not base64!", {"action":"PutObject","object":"x"},
			{"action":"PutObject","bucket":"assets","object":{"key":"bad\u0000key"}}, ` + evDelete + `]`, 1, 5, 4,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg?w=400", "img/new.jpg"}},
		{"a repeated key is purged once", "[" + evPut + "," + evPut + "]", 2, 2, 0,
			[]string{"css/site.css", "img/new.jpg", "img/old.png"}},
		{"an empty batch", `{"messages":[]}`, 0, 0, 0,
			[]string{"css/site.css", "img/cat.jpg", "img/cat.jpg?w=400", "img/new.jpg", "img/old.png"}},
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

func TestPurgeWebhookCaddyfile(t *testing.T) {
	var p PurgeWebhook
	input := "r2gate_purge {\n secret {env.S}\n bucket assets\n}"
	if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	if p.Secret != "{env.S}" || p.Bucket != "assets" {
		t.Errorf("parsed %+v", p)
	}
	bad := map[string]string{
		"no secret":              "r2gate_purge {\n bucket assets\n}",
		"no block":               "r2gate_purge",
		"secret without a value": "r2gate_purge {\n secret\n}",
		"secret with two values": "r2gate_purge {\n secret a b\n}",
		"duplicate secret":       "r2gate_purge {\n secret a\n secret b\n}",
		"duplicate bucket":       "r2gate_purge {\n secret a\n bucket x\n bucket y\n}",
		"unknown subdirective":   "r2gate_purge {\n secret a\n colour blue\n}",
		"inline argument":        "r2gate_purge a",
	}
	for name, input := range bad {
		t.Run(name, func(t *testing.T) {
			var p PurgeWebhook
			if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
				t.Errorf("no error for:\n%s", input)
			}
		})
	}
}

func TestPurgeWebhookDirectiveOrder(t *testing.T) {
	// Written after r2gate, without matchers on r2gate: the webhook must
	// still come first, or r2gate would answer its POSTs with 405.
	input := ":8080 {\n r2gate {\n  dir .\n }\n r2gate_purge /_r2gate/purge {\n  secret x\n }\n}"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	purgeAt := strings.Index(string(out), `"handler":"r2gate_purge"`)
	gateAt := strings.Index(string(out), `"handler":"r2gate"`)
	if purgeAt < 0 || gateAt < 0 || purgeAt > gateAt {
		t.Errorf("r2gate_purge does not come before r2gate:\n%s", out)
	}
}

func FuzzParsePurgeRequest(f *testing.F) {
	for _, s := range []string{`{"keys":["a"]}`, `{"prefixes":[""],"all":true}`, `{"keys":["\u0000"]}`, `{}`, "{\"keys\":[\"\xff\"]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parsePurgeRequest(body)
		if err != nil {
			return
		}
		if len(req.Keys)+len(req.Prefixes) > purgeMaxItems {
			t.Errorf("accepted %d items", len(req.Keys)+len(req.Prefixes))
		}
		for _, k := range req.Keys {
			if k == "" || checkPurgeKey(k) != nil {
				t.Errorf("accepted key %q", k)
			}
		}
		for _, p := range req.Prefixes {
			if (p == "" && !req.All) || checkPurgeKey(p) != nil {
				t.Errorf("accepted prefix %q (all=%v)", p, req.All)
			}
		}
	})
}

func FuzzParseR2Events(f *testing.F) {
	for _, s := range []string{evPut, "[" + evDelete + "]", `{"messages":[{"body":` + evCopy + `}]}`,
		`{"result":{"messages":[{"body":"e30="}]}}`, `[1,"x",null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseR2Events(body)
		if err != nil {
			return
		}
		for _, ev := range events {
			if ev.purges() && (ev.Object.Key == "" || checkPurgeKey(ev.Object.Key) != nil) {
				t.Errorf("would purge key %q", ev.Object.Key)
			}
		}
	})
}
