package cache

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crash releases the folder like a killed process would: no index file
// written, the journal left behind, fills left where they are.
func (d *Disk) crash() {
	d.mu.Lock()
	d.closed = true
	if d.journal != nil {
		d.journal.Close()
	}
	d.mu.Unlock()
	d.lockFile.Close()
}

// crashAndLoseIndex is a crash after which the index file and the journal
// are gone too: the next start reads every metadata file.
func (d *Disk) crashAndLoseIndex() {
	d.crash()
	os.Remove(filepath.Join(d.dir, indexName))
	os.Remove(filepath.Join(d.dir, journalName))
}

func TestDiskRestartRebuildsTheIndex(t *testing.T) {
	tests := []struct {
		name string
		stop func(t *testing.T, d *Disk)
		// sameOrder: the recency order survives too.
		sameOrder bool
	}{
		{"after Close, from the index file", func(t *testing.T, d *Disk) { d.Close() }, true},
		{"after a crash, from the journal", func(t *testing.T, d *Disk) { d.crash() }, false},
		{"after a crash, from an index file, the journal and a metadata file", func(t *testing.T, d *Disk) {
			d.SaveIndex()
			put(t, d, "in the journal", testBody(99, 99))
			d.Delete("k3")
			// Committed, but killed before its journal record.
			d.mu.Lock()
			j := d.journal
			d.journal = nil
			d.mu.Unlock()
			put(t, d, "in neither", testBody(98, 98))
			d.mu.Lock()
			d.journal = j
			d.mu.Unlock()
			d.crash()
		}, false},
		{"after a crash that lost the index file and the journal, from the metadata files", func(t *testing.T, d *Disk) {
			d.SaveIndex()
			d.crashAndLoseIndex()
		}, false},
		{"after a crash with a torn journal record", func(t *testing.T, d *Disk) {
			d.crash()
			f, _ := os.OpenFile(filepath.Join(d.dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{40, 1, 2, 3})
			f.Close()
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d := reopenTestDisk(t, dir, 1<<20, 0)
			for i := range 20 {
				put(t, d, fmt.Sprintf("k%d", i), testBody(uint64(i), 100*i))
			}
			for _, i := range []int{5, 0, 12} { // change the order
				mustGet(t, d, fmt.Sprintf("k%d", i), testBody(uint64(i), 100*i))
			}
			tt.stop(t, d)
			before := indexDump(d)
			d = reopenTestDisk(t, dir, 1<<20, 0)
			after := indexDump(d)
			if tt.sameOrder {
				if !slices.Equal(before, after) {
					t.Errorf("index after restart:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
				}
			} else {
				slices.Sort(before)
				slices.Sort(after)
				if !slices.Equal(before, after) {
					t.Errorf("entries after restart:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
				}
			}
			d.mu.Lock()
			for _, e := range d.index {
				if e.verified {
					t.Errorf("%q is marked verified after a restart", e.key)
				}
			}
			d.mu.Unlock()
			for i := range 20 {
				if i != 3 || tt.sameOrder {
					mustGet(t, d, fmt.Sprintf("k%d", i), testBody(uint64(i), 100*i))
				}
			}
			checkConsistent(t, d)
		})
	}
}

func TestDiskRestartWithSmallerBoundEvicts(t *testing.T) {
	dir := t.TempDir()
	d := reopenTestDisk(t, dir, 10000, 0)
	for i := range 10 {
		put(t, d, fmt.Sprint(i), testBody(0, 1000))
	}
	d.Close()
	d = reopenTestDisk(t, dir, 5000, 0)
	if s := d.Stats(); s.Bytes != 5000 || s.Entries != 5 {
		t.Errorf("stats = %+v", s)
	}
	mustMiss(t, d, "4")
	mustGet(t, d, "5", testBody(0, 1000))
	checkConsistent(t, d)
}

// entryFiles returns the body and metadata paths of key's entry.
func entryFiles(t *testing.T, d *Disk, key string) (body, meta string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.index[key]
	if e == nil {
		t.Fatalf("%q not indexed", key)
	}
	return d.path(e.id, extBody), d.path(e.id, extMeta)
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, at)
	b[0] ^= 0x20
	f.WriteAt(b, at)
}

func TestDiskDamagedEntriesAreDroppedNotServed(t *testing.T) {
	const size = 300 << 10
	garble := func(t *testing.T, _, meta string) { os.WriteFile(meta, []byte("{not json"), 0o644) }
	tests := []struct {
		name   string
		damage func(t *testing.T, body, meta string)
		// restart between the damage and the read: "", "close", "crash"
		// or "lose index" (a crash that lost the index file and journal).
		restart string
		read    func(d *Disk) error
		// droppedAtStart: the damage is found while rebuilding the index.
		droppedAtStart bool
	}{
		{name: "flipped byte in the body is caught on the first Get after a start",
			damage: func(t *testing.T, body, _ string) { flipByte(t, body, size-1) }, restart: "close", read: getErr},
		{name: "flipped byte in the body is caught on the first Get after a crash",
			damage: func(t *testing.T, body, _ string) { flipByte(t, body, 1) }, restart: "crash", read: getErr},
		{name: "flipped byte in the body is caught by GetVerified",
			damage: func(t *testing.T, body, _ string) { flipByte(t, body, 0) }, read: getVerifiedErr},
		{name: "flipped byte in the body is caught by Load",
			damage: func(t *testing.T, body, _ string) { flipByte(t, body, size/2) }, read: loadErr},
		{name: "truncated body is caught by Get at once",
			damage: func(t *testing.T, body, _ string) { os.Truncate(body, size-1) }, read: getErr},
		{name: "truncated body is caught after a start",
			damage: func(t *testing.T, body, _ string) { os.Truncate(body, 10) }, restart: "close", read: getErr},
		{name: "grown body is caught by Get",
			damage: func(t *testing.T, body, _ string) { os.Truncate(body, size+1) }, read: getErr},
		{name: "missing body is dropped",
			damage: func(t *testing.T, body, _ string) { os.Remove(body) }, read: getErr},
		{name: "missing metadata is dropped",
			damage: func(t *testing.T, _, meta string) { os.Remove(meta) }, restart: "close", read: getErr},
		{name: "garbled metadata is dropped",
			damage: garble, restart: "close", read: getErr},
		{name: "metadata of another size is dropped",
			damage: func(t *testing.T, _, meta string) {
				b, _ := os.ReadFile(meta)
				b = bytes.Replace(b, []byte(`"size":307200`), []byte(`"size":307201`), 1)
				os.WriteFile(meta, b, 0o644)
			}, restart: "close", read: getErr},
		{name: "garbled metadata is dropped at start when the index is rebuilt from metadata",
			damage: garble, restart: "lose index", droppedAtStart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d := reopenTestDisk(t, dir, 1<<20, 0)
			put(t, d, "other", testBody(1, 1000))
			put(t, d, "k", testBody(2, size))
			body, meta := entryFiles(t, d, "k")
			tt.damage(t, body, meta)
			switch tt.restart {
			case "close":
				d.Close()
			case "crash":
				d.crash()
			case "lose index":
				d.crashAndLoseIndex()
			}
			if tt.restart != "" {
				d = reopenTestDisk(t, dir, 1<<20, 0)
			}
			if !tt.droppedAtStart {
				if err := tt.read(d); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrNotFound) {
					t.Errorf("read: %v, want ErrCorrupt and ErrNotFound", err)
				}
			}
			mustMiss(t, d, "k")
			mustGet(t, d, "other", testBody(1, 1000))
			if s := d.Stats(); s.Corrupted != 1 || s.Entries != 1 || s.Bytes != 1000 {
				t.Errorf("stats = %+v", s)
			}
			for _, p := range []string{body, meta} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still there", filepath.Base(p))
				}
			}
			checkConsistent(t, d)
			// The key can be stored again.
			put(t, d, "k", testBody(3, size))
			mustGet(t, d, "k", testBody(3, size))
		})
	}
}

