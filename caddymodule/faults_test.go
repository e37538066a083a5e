package caddymodule_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
)

// The fault tests: a real Caddy process from a Caddyfile over the real
// versitygw, under load, while the bucket goes away or slows down, the
// disk tier's filesystem fills up or turns read-only, or the process is
// killed. Each has a short form (the default) and a long one
// (R2GATE_SOAK=<duration>, bench/soak.sh).

// faultSite is a Caddyfile with one r2gate site over endpoint; lines go
// into the r2gate block (timeout, cache ...).
func faultSite(endpoint, lines string) func(admin, port string) string {
	return func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %s
	persist_config off
	metrics
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	r2gate {
		%s
		%s
	}
}
`, admin, port, bucketLines(endpoint), lines)
	}
}

// getKey GETs base/key and reads the whole answer.
func getKey(client *http.Client, base, key string) reply {
	req, _ := http.NewRequest(http.MethodGet, base+"/"+key, nil)
	return do(client, req)
}

// loadFor runs workers goroutines calling step until d has passed.
func loadFor(d time.Duration, workers int, step func(r *rand.Rand, worker int)) {
	stopAt := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for time.Now().Before(stopAt) {
				step(r, w)
			}
		}()
	}
	wg.Wait()
}

// loadUntil runs workers goroutines calling step until stop is closed,
// and 100 ms more.
func loadUntil(stop <-chan struct{}, workers int, step func(r *rand.Rand)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var end time.Time
			for {
				select {
				case <-stop:
					if end.IsZero() {
						end = time.Now().Add(100 * time.Millisecond)
					}
					if time.Now().After(end) {
						return
					}
				default:
				}
				step(r)
			}
		}()
	}
	wg.Wait()
}

// TestFaultBucketDownServesStaleAndRecovers takes the bucket away (a TCP
// gate in front of versitygw drops every connection and refuses new ones)
// under load: every key cached before, stale by then but within
// stale_if_error, keeps answering 200 with its bytes; keys never fetched
// get a 502 or 504 within a second; when the bucket comes back, the same
// process serves every key again (including an object changed during the
// outage) without a restart. The short form has one outage of 4 s; the
// long form repeats outages of 20 s for R2GATE_SOAK.
func TestFaultBucketDownServesStaleAndRecovers(t *testing.T) {
	total, long := soakDuration(t, 4*time.Second)
	outage, cycles := total, 1
	if long {
		outage = 20 * time.Second
		cycles = max(1, int(total/(2*outage)))
	}
	const workers = 6
	const fastFail = time.Second
	digits := regexp.MustCompile(`=(-?)[0-9]+`)
	g := newGate(t, strings.TrimPrefix(env.s3.Endpoint, "http://"))
	prefix := uniqueKey(t, "")
	cached, bodies := randomBodies(30, 1<<10, 64<<10, 11, func(i int) string { return fmt.Sprintf("%scached-%02d.bin", prefix, i) })
	putAll(t, bodies, "public, max-age=1")
	p, admin, base := caddyOnFreePorts(t, faultSite("http://"+g.addr, `timeout 2s
		cache {
			memory 32MiB
			stale_if_error 1h
		}`))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	pid := p.cmd.Process.Pid

	for c := range cycles {
		cold, coldBodies := randomBodies(20, 1<<10, 64<<10, uint64(100+c), func(i int) string {
			return fmt.Sprintf("%scycle-%d/cold-%02d.bin", prefix, c, i)
		})
		putAll(t, coldBodies, "public, max-age=1")
		for _, k := range cached {
			if a := getKey(client, base, k); a.status != 200 || !bytes.Equal(a.body, bodies[k]) {
				t.Fatalf("cycle %d: before the outage GET %s: %d %v", c, k, a.status, a.err)
			}
		}
		time.Sleep(1100 * time.Millisecond) // every cached copy is stale now

		ta := newTally()
		statuses := make(map[string]int)
		var mu sync.Mutex
		g.close()
		// An object changed while r2gate cannot see the bucket: it keeps
		// the bytes it has until the bucket is back.
		changed := cached[c%len(cached)]
		newBody := append([]byte("changed during the outage "), bodies[changed]...)
		putObject(t, env.s3, changed, newBody, "public, max-age=1")
		down := time.Now()
		loadFor(outage, workers, func(r *rand.Rand, _ int) {
			if r.IntN(2) == 0 {
				k := cached[r.IntN(len(cached))]
				a := getKey(client, base, k)
				ta.add("cached", a.status, a.took)
				if a.err != nil || a.status != 200 || !bytes.Equal(a.body, bodies[k]) {
					ta.problem("cached %s while the bucket is down: %d %v with %d bytes, want 200 and its %d bytes",
						k, a.status, a.err, len(a.body), len(bodies[k]))
				}
				mu.Lock()
				statuses[digits.ReplaceAllString(a.header.Get("Cache-Status"), "=${1}N")]++
				mu.Unlock()
				return
			}
			k := cold[r.IntN(len(cold))]
			a := getKey(client, base, k)
			ta.add("cold", a.status, a.took)
			if a.err != nil || a.status != http.StatusBadGateway && a.status != http.StatusGatewayTimeout {
				ta.problem("cold %s while the bucket is down: %d %v, want 502 or 504", k, a.status, a.err)
			}
			if a.took > fastFail {
				ta.problem("cold %s: the failure took %v, want under %v", k, a.took, fastFail)
			}
		})
		g.open(t)
		up := time.Now()

		// Recovery: every cold key, then the changed object, without a
		// restart.
		left := append([]string(nil), cold...)
		var attempts int
		for len(left) > 0 && time.Since(up) < 40*time.Second {
			var still []string
			for _, k := range left {
				attempts++
				if a := getKey(client, base, k); a.status != 200 || !bytes.Equal(a.body, coldBodies[k]) {
					still = append(still, k)
				}
			}
			left = still
			if len(left) > 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		coldBack := time.Since(up)
		var changedBack time.Duration
		for {
			a := getKey(client, base, changed)
			if a.status == 200 && bytes.Equal(a.body, newBody) {
				changedBack = time.Since(up)
				break
			}
			if time.Since(up) > 40*time.Second {
				t.Errorf("cycle %d: %s still answers %d with %d bytes 40 s after the bucket came back, want the new %d bytes",
					c, changed, a.status, len(a.body), len(newBody))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		bodies[changed] = newBody
		t.Logf("cycle %d: bucket down for %v: %s; cached answers' Cache-Status: %v; recovery: all %d cold keys in %v (%d requests), the changed object in %v",
			c, up.Sub(down).Round(time.Millisecond), ta, statuses, len(cold), coldBack.Round(time.Millisecond), attempts, changedBack.Round(time.Millisecond))
		if len(left) > 0 {
			t.Errorf("cycle %d: %d of %d keys never came back after the bucket did (40 s)", c, len(left), len(cold))
		}
		if coldBack > 35*time.Second {
			t.Errorf("cycle %d: recovery took %v, want under 35 s (the longest backoff is 30 s)", c, coldBack)
		}
		if n := ta.total(func(k string, _ int) bool { return k == "cached" }); n < 20 {
			t.Errorf("cycle %d: only %d requests for cached keys during the outage", c, n)
		}
		if n := ta.total(func(k string, _ int) bool { return k == "cold" }); n < 20 {
			t.Errorf("cycle %d: only %d requests for cold keys during the outage", c, n)
		}
		ta.check(t)
		if p.cmd.Process.Pid != pid || !alive(p) {
			t.Fatalf("cycle %d: the Caddy process is gone", c)
		}
		if long && c+1 < cycles {
			time.Sleep(outage)
		}
	}
	t.Logf("metrics: %s", strings.Join(metricLines(t, admin, "r2gate_bucket_failed_fast_total", `r2gate_bucket_requests_total{op="get"`), "; "))
	checkNoCrash(t, p)
}

// TestFaultBucketSlowHonoursTimeoutsAndCoalesces puts a proxy that holds
// every request for 2 s in front of versitygw, and one Caddy process with
// two sites over it: timeout 5s and timeout 1s. 40 concurrent requests for
// one key on the first are one bucket GET and all get the bytes after
// about 2 s; 40 for one key on the second all get 504 after about 1 s,
// from one bucket GET; 16 keys × 4 requests at once cost 16 GETs and take
// about 2 s, not 16 × 2 s. Afterwards the process's goroutines and the
// proxy's requests in flight come back down. The long form repeats the
// rounds for R2GATE_SOAK.
func TestFaultBucketSlowHonoursTimeoutsAndCoalesces(t *testing.T) {
	total, _ := soakDuration(t, 0)
	const delay = 2 * time.Second
	cp := newCountingProxy(t, delay)
	second, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	slowBase := "http://" + second
	p, admin, base := caddyOnFreePorts(t, func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %[1]s
	persist_config off
}
http://127.0.0.1:%[2]s {
	bind 127.0.0.1
	r2gate {
		%[3]s
		timeout 1s
		cache {
			memory 16MiB
		}
	}
}
http://%[4]s {
	bind 127.0.0.1
	r2gate {
		%[3]s
		timeout 5s
		cache {
			memory 17MiB
		}
	}
}
`, admin, port, bucketLines(cp.endpoint), second)
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	prefix := uniqueKey(t, "")
	time.Sleep(time.Second) // let the start-up probe of / (a 504 after 1 s) settle
	client.CloseIdleConnections()
	before, _ := goroutines(t, admin)

	// concurrently sends n GETs of each key to base at once and returns
	// the answers.
	concurrently := func(base string, keys []string, n int) [][]reply {
		out := make([][]reply, len(keys))
		var wg sync.WaitGroup
		for i, k := range keys {
			out[i] = make([]reply, n)
			for j := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out[i][j] = getKey(client, base, k)
				}()
			}
		}
		wg.Wait()
		return out
	}
	start := time.Now()
	var peakG int
	for round := 0; round < 2 || time.Since(start) < total; round++ {
		keys, bodies := randomBodies(18, 4<<10, 64<<10, uint64(200+round), func(i int) string {
			return fmt.Sprintf("%sround-%d/k-%02d.bin", prefix, round, i)
		})
		putAll(t, bodies, "")
		smp := startSampler(p.cmd.Process.Pid, admin, 200*time.Millisecond)

		// 40 requests for one key, timeout 5s: one GET, all get the bytes.
		k := keys[0]
		t0 := time.Now()
		answers := concurrently(slowBase, []string{k}, 40)[0]
		took := time.Since(t0)
		for _, a := range answers {
			if a.err != nil || a.status != 200 || !bytes.Equal(a.body, bodies[k]) {
				t.Errorf("round %d: coalesced GET: %d %v with %d bytes, want 200 and %d", round, a.status, a.err, len(a.body), len(bodies[k]))
				break
			}
		}
		if n := cp.count(http.MethodGet, k); n != 1 {
			t.Errorf("round %d: 40 concurrent requests for one key cost %d bucket GETs, want 1", round, n)
		}
		if took < delay || took > 2*delay+time.Second {
			t.Errorf("round %d: the coalesced requests took %v, want about %v", round, took, delay)
		}

		// 40 requests for one key, timeout 1s: all 504 after about 1 s.
		k = keys[1]
		t0 = time.Now()
		answers = concurrently(base, []string{k}, 40)[0]
		tookTimeout := time.Since(t0)
		var slowest time.Duration
		for _, a := range answers {
			slowest = max(slowest, a.took)
			if a.err != nil || a.status != http.StatusGatewayTimeout {
				t.Errorf("round %d: GET with timeout 1s over a 2 s bucket: %d %v %q, want 504", round, a.status, a.err, a.body)
				break
			}
			if a.took < 900*time.Millisecond {
				t.Errorf("round %d: a 504 after only %v: the timeout is 1 s", round, a.took)
				break
			}
		}
		if slowest > delay {
			t.Errorf("round %d: the slowest 504 took %v, want about 1 s (the timeout), under the bucket's %v", round, slowest, delay)
		}
		if n := cp.count(http.MethodGet, k); n != 1 {
			t.Errorf("round %d: 40 concurrent requests that time out cost %d bucket GETs, want 1", round, n)
		}

		// 16 keys × 4 at once: 16 GETs in parallel, not in a row.
		t0 = time.Now()
		all := concurrently(slowBase, keys[2:], 4)
		tookMany := time.Since(t0)
		for i, as := range all {
			kk := keys[2+i]
			for _, a := range as {
				if a.err != nil || a.status != 200 || !bytes.Equal(a.body, bodies[kk]) {
					t.Errorf("round %d: GET %s: %d %v", round, kk, a.status, a.err)
					break
				}
			}
			if n := cp.count(http.MethodGet, kk); n != 1 {
				t.Errorf("round %d: 4 concurrent requests for %s cost %d bucket GETs, want 1; at the proxy: %v", round, kk, n, cp.problems())
			}
		}
		if tookMany > 2*delay+time.Second {
			t.Errorf("round %d: 16 keys at once took %v: the slow fetches were not made in parallel", round, tookMany)
		}
		samples, _ := smp.stop()
		roundPeak := int(peak(samples, func(s procSample) int64 { return int64(s.Goroutines) }))
		peakG = max(peakG, roundPeak)
		t.Logf("round %d: 40 coalesced in %v (1 GET), 40 timed out (504) in %v, slowest %v (1 GET), 16 keys × 4 in %v; goroutines peak %d",
			round, took.Round(time.Millisecond), tookTimeout.Round(time.Millisecond), slowest.Round(time.Millisecond),
			tookMany.Round(time.Millisecond), roundPeak)
	}

	// No pile-up: the goroutines and the bucket requests come back down.
	client.CloseIdleConnections()
	after, conns := goroutines(t, admin)
	for deadline := time.Now().Add(15 * time.Second); (after-conns > before+10 || cp.inFlight.Load() > 0) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		after, conns = goroutines(t, admin)
	}
	t.Logf("goroutines: %d idle before, peak %d under load, %d after (%d of them pooled bucket connections); bucket requests in flight after: %d",
		before, peakG, after, conns, cp.inFlight.Load())
	if after-conns > before+10 {
		t.Errorf("goroutines piled up: %d before, %d after (%d bucket connections):\n%s", before, after, conns, goroutineDump(t, admin))
	}
	if n := cp.inFlight.Load(); n > 0 {
		t.Errorf("%d bucket requests still in flight after the load: timed-out fetches were not cancelled", n)
	}
	checkNoCrash(t, p)
}

