package publish

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/r2gate/r2gate/origin"
)

// purgeRecorder is a stand-in admin API that records the purge bodies it
// is sent, answering with status.
type purgeRecorder struct {
	mu     sync.Mutex
	paths  []string
	bodies [][]string
	status int
}

func newPurgeRecorder(t *testing.T, status int) (*purgeRecorder, string) {
	r := &purgeRecorder{status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Keys []string `json:"keys"`
		}
		raw, _ := io.ReadAll(req.Body)
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || dec.Decode(&body) != nil {
			http.Error(w, "bad purge request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		r.bodies = append(r.bodies, body.Keys)
		r.mu.Unlock()
		w.WriteHeader(r.status)
		io.WriteString(w, `{"error":"refused by the test"}`)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func TestSyncPurgesChangedAndDeletedKeys(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"same.txt": "s", "changed.txt": "new", "added.txt": "a"})
	b := newFake()
	b.put(t, "p/same.txt", []byte("s"), 0, origin.PutOptions{})
	b.put(t, "p/changed.txt", []byte("old"), 0, origin.PutOptions{})
	b.put(t, "p/gone.txt", []byte("g"), 0, origin.PutOptions{})
	base, baseURL := newPurgeRecorder(t, 200)
	full, fullURL := newPurgeRecorder(t, 200)
	sum, out, err := runSync(t, b, Options{Dir: dir, Prefix: "p", Delete: true,
		Purge: []string{baseURL, fullURL + "/custom/purge"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{"p/added.txt", "p/changed.txt", "p/gone.txt"}
	for _, r := range []*purgeRecorder{base, full} {
		if len(r.bodies) != 1 || !slices.Equal(r.bodies[0], want) {
			t.Errorf("purged %q, want %q once", r.bodies, want)
		}
	}
	if !slices.Equal(base.paths, []string{PurgePath}) || !slices.Equal(full.paths, []string{"/custom/purge"}) {
		t.Errorf("paths %q and %q", base.paths, full.paths)
	}
	if sum.Purged != 6 || !strings.Contains(out, "purge: 3 keys at 2 nodes\n") {
		t.Errorf("%+v\n%s", sum, out)
	}

	// Nothing changed: nothing to purge, no request.
	_, out, err = runSync(t, b, Options{Dir: dir, Prefix: "p", Delete: true, Purge: []string{baseURL}})
	if err != nil || len(base.bodies) != 1 || !strings.Contains(out, "purge: nothing changed, nothing to purge") {
		t.Errorf("%v, %d purges\n%s", err, len(base.bodies), out)
	}
}

func TestSyncPurgeFailureFailsTheRun(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	_, u := newPurgeRecorder(t, http.StatusForbidden)
	sum, out, err := runSync(t, newFake(), Options{Dir: dir, Purge: []string{u}})
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") || !strings.Contains(err.Error(), "refused by the test") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if sum.Uploaded != 1 || !strings.Contains(out, "purge failed: purge at "+u+PurgePath+": 403 Forbidden") {
		t.Errorf("%+v\n%s", sum, out)
	}
}

func TestPurgeBatches(t *testing.T) {
	r, u := newPurgeRecorder(t, 200)
	keys := make([]string, 2500)
	for i := range keys {
		keys[i] = strings.Repeat("k", 1000) + string(rune('a'+i%26))
	}
	n, err := purge(t.Context(), http.DefaultClient, u, keys)
	if err != nil || n != 2500 {
		t.Fatalf("%d %v", n, err)
	}
	if len(r.bodies) != 3 || len(r.bodies[0]) != 1000 || len(r.bodies[2]) != 500 {
		t.Fatalf("batches of %d, %d, %d", len(r.bodies[0]), len(r.bodies[1]), len(r.bodies[2]))
	}
}

func TestPurgeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:2019":                     "http://localhost:2019/r2gate/purge",
		"http://localhost:2019/":                    "http://localhost:2019/r2gate/purge",
		"https://edge-1.internal:2019/r2gate/purge": "https://edge-1.internal:2019/r2gate/purge",
	} {
		if got, err := purgeURL(in); err != nil || got != want {
			t.Errorf("purgeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"localhost:2019", "ftp://x", "http://", ""} {
		if err := CheckPurgeURL(bad); err == nil {
			t.Errorf("CheckPurgeURL(%q) = nil", bad)
		}
	}
}
