package caddymodule_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStalledClientOfADiskHitIsCutByWriteIdle: disk hits reach sendfile
// under Caddy's write-idle wrapper (whole, and a Range since the part is
// handed down a chunk at a time), and the wrapper's deadline still holds
// for them: a client that stops reading is cut off after write_idle, not
// left holding the connection. Ranges of the disk entry come back exact.
func TestStalledClientOfADiskHitIsCutByWriteIdle(t *testing.T) {
	key := uniqueKey(t, "big.bin")
	const size = 48 << 20
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*7 + i>>13)
	}
	putObject(t, env.s3, key, body, "public, max-age=3600")
	_, _, base := caddyOnFreePorts(t, func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %s
	persist_config off
	servers {
		timeouts {
			write_idle 1s
		}
	}
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	r2gate {
		%s
		cache {
			memory 0
			disk %s 256MiB
		}
	}
}
`, admin, port, bucketLines(env.proxy.Endpoint), t.TempDir())
	})
	url := base + "/" + key
	// Fill the disk tier, then check it is a disk hit.
	for i := 0; ; i++ {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("GET %d: %d bytes, %v; want the object", i, len(got), err)
		}
		if strings.Contains(resp.Header.Get("Cache-Status"), "detail=disk") {
			break
		}
		if i == 20 {
			t.Fatalf("never a disk hit: %q", resp.Header.Get("Cache-Status"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, rg := range [][2]int{{0, 99}, {1000, 1000 + 5<<20}, {size - 300<<10, size - 1}, {3 << 20, 3<<20 + 256<<10 - 1}} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", rg[0], rg[1]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[rg[0]:rg[1]+1]) {
			t.Fatalf("Range %v: %d, %d bytes, %v; want 206 with the range's %d bytes", rg, resp.StatusCode, len(got), err, rg[1]-rg[0]+1)
		}
		if !strings.Contains(resp.Header.Get("Cache-Status"), "detail=disk") {
			t.Errorf("Range %v: %q, want a disk hit", rg, resp.Header.Get("Cache-Status"))
		}
	}

	host := strings.TrimPrefix(base, "http://")

	// A client that reads slowly but steadily (about 6 MiB/s, so a
	// write_idle chunk of 1 MiB takes well under the 1 s) gets all of a
	// 24 MiB range: the deadline is renewed for every chunk, not set once
	// for the whole part.
	{
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		const from, to = 1 << 20, 25<<20 - 1
		fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-%d\r\n\r\n", key, host, from, to)
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("slow reader: %v", err)
		}
		var got bytes.Buffer
		started := time.Now()
		for {
			n, err := io.CopyN(&got, resp.Body, 64<<10)
			if err != nil || n == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		conn.Close()
		if !bytes.Equal(got.Bytes(), body[from:to+1]) {
			t.Fatalf("a slow but steady reader got %d of %d bytes in %v; want all of them", got.Len(), to-from+1, time.Since(started).Round(time.Millisecond))
		}
		t.Logf("slow reader: all %d bytes in %v", got.Len(), time.Since(started).Round(time.Millisecond))
	}
	for _, rangeHeader := range []string{"", "Range: bytes=4096-46000000\r\n"} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", key, host, rangeHeader)
		time.Sleep(4 * time.Second) // read nothing for four times write_idle
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: reading the answer: %v", rangeHeader, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		conn.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%q: still sending after 20 s of reading: %d of %d bytes", rangeHeader, n, resp.ContentLength)
		}
		if n >= resp.ContentLength {
			t.Errorf("%q: the client that stalled for 4 s got the whole %d bytes; want it cut off after write_idle (1 s)", rangeHeader, n)
		}
		t.Logf("%q: %d %d of %d bytes before the server cut the stalled client off (%v)", rangeHeader, resp.StatusCode, n, resp.ContentLength, err)
	}
}
