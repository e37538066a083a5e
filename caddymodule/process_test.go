package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
)

// caddyMainEnv makes the test binary run Caddy's main with the
// unit-separator-separated (0x1f) arguments it holds.
const caddyMainEnv = "R2GATE_TEST_CADDY_MAIN"

// caddyProcess is Caddy with r2gate in a process of its own.
type caddyProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs lockedBuffer
	once sync.Once // kill
}

// lockedBuffer is the log of a running process: written by exec's copying
// goroutine while a test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Bytes returns a copy of what was written so far.
func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *lockedBuffer) String() string { return string(l.Bytes()) }

// startCaddy runs config in a new process and waits until base answers.
func startCaddy(t *testing.T, config, base, home string) *caddyProcess {
	t.Helper()
	file := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &caddyProcess{t: t, base: base}
	self, err := os.Executable() // not os.Args[0]: caddytest rewrites os.Args
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(self)
	p.cmd.Env = append(os.Environ(),
		caddyMainEnv+"="+strings.Join([]string{"run", "--config", file, "--adapter", "caddyfile"}, "\x1f"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_DATA_HOME="+filepath.Join(home, "data"))
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("caddy did not start: %s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caddyOnFreePorts starts a Caddy process of its own for one test, with
// its admin API and its site on free loopback ports: config returns the
// Caddyfile for them (admin as host:port, site as a port). This is how an
// integration test gets a site of its own without a fixed port; the
// process ends with the test.
func caddyOnFreePorts(t *testing.T, config func(admin, port string) string) (p *caddyProcess, admin, base string) {
	t.Helper()
	admin, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	site, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := site[strings.LastIndex(site, ":")+1:]
	base = "http://127.0.0.1:" + port
	p = startCaddy(t, config(admin, port), base, t.TempDir())
	t.Cleanup(p.kill)
	return p, admin, base
}

// kill ends the process with SIGKILL: no cleanup, no index saved.
func (p *caddyProcess) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	})
}

func processConfig(t *testing.T, port, disk string) string {
	return fmt.Sprintf(`{
	admin off
	persist_config off
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	r2gate {
		%s
		cache {
			memory 0
			disk %s 512MiB
		}
	}
}
`, port, bucketLines(env.proxy.Endpoint), disk)
}

// bucketLines are the r2gate lines that name the test bucket behind
// endpoint, for Caddyfiles of processes started by a test.
func bucketLines(endpoint string) string {
	return fmt.Sprintf("bucket %s\n\t\tendpoint %s\n\t\taccess_key %s\n\t\tsecret_key %s",
		testBucket, endpoint, env.s3.AccessKey, env.s3.SecretKey)
}

// TestDiskTierSurvivesAProcessRestartAndKill9 runs Caddy as its own
// process: an entry written before a SIGKILL is served from disk after the
// restart without a bucket request, and a fill cut short by SIGKILL is
// never served.
func TestDiskTierSurvivesAProcessRestartAndKill9(t *testing.T) {
	home := t.TempDir()
	addr, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	base := "http://127.0.0.1:" + port
	config := processConfig(t, port, filepath.Join(home, "disk"))

	small := uniqueKey(t, "small.bin")
	smallBody := bytes.Repeat([]byte("whole entry "), 10_000)
	putObject(t, env.s3, small, smallBody, "")
	big := uniqueKey(t, "big.bin")
	bigSum := uploadPatterned(t, big, 256)

	p := startCaddy(t, config, base, home)
	fetch := func(key string) (*http.Response, []byte) {
		resp, err := http.Get(base + "/" + key)
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		return resp, b
	}
	if _, b := fetch(small); !bytes.Equal(b, smallBody) {
		t.Fatal("first fetch of the small object is wrong")
	}
	// Wait for the fill to commit: a hit (the memory copy lands only
	// after the disk entry is committed).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, b := fetch(small)
		if !bytes.Equal(b, smallBody) {
			t.Fatal("the small object changed")
		}
		if strings.Contains(resp.Header.Get("Cache-Status"), "; hit;") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the small object never became a hit: %q", resp.Header.Get("Cache-Status"))
		}
	}
	// Start the big fill, read a little of it, and kill Caddy mid-write.
	resp, err := http.Get(base + "/" + big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 8<<20); err != nil {
		t.Fatalf("reading the start of the big object: %v", err)
	}
	p.kill()
	resp.Body.Close()

	env.proxy.Reset()
	p = startCaddy(t, config, base, home)
	defer p.kill()
	r, b := fetch(small)
	if !bytes.Equal(b, smallBody) || !strings.Contains(r.Header.Get("Cache-Status"), "; hit;") {
		t.Errorf("after kill -9 and restart: small object %d bytes, Cache-Status %q; want the whole entry as a disk hit", len(b), r.Header.Get("Cache-Status"))
	}
	if n := len(bucketGets(small)); n != 0 {
		t.Errorf("the restarted process asked the bucket %d times for a cached object", n)
	}
	r, b = fetch(big)
	if len(b) != 256<<20 || sha(b) != bigSum {
		t.Errorf("the object whose fill was killed came back with %d bytes or wrong content", len(b))
	}
	if strings.Contains(r.Header.Get("Cache-Status"), "; hit;") {
		t.Errorf("a fill cut short by kill -9 was served as a hit: %q", r.Header.Get("Cache-Status"))
	}
	if n := len(bucketGets(big)); n != 1 {
		t.Errorf("the killed fill was refetched %d times, want 1", n)
	}
}
