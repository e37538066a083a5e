package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Helpers of the soak and fault tests (soak_test.go, faults_test.go): a
// sampler of a Caddy process's resources, a tally of answers, the long-form
// switch, a TCP gate that takes the bucket away, and a counting, delaying
// HTTP proxy in front of it.

// soakEnv is the environment variable that turns the soak and fault tests
// into their long forms: a duration such as 10m (bench/soak.sh sets it).
const soakEnv = "R2GATE_SOAK"

// soakDuration returns how long a soak or fault test runs its load: short
// by default, or the duration in R2GATE_SOAK (long is then true). A
// malformed value fails the test rather than running the short form.
func soakDuration(t *testing.T, short time.Duration) (d time.Duration, long bool) {
	t.Helper()
	v := os.Getenv(soakEnv)
	if v == "" {
		return short, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", soakEnv, v)
	}
	return d, true
}

// procSample is one sample of a Caddy process: when (since the sampler
// started), its resident set, its goroutines (from the admin API's pprof
// endpoint) and its open file descriptors.
type procSample struct {
	At         time.Duration
	RSSKiB     int64
	Goroutines int
	FDs        int
}

// readProc samples process pid, whose admin API listens on admin.
func readProc(pid int, admin string) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading the process status: %w", err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		return s, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	s.RSSKiB, _ = strconv.ParseInt(string(m[1]), 10, 64)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, fmt.Errorf("listing the open files: %w", err)
	}
	s.FDs = len(fds)
	if s.Goroutines, err = goroutineTotal(admin); err != nil {
		return s, err
	}
	return s, nil
}

// goroutineTotal returns the goroutine count of the Caddy process whose
// admin API listens on admin.
func goroutineTotal(admin string) (int, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	var n int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile begins %q: %w", line, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return n, nil
}

// sampler samples a process every period until stopped.
type sampler struct {
	mu      sync.Mutex
	samples []procSample
	errs    []string
	stopc   chan struct{}
	done    chan struct{}
}

// startSampler samples process pid (admin API at admin) every period.
func startSampler(pid int, admin string, period time.Duration) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			ps, err := readProc(pid, admin)
			ps.At = time.Since(start)
			s.mu.Lock()
			if err != nil {
				s.errs = append(s.errs, err.Error())
			} else {
				s.samples = append(s.samples, ps)
			}
			s.mu.Unlock()
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the samples and the errors of
// failed samples.
func (s *sampler) stop() ([]procSample, []string) {
	close(s.stopc)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples), slices.Clone(s.errs)
}

// peak is the largest value of one figure over samples.
func peak(samples []procSample, f func(procSample) int64) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, f(s))
	}
	return m
}

// flatness compares the peaks of each figure after the warm-up (the last
// quarter of the run) with the peaks during the warm-up.
type flatness struct {
	name         string
	f            func(procSample) int64
	slack        int64 // allowed above warm-up peak × 1.2
	warm, late   int64
	unit         string
	unitDivision int64
}

// flatFigures are the figures a soak must keep flat, with the slack each
// may have above 1.2 × its warm-up peak.
func flatFigures() []*flatness {
	return []*flatness{
		{name: "RSS", f: func(s procSample) int64 { return s.RSSKiB }, slack: 8 << 10, unit: "MiB", unitDivision: 1024},
		{name: "goroutines", f: func(s procSample) int64 { return int64(s.Goroutines) }, slack: 16, unitDivision: 1},
		{name: "open fds", f: func(s procSample) int64 { return int64(s.FDs) }, slack: 16, unitDivision: 1},
	}
}

// checkFlat fails the test when a figure's peak in the last quarter of
// samples exceeds its warm-up peak × 1.2 + slack; the warm-up is the
// samples taken before warm. It returns the figures, for the report.
func checkFlat(t *testing.T, samples []procSample, warm time.Duration) []*flatness {
	t.Helper()
	var warmS, lateS []procSample
	last := samples[len(samples)-1].At
	for _, s := range samples {
		if s.At < warm {
			warmS = append(warmS, s)
		}
		if s.At >= last-(last-warm)/4 {
			lateS = append(lateS, s)
		}
	}
	figs := flatFigures()
	if len(warmS) < 3 || len(lateS) < 2 {
		t.Errorf("too few samples: %d in the warm-up, %d at the end (of %d)", len(warmS), len(lateS), len(samples))
		return figs
	}
	for _, fg := range figs {
		fg.warm, fg.late = peak(warmS, fg.f), peak(lateS, fg.f)
		if bound := fg.warm + fg.warm/5 + fg.slack; fg.late > bound {
			t.Errorf("%s grew: peak %d after the warm-up, %d during it (bound %d)", fg.name, fg.late, fg.warm, bound)
		}
	}
	return figs
}

// String formats the figure's two peaks.
func (fg *flatness) String() string {
	if fg.unitDivision > 1 {
		return fmt.Sprintf("%s %.1f -> %.1f %s", fg.name, float64(fg.warm)/float64(fg.unitDivision),
			float64(fg.late)/float64(fg.unitDivision), fg.unit)
	}
	return fmt.Sprintf("%s %d -> %d", fg.name, fg.warm, fg.late)
}

