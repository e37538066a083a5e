package caddymodule_test

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// soakSite is the soak's Caddyfile: one cache (a small memory tier in
// front of a small disk tier, so that hits, promotions and misses go on
// all the time) shared by a public route that resizes, a JWT-protected
// route under /private and a write route (PUT, DELETE) with an upload
// block.
func soakSite(endpoint, disk string) func(admin, port string) string {
	return func(admin, port string) string {
		cacheBlock := fmt.Sprintf(`cache {
				memory 4MiB
				memory_item 256KiB
				disk %s 8MiB
			}`, disk)
		return fmt.Sprintf(`{
	admin %[1]s
	persist_config off
	metrics
}
http://127.0.0.1:%[2]s {
	bind 127.0.0.1
	@write method PUT DELETE
	handle @write {
		r2gate {
			%[3]s
			%[4]s
			jwt {
				secret %[5]s
				write_scope_claim write
			}
			upload {
				max_size 4MiB
			}
		}
	}
	handle /private/* {
		r2gate {
			%[3]s
			strip_prefix /private
			%[4]s
			jwt {
				secret %[5]s
				issuer r2gate-tests
			}
		}
	}
	handle {
		r2gate {
			%[3]s
			%[4]s
			resize {
				widths 64 128
			}
		}
	}
}
`, admin, port, bucketLines(endpoint), cacheBlock, jwtSecret)
	}
}

// soakObjects uploads n objects of 1-96 KiB below prefix and returns their
// keys and bodies.
func soakObjects(t *testing.T, prefix string, n int) ([]string, map[string][]byte) {
	t.Helper()
	keys, bodies := randomBodies(n, 1<<10, 96<<10, 3, func(i int) string { return fmt.Sprintf("%sobj-%04d.bin", prefix, i) })
	putAll(t, bodies, "")
	return keys, bodies
}

// metricLines returns the samples of the admin API's /metrics whose names
// begin with one of prefixes.
func metricLines(t *testing.T, admin string, prefixes ...string) []string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Errorf("metrics: %v", err)
		return nil
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				out = append(out, sc.Text())
			}
		}
	}
	return out
}

