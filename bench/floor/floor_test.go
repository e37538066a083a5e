package floor

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestFloorServesTheFilesWithPrebuiltHeaders(t *testing.T) {
	dir := t.TempDir()
	body := []byte("/starts with a slash, like base64 may")
	if err := os.WriteFile(filepath.Join(dir, "a.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &Handler{Root: dir}
	if err := h.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"a GET gets the bytes", http.MethodGet, "/a.bin", 200, string(body)},
		{"a HEAD gets no body", http.MethodHead, "/a.bin", 200, ""},
		{"an unknown path is 404", http.MethodGet, "/b.bin", 404, ""},
		{"a folder is not served", http.MethodGet, "/sub", 404, ""},
		{"a POST is 405", http.MethodPost, "/a.bin", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil), nil); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
			if tt.status != 200 {
				return
			}
			hdr := rec.Header()
			if hdr.Get("Content-Length") != "37" || hdr.Get("Content-Type") != "application/octet-stream" ||
				len(hdr.Get("Etag")) != 18 || hdr.Get("Last-Modified") == "" {
				t.Fatalf("headers %v", hdr)
			}
		})
	}
}

func TestFloorCaddyfile(t *testing.T) {
	tests := []struct {
		name, input, root string
		ok                bool
	}{
		{"argument", "r2gate_floor dir", "dir", true},
		{"block", "r2gate_floor {\n root /srv/x\n}", "/srv/x", true},
		{"no folder is an error", "r2gate_floor", "", false},
		{"two arguments are an error", "r2gate_floor a b", "", false},
		{"an unknown subdirective is an error", "r2gate_floor {\n nope x\n}", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if (err == nil) != tt.ok || h.Root != tt.root && tt.ok {
				t.Fatalf("err %v, root %q; want ok=%v root %q", err, h.Root, tt.ok, tt.root)
			}
		})
	}
}