func getErr(d *Disk) error {
	_, f, err := d.Get("k")
	if err == nil {
		f.Close()
	}
	return err
}

func getVerifiedErr(d *Disk) error {
	_, f, err := d.GetVerified("k")
	if err == nil {
		f.Close()
	}
	return err
}

func loadErr(d *Disk) error {
	_, err := d.Load("k")
	return err
}

func TestDiskLeftoversOfACrashAreCleanedAtStart(t *testing.T) {
	dir := t.TempDir()
	d := reopenTestDisk(t, dir, 1<<20, 0)
	put(t, d, "kept", testBody(1, 1000))
	put(t, d, "replaced", testBody(2, 1000))
	oldBody, oldMeta := entryFiles(t, d, "replaced")
	oldB, _ := os.ReadFile(oldBody)
	oldM, _ := os.ReadFile(oldMeta)
	put(t, d, "replaced", testBody(3, 2000))
	d.crash()

	write := func(path string, data []byte) {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A fill cut short, and one that had written its metadata too.
	write(filepath.Join(dir, "tmp", "1f.b.tmp"), testBody(4, 500))
	write(filepath.Join(dir, "tmp", "20.b.tmp"), testBody(5, 500))
	write(filepath.Join(dir, "tmp", "20.m.tmp"), []byte(`{"v":1}`))
	// A body renamed into place, the process killed before its metadata.
	orphan := d.path(fileID{hash: keyHash("orphan"), gen: 1}, extBody)
	write(orphan, testBody(6, 700))
	// Metadata without its body (cannot happen, but be safe).
	lonely := d.path(fileID{hash: keyHash("lonely"), gen: 1}, extMeta)
	write(lonely, oldM)
	// An older generation of a key left behind by a crash before its
	// files were removed.
	write(oldBody, oldB)
	write(oldMeta, oldM)
	// Somebody else's file: left alone.
	foreign := filepath.Join(dir, "00", "README")
	write(foreign, []byte("not a cache file"))

	d = reopenTestDisk(t, dir, 1<<20, 0)
	mustGet(t, d, "kept", testBody(1, 1000))
	mustGet(t, d, "replaced", testBody(3, 2000))
	mustMiss(t, d, "orphan")
	mustMiss(t, d, "lonely")
	for _, p := range []string{orphan, lonely, oldBody, oldMeta} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed", p)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file: %v", err)
	}
	if s := d.Stats(); s.Entries != 2 || s.Bytes != 3000 || s.Corrupted != 0 {
		t.Errorf("stats = %+v", s)
	}
	checkConsistent(t, d)
}