// TestSoakMixedTraffic runs mixed traffic against one Caddy process for
// 15 s (R2GATE_SOAK=10m for the long form, which also writes
// bench/results/soak-<date>.md): whole objects (skewed, so hits dominate
// but the small tiers keep evicting and missing), Range requests, image
// variants, a protected route with valid, missing and bad tokens, missing
// keys, and uploads (PUT, GET, DELETE, GET). Every answer must have the
// expected status and bytes, none a 5xx; the process's RSS, goroutines and
// open fds, sampled every second, must stay flat after the warm-up; and
// its goroutines must come back down once the load stops.
func TestSoakMixedTraffic(t *testing.T) {
	d, long := soakDuration(t, 15*time.Second)
	warm := d / 3
	if long {
		warm = min(d/5, 2*time.Minute)
	}
	const workers = 6
	prefix := uniqueKey(t, "")
	keys, bodies := soakObjects(t, prefix, 240)
	photos := make([]string, 3)
	for i := range photos {
		photos[i] = fmt.Sprintf("%sphoto-%d.jpg", prefix, i)
		putTyped(t, photos[i], "image/jpeg", testPhoto(t, 320+16*i, 240), nil)
	}
	missing := make([]string, 2000)
	for i := range missing {
		missing[i] = fmt.Sprintf("%smissing-%04d.bin", prefix, i)
	}
	good := "Bearer " + token(t, jwtSecret, validClaims())
	bad := "Bearer " + token(t, "not-the-secret-0123456789abcdefgh", validClaims())
	write := "Bearer " + writer(t, prefix+"up/")

	disk := filepath.Join(t.TempDir(), "disk")
	p, admin, base := caddyOnFreePorts(t, soakSite(env.proxy.Endpoint, disk))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()

	// Prefill: every object and variant once, so the tiers are full
	// before anything is measured.
	for _, k := range keys {
		req, _ := http.NewRequest(http.MethodGet, base+"/"+k, nil)
		if a := do(client, req); a.status != 200 || !bytes.Equal(a.body, bodies[k]) {
			t.Fatalf("prefill GET %s: %d %v", k, a.status, a.err)
		}
	}
	for _, ph := range photos {
		for _, w := range []string{"64", "128"} {
			req, _ := http.NewRequest(http.MethodGet, base+"/"+ph+"?w="+w, nil)
			if a := do(client, req); a.status != 200 {
				t.Fatalf("prefill GET %s?w=%s: %d %v %q", ph, w, a.status, a.err, a.body)
			}
		}
	}
	client.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond)
	before, _ := goroutines(t, admin)

	ta := newTally()
	pid := p.cmd.Process.Pid
	smp := startSampler(pid, admin, time.Second)
	stopAt := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			for n := 0; time.Now().Before(stopAt); n++ {
				soakStep(client, base, r, w, n, ta, soakData{
					keys: keys, bodies: bodies, photos: photos, missing: missing,
					good: good, bad: bad, write: write, upPrefix: prefix + "up/",
				})
			}
		}()
	}
	wg.Wait()
	samples, serrs := smp.stop()
	client.CloseIdleConnections()

	// Goroutines come back once the load stops (the bucket client keeps
	// its idle connections, two goroutines each).
	after, conns := goroutines(t, admin)
	for deadline := time.Now().Add(15 * time.Second); after-conns > before+10 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		after, conns = goroutines(t, admin)
	}
	if after-conns > before+10 {
		t.Errorf("goroutines: %d idle before the load, %d after it (%d of them bucket connections): a leak:\n%s",
			before, after, conns, goroutineDump(t, admin))
	}
	metrics := metricLines(t, admin, "r2gate_requests_total", "r2gate_bucket_requests_total", "r2gate_disk_errors_total",
		"r2gate_cache_evictions_total", "r2gate_variants_total", "r2gate_coalesced_total")
	checkNoCrash(t, p)

	if len(serrs) > 0 {
		t.Errorf("%d samples failed; first: %s", len(serrs), serrs[0])
	}
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	figs := checkFlat(t, samples, warm)
	requests := ta.total(func(string, int) bool { return true })
	fiveXX := ta.total(func(_ string, s int) bool { return s >= 500 || s == 0 })
	t.Logf("soak %v (warm-up %v), %d workers: %d requests (%.0f/s), %d 5xx or transport errors", d, warm, workers,
		requests, float64(requests)/d.Seconds(), fiveXX)
	t.Logf("answers: %s", ta)
	t.Logf("flat: %s, %s, %s; idle goroutines %d before, %d after (%d bucket connections)", figs[0], figs[1], figs[2], before, after, conns)
	for i, s := range samples {
		if i%max(1, len(samples)/12) == 0 || i == len(samples)-1 {
			t.Logf("  t=%3.0fs RSS %6.1f MiB, %4d goroutines, %3d fds", s.At.Seconds(), float64(s.RSSKiB)/1024, s.Goroutines, s.FDs)
		}
	}
	for _, m := range metrics {
		t.Logf("  %s", m)
	}
	if fiveXX > 0 {
		t.Errorf("%d answers were 5xx or transport errors", fiveXX)
	}
	if least := int64(d.Seconds() * 20); requests < least {
		t.Errorf("only %d requests in %v: the load did not run", requests, d)
	}
	ta.check(t)
	if long {
		writeSoakReport(t, soakReport{d: d, warm: warm, workers: workers, requests: requests, fiveXX: fiveXX, answers: ta.String(),
			figs: figs, samples: samples, before: before, after: after, conns: conns, metrics: metrics, failed: t.Failed()})
	}
}

// soakData is what the soak's requests are made of.
type soakData struct {
	keys, photos, missing []string
	bodies                map[string][]byte
	good, bad, write      string // Authorization values
	upPrefix              string
}

