package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// The index is rebuilt at start from two small files rather than from the
// entries' metadata files, which would take one open and read per entry:
//
//   - index: every entry, least recently used first, written by Close and
//     SaveIndex (temp file and rename): magic "r2gdisk1", uvarint count,
//     count records, CRC-32C of all that.
//   - journal: one record appended per commit since the index file was
//     written, each as uvarint length, record, CRC-32C of the record. Its
//     presence also says the last run did not Close cleanly.
//
// A record is hash [16]byte, gen uint64 LE, uvarint size, sum uint32 LE,
// uvarint key length, key: what an entry's metadata file says about it
// that the index needs. An entry's files never change their key, size or
// checksum, so a record stays true as long as the files it names exist.
//
// At start:
//
//   - index file and no journal (the last run closed cleanly): the index
//     is taken as it is, nothing else is read.
//   - a journal (a crash): the entry folders are listed (names only); whole
//     entries named by the index file or the journal are taken from them,
//     others have their metadata file read, and what is not a whole entry
//     (a body without metadata, older generations) is removed. Recency
//     comes from the index file, then the journal's order.
//   - neither (a new folder, or both files lost): the same listing, reading
//     every metadata file, in parallel.
const (
	indexMagic  = "r2gdisk1"
	indexName   = "index"
	journalName = "journal"
)

// scanWorkers lists and reads subfolders in parallel at start: cheap on a
// warm page cache, and it keeps several requests in flight on a cold disk.
const scanWorkers = 8

// indexed is what a record says about one entry.
type indexed struct {
	key  string
	id   fileID
	size int64
	sum  uint32
	pos  int // position: index file first, least recently used first, then journal
}

// found is an entry the folder scan kept.
type found struct {
	e       *diskEntry
	pos     int   // position in index file and journal, -1 when in neither
	written int64 // commit time, for entries in neither
}

func appendRecord(b []byte, e *diskEntry) []byte {
	b = append(b, e.id.hash[:]...)
	b = binary.LittleEndian.AppendUint64(b, e.id.gen)
	b = binary.AppendUvarint(b, uint64(e.size))
	b = binary.LittleEndian.AppendUint32(b, e.sum)
	b = binary.AppendUvarint(b, uint64(len(e.key)))
	return append(b, e.key...)
}

// parseRecord parses a record at the start of b and returns the rest.
func parseRecord(b []byte) (x indexed, rest []byte, ok bool) {
	if len(b) < 16+8 {
		return x, nil, false
	}
	copy(x.id.hash[:], b)
	x.id.gen = binary.LittleEndian.Uint64(b[16:])
	b = b[24:]
	size, n := binary.Uvarint(b)
	if n <= 0 || size > 1<<62 || len(b) < n+4 {
		return x, nil, false
	}
	x.size = int64(size)
	x.sum = binary.LittleEndian.Uint32(b[n:])
	b = b[n+4:]
	klen, n := binary.Uvarint(b)
	if n <= 0 || klen > uint64(len(b)-n) {
		return x, nil, false
	}
	x.key = string(b[n : n+int(klen)])
	return x, b[n+int(klen):], true
}

