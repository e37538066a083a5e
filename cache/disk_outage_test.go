package cache

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestDiskFailuresAreReportedOncePerOutage(t *testing.T) {
	r := newRig(t, true)
	var mu sync.Mutex
	var reported []string
	r.c.onDiskError = func(err error) {
		mu.Lock()
		reported = append(reported, err.Error())
		mu.Unlock()
	}
	reports := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(reported)
	}
	// Keys named bad* cannot be written: an I/O error, not a full disk.
	r.c.disk.writeHook = func(file *os.File, key string, off int64, p []byte) (int, error) {
		if strings.Contains(key, "bad") {
			return 0, &os.PathError{Op: "write", Path: file.Name(), Err: syscall.EIO}
		}
		return file.Write(p)
	}
	for _, k := range []string{"bad1", "bad2", "bad3", "bad4", "good"} {
		r.b.put(k, testBody(1, 100_000), "")
	}
	release := make(chan struct{})
	r.b.body = func(ctx context.Context, key string, b []byte) io.Reader {
		if key == "bad1" || key == "bad2" {
			return &stalledBody{ctx: ctx, b: b, first: 0, release: release}
		}
		return nil
	}
	fetch := func(k string) {
		t.Helper()
		body, _, err := r.get(t, k)
		var pt *BypassError
		if errors.As(err, &pt) && strings.HasPrefix(k, "bad") {
			return // the fill failed before the response was made: served from the bucket
		}
		if err != nil || len(body) != 100_000 {
			t.Fatalf("%s: %d bytes, %v", k, len(body), err)
		}
	}
	// Two fills fail in one outage: one report.
	var wg sync.WaitGroup
	for _, k := range []string{"bad1", "bad2"} {
		resp, err := r.c.Get(context.Background(), r.src, k, r.opts)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer resp.Close()
			if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != 100_000 {
				t.Errorf("%s: %d bytes, %v", k, n, err)
			}
		})
	}
	r.b.body = nil
	close(release)
	wg.Wait()
	r.c.Wait()
	if n := reports(); n != 1 {
		t.Fatalf("two failures in one outage reported %d times, want once", n)
	}
	// After the pause, the tier is tried again and fails again, with no
	// success in between: the same outage.
	r.clock.Add(diskPause)
	fetch("bad3")
	if n := reports(); n != 1 {
		t.Fatalf("a failure before the tier worked again reported: %d reports, want 1", n)
	}
	// It works again: the outage is over, and the next failure is a new
	// one.
	r.clock.Add(diskPause)
	fetch("good")
	r.clock.Add(diskPause)
	fetch("bad4")
	if n := reports(); n != 2 {
		t.Fatalf("a failure after the tier worked again: %d reports, want 2", n)
	}
	if s := r.c.Disk().Stats(); s.WriteErrors != 4 {
		t.Errorf("the disk counted %d write errors, want every one of the 4", s.WriteErrors)
	}
}
