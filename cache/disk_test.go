package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// openTestDisk opens a disk tier in a fresh folder without fsync (which
// only matters for power loss) and closes it when the test ends.
func openTestDisk(t testing.TB, maxBytes, maxItem int64) *Disk {
	t.Helper()
	return reopenTestDisk(t, t.TempDir(), maxBytes, maxItem)
}

func reopenTestDisk(t testing.TB, dir string, maxBytes, maxItem int64) *Disk {
	t.Helper()
	d, err := OpenDisk(dir, maxBytes, maxItem)
	if err != nil {
		t.Fatal(err)
	}
	d.noSync = true
	t.Cleanup(func() { d.Close() })
	return d
}

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testMeta(key string, size int64) Meta {
	return Meta{
		Info: origin.Info{
			Key:          key,
			Size:         size,
			ETag:         fmt.Sprintf(`"%x"`, size*31+int64(len(key))),
			LastModified: testTime,
			ContentType:  "application/octet-stream",
			CacheControl: "public, max-age=60",
			Metadata:     map[string]string{"source": "test"},
		},
		Stored:  testTime,
		Expires: testTime.Add(time.Minute),
	}
}

// testBody is size bytes that depend on seed.
func testBody(seed uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < size; i += 8 {
		v := r.Uint64()
		for j := i; j < min(i+8, size); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// put stores body under key through a fill, in chunks.
func put(t testing.TB, d *Disk, key string, body []byte) {
	t.Helper()
	if err := tryPut(d, key, testMeta(key, int64(len(body))), body); err != nil {
		t.Fatal(err)
	}
}

func tryPut(d *Disk, key string, meta Meta, body []byte) error {
	f, err := d.Create(key, meta)
	if err != nil {
		return err
	}
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 3000)
		if _, err := f.Write(rest[:n]); err != nil {
			f.Abort()
			return err
		}
		rest = rest[n:]
	}
	return f.Commit()
}

// get reads the entry under key whole.
func get(t testing.TB, d *Disk, key string) (Meta, []byte, error) {
	t.Helper()
	meta, f, err := d.Get(key)
	if err != nil {
		return meta, nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return meta, body, nil
}

// mustGet fails the test unless key holds body.
func mustGet(t testing.TB, d *Disk, key string, body []byte) {
	t.Helper()
	_, got, err := get(t, d, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("Get(%q): %d bytes, want %d (or different bytes)", key, len(got), len(body))
	}
}

func mustMiss(t testing.TB, d *Disk, key string) {
	t.Helper()
	if _, f, err := d.Get(key); !errors.Is(err, ErrNotFound) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("Get(%q): err = %v, want ErrNotFound", key, err)
	}
}

// folderState is what is really in a disk tier's folder.
type folderState struct {
	bodies, metas int
	bodyBytes     int64
	allBytes      int64
	temps         []string
}