// load empties tmp/, rebuilds the index and opens the journal.
func (d *Disk) load() error {
	tmp := filepath.Join(d.dir, "tmp")
	names, err := readNames(tmp)
	if err != nil {
		return fmt.Errorf("list temp folder: %w", err)
	}
	for _, n := range names {
		os.RemoveAll(filepath.Join(tmp, n))
	}

	records, indexOK := d.readIndexFile()
	jpath := filepath.Join(d.dir, journalName)
	journal, jerr := os.ReadFile(jpath)
	d.gen = uint64(time.Now().UnixNano())
	if indexOK && errors.Is(jerr, os.ErrNotExist) {
		d.index = make(map[string]*diskEntry, len(records))
		for _, x := range records {
			d.gen = max(d.gen, x.id.gen)
			d.addLoaded(newDiskEntry(x.key, x.id, x.size, x.sum))
		}
	} else {
		jrecords, valid := parseJournal(journal, len(records))
		if valid < len(journal) {
			// Drop a torn tail so that new records are readable after it.
			os.Truncate(jpath, int64(valid))
		}
		d.jrecs = len(jrecords)
		if err := d.scan(append(records, jrecords...)); err != nil {
			return err
		}
	}

	jf, err := os.OpenFile(jpath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	if !d.noSync {
		jf.Sync() // from now on, a crash is seen as one at the next start
	}
	d.journal = jf

	// A smaller bound than last time: make room.
	victims, _ := d.evictLocked(0, nil)
	for _, id := range victims {
		d.removeFiles(id)
	}
	return nil
}

// addLoaded indexes an entry found at start as the most recently used.
func (d *Disk) addLoaded(e *diskEntry) {
	if old := d.index[e.key]; old != nil { // a damaged index file: keep the newer
		if old.id.gen > e.id.gen {
			d.removeFiles(e.id)
			return
		}
		d.unlinkLocked(old)
		d.removeFiles(old.id)
	}
	d.index[e.key] = e
	d.lru.pushFront(&e.used)
	d.bytes += e.size
}

// scan lists the entry folders in parallel and indexes the whole entries,
// taking what records say about them and reading the metadata of the
// others.
func (d *Disk) scan(records []indexed) error {
	listed := make(map[fileID]*indexed, len(records))
	d.index = make(map[string]*diskEntry, len(records))
	for i := range records {
		listed[records[i].id] = &records[i]
		d.gen = max(d.gen, records[i].id.gen)
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
	for _, g := range maxGens {
		d.gen = max(d.gen, g)
	}

	// Recency: entries with a record in their order, then the others by
	// commit time (they were written after the records).
	byPos := make([]*diskEntry, len(records))
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
	for _, e := range byPos {
		if e != nil {
			d.addLoaded(e)
		}
	}
	for _, f := range others {
		d.addLoaded(f.e)
	}
	return nil
}

// scanSub lists subfolder i, removes what is not a whole entry (a body or a
// metadata file alone, older generations of a key) and returns the entries
// kept, with the highest generation seen.
func (d *Disk) scanSub(i int, listed map[fileID]*indexed) ([]found, uint64, error) {
	sub := filepath.Join(d.dir, fmt.Sprintf("%02x", i))
	names, err := readNames(sub)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || isNotDir(sub) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("list %s: %w", sub, err)
	}
	// Sorted, the names of one hash are together, generations ascending,
	// each body just before its metadata file.
	sort.Strings(names)
	type file struct {
		id  fileID
		ext byte
	}
	files := make([]file, 0, len(names))
	var maxGen uint64
	for _, name := range names {
		if id, ext, ok := parseName(name); ok { // others are not ours: left alone
			files = append(files, file{id, ext})
			maxGen = max(maxGen, id.gen)
		}
	}
	var out []found
	for len(files) > 0 {
		// One hash: keep its newest whole generation, remove the rest.
		n := 1
		for n < len(files) && files[n].id.hash == files[0].id.hash {
			n++
		}
		group := files[:n]
		files = files[n:]
		keep := -1
		for j := len(group) - 2; j >= 0; j-- {
			if group[j].id == group[j+1].id && group[j].ext == extBody && group[j+1].ext == extMeta {
				keep = j
				break
			}
		}
		for j, f := range group {
			if keep < 0 || (j != keep && j != keep+1) {
				os.Remove(d.path(f.id, f.ext))
			}
		}
		if keep < 0 {
			continue
		}
		id := group[keep].id
		if x := listed[id]; x != nil {
			out = append(out, found{e: newDiskEntry(x.key, id, x.size, x.sum), pos: x.pos})
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
		out = append(out, found{e: newDiskEntry(key, id, rec.Size, rec.Sum), pos: -1, written: rec.Written})
	}
	return out, maxGen, nil
}

// readIndexFile reads the index file's records, least recently used first.
// It reports false when the file is missing or damaged.
func (d *Disk) readIndexFile() ([]indexed, bool) {
	data, err := os.ReadFile(filepath.Join(d.dir, indexName))
	if err != nil || len(data) < len(indexMagic)+4 || string(data[:len(indexMagic)]) != indexMagic {
		return nil, false
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return nil, false
	}
	b := body[len(indexMagic):]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b))/25 {
		return nil, false
	}
	b = b[n:]
	records := make([]indexed, count)
	for i := range records {
		x, rest, ok := parseRecord(b)
		if !ok {
			return nil, false
		}
		x.pos = i
		records[i], b = x, rest
	}
	return records, len(b) == 0
}

// parseJournal parses journal records up to the first damaged one (the
// tail of a write cut short), numbering them from pos. valid is the length
// of the records parsed.
func parseJournal(b []byte, pos int) (out []indexed, valid int) {
	for valid < len(b) {
		rest := b[valid:]
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) || uint64(len(rest)-n)-l < 4 {
			break
		}
		rec := rest[n : n+int(l)]
		if crc32.Checksum(rec, castagnoli) != binary.LittleEndian.Uint32(rest[n+int(l):]) {
			break
		}
		x, tail, ok := parseRecord(rec)
		if !ok || len(tail) != 0 {
			break
		}
		x.pos = pos + len(out)
		out = append(out, x)
		valid += n + int(l) + 4
	}
	return out, valid
}

// journalLocked appends e's record to the journal and reports whether the
// journal has grown enough to be folded into the index file. A failed
// write is counted and otherwise ignored: a crash would then cost reading
// e's metadata at the next start, nothing more.
func (d *Disk) journalLocked(e *diskEntry) bool {
	if d.journal == nil {
		return false
	}
	var buf [128]byte
	rec := appendRecord(buf[:0], e)
	out := make([]byte, 0, len(rec)+binary.MaxVarintLen64+4)
	out = binary.AppendUvarint(out, uint64(len(rec)))
	out = append(out, rec...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(rec, castagnoli))
	if _, err := d.journal.Write(out); err != nil {
		d.writeErrors.Add(1)
	}
	d.jrecs++
	return d.jrecs > 2*len(d.index)+10_000
}

// SaveIndex writes the index file, and empties the journal if nothing was
// committed meanwhile. Close calls it; the tier also calls it when the
// journal has grown to twice the number of entries. Calling it now and then
// keeps the recency order of a start after a crash close to the truth.
func (d *Disk) SaveIndex() error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	buf := make([]byte, 0, len(indexMagic)+len(d.index)*64+16)
	buf = append(buf, indexMagic...)
	buf = binary.AppendUvarint(buf, uint64(len(d.index)))
	d.lru.each(func(e *diskEntry) { buf = appendRecord(buf, e) })
	jrecs := d.jrecs
	d.tmpSeq++
	tmp := d.tmpPath(d.tmpSeq, 'i')
	d.mu.Unlock()
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	err := d.writeFile(tmp, buf, true)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.dir, indexName))
	}
	if err != nil {
		os.Remove(tmp)
		d.writeErrors.Add(1)
		return fmt.Errorf("cache: disk tier %s: save index: %w", d.dir, err)
	}
	d.mu.Lock()
	if d.jrecs == jrecs && d.journal != nil {
		if err := d.journal.Truncate(0); err == nil {
			d.jrecs = 0
		}
	}
	d.mu.Unlock()
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
