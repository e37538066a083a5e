package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape returns the r2gate_cache_* samples of the admin API's /metrics,
// by their name and labels as Prometheus writes them.
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "r2gate_cache_") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			out[name] = v
		}
	}
	return out
}

// TestDiskTierIsCountedOnceWhenCachesShareIt runs two sites whose caches
// differ in their memory size but share one disk folder: the disk tier's
// figures are reported once, not once per cache.
func TestDiskTierIsCountedOnceWhenCachesShareIt(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	key := uniqueKey(t, "counted-once.bin")
	body := []byte(strings.Repeat("disk tier counted once\n", 2000))
	putObject(t, env.s3, key, body, "")
	_, admin, base := caddyOnFreePorts(t, func(admin, port string) string {
		site := func(memory int) string {
			return fmt.Sprintf(`
	r2gate {
		%s
		cache {
			memory %dMiB
			disk %s 64MiB
		}
	}`, bucketLines(env.s3.Endpoint), memory, disk)
		}
		return fmt.Sprintf(`{
	admin %s
	persist_config off
	metrics
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	handle /a/* {
		uri strip_prefix /a
		%s
	}
	handle /b/* {
		uri strip_prefix /b
		%s
	}
}
`, admin, port, site(8), site(16))
	})
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(b) != string(body) {
			t.Fatalf("GET %s: %s, %d bytes", path, resp.Status, len(b))
		}
		return resp.Header.Get("Cache-Status")
	}
	get("/a/" + key)
	// The disk entry is committed once a request is a hit.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(get("/a/"+key), "; hit;"); {
		if time.Now().After(deadline) {
			t.Fatal("the object never became a hit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	get("/b/" + key) // the second cache finds it on the shared disk
	m := scrape(t, admin)
	t.Logf("metrics: %v", m)
	if got := m[`r2gate_cache_items{tier="disk"}`]; got != 1 {
		t.Errorf(`r2gate_cache_items{tier="disk"} = %v, want 1 (one entry on one shared disk)`, got)
	}
	if got := m[`r2gate_cache_bytes{tier="disk"}`]; got != float64(len(body)) {
		t.Errorf(`r2gate_cache_bytes{tier="disk"} = %v, want %d`, got, len(body))
	}
}