// diskLoad runs the disk fault tests' load: workers GET random keys for
// d and every answer must be 200 with the key's bytes.
func diskLoad(client *http.Client, base string, d time.Duration, keys []string, bodies map[string][]byte, ta *tally) {
	loadFor(d, 6, func(r *rand.Rand, _ int) {
		k := keys[r.IntN(len(keys))]
		a := getKey(client, base, k)
		tier := "bucket"
		if cs := a.header.Get("Cache-Status"); strings.Contains(cs, "; hit") {
			tier = "hit"
		}
		ta.add(tier, a.status, a.took)
		if a.err != nil || a.status != 200 || !bytes.Equal(a.body, bodies[k]) {
			ta.problem("GET %s: %d %v with %d bytes, want 200 and its %d bytes", k, a.status, a.err, len(a.body), len(bodies[k]))
		}
	})
}

// TestFaultDiskFullKeepsServing puts the disk tier (bound 64 MiB) on a
// 24 MiB tmpfs, under load over 100 objects of 64-512 KiB (about 28 MiB).
// Once the tier holds a few MiB, a filler file takes every byte left
// (another user of the volume, or a bound set larger than the volume), and
// later goes away. Every answer is 200 with the right bytes, the failed
// write is counted (r2gate_disk_errors_total), the bound in force drops to
// what fits (r2gate_disk_limit_bytes), the disk tier keeps serving what it
// holds, and the process neither panics nor stops. After a write failure
// the cache leaves the tier alone for 30 s (cache/disk_outage.go); the
// long form (R2GATE_SOAK, phases over 40 s) also checks that the tier
// writes again after that.
func TestFaultDiskFullKeepsServing(t *testing.T) {
	d, long := soakDuration(t, 9*time.Second)
	mnt := mountFS(t, "tmpfs", 24, "")
	disk := filepath.Join(mnt, "disk")
	prefix := uniqueKey(t, "")
	keys, bodies := randomBodies(100, 64<<10, 512<<10, 21, func(i int) string { return fmt.Sprintf("%sfull-%03d.bin", prefix, i) })
	putAll(t, bodies, "")
	p, admin, base := caddyOnFreePorts(t, faultSite(env.s3.Endpoint, fmt.Sprintf(`cache {
			memory 4MiB
			memory_item 128KiB
			disk %s 64MiB
		}`, disk)))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()

	// The tier fills part of the volume.
	ta := newTally()
	held := 0.0
	for t0 := time.Now(); held < 3<<20; {
		diskLoad(client, base, 100*time.Millisecond, keys, bodies, ta)
		held = metricValue(t, admin, `r2gate_cache_bytes{tier="disk"}`)
		if time.Since(t0) > 30*time.Second {
			t.Fatalf("the disk tier holds only %v bytes after 30 s", held)
		}
	}
	if errs := metricValue(t, admin, "r2gate_disk_errors_total"); errs != 0 {
		t.Fatalf("the disk tier failed %v writes before the volume was full", errs)
	}
	// Someone else takes the rest of the volume.
	filled := fillUp(t, filepath.Join(mnt, "filler"))
	ta2 := newTally()
	diskLoad(client, base, d/3, keys, bodies, ta2)
	errs := metricValue(t, admin, "r2gate_disk_errors_total")
	limit := metricValue(t, admin, "r2gate_disk_limit_bytes")
	hitsFull := metricValue(t, admin, `r2gate_requests_total{outcome="hit",tier="disk"}`)
	// The space comes back.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	const bypassed = `r2gate_requests_total{outcome="bypass",tier="bucket"}`
	bypassFull := metricValue(t, admin, bypassed)
	evictions := metricValue(t, admin, `r2gate_cache_evictions_total{tier="disk"}`)
	ta3 := newTally()
	diskLoad(client, base, d/3, keys, bodies, ta3)
	evicted := metricValue(t, admin, `r2gate_cache_evictions_total{tier="disk"}`) - evictions
	hits := metricValue(t, admin, `r2gate_requests_total{outcome="hit",tier="disk"}`)
	bypassBack := metricValue(t, admin, bypassed) - bypassFull

	var st syscall.Statfs_t
	_ = syscall.Statfs(mnt, &st)
	t.Logf("tier filling (%.1f MiB held): %s", held/(1<<20), ta)
	t.Logf("volume full (the filler took the last %d KiB): %s; disk errors %v, bound in force %.1f MiB (configured 64), disk hits so far %v, %v answers bypassed the cache",
		filled>>10, ta2, errs, limit/(1<<20), hitsFull, bypassFull)
	t.Logf("space back: %s; %v disk entries replaced since, %v answers bypassed the cache; disk hits %v; tmpfs %d KiB free of %d",
		ta3, evicted, bypassBack, hits, st.Bavail*uint64(st.Bsize)>>10, st.Blocks*uint64(st.Bsize)>>10)
	ta.check(t)
	ta2.check(t)
	ta3.check(t)
	if errs < 1 {
		t.Error("r2gate_disk_errors_total is 0: the full volume was not counted")
	}
	if limit >= 64<<20 || limit <= 0 {
		t.Errorf("r2gate_disk_limit_bytes = %v, want lowered below the configured 64 MiB to what the 24 MiB volume held", limit)
	}
	if hits < 1 {
		t.Error("no disk hits: the disk tier never worked")
	}
	if long && d/3 > 40*time.Second && evicted < 1 {
		t.Errorf("the disk tier wrote nothing in the %v after the space came back (its pause after a failure is 30 s); %v answers bypassed the cache",
			d/3, bypassBack)
	}
	checkNoCrash(t, p)
}