func readFolder(t testing.TB, dir string) folderState {
	t.Helper()
	var s folderState
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		s.allBytes += fi.Size()
		if filepath.Base(filepath.Dir(path)) == "tmp" {
			s.temps = append(s.temps, de.Name())
			return nil
		}
		if _, ext, ok := parseName(de.Name()); ok {
			if ext == extBody {
				s.bodies++
				s.bodyBytes += fi.Size()
			} else {
				s.metas++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkConsistent fails unless the folder holds exactly the indexed
// entries and no temp files, and the byte count is within the bound.
func checkConsistent(t testing.TB, d *Disk) {
	t.Helper()
	s := d.Stats()
	f := readFolder(t, d.dir)
	if s.Bytes > s.MaxBytes || s.Bytes+s.Reserved > s.MaxBytes {
		t.Errorf("Bytes %d + Reserved %d exceed MaxBytes %d", s.Bytes, s.Reserved, s.MaxBytes)
	}
	if f.bodies != s.Entries || f.metas != s.Entries {
		t.Errorf("folder has %d bodies and %d metadata files, index has %d entries", f.bodies, f.metas, s.Entries)
	}
	if f.bodyBytes != s.Bytes {
		t.Errorf("bodies on disk take %d bytes, Stats.Bytes = %d", f.bodyBytes, s.Bytes)
	}
	if len(f.temps) != 0 && s.Reserved == 0 {
		t.Errorf("temp files left: %v", f.temps)
	}
}

// indexDump lists the index, least recently used first.
func indexDump(d *Disk) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	d.lru.each(func(e *diskEntry) {
		out = append(out, fmt.Sprintf("%q %x-%x size=%d crc=%08x", e.key, e.id.hash, e.id.gen, e.size, e.sum))
	})
	return out
}

func TestDiskRoundTrip(t *testing.T) {
	long := strings.Repeat("k/\x00\xff", 256) // 1024 bytes, NUL and invalid UTF-8
	tests := []struct {
		name string
		key  string
		size int
	}{
		{"empty body", "empty.txt", 0},
		{"small body", "a/b/c.txt", 100},
		{"one MiB body", "big.bin", 1 << 20},
		{"unicode key", "photos/été 🌅.jpg?w=200", 5000},
		{"1024-byte binary key", long, 70},
	}
	d := openTestDisk(t, 4<<20, 2<<20)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := testBody(uint64(i), tt.size)
			want := testMeta(strings.ToValidUTF8(tt.key, "?"), int64(tt.size))
			if err := tryPut(d, tt.key, want, body); err != nil {
				t.Fatal(err)
			}
			for _, get := range []struct {
				name string
				fn   func(string) (Meta, *os.File, error)
			}{{"Get", d.Get}, {"GetVerified", d.GetVerified}} {
				meta, f, err := get.fn(tt.key)
				if err != nil {
					t.Fatalf("%s: %v", get.name, err)
				}
				if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
					t.Errorf("%s: file at offset %d, want 0", get.name, off)
				}
				got, _ := io.ReadAll(f)
				f.Close()
				if !bytes.Equal(got, body) {
					t.Errorf("%s: body differs", get.name)
				}
				if !reflect.DeepEqual(meta, want) {
					t.Errorf("%s: meta = %+v, want %+v", get.name, meta, want)
				}
			}
			e, err := d.Load(tt.key)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !bytes.Equal(e.Body, body) || !reflect.DeepEqual(e.Meta, want) {
				t.Errorf("Load: entry differs")
			}
		})
	}
	checkConsistent(t, d)
	if s := d.Stats(); s.Entries != len(tests) || s.Corrupted != 0 || s.WriteErrors != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestDiskRefusesMetadataThatJSONWouldAlter(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Meta)
	}{
		{"object key", func(m *Meta) { m.Key = "a\xffb" }},
		{"content type", func(m *Meta) { m.ContentType = "text/plain; x=\xe9" }},
		{"user metadata value", func(m *Meta) { m.Metadata = map[string]string{"a": "\xc3"} }},
		{"user metadata name", func(m *Meta) { m.Metadata = map[string]string{"\xc3": "a"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			meta := testMeta("k", 10)
			tt.change(&meta)
			if _, err := d.Create("k", meta); !errors.Is(err, ErrInvalidMeta) {
				t.Errorf("Create: %v, want ErrInvalidMeta", err)
			}
			put(t, d, "k", testBody(1, 10))
			if err := d.UpdateMeta("k", meta); !errors.Is(err, ErrInvalidMeta) {
				t.Errorf("UpdateMeta: %v, want ErrInvalidMeta", err)
			}
			if s := d.Stats(); s.Reserved != 0 || s.Entries != 1 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestDiskMissingKeyIsNotFound(t *testing.T) {
	d := openTestDisk(t, 1<<20, 0)
	mustMiss(t, d, "nothing")
	if _, err := d.Load("nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load: %v", err)
	}
	if err := d.UpdateMeta("nothing", testMeta("nothing", 0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateMeta: %v", err)
	}
}

func TestDiskReplacingAKeyKeepsOneEntry(t *testing.T) {
	d := openTestDisk(t, 1<<20, 0)
	put(t, d, "k", testBody(1, 1000))
	put(t, d, "k", testBody(2, 3000))
	mustGet(t, d, "k", testBody(2, 3000))
	if s := d.Stats(); s.Entries != 1 || s.Bytes != 3000 {
		t.Errorf("stats = %+v", s)
	}
	checkConsistent(t, d)
}

func TestDiskBoundHoldsAfterChurn(t *testing.T) {
	const maxBytes = 64 << 10
	tests := []struct {
		name    string
		workers int
	}{
		{"one writer", 1},
		{"four writers and readers at once", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, maxBytes, 8<<10)
			var wg sync.WaitGroup
			var mu sync.Mutex
			written := 0
			for w := range tt.workers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 1))
					for {
						mu.Lock()
						if written > 3*maxBytes {
							mu.Unlock()
							return
						}
						mu.Unlock()
						size := r.IntN(8 << 10)
						key := fmt.Sprintf("k%d", r.IntN(40))
						body := testBody(uint64(size), size)
						if err := tryPut(d, key, testMeta(key, int64(size)), body); err != nil && !errors.Is(err, ErrNoRoom) {
							t.Error(err)
							return
						}
						mu.Lock()
						written += size
						mu.Unlock()
						if s := d.Stats(); s.Bytes+s.Reserved > maxBytes {
							t.Errorf("Bytes %d + Reserved %d > %d", s.Bytes, s.Reserved, maxBytes)
						}
						other := fmt.Sprintf("k%d", r.IntN(40))
						if meta, f, err := d.Get(other); err == nil {
							got, _ := io.ReadAll(f)
							f.Close()
							if !bytes.Equal(got, testBody(uint64(meta.Size), int(meta.Size))) {
								t.Errorf("Get(%q) returned wrong bytes", other)
							}
						} else if !errors.Is(err, ErrNotFound) {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			s := d.Stats()
			if s.Evictions == 0 {
				t.Errorf("no evictions after writing %d bytes into %d", written, maxBytes)
			}
			if s.Reserved != 0 || s.Corrupted != 0 || s.WriteErrors != 0 {
				t.Errorf("stats = %+v", s)
			}
			checkConsistent(t, d)
			t.Logf("%+v; all files %d bytes", s, readFolder(t, d.dir).allBytes)
		})
	}
}

func TestDiskEvictsLeastRecentlyUsed(t *testing.T) {
	const size = 1000
	tests := []struct {
		name  string
		touch func(d *Disk, key string) error
	}{
		{"a Get keeps an entry", func(d *Disk, key string) error {
			_, f, err := d.Get(key)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"a Load keeps an entry", func(d *Disk, key string) error {
			_, err := d.Load(key)
			return err
		}},
		{"rewriting keeps an entry", func(d *Disk, key string) error {
			return tryPut(d, key, testMeta(key, size), testBody(0, size))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 4*size, 0)
			for i := range 4 {
				put(t, d, fmt.Sprint(i), testBody(0, size))
			}
			if err := tt.touch(d, "0"); err != nil {
				t.Fatal(err)
			}
			put(t, d, "4", testBody(0, size)) // evicts 1, the least recently used
			put(t, d, "5", testBody(0, size)) // evicts 2
			mustGet(t, d, "0", testBody(0, size))
			mustMiss(t, d, "1")
			mustMiss(t, d, "2")
			mustGet(t, d, "3", testBody(0, size))
			// Rewriting evicts the old copy of "0" too: while the new one
			// is written both count.
			if s := d.Stats(); s.Evictions < 2 || s.Entries != 4 {
				t.Errorf("stats = %+v", s)
			}
			checkConsistent(t, d)
		})
	}
}

func TestDiskRefusesItemsAboveMaxItem(t *testing.T) {
	tests := []struct {
		name              string
		maxBytes, maxItem int64
		size              int64
		wantErr           error
	}{
		{"one byte over the item bound is refused", 10000, 1000, 1001, ErrTooLarge},
		{"exactly the item bound is kept", 10000, 1000, 1000, nil},
		{"an item bound above the tier is the tier's size", 1000, 5000, 1001, ErrTooLarge},
		{"no item bound means the tier's size", 1000, 0, 1000, nil},
		{"unknown size is refused", 1000, 0, -1, ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, tt.maxBytes, tt.maxItem)
			f, err := d.Create("k", testMeta("k", tt.size))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Create: err = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				f.Abort()
			}
			if s := d.Stats(); s.Reserved != 0 || (tt.wantErr == ErrTooLarge) != (s.Refused == 1) {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestDiskDeleteAndDeletePrefix(t *testing.T) {
	keys := []string{"a/1", "a/2", "a/2?w=100", "ab", "b/1", ""}
	tests := []struct {
		name   string
		delete func(d *Disk) int
		want   int
		left   []string
	}{
		{"prefix removes the keys under it", func(d *Disk) int { return d.DeletePrefix("a/") }, 3, []string{"ab", "b/1", ""}},
		{"prefix of a key removes its variants", func(d *Disk) int { return d.DeletePrefix("a/2") }, 2, []string{"a/1", "ab", "b/1", ""}},
		{"empty prefix removes everything", func(d *Disk) int { return d.DeletePrefix("") }, 6, nil},
		{"prefix matching nothing removes nothing", func(d *Disk) int { return d.DeletePrefix("zz") }, 0, keys},
		{"delete removes one key", func(d *Disk) int { d.Delete("a/2"); return 1 }, 1, []string{"a/1", "a/2?w=100", "ab", "b/1", ""}},
		{"delete of a missing key does nothing", func(d *Disk) int { d.Delete("zz"); return 0 }, 0, keys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			for _, k := range keys {
				put(t, d, k, []byte("body of "+k))
			}
			if n := tt.delete(d); n != tt.want {
				t.Errorf("removed %d, want %d", n, tt.want)
			}
			for _, k := range keys {
				if contains(tt.left, k) {
					mustGet(t, d, k, []byte("body of "+k))
				} else {
					mustMiss(t, d, k)
				}
			}
			checkConsistent(t, d)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDiskUpdateMeta(t *testing.T) {
	dir := t.TempDir()
	d := reopenTestDisk(t, dir, 1<<20, 0)
	body := testBody(7, 5000)
	put(t, d, "k", body)
	updated := testMeta("k", 5000)
	updated.Stored = testTime.Add(time.Hour)
	updated.Expires = testTime.Add(2 * time.Hour)
	updated.CacheControl = "public, max-age=3600"
	if err := d.UpdateMeta("k", updated); err != nil {
		t.Fatal(err)
	}
	check := func(d *Disk) {
		t.Helper()
		meta, got, err := get(t, d, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(meta, updated) || !bytes.Equal(got, body) {
			t.Errorf("meta = %+v, want %+v (body equal: %v)", meta, updated, bytes.Equal(got, body))
		}
	}
	check(d)

	wrong := updated
	wrong.Size = 4999
	if err := d.UpdateMeta("k", wrong); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("UpdateMeta with another size: %v, want ErrSizeMismatch", err)
	}
	check(d)

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = reopenTestDisk(t, dir, 1<<20, 0)
	check(d)
	checkConsistent(t, d)
}

func TestDiskFolderIsLocked(t *testing.T) {
	dir := t.TempDir()
	d := reopenTestDisk(t, dir, 1<<20, 0)
	if d2, err := OpenDisk(dir, 1<<20, 0); err == nil {
		d2.Close()
		t.Fatal("a second OpenDisk of an open folder succeeded")
	}
	d.Close()
	reopenTestDisk(t, dir, 1<<20, 0)
}

func TestDiskRejectsBadBound(t *testing.T) {
	if _, err := OpenDisk(t.TempDir(), 0, 0); err == nil {
		t.Error("OpenDisk with a zero bound succeeded")
	}
}

func TestDiskStaysUsableAfterWriteErrors(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, d *Disk) (fix func())
		// key to write while broken
		key string
	}{
		{
			name: "temp folder replaced by a file",
			break_: func(t *testing.T, d *Disk) func() {
				tmp := filepath.Join(d.dir, "tmp")
				os.RemoveAll(tmp)
				os.WriteFile(tmp, nil, 0o644)
				return func() { os.Remove(tmp); os.Mkdir(tmp, 0o755) }
			},
			key: "k",
		},
		{
			name: "entry subfolder replaced by a file",
			break_: func(t *testing.T, d *Disk) func() {
				sub := filepath.Join(d.dir, fmt.Sprintf("%02x", keyHash("k")[0]))
				os.RemoveAll(sub)
				os.WriteFile(sub, nil, 0o644)
				return func() { os.Remove(sub) }
			},
			key: "k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			put(t, d, "old", testBody(1, 100))
			put(t, d, "k", testBody(1, 100)) // creates its subfolder
			d.Delete("k")
			fix := tt.break_(t, d)

			err := tryPut(d, tt.key, testMeta(tt.key, 1000), testBody(2, 1000))
			if err == nil {
				t.Fatal("write into a broken folder succeeded")
			}
			if !strings.Contains(err.Error(), "cache: writing disk entry") {
				t.Errorf("error has no context: %v", err)
			}
			s := d.Stats()
			if s.WriteErrors != 1 || s.Reserved != 0 || s.Entries != 1 || s.Bytes != 100 {
				t.Errorf("stats after failure = %+v", s)
			}
			mustMiss(t, d, tt.key)
			mustGet(t, d, "old", testBody(1, 100))

			fix()
			put(t, d, tt.key, testBody(2, 1000))
			mustGet(t, d, tt.key, testBody(2, 1000))
			checkConsistent(t, d)
		})
	}
}

func TestDiskCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	for range 3 {
		d, err := OpenDisk(dir, 1<<20, 0)
		if err != nil {
			t.Fatal(err)
		}
		put(t, d, "k", testBody(1, 1000))
		f, err := d.Create("pending", testMeta("pending", 10))
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.NewReader()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, err := io.ReadAll(r)
			done <- err
		}()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrDiskClosed) {
			t.Errorf("reader of a fill at Close: %v, want ErrDiskClosed", err)
		}
		r.Close()
		if _, _, err := d.Get("k"); !errors.Is(err, ErrDiskClosed) {
			t.Errorf("Get after Close: %v", err)
		}
		if err := f.Commit(); err == nil {
			t.Error("Commit after Close succeeded")
		}
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after", before, after)
	}
	d := reopenTestDisk(t, dir, 1<<20, 0)
	mustGet(t, d, "k", testBody(1, 1000))
	checkConsistent(t, d)
}

// BenchmarkDiskGet measures a disk hit: lookup, open, size check, close
// (the metadata of recently used entries is in memory; the body itself is
// not read: the server sends it with sendfile). "open and fstat" is the
// floor: what Caddy's file_server does per request for the same files.
func BenchmarkDiskGet(b *testing.B) {
	d := openTestDisk(b, 1<<30, 0)
	const n = 1000
	keys := make([]string, n)
	paths := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("bucket/images/photo-%04d.jpg", i)
		if err := tryPut(d, keys[i], testMeta(keys[i], 4096), testBody(uint64(i), 4096)); err != nil {
			b.Fatal(err)
		}
		paths[i] = d.path(d.index[keys[i]].id, extBody)
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, f, err := d.Get(keys[i%n])
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			i++
		}
	})
	b.Run("open and fstat", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			f, err := os.Open(paths[i%n])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Stat(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			i++
		}
	})
}
