package caddymodule_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowBucket puts a reverse proxy in front of the test S3 server that
// holds every GET for delay before passing it on, like a far-away bucket.
func slowBucket(t *testing.T, delay time.Duration) string {
	t.Helper()
	target, err := url.Parse(env.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stormObject is one object of the reload storm, with what a whole body
// must be.
type stormObject struct {
	key  string
	size int
	sum  [32]byte
}

// stormConfig is the Caddyfile of the reload storm's Caddy process: a
// memory tier of memory MiB in front of a disk tier (so that hits,
// promotions from disk and misses all happen), over a slow bucket.
func stormConfig(admin, port, endpoint, disk string, memory int) string {
	return fmt.Sprintf(`{
	admin %s
	persist_config off
	grace_period 100ms
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	r2gate {
		%s
		cache {
			memory %dMiB
			disk %s 256MiB
		}
	}
}
`, admin, port, bucketLines(endpoint), memory, disk)
}

// goroutines returns the Caddy process's goroutine count, from the admin
// API's pprof endpoint, and how many of them belong to pooled bucket
// connections (net/http's persistConn loops), which a live client keeps
// and which are bounded by the concurrency of the load.
func goroutines(t *testing.T, admin string) (total, bucketConns int) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`goroutine profile: total (\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no goroutine total in %q", b[:min(len(b), 200)])
	}
	total, _ = strconv.Atoi(string(m[1]))
	for _, group := range strings.Split(string(b), "\n\n") {
		if !strings.Contains(group, "net/http.(*persistConn)") {
			continue
		}
		if m := regexp.MustCompile(`(?m)^(\d+) @ `).FindStringSubmatch(group); m != nil {
			k, _ := strconv.Atoi(m[1])
			bucketConns += k
		}
	}
	return total, bucketConns
}

// TestReloadStormIsInvisibleToClients reloads a Caddy process 40 times,
// alternating two memory sizes (each change destroys a cache while
// requests use it) and purging everything every fifth time, while 16
// clients fetch 300 objects over a bucket that takes 100 ms per GET. No
// answer may be a 5xx or a short or wrong body, the process must not
// crash, and its goroutines must come back to where they were.
func TestReloadStormIsInvisibleToClients(t *testing.T) {
	const clients = 16
	endpoint := slowBucket(t, 100*time.Millisecond)
	disk := filepath.Join(t.TempDir(), "disk")
	// 296 objects of 1-64 KiB and four of 2 MiB.
	rng := rand.New(rand.NewPCG(1, 2))
	objects := make([]stormObject, 300)
	prefix := uniqueKey(t, "")
	for i := range objects {
		size := 1<<10 + rng.IntN(63<<10)
		if i%75 == 0 {
			size = 2 << 20
		}
		body := make([]byte, size)
		for j := range body {
			body[j] = byte(i*31 + j*7)
		}
		key := fmt.Sprintf("%sobj-%03d.bin", prefix, i)
		putObject(t, env.s3, key, body, "")
		objects[i] = stormObject{key: key, size: size, sum: sha256.Sum256(body)}
	}

	var port string
	p, admin, base := caddyOnFreePorts(t, func(admin, sitePort string) string {
		port = sitePort
		return stormConfig(admin, port, endpoint, disk, 64)
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	// Warm up, then measure the idle process's goroutines.
	for _, o := range objects[:20] {
		if resp, err := client.Get(base + "/" + o.key); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	before, _ := goroutines(t, admin)

	var requests, fiveXX, short, wrong, transport, closedByReload atomic.Int64
	var firstProblem atomic.Value
	problem := func(s string) { firstProblem.CompareAndSwap(nil, s) }
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 7))
			for ctx.Err() == nil {
				o := objects[r.IntN(len(objects))]
				resp, err := client.Get(base + "/" + o.key)
				requests.Add(1)
				if err != nil {
					// A keep-alive connection the old server closed
					// while the request was on its way: browsers retry
					// such a GET once, and so does this client. A second
					// failure is a real one.
					closedByReload.Add(1)
					if resp, err = client.Get(base + "/" + o.key); err != nil {
						transport.Add(1)
						problem(fmt.Sprintf("GET %s (retried): %v", o.key, err))
						continue
					}
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode >= 500:
					fiveXX.Add(1)
					problem(fmt.Sprintf("GET %s: %s %q", o.key, resp.Status, b))
				case err != nil || len(b) != o.size:
					short.Add(1)
					problem(fmt.Sprintf("GET %s: %d of %d bytes (%v)", o.key, len(b), o.size, err))
				case resp.StatusCode != http.StatusOK || sha256.Sum256(b) != o.sum:
					wrong.Add(1)
					problem(fmt.Sprintf("GET %s: %s, wrong body", o.key, resp.Status))
				}
			}
		}()
	}

	const reloads = 40
	loaded := 0
	start := time.Now()
	for i := range reloads {
		time.Sleep(150 * time.Millisecond)
		memory := 64
		if i%2 == 0 {
			memory = 48
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+admin+"/load",
			strings.NewReader(stormConfig(admin, port, endpoint, disk, memory)))
		req.Header.Set("Content-Type", "text/caddyfile")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("reload %d: %v", i, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("reload %d: %s %s", i, resp.Status, b)
			continue
		}
		loaded++
		if i%5 == 4 {
			resp, err := http.Post("http://"+admin+"/r2gate/purge", "application/json", strings.NewReader(`{"all":true}`))
			if err != nil {
				t.Errorf("purge after reload %d: %v", i, err)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	time.Sleep(300 * time.Millisecond) // let the last config serve a little
	stop()
	wg.Wait()
	elapsed := time.Since(start)
	client.CloseIdleConnections()

	// Goroutines come back: poll, the last fills may still be ending. The
	// live bucket client keeps its idle connections (two goroutines each,
	// at most one connection per client here); anything else is a leak.
	after, conns := goroutines(t, admin)
	leaked := func() bool { return after-conns > before+5 || conns > 2*clients+4 }
	for deadline := time.Now().Add(20 * time.Second); leaked() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		after, conns = goroutines(t, admin)
	}
	t.Logf("reload storm: %d reloads in %v, %d requests, %d 5xx, %d short, %d wrong, %d transport errors (%d connections closed by a reload, retried); goroutines %d before, %d after (%d of them pooled bucket connections)",
		loaded, elapsed.Round(time.Millisecond), requests.Load(), fiveXX.Load(), short.Load(), wrong.Load(), transport.Load(), closedByReload.Load(), before, after, conns)
	if loaded != reloads {
		t.Errorf("%d of %d reloads succeeded", loaded, reloads)
	}
	if n := fiveXX.Load() + short.Load() + wrong.Load() + transport.Load(); n > 0 {
		t.Errorf("%d requests failed during the reloads; first: %v", n, firstProblem.Load())
	}
	if leaked() {
		t.Errorf("goroutines: %d before the storm, %d after, %d of them bucket connections (leak):\n%s",
			before, after, conns, goroutineDump(t, admin))
	}
	alive := p.cmd.Process.Signal(syscall.Signal(0)) == nil
	p.kill() // the logs may be read once the process is gone
	if !alive || bytes.Contains(p.logs.Bytes(), []byte("fatal error")) ||
		bytes.Contains(p.logs.Bytes(), []byte("panic:")) {
		t.Errorf("the Caddy process crashed: %s", tail(p.logs.String(), 4000))
	}
	if requests.Load() < 1000 {
		t.Errorf("only %d requests during the storm: the load did not run", requests.Load())
	}
}

// goroutineDump returns the start of the process's goroutine profile
// (stacks grouped, most common first).
func goroutineDump(t *testing.T, admin string) string {
	resp, err := http.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 12000))
	return string(b)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
