package cache

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestStatsOfCachesSharingADiskLeaveTheDiskOut(t *testing.T) {
	d := openTestDisk(t, 64<<20, 0)
	b := newFakeBucket()
	src := Source{Bucket: b, Namespace: "ns\x00"}
	opts := GetOptions{Policy: Policy{DefaultTTL: time.Hour}}
	var caches []*Cache
	for _, mem := range []int64{4 << 20, 8 << 20} { // two sites, two memory sizes, one disk folder
		c, err := New(Config{MemoryBytes: mem, MemoryItem: 1 << 20, Disk: d})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Close()
			<-c.Closed()
		})
		caches = append(caches, c)
	}
	for i := range 10 {
		k := fmt.Sprintf("k%d", i)
		b.put(k, testBody(uint64(i), 10_000), "")
		c := caches[i%2]
		resp, err := c.Get(context.Background(), src, k, opts)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Close()
		c.Wait()
	}
	// What a collector reports: every cache's Stats, and each distinct
	// Disk's once.
	var memory int64
	disks := map[*Disk]bool{}
	for _, c := range caches {
		memory += c.Stats().MemoryItems
		disks[c.Disk()] = true
	}
	if len(disks) != 1 || !disks[d] {
		t.Fatalf("Disk() of the caches: %v, want the one shared tier", disks)
	}
	if s := d.Stats(); s.Entries != 10 || s.Bytes != 100_000 || memory != 10 {
		t.Errorf("disk %d entries (%d bytes), memory %d entries; want 10, 100000, 10", s.Entries, s.Bytes, memory)
	}
}