// tally counts the answers of a load by kind of request and status, and
// keeps the first problems.
type tally struct {
	mu       sync.Mutex
	counts   map[string]map[int]int64 // kind -> status (0: transport error)
	problems []string
	nproblem int64
	slowest  map[string]time.Duration
}

func newTally() *tally {
	return &tally{counts: make(map[string]map[int]int64), slowest: make(map[string]time.Duration)}
}

// add records one reply of kind with status (0 for a transport error)
// that took took.
func (ta *tally) add(kind string, status int, took time.Duration) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	m := ta.counts[kind]
	if m == nil {
		m = make(map[int]int64)
		ta.counts[kind] = m
	}
	m[status]++
	ta.slowest[kind] = max(ta.slowest[kind], took)
}

// problem records a failure of the test's expectations.
func (ta *tally) problem(format string, args ...any) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.nproblem++
	if len(ta.problems) < 10 {
		ta.problems = append(ta.problems, fmt.Sprintf(format, args...))
	}
}

// total returns how many answers had a status for which match is true.
func (ta *tally) total(match func(kind string, status int) bool) int64 {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	var n int64
	for kind, m := range ta.counts {
		for status, c := range m {
			if match(kind, status) {
				n += c
			}
		}
	}
	return n
}

// String lists the counts by kind and status, and the slowest reply of
// each kind.
func (ta *tally) String() string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	kinds := make([]string, 0, len(ta.counts))
	for k := range ta.counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var b strings.Builder
	for _, k := range kinds {
		codes := make([]int, 0, len(ta.counts[k]))
		for c := range ta.counts[k] {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		fmt.Fprintf(&b, "%s:", k)
		for _, c := range codes {
			fmt.Fprintf(&b, " %d×%d", ta.counts[k][c], c)
		}
		fmt.Fprintf(&b, " (slowest %v); ", ta.slowest[k].Round(time.Millisecond))
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// check fails the test when problems were recorded.
func (ta *tally) check(t *testing.T) {
	t.Helper()
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if ta.nproblem > 0 {
		t.Errorf("%d problems; the first ones:\n%s", ta.nproblem, strings.Join(ta.problems, "\n"))
	}
}

// reply is one response, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

// do sends req with client and reads the whole reply.
func do(client *http.Client, req *http.Request) reply {
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start), err: err}
}

// alive reports whether the process still runs and its logs show no
// panic or fatal error.
func alive(p *caddyProcess) bool {
	return p.cmd.Process.Signal(syscall.Signal(0)) == nil
}

// checkNoCrash kills p and fails the test if it had died or its logs show
// a panic.
func checkNoCrash(t *testing.T, p *caddyProcess) {
	t.Helper()
	wasAlive := alive(p)
	p.kill() // the logs may be read once the process is gone
	logs := p.logs.Bytes()
	if !wasAlive || bytes.Contains(logs, []byte("panic:")) || bytes.Contains(logs, []byte("fatal error")) ||
		bytes.Contains(logs, []byte("DATA RACE")) {
		t.Errorf("the Caddy process crashed, panicked or raced (alive %v): %s", wasAlive, tail(string(logs), 4000))
	}
}

// gate is a TCP forwarder in front of a server that can be closed (every
// connection dropped, new ones refused, as when the server's host or
// process is gone) and opened again on the same address.
type gate struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        map[net.Conn]struct{}
}

// newGate opens a gate to target (host:port) on a free loopback port.
func newGate(t *testing.T, target string) *gate {
	t.Helper()
	g := &gate{target: target, conns: make(map[net.Conn]struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = l.Addr().String()
	g.serve(l)
	t.Cleanup(g.close)
	return g
}

func (g *gate) serve(l net.Listener) {
	g.mu.Lock()
	g.l = l
	g.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go g.forward(c)
		}
	}()
}

func (g *gate) forward(c net.Conn) {
	u, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	if g.l == nil {
		g.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	g.conns[c], g.conns[u] = struct{}{}, struct{}{}
	g.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go pipe(u, c)
	go pipe(c, u)
	wg.Wait()
	c.Close()
	u.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, u)
	g.mu.Unlock()
}

// close refuses new connections and drops the open ones.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l != nil {
		g.l.Close()
		g.l = nil
	}
	for c := range g.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as from a host that is gone
		}
		c.Close()
	}
}

// open listens again on the gate's address.
func (g *gate) open(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, err = net.Listen("tcp", g.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("reopening the gate on %s: %v", g.addr, err)
	}
	g.serve(l)
}

// countingProxy is an HTTP reverse proxy to the test bucket that holds
// every request for delay before passing it on and counts requests by
// method and path, and those in flight.
type countingProxy struct {
	endpoint string
	delay    atomic.Int64 // nanoseconds
	mu       sync.Mutex
	counts   map[string]int // "GET /bucket/key"
	inFlight atomic.Int64
	events   []string // requests the proxy did not answer with 2xx/3xx/404, and why
}