// fillUp writes path until the filesystem is full and returns how many
// bytes it took.
func fillUp(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("filling the filesystem: %v", err)
		}
	}
}

// TestFaultDiskTurnsReadOnlyKeepsServing puts the disk tier on an ext4
// filesystem (a loop device over a 32 MiB image, mounted with
// errors=remount-ro) and, mid-run, makes the kernel turn it read-only as it
// does when the disk under it fails (ext4's trigger_fs_error in sysfs: the
// journal aborts and every write fails with EROFS, also on files already
// open). A tmpfs cannot be remounted read-only while the disk tier holds
// its journal and lock files open for writing (EBUSY), and root ignores
// chmod, so this is the real mechanism. Reads of entries written before
// go on, new objects come from the bucket; every answer is 200 with the
// right bytes, the failed writes are counted, and nothing panics.
func TestFaultDiskTurnsReadOnlyKeepsServing(t *testing.T) {
	d, _ := soakDuration(t, 8*time.Second)
	mnt := mountFS(t, "ext4", 32, "errors=remount-ro")
	disk := filepath.Join(mnt, "disk")
	prefix := uniqueKey(t, "")
	before, bodies := randomBodies(40, 32<<10, 256<<10, 31, func(i int) string { return fmt.Sprintf("%sro-%03d.bin", prefix, i) })
	later, laterBodies := randomBodies(40, 32<<10, 256<<10, 32, func(i int) string { return fmt.Sprintf("%sro-later-%03d.bin", prefix, i) })
	putAll(t, bodies, "")
	putAll(t, laterBodies, "")
	for k, b := range laterBodies {
		bodies[k] = b
	}
	p, admin, base := caddyOnFreePorts(t, faultSite(env.s3.Endpoint, fmt.Sprintf(`cache {
			memory 2MiB
			memory_item 64KiB
			disk %s 16MiB
		}`, disk)))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()

	ta := newTally()
	diskLoad(client, base, d/3, before, bodies, ta)
	hitsBefore := metricValue(t, admin, `r2gate_requests_total{outcome="hit",tier="disk"}`)
	entries := metricValue(t, admin, `r2gate_cache_items{tier="disk"}`)

	dev := loopDevice(t, mnt)
	if err := os.WriteFile("/sys/fs/ext4/"+dev+"/trigger_fs_error", []byte("r2gate fault test\n"), 0o200); err != nil {
		t.Fatalf("making the filesystem fail (ext4 trigger_fs_error on %s): %v", dev, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("after the ext4 error a new file gives %v, want EROFS: the filesystem did not turn read-only", err)
	}
	ta2 := newTally()
	all := append(append([]string(nil), before...), later...)
	diskLoad(client, base, 2*d/3, all, bodies, ta2)

	errs := metricValue(t, admin, "r2gate_disk_errors_total")
	hitsAfter := metricValue(t, admin, `r2gate_requests_total{outcome="hit",tier="disk"}`)
	t.Logf("read-write: %s; %v disk entries, %v disk hits", ta, entries, hitsBefore)
	t.Logf("read-only (%s): %s; disk errors %v, disk hits since %v", dev, ta2, errs, hitsAfter-hitsBefore)
	ta.check(t)
	ta2.check(t)
	if entries < 1 || hitsBefore < 1 {
		t.Errorf("the disk tier held %v entries and had %v hits before the fault: it never worked", entries, hitsBefore)
	}
	if errs < 1 {
		t.Error("r2gate_disk_errors_total is 0: the read-only disk was not counted")
	}
	checkNoCrash(t, p)
}

// TestFaultKill9UnderWriteLoadLeavesNoPartialEntry fills the disk tier
// with misses (8 clients, 60 objects of 64 KiB-2 MiB, memory tier off),
// kills the Caddy process with SIGKILL in the middle, restarts it on the
// same disk folder and reads every object: each answer, disk hit or not,
// has the bucket's bytes, and some are disk hits (entries that survived).
// Every cycle purges the cache first, so everything is written anew. The
// short form makes 2 cycles, the long one cycles for R2GATE_SOAK.
func TestFaultKill9UnderWriteLoadLeavesNoPartialEntry(t *testing.T) {
	total, long := soakDuration(t, 0)
	prefix := uniqueKey(t, "")
	keys, bodies := randomBodies(60, 64<<10, 2<<20, 41, func(i int) string { return fmt.Sprintf("%skill-%03d.bin", prefix, i) })
	putAll(t, bodies, "")
	disk := filepath.Join(t.TempDir(), "disk")
	var config string
	p, admin, base := caddyOnFreePorts(t, func(admin, port string) string {
		config = faultSite(env.s3.Endpoint, fmt.Sprintf(`cache {
			memory 0
			disk %s 256MiB
		}`, disk))(admin, port)
		return config
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	start := time.Now()
	var totalHits int
	for cycle := 0; cycle < 2 || long && time.Since(start) < total; cycle++ {
		resp, err := http.Post("http://"+admin+"/r2gate/purge", "application/json", strings.NewReader(`{"all":true}`))
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("cycle %d: purge: %v %v", cycle, err, resp)
		}
		resp.Body.Close()

		// Misses fill the disk tier; SIGKILL after 0.5-1.5 s, once at
		// least four answers are complete (so that some entries are).
		var mu sync.Mutex
		var before, cut int
		completed := func() int { mu.Lock(); defer mu.Unlock(); return before }
		killAt := 500*time.Millisecond + time.Duration(rand.Int64N(int64(time.Second)))
		killed := make(chan struct{})
		var killedAfter time.Duration // written before killed is closed
		loadStart := time.Now()
		go func() {
			time.Sleep(killAt)
			for deadline := time.Now().Add(20 * time.Second); completed() < 4 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			killedAfter = time.Since(loadStart)
			p.kill()
			close(killed)
		}()
		loadUntil(killed, 8, func(r *rand.Rand) {
			k := keys[r.IntN(len(keys))]
			a := getKey(client, base, k)
			mu.Lock()
			defer mu.Unlock()
			select {
			case <-killed:
				cut++ // answers around the kill may be cut short
				return
			default:
			}
			if a.err == nil && (a.status != 200 || !bytes.Equal(a.body, bodies[k])) {
				t.Errorf("cycle %d: before the kill GET %s: %d with %d bytes, want 200 and %d", cycle, k, a.status, len(a.body), len(bodies[k]))
			}
			before++
		})
		<-killed
		client.CloseIdleConnections()

		p = startCaddy(t, config, base, t.TempDir())
		t.Cleanup(p.kill)
		var hits, misses int
		for _, k := range keys {
			a := getKey(client, base, k)
			if a.err != nil || a.status != 200 || !bytes.Equal(a.body, bodies[k]) {
				t.Errorf("cycle %d: after the restart GET %s: %d %v with %d bytes, want 200 and the bucket's %d (Cache-Status %q)",
					cycle, k, a.status, a.err, len(a.body), len(bodies[k]), a.header.Get("Cache-Status"))
				continue
			}
			if strings.Contains(a.header.Get("Cache-Status"), "; hit") {
				hits++
			} else {
				misses++
			}
		}
		totalHits += hits
		t.Logf("cycle %d: killed after %v with %d answers complete, %d cut short or refused around the kill; after the restart %d of %d objects were disk hits, %d misses, all with the bucket's bytes",
			cycle, killedAfter.Round(time.Millisecond), before, cut, hits, len(keys), misses)
	}
	if totalHits == 0 {
		t.Error("no disk entry survived any kill: nothing was tested")
	}
	checkNoCrash(t, p)
}
