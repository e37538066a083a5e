package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// The index file lists every entry, least recently used first:
//
//	magic "r2gdisk1"
//	uvarint count
//	count × { hash [16]byte, gen uint64 LE, uvarint size, sum uint32 LE,
//	          uvarint key length, key }
//	CRC-32C of everything before, uint32 LE
//
// It only caches what the entries' own metadata files say (an entry's
// files never change their key, size or checksum), so an index file older
// than the folder is still right for the entries it lists: at start the
// folder is listed, listed entries whose files are gone are dropped, and
// entries it does not list have their metadata read. Only recency is lost
// after a crash.
const indexMagic = "r2gdisk1"

// scanWorkers lists and reads subfolders in parallel at start: cheap on a
// warm page cache, and it keeps several requests in flight on a cold disk.
const scanWorkers = 8

// indexed is what the index file says about one entry.
type indexed struct {
	key  string
	size int64
	sum  uint32
	pos  int // position in the file, least recently used first
}

// found is an entry the folder scan kept.
type found struct {
	e       *diskEntry
	pos     int   // position in the index file, -1 when not listed
	written int64 // commit time, for entries not listed
}

// load empties tmp/ and rebuilds the index from the index file and the
// entry folders.
func (d *Disk) load() error {
	tmp := filepath.Join(d.dir, "tmp")
	names, err := readNames(tmp)
	if err != nil {
		return fmt.Errorf("list temp folder: %w", err)
	}
	for _, n := range names {
		os.RemoveAll(filepath.Join(tmp, n))
	}
	listed, n := d.readIndexFile()
	d.gen = uint64(time.Now().UnixNano())
	for id := range listed {
		d.gen = max(d.gen, id.gen)
	}

	results := make([][]found, 256)
	maxGens := make([]uint64, 256)
	errs := make([]error, 256)
	next := make(chan int, 256)
	for i := range 256 {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range scanWorkers {
		wg.Go(func() {
			for i := range next {
				results[i], maxGens[i], errs[i] = d.scanSub(i, listed)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	// Rebuild recency: entries in the index file in its order, then the
	// others by commit time (they were written after it).
	byPos := make([]*diskEntry, n)
	var others []found
	for _, r := range results {
		for _, f := range r {
			if f.pos >= 0 {
				byPos[f.pos] = f.e
			} else {
				others = append(others, f)
			}
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].written < others[j].written })
	add := func(e *diskEntry) {
		if old := d.index[e.key]; old != nil { // two hashes for one key: cannot happen, be safe
			d.unlinkLocked(old)
			d.removeFiles(old.id)
		}
		d.index[e.key] = e
		d.lru.pushFront(e)
		d.bytes += e.size
	}
	for _, e := range byPos {
		if e != nil {
			add(e)
		}
	}
	for _, f := range others {
		add(f.e)
	}
	for _, g := range maxGens {
		d.gen = max(d.gen, g)
	}
	// A smaller bound than last time: make room.
	victims, _ := d.evictLocked(0, nil)
	for _, id := range victims {
		d.removeFiles(id)
	}
	return nil
}

// scanSub lists subfolder i, removes what is not a whole entry (a body or a
// metadata file alone, older generations of a key) and returns the entries
// kept, with the highest generation seen.
func (d *Disk) scanSub(i int, listed map[fileID]indexed) ([]found, uint64, error) {
	sub := filepath.Join(d.dir, fmt.Sprintf("%02x", i))
	names, err := readNames(sub)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || isNotDir(sub) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("list %s: %w", sub, err)
	}
	type pair struct{ body, meta bool }
	files := make(map[fileID]pair, len(names)/2)
	var maxGen uint64
	for _, name := range names {
		id, ext, ok := parseName(name)
		if !ok {
			continue // not ours: leave it
		}
		maxGen = max(maxGen, id.gen)
		p := files[id]
		if ext == extBody {
			p.body = true
		} else {
			p.meta = true
		}
		files[id] = p
	}
	// The newest whole generation of each hash wins.
	best := make(map[[16]byte]uint64, len(files))
	for id, p := range files {
		if p.body && p.meta && id.gen >= best[id.hash] {
			best[id.hash] = id.gen
		}
	}
	var out []found
	for id, p := range files {
		if !p.body || !p.meta || best[id.hash] != id.gen {
			d.removeFiles(id)
			continue
		}
		if x, ok := listed[id]; ok {
			out = append(out, found{e: &diskEntry{key: x.key, id: id, size: x.size, sum: x.sum}, pos: x.pos})
			continue
		}
		var rec diskScanRecord
		err := readRecord(d.path(id, extMeta), &rec)
		if err == nil {
			err = checkVersion(rec.V)
		}
		key := rec.Key
		if rec.KeyB64 != nil {
			key = string(rec.KeyB64)
		}
		if err == nil && (keyHash(key) != id.hash || rec.Size < 0) {
			err = errors.New("metadata does not match its file name")
		}
		if err != nil {
			d.corrupted.Add(1)
			d.removeFiles(id)
			continue
		}
		out = append(out, found{e: &diskEntry{key: key, id: id, size: rec.Size, sum: rec.Sum}, pos: -1, written: rec.Written})
	}
	return out, maxGen, nil
}

// readIndexFile reads the index file into a map by file name, with the
// number of entries it lists. A missing or damaged file gives an empty map:
// the scan then reads every metadata file.
func (d *Disk) readIndexFile() (map[fileID]indexed, int) {
	data, err := os.ReadFile(filepath.Join(d.dir, "index"))
	if err != nil || len(data) < len(indexMagic)+4 || string(data[:len(indexMagic)]) != indexMagic {
		return nil, 0
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return nil, 0
	}
	r := bytes.NewReader(body[len(indexMagic):])
	count, err := binary.ReadUvarint(r)
	if err != nil || count > uint64(len(body)) {
		return nil, 0
	}
	listed := make(map[fileID]indexed, count)
	var fixed [16 + 8]byte
	for pos := range int(count) {
		var id fileID
		if _, err := io.ReadFull(r, fixed[:]); err != nil {
			return nil, 0
		}
		copy(id.hash[:], fixed[:16])
		id.gen = binary.LittleEndian.Uint64(fixed[16:])
		size, err1 := binary.ReadUvarint(r)
		var sum [4]byte
		_, err2 := io.ReadFull(r, sum[:])
		klen, err3 := binary.ReadUvarint(r)
		if err1 != nil || err2 != nil || err3 != nil || klen > uint64(r.Len()) {
			return nil, 0
		}
		key := make([]byte, klen)
		io.ReadFull(r, key)
		listed[id] = indexed{key: string(key), size: int64(size), sum: binary.LittleEndian.Uint32(sum[:]), pos: pos}
	}
	return listed, int(count)
}

// SaveIndex writes the compact index file so that the next start need not
// read every metadata file. Close calls it; calling it now and then (say
// every few minutes) also keeps restarts after a crash fast and keeps
// their recency order close to the truth.
func (d *Disk) SaveIndex() error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	buf := make([]byte, 0, len(indexMagic)+len(d.index)*64+16)
	buf = append(buf, indexMagic...)
	buf = binary.AppendUvarint(buf, uint64(len(d.index)))
	for e := d.lru.root.prev; e != &d.lru.root; e = e.prev {
		buf = append(buf, e.id.hash[:]...)
		buf = binary.LittleEndian.AppendUint64(buf, e.id.gen)
		buf = binary.AppendUvarint(buf, uint64(e.size))
		buf = binary.LittleEndian.AppendUint32(buf, e.sum)
		buf = binary.AppendUvarint(buf, uint64(len(e.key)))
		buf = append(buf, e.key...)
	}
	d.tmpSeq++
	tmp := d.tmpPath(d.tmpSeq, 'i')
	d.mu.Unlock()
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	err := d.writeFile(tmp, buf)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.dir, "index"))
	}
	if err != nil {
		os.Remove(tmp)
		d.writeErrors.Add(1)
		return fmt.Errorf("cache: disk tier %s: save index: %w", d.dir, err)
	}
	return nil
}

// readNames lists a folder's names without stat'ing them.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func isNotDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