// soakStep makes one request (or, for uploads, four) of the mix and checks
// the answer.
func soakStep(client *http.Client, base string, r *rand.Rand, worker, n int, ta *tally, sd soakData) {
	// Skewed choice: low indexes are hot.
	pick := func() string { f := r.Float64(); return sd.keys[int(f*f*float64(len(sd.keys)))] }
	get := func(kind, path string, kv ...string) reply {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		a := do(client, req)
		ta.add(kind, a.status, a.took)
		if a.err != nil {
			ta.problem("%s GET %s: %v", kind, path, a.err)
		}
		return a
	}
	expect := func(kind, path string, a reply, status int, body []byte) {
		if a.err == nil && (a.status != status || body != nil && !bytes.Equal(a.body, body)) {
			ta.problem("%s %s: %d with %d bytes, want %d with %d", kind, path, a.status, len(a.body), status, len(body))
		}
	}
	switch x := r.Float64(); {
	case x < 0.45:
		k := pick()
		expect("object", k, get("object", "/"+k), 200, sd.bodies[k])
	case x < 0.60:
		k := pick()
		b := sd.bodies[k]
		from := r.IntN(len(b))
		to := min(len(b)-1, from+r.IntN(16<<10))
		expect("range", k, get("range", "/"+k, "Range", fmt.Sprintf("bytes=%d-%d", from, to)), 206, b[from:to+1])
	case x < 0.70:
		ph := sd.photos[r.IntN(len(sd.photos))]
		w := []int{64, 128}[r.IntN(2)]
		a := get("variant", fmt.Sprintf("/%s?w=%d", ph, w))
		expect("variant", ph, a, 200, nil)
		if a.status == 200 {
			if cfg, _, err := image.DecodeConfig(bytes.NewReader(a.body)); err != nil || cfg.Width != w {
				ta.problem("variant %s?w=%d: %d wide (%v)", ph, w, cfg.Width, err)
			}
		}
	case x < 0.78:
		k := pick()
		expect("private", k, get("private", "/private/"+k, "Authorization", sd.good), 200, sd.bodies[k])
	case x < 0.86:
		k := pick()
		var a reply
		if r.IntN(2) == 0 {
			a = get("auth-fail", "/private/"+k)
		} else {
			a = get("auth-fail", "/private/"+k, "Authorization", sd.bad)
		}
		if a.err == nil && a.status != 401 && a.status != 403 {
			ta.problem("auth failure %s: %d, want 401 or 403", k, a.status)
		}
	case x < 0.92:
		k := sd.missing[r.IntN(len(sd.missing))]
		expect("missing", k, get("missing", "/"+k), 404, nil)
	default:
		key := fmt.Sprintf("%sw%d-%d.bin", sd.upPrefix, worker, n)
		body := bytes.Repeat([]byte{byte(n)}, 1+r.IntN(32<<10))
		send := func(method string, b []byte, status int) {
			req, _ := http.NewRequest(method, base+"/"+key, bytes.NewReader(b))
			if b == nil {
				req.Body = nil
			}
			req.Header.Set("Authorization", sd.write)
			a := do(client, req)
			ta.add("upload-"+strings.ToLower(method), a.status, a.took)
			if a.err != nil || a.status != status {
				ta.problem("%s %s: %d %v %q, want %d", method, key, a.status, a.err, a.body, status)
			}
		}
		send(http.MethodPut, body, 201)
		expect("upload-get", key, get("upload-get", "/"+key), 200, body)
		send(http.MethodDelete, nil, 204)
		expect("upload-gone", key, get("upload-gone", "/"+key), 404, nil)
	}
}

// soakReport is what the long soak writes to bench/results.
type soakReport struct {
	d, warm              time.Duration
	workers              int
	requests, fiveXX     int64
	answers              string
	figs                 []*flatness
	samples              []procSample
	before, after, conns int
	metrics              []string
	failed               bool
}

