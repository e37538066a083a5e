//go:build linux

package cache

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// withFileSizeLimit makes every write past limit bytes into a file fail with
// EFBIG, as a full disk fails with ENOSPC (Go ignores SIGXFSZ), until the
// returned function restores the limit. It works as root, unlike chmod.
func withFileSizeLimit(t *testing.T, limit uint64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatalf("setting the file size limit: %v", err)
	}
	lim := old
	lim.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatalf("setting the file size limit: %v", err)
	}
	restored := false
	restore = func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(restore)
	return restore
}

func TestDiskStaysUsableWhenTheDiskIsFull(t *testing.T) {
	tests := []struct {
		name    string
		limit   uint64
		size    int
		wantMsg string
	}{
		{"body write fails", 64 << 10, 100 << 10, "file too large"},
		{"metadata write fails", 100, 50, "write metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			put(t, d, "old", testBody(1, 1000))
			f, err := d.Create("k", testMeta("k", int64(tt.size)))
			if err != nil {
				t.Fatal(err)
			}
			r, err := f.NewReader()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			restore := withFileSizeLimit(t, tt.limit)
			_, werr := f.Write(testBody(2, tt.size))
			cerr := f.Commit()
			restore()
			err = errors.Join(werr, cerr)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), `cache: writing disk entry "k"`) {
				t.Fatalf("write and commit: %v, want an error about %q with context", err, tt.wantMsg)
			}
			if _, err := r.Read(make([]byte, 1<<20)); err == nil {
				t.Error("a reader of the failed fill read on")
			}
			s := d.Stats()
			if s.WriteErrors != 1 || s.Reserved != 0 || s.Entries != 1 || s.Bytes != 1000 {
				t.Errorf("stats after failure = %+v", s)
			}
			mustMiss(t, d, "k")
			mustGet(t, d, "old", testBody(1, 1000))
			checkConsistent(t, d)

			put(t, d, "k", testBody(2, tt.size))
			mustGet(t, d, "k", testBody(2, tt.size))
		})
	}
}