// newCountingProxy starts a proxy to the test S3 server with delay.
func newCountingProxy(t *testing.T, delay time.Duration) *countingProxy {
	t.Helper()
	cp := &countingProxy{counts: make(map[string]int)}
	cp.delay.Store(int64(delay))
	target, err := url.Parse(env.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if sw, ok := w.(*proxyStatus); ok {
			sw.err = err
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp.endpoint = "http://" + l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cp.inFlight.Add(1)
		defer cp.inFlight.Add(-1)
		cp.mu.Lock()
		cp.counts[r.Method+" "+r.URL.Path]++
		cp.mu.Unlock()
		arrived := time.Now()
		select {
		case <-time.After(time.Duration(cp.delay.Load())):
		case <-r.Context().Done():
			cp.mu.Lock()
			cp.events = append(cp.events, fmt.Sprintf("%s %s: the client left after %v", r.Method, r.URL.Path, time.Since(arrived).Round(time.Millisecond)))
			cp.mu.Unlock()
			return
		}
		sw := &proxyStatus{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		if sw.status >= 400 && sw.status != 404 || sw.err != nil || r.Context().Err() != nil {
			cp.mu.Lock()
			cp.events = append(cp.events, fmt.Sprintf("%s %s: %d %v (client: %v) after %v", r.Method, r.URL.Path, sw.status, sw.err,
				r.Context().Err(), time.Since(arrived).Round(time.Millisecond)))
			cp.mu.Unlock()
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return cp
}

// proxyStatus records the status a proxied answer had and the proxy's
// error, if any.
type proxyStatus struct {
	http.ResponseWriter
	status int
	err    error
}

func (w *proxyStatus) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *proxyStatus) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streamed bodies through as they come.
func (w *proxyStatus) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// problems returns the first things that went wrong at the proxy (a
// client that left before the answer, an answer that failed).
func (cp *countingProxy) problems() []string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return slices.Clone(cp.events[:min(len(cp.events), 8)])
}

// count returns how many requests of method the proxy saw for key.
func (cp *countingProxy) count(method, key string) int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.counts[method+" /"+testBucket+"/"+key]
}

// mountFS mounts a filesystem of kind (tmpfs, or ext4 on a loop device
// over an image file) of size MiB at a new folder and returns the folder;
// the test's cleanup unmounts it. The tests run as root in a container
// where mounting is permitted; a failure says what failed.
func mountFS(t *testing.T, kind string, sizeMiB int, opts string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Fatalf("mounting a %s needs Linux", kind)
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s (the disk fault tests mount small filesystems: they need root and a container that permits mount)",
				name, strings.Join(args, " "), err, out)
		}
	}
	switch kind {
	case "tmpfs":
		run("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "r2gate-test", mnt)
	case "ext4":
		img := filepath.Join(dir, "fs.img")
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		run("mkfs.ext4", "-q", "-F", img)
		o := "loop"
		if opts != "" {
			o += "," + opts
		}
		run("mount", "-o", o, img, mnt)
	default:
		t.Fatalf("unknown filesystem %q", kind)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it lazily", mnt, err, out)
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

// loopDevice returns the block device (loopN) mounted at mnt.
func loopDevice(t *testing.T, mnt string) string {
	t.Helper()
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", mnt).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", mnt, err)
	}
	return filepath.Base(strings.TrimSpace(string(out)))
}

// putAll uploads the objects (key to body) to the test bucket, eight at a
// time, with a Cache-Control when cacheControl is not empty.
func putAll(t *testing.T, objects map[string][]byte, cacheControl string) {
	t.Helper()
	client := env.s3.Client("")
	next := make(chan string)
	errs := make(chan error, len(objects))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				in := &s3.PutObjectInput{
					Bucket: aws.String(testBucket), Key: aws.String(k), Body: bytes.NewReader(objects[k]),
					ContentType: aws.String("application/octet-stream"),
				}
				if cacheControl != "" {
					in.CacheControl = aws.String(cacheControl)
				}
				_, err := client.PutObject(context.Background(), in)
				if err != nil {
					errs <- fmt.Errorf("uploading %s: %w", k, err)
				}
			}
		}()
	}
	for k := range objects {
		next <- k
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// randomBodies returns n bodies of min to max bytes, named by name(i),
// from a fixed seed.
func randomBodies(n, least, most int, seed uint64, name func(int) string) ([]string, map[string][]byte) {
	rng := rand.New(rand.NewPCG(seed, 4))
	src := rand.NewChaCha8([32]byte{byte(seed)})
	keys := make([]string, n)
	bodies := make(map[string][]byte, n)
	for i := range keys {
		body := make([]byte, least+rng.IntN(most-least+1))
		_, _ = src.Read(body)
		keys[i] = name(i)
		bodies[keys[i]] = body
	}
	return keys, bodies
}