// writeSoakReport writes bench/results/soak-<date>.md (<date> is
// R2GATE_SOAK_STAMP when set).
func writeSoakReport(t *testing.T, rep soakReport) {
	t.Helper()
	now := time.Now().UTC()
	stamp := now.Format("2006-01-02-1504")
	if s := os.Getenv("R2GATE_SOAK_STAMP"); s != "" { // bench/soak.sh names its log the same way
		stamp = s
	}
	path := filepath.Join("..", "bench", "results", "soak-"+stamp+".md")
	var b strings.Builder
	race := "off"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				race = "on"
			}
		}
	}
	cpu := "unknown CPU"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(info), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	verdict := "passed"
	if rep.failed {
		verdict = "FAILED (see the test log)"
	}
	fmt.Fprintf(&b, "# Soak: %v of mixed traffic, %s UTC\n\n", rep.d, now.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "`R2GATE_SOAK=%v go test -run TestSoakMixedTraffic ./caddymodule/` (bench/soak.sh); race detector %s; %s; "+
		"%s, %d CPUs, **shared with other jobs** (absolute figures are noise, flatness is the point). Verdict: **%s**.\n\n",
		rep.d, race, runtime.Version(), cpu, runtime.NumCPU(), verdict)
	b.WriteString("One Caddy process (the test binary re-executed), one versitygw behind a recording proxy; cache: memory 4 MiB " +
		"(items up to 256 KiB) in front of disk 8 MiB, shared by a public route (resize widths 64, 128), a JWT route under " +
		"/private and an upload route. 240 objects of 1-96 KiB (about 11 MiB, so the tiers keep evicting), requested with a " +
		"skew; 3 JPEG sources.\n\n")
	fmt.Fprintf(&b, "Mix per request: 45 %% whole object, 15 %% Range (up to 16 KiB), 10 %% variant (?w=64|128), 8 %% protected with a "+
		"valid JWT, 8 %% protected without or with a bad JWT (401/403), 6 %% missing key (404), 8 %% upload cycle "+
		"(PUT 201, GET 200, DELETE 204, GET 404). %d clients with keep-alive.\n\n", rep.workers)
	b.WriteString("## Result\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| requests | %d (%.0f/s) |\n| 5xx or transport errors | %d |\n", rep.requests, float64(rep.requests)/rep.d.Seconds(), rep.fiveXX)
	fmt.Fprintf(&b, "| warm-up | first %v |\n", rep.warm)
	for _, fg := range rep.figs {
		w, l := float64(fg.warm), float64(fg.late)
		if fg.unitDivision > 1 {
			w, l = w/float64(fg.unitDivision), l/float64(fg.unitDivision)
		}
		fmt.Fprintf(&b, "| %s peak: warm-up / last quarter | %.1f / %.1f %s (bound: warm-up × 1.2 + %d) |\n", fg.name, w, l, fg.unit,
			fg.slack/max(1, fg.unitDivision))
	}
	fmt.Fprintf(&b, "| idle goroutines before / after the load | %d / %d (%d of them pooled bucket connections) |\n\n", rep.before, rep.after, rep.conns)
	fmt.Fprintf(&b, "Answers by kind (count×status, slowest): %s\n\n", rep.answers)
	b.WriteString("## Samples (every 30 s)\n\n| t | RSS MiB | goroutines | open fds |\n|---|---|---|---|\n")
	for i, s := range rep.samples {
		if i%30 == 0 || i == len(rep.samples)-1 {
			fmt.Fprintf(&b, "| %.0f s | %.1f | %d | %d |\n", s.At.Seconds(), float64(s.RSSKiB)/1024, s.Goroutines, s.FDs)
		}
	}
	b.WriteString("\n## Metrics at the end\n\n```\n" + strings.Join(rep.metrics, "\n") + "\n```\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("writing the soak report: %v", err)
		return
	}
	t.Logf("wrote %s", path)
}