const helperEnv = "R2GATE_DISK_HELPER_DIR"

// TestMain runs the package's tests, or, when TestDiskSurvivesKill9 starts
// the test binary as its child, the child's work.
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		diskHelperProcess(dir)
		return
	}
	os.Exit(m.Run())
}

// diskHelperProcess writes entries into dir until it is killed.
func diskHelperProcess(dir string) {
	d, err := OpenDisk(dir, 8<<20, 2<<20) // fsync on, as in production
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	round, _ := strconv.Atoi(os.Getenv("R2GATE_DISK_HELPER_ROUND"))
	r := rand.New(rand.NewPCG(uint64(round), uint64(time.Now().UnixNano())))
	for i := 0; ; i++ {
		key := fmt.Sprintf("k%d", r.IntN(30))
		seed := r.Uint64()
		size := r.IntN(2 << 20)
		meta := testMeta(key, int64(size))
		meta.Metadata = map[string]string{"seed": strconv.FormatUint(seed, 10)}
		switch r.IntN(10) {
		case 0:
			d.Delete(key)
		case 1:
			if old, f, err := d.Get(key); err == nil {
				f.Close()
				old.Stored = time.Now()
				d.UpdateMeta(key, old)
			}
		default:
			if err := tryPut(d, key, meta, testBody(seed, size)); err != nil {
				fmt.Println("put:", err)
				os.Exit(1)
			}
			fmt.Println("committed", i)
		}
	}
}

func TestDiskSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	const rounds = 8
	midFill := 0
	defer func() { t.Logf("%d of %d kills landed during a fill", midFill, rounds) }()
	for round := range rounds {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"="+dir, "R2GATE_DISK_HELPER_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it commit a few entries, then kill it at a random moment,
		// most likely in the middle of writing or syncing a body.
		lines := bufio.NewScanner(out)
		commits := 0
		for commits < 3+round && lines.Scan() {
			if strings.HasPrefix(lines.Text(), "committed") {
				commits++
			} else if strings.Contains(lines.Text(), ":") {
				t.Fatalf("helper: %s", lines.Text())
			}
		}
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		go io.Copy(io.Discard, out)
		cmd.Wait()
		if commits == 0 {
			t.Fatal("helper committed nothing")
		}
		left := readFolder(t, dir)
		if len(left.temps) > 0 {
			midFill++
		}

		d, err := OpenDisk(dir, 8<<20, 2<<20)
		if err != nil {
			t.Fatal(err)
		}
		s := d.Stats()
		if s.Entries == 0 {
			t.Errorf("round %d: no entries survived", round)
		}
		d.mu.Lock()
		var keys []string
		for k := range d.index {
			keys = append(keys, k)
		}
		d.mu.Unlock()
		for _, k := range keys {
			meta, f, err := d.GetVerified(k)
			if err != nil {
				t.Errorf("round %d: %q: %v", round, k, err)
				continue
			}
			got, _ := io.ReadAll(f)
			f.Close()
			seed, _ := strconv.ParseUint(meta.Metadata["seed"], 10, 64)
			if !bytes.Equal(got, testBody(seed, int(meta.Size))) || meta.Key != k {
				t.Errorf("round %d: %q: %d bytes that are not the ones written", round, k, len(got))
			}
		}
		if s := d.Stats(); s.Corrupted != 0 {
			t.Errorf("round %d: %d corrupted entries", round, s.Corrupted)
		}
		checkConsistent(t, d)
		t.Logf("round %d: killed after %d commits leaving %d temp files, %d bodies, %d metadata files; reopened with %d whole entries, %d bytes",
			round, commits, len(left.temps), left.bodies, left.metas, s.Entries, s.Bytes)
		// Every other round the next child finds an index file.
		if round%2 == 0 {
			d.Close()
		} else {
			d.crash()
		}
	}
}

// BenchmarkOpenDisk100k measures a start with 100,000 entries on a warm
// page cache: after Close (the index file alone), after a crash (index
// file, journal and a listing of the folder) and after a crash that lost
// both files (every metadata file is read).
func BenchmarkOpenDisk100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	d, err := OpenDisk(dir, 1<<40, 0)
	if err != nil {
		b.Fatal(err)
	}
	d.noSync = true
	start := time.Now()
	body := testBody(1, 100)
	for i := range n {
		key := fmt.Sprintf("bucket/images/%06d/photo.jpg?w=%d", i, 100+i%7)
		if err := tryPut(d, key, testMeta(key, 100), body); err != nil {
			b.Fatal(err)
		}
	}
	want := indexDump(d)
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d entries in %v", n, time.Since(start))
	indexFile, _ := os.ReadFile(filepath.Join(dir, indexName))
	b.Logf("index file: %d bytes", len(indexFile))

	for _, tt := range []struct {
		name    string
		prepare func()
		stop    func(d *Disk)
	}{
		{"after Close", func() {}, func(d *Disk) { d.Close() }},
		{"after a crash", func() {}, func(d *Disk) { d.crash() }},
		{"after a crash that lost the index", func() {
			os.Remove(filepath.Join(dir, indexName))
			os.Remove(filepath.Join(dir, journalName))
		}, func(d *Disk) { d.crash() }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				tt.prepare()
				b.StartTimer()
				d, err := OpenDisk(dir, 1<<40, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := d.Stats().Entries; got != n {
					b.Fatalf("%d entries, want %d", got, n)
				}
				if tt.name == "after Close" && !reflect.DeepEqual(indexDump(d), want) {
					b.Fatal("index differs after restart")
				}
				tt.stop(d)
				b.StartTimer()
			}
		})
	}
	// Leave the folder closed cleanly for the next run of the benchmark.
	if d, err := OpenDisk(dir, 1<<40, 0); err == nil {
		d.Close()
	}
}
