package caddymodule_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bodyFiles lists the disk tier's body files (*.b) under dir.
func bodyFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".b") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCorruptDiskEntriesAreNeverServed damages the only entry of a disk
// tier (a flipped byte, then a truncation) and checks that the right bytes
// come back, refetched from the bucket.
func TestCorruptDiskEntriesAreNeverServed(t *testing.T) {
	newTester(t)
	dir := filepath.Join(env.disks, "corrupt")
	for _, damage := range []struct {
		name string
		do   func(path string) error
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0xff
			return os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(p string) error { return os.Truncate(p, 100) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			key := uniqueKey(t, "fragile.bin")
			body := bytes.Repeat([]byte("fragile!"), 20_000)
			putObject(t, env.s3, key, body, "")
			mustGet(t, corruptURL+"/"+key, body)
			// Restart the tier so the next read is the first after a start,
			// when the checksum is verified.
			load(t, emptyConfig)
			newTester(t)
			files := bodyFiles(t, dir)
			if len(files) == 0 {
				t.Fatal("no body file in the disk tier")
			}
			for _, f := range files {
				if err := damage.do(f); err != nil {
					t.Fatal(err)
				}
			}
			env.proxy.Reset()
			resp := mustGet(t, corruptURL+"/"+key, body) // fails if damaged bytes came back
			if strings.Contains(resp.Header.Get("Cache-Status"), "; hit;") {
				t.Errorf("a damaged entry was a hit: %q", resp.Header.Get("Cache-Status"))
			}
			if n := len(bucketGets(key)); n != 1 {
				t.Errorf("the bucket saw %d GETs, want 1 refetch", n)
			}
			mustGet(t, corruptURL+"/"+key, body)
		})
	}
}
