package cache

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// smallFilesystem makes d's fills behave as on a filesystem of capacity
// bytes holding nothing but the tier's committed bodies and the fill being
// written: a write past it writes what fits and fails with ENOSPC.
func smallFilesystem(d *Disk, capacity int64) {
	d.writeHook = func(file *os.File, key string, off int64, p []byte) (int, error) {
		d.mu.Lock()
		used := d.bytes
		d.mu.Unlock()
		room := max(capacity-used-off, 0)
		if int64(len(p)) <= room {
			return file.Write(p)
		}
		n, err := file.Write(p[:room])
		if err == nil {
			err = &os.PathError{Op: "write", Path: file.Name(), Err: syscall.ENOSPC}
		}
		return n, err
	}
}

func TestDiskFullFilesystemLowersTheBoundAndRecovers(t *testing.T) {
	const mib = 1 << 20
	d := openTestDisk(t, 64*mib, 0) // a bound far above the filesystem's 3 MiB
	smallFilesystem(d, 3*mib)
	for i, k := range []string{"a", "b", "c"} {
		put(t, d, k, testBody(uint64(i), mib))
	}
	// The filesystem is full: the next fill fails at its first byte.
	err := tryPut(d, "d", testMeta("d", mib), testBody(4, mib))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill on a full filesystem: %v, want ENOSPC", err)
	}
	s := d.Stats()
	t.Logf("after ENOSPC: %+v", s)
	if want := int64(3*mib - 3*mib/8); s.Limit != want || s.MaxBytes != 64*mib || s.Full != 1 {
		t.Fatalf("bound in force %d (configured %d, full %d), want %d: what fitted less an eighth", s.Limit, s.MaxBytes, s.Full, want)
	}
	if s.Entries != 2 || s.Bytes != 2*mib || s.Evictions != 1 {
		t.Fatalf("after ENOSPC: %d entries, %d bytes, %d evictions; want the oldest evicted to fit the bound", s.Entries, s.Bytes, s.Evictions)
	}
	mustMiss(t, d, "a")

	// Later fills make room for themselves within what fits: they work.
	for i, k := range []string{"d", "e", "f"} {
		body := testBody(uint64(10+i), mib)
		if err := tryPut(d, k, testMeta(k, mib), body); err != nil {
			t.Fatalf("fill %q after the bound was lowered: %v", k, err)
		}
		mustGet(t, d, k, body)
	}
	checkConsistent(t, d)

	// A reload's SetLimits sets the configured bound again.
	d.SetLimits(64*mib, 0)
	if s := d.Stats(); s.Limit != 64*mib {
		t.Errorf("after SetLimits: bound in force %d, want %d", s.Limit, 64*mib)
	}
}

func TestDiskFullMidWriteEvicts(t *testing.T) {
	const mib = 1 << 20
	d := openTestDisk(t, 64*mib, 0)
	smallFilesystem(d, 3*mib)
	put(t, d, "a", testBody(1, mib))
	put(t, d, "b", testBody(2, mib))
	// 2 MiB does not fit beside 2 MiB on 3 MiB: it fails half written.
	if err := tryPut(d, "c", testMeta("c", 2*mib), testBody(3, 2*mib)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill past the filesystem: %v, want ENOSPC", err)
	}
	// Retried, it evicts both older entries and fits.
	body := testBody(3, 2*mib)
	if err := tryPut(d, "c", testMeta("c", 2*mib), body); err != nil {
		t.Fatalf("retried fill: %v", err)
	}
	mustGet(t, d, "c", body)
	if s := d.Stats(); s.Entries != 1 || s.Bytes != 2*mib || s.Reserved != 0 {
		t.Errorf("after the retry: %+v", s)
	}
	checkConsistent(t, d)
}
