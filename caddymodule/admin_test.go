package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

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
		{"body over 1 MiB is 413, as at the webhook", "POST", huge, 413, 0},
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

func TestPurgeAdminOversizedStream(t *testing.T) {
	reg, assets, _ := purgeFixture()
	a := &PurgeAPI{caches: reg, logger: zap.NewNop()}
	// No Content-Length: the limit must hold while reading, with the
	// webhook's status for the same cause.
	body := io.MultiReader(strings.NewReader(`{"keys":["img/cat.jpg","`),
		strings.NewReader(strings.Repeat("a", purgeMaxBody)), strings.NewReader(`"]}`))
	req := httptest.NewRequest("POST", "/r2gate/purge", body)
	req.ContentLength = -1
	err := a.handlePurge(httptest.NewRecorder(), req)
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 413 {
		t.Errorf("error %v, want a caddy.APIError with status 413", err)
	}
	if len(assets.callLog()) != 0 {
		t.Errorf("purged on a refused request: %q", assets.callLog())
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
	// Served by the running config's r2gate app (purge_integration_test
	// covers that); with none running, nothing is purged.
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/r2gate/purge", strings.NewReader(`{"keys":["k"],"bucket":"purge-admin-module-test"}`))
	if err := routes[0].Handler.ServeHTTP(w, req); err != nil || strings.TrimSpace(w.Body.String()) != `{"purged":0}` {
		t.Errorf("answer %q, error %v", w.Body, err)
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
