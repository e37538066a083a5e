package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// patterned returns block i of a large test object: 1 MiB whose first 8
// bytes are its index, so any misplaced or repeated block is caught.
func patterned(i int) []byte {
	b := bytes.Clone(patternBlock())
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

var patternBlock = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20)
	for j := range b {
		b[j] = byte(j*7 + j>>8)
	}
	return b
})

// uploadPatterned writes a mib-MiB patterned object to the bucket and
// returns its SHA-256.
func uploadPatterned(t *testing.T, key string, mib int) [32]byte {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "obj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	for i := range mib {
		if _, err := w.Write(patterned(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	_, err = env.s3.Client("").PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), Body: f,
		ContentLength: aws.Int64(int64(mib) << 20), ContentType: aws.String("application/octet-stream"),
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		t.Fatalf("uploading %s: %v", key, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// sha returns the SHA-256 of b.
func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// rssBytes returns this process's resident set size.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("reading RSS: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestOneGiBStreamsWithFlatMemory streams a 1 GiB object from versitygw
// through Caddy and checks every byte arrives while the process (Caddy, the
// proxy and this client; versitygw is another process) grows by less than
// 64 MiB.
func TestOneGiBStreamsWithFlatMemory(t *testing.T) {
	newTester(t)
	const mib = 1024
	t0 := time.Now()
	want := uploadPatterned(t, "big/1gib.bin", mib)
	t.Logf("upload took %v", time.Since(t0))
	runtime.GC()
	idle := rssBytes(t)

	peak := idle
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				peak = max(peak, rssBytes(t))
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bucketURL+"/big/1gib.bin", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	close(stop)
	<-sampled
	if err != nil || n != mib<<20 {
		t.Fatalf("read %d bytes, err %v; want %d", n, err, mib<<20)
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the 1 GiB body differs from what was uploaded")
	}
	t.Logf("download done at %v", time.Since(t0))
	growth := peak - idle
	t.Logf("1 GiB streamed: idle RSS %d MiB, peak %d MiB, growth %d MiB", idle>>20, peak>>20, growth>>20)
	if growth >= 64<<20 {
		t.Errorf("RSS grew by %d MiB while streaming 1 GiB, want < 64 MiB", growth>>20)
	}

	// A range near the end of the big object is a ranged GET and exact.
	resp2, body := get(t, newTester(t), bucketURL+"/big/1gib.bin", "Range", fmt.Sprintf("bytes=%d-", int64(mib-1)<<20))
	if resp2.StatusCode != 206 || !bytes.Equal([]byte(body), patterned(mib-1)) {
		t.Errorf("last MiB: status %d, %d bytes, want 206 and block %d", resp2.StatusCode, len(body), mib-1)
	}
}

// handlerGoroutines counts goroutines running r2gate request code.
func handlerGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var dump strings.Builder
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "r2gate/r2gate/caddymodule.(*Handler)") || strings.Contains(g, "r2gate/r2gate/origin.(*Reader)") {
			n++
			dump.WriteString(g + "\n\n")
		}
	}
	return n, dump.String()
}

// TestClientDisconnectReleasesEverything reads part of a large body, hangs
// up, and checks that the handler returned, no goroutine of ours is left,
// and the bucket connection was dropped (the proxy in front of versitygw
// has no request in flight).
func TestClientDisconnectReleasesEverything(t *testing.T) {
	tester := newTester(t)
	uploadPatterned(t, "big/64mib.bin", 64)
	get(t, tester, bucketURL+"/big/64mib.bin") // warm connection pools
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	for _, rng := range []string{"", "bytes=0-99,1000000-60000000"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(bucketURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req := "GET /big/64mib.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		if rng != "" {
			req += "Range: " + rng + "\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, 256<<10); err != nil {
			t.Fatalf("reading the start of the body: %v", err)
		}
		c.Close()

		deadline := time.Now().Add(15 * time.Second)
		for {
			n, dump := handlerGoroutines()
			if n == 0 && env.proxy.InFlight() == 0 && runtime.NumGoroutine() <= baseline {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("range %q: after the client left: %d r2gate goroutines, %d bucket requests in flight, %d goroutines (baseline %d)\n%s",
					rng, n, env.proxy.InFlight(), runtime.NumGoroutine(), baseline, dump)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
