package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// diskEntry is the index's view of one entry: enough to find its files,
// check them and evict it. Its Meta is read from disk on first use and then
// kept while the entry is among the most recently used (see metaCacheLen).
type diskEntry struct {
	key      string
	id       fileID
	size     int64
	sum      uint32 // CRC-32C of the body
	verified bool   // the body's checksum passed since this process opened the tier
	meta     *Meta  // cached metadata, nil when not cached; never modified
	used     lruNode
	metaUsed lruNode // in Disk.metas while meta is cached
}

func newDiskEntry(key string, id fileID, size int64, sum uint32) *diskEntry {
	e := &diskEntry{key: key, id: id, size: size, sum: sum}
	e.used.e, e.metaUsed.e = e, e
	return e
}

// fileID names an entry's files: the hash of its key and the generation
// that wrote it, so every commit gets fresh names and a name's body never
// changes.
type fileID struct {
	hash [16]byte
	gen  uint64
}

// Extensions of an entry's two files.
const (
	extBody = 'b'
	extMeta = 'm'
)

// nameLen is the length of an entry file name: 32 hex digits of hash, '-',
// 16 of generation, '.', extension.
const nameLen = 32 + 1 + 16 + 2

func keyHash(key string) (h [16]byte) {
	sum := sha256.Sum256([]byte(key))
	copy(h[:], sum[:16])
	return h
}

// path is the file of id with extension ext.
func (d *Disk) path(id fileID, ext byte) string {
	var buf [160]byte
	b := append(buf[:0], d.dir...)
	b = append(b, filepath.Separator)
	b = hex.AppendEncode(b, id.hash[:1])
	b = append(b, filepath.Separator)
	b = appendName(b, id, ext)
	return string(b)
}

func appendName(b []byte, id fileID, ext byte) []byte {
	b = hex.AppendEncode(b, id.hash[:])
	b = append(b, '-')
	var g [16]byte
	for i, v := 15, id.gen; i >= 0; i, v = i-1, v>>4 {
		g[i] = "0123456789abcdef"[v&15]
	}
	b = append(b, g[:]...)
	return append(b, '.', ext)
}

// parseName parses an entry file name.
func parseName(name string) (id fileID, ext byte, ok bool) {
	if len(name) != nameLen || name[32] != '-' || name[49] != '.' {
		return id, 0, false
	}
	for i := range id.hash {
		hi, ok1 := unhex(name[2*i])
		lo, ok2 := unhex(name[2*i+1])
		if !ok1 || !ok2 {
			return id, 0, false
		}
		id.hash[i] = hi<<4 | lo
	}
	for i := 33; i < 49; i++ {
		v, ok := unhex(name[i])
		if !ok {
			return id, 0, false
		}
		id.gen = id.gen<<4 | uint64(v)
	}
	ext = name[50]
	return id, ext, ext == extBody || ext == extMeta
}

// unhex decodes one lower-case hex digit.
func unhex(c byte) (byte, bool) {
	v := unhexTable[c]
	return v & 0xf, v != 0
}

// unhexTable maps a lower-case hex digit to its value + 0x10, others to 0.
var unhexTable = func() (t [256]byte) {
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i) | 0x10
	}
	return t
}()

// tmpPath is a temp file of the pending entry or update numbered seq.
func (d *Disk) tmpPath(seq uint64, ext byte) string {
	return filepath.Join(d.dir, "tmp", strconv.FormatUint(seq, 16)+"."+string(rune(ext))+".tmp")
}

// diskRecord is the metadata file of an entry. The key is stored as a
// string when it is valid UTF-8 and in base64 otherwise, so that any key
// survives JSON. Written is the commit (or last update) time in Unix
// nanoseconds, used to order entries by recency when the index is rebuilt
// without the index file.
type diskRecord struct {
	V       int    `json:"v"`
	Key     string `json:"key,omitempty"`
	KeyB64  []byte `json:"key_b64,omitempty"`
	Size    int64  `json:"size"`
	Sum     uint32 `json:"crc32c"`
	Written int64  `json:"written"`
	Meta    Meta   `json:"meta"`
}

// diskScanRecord is the part of a diskRecord the index rebuild needs.
type diskScanRecord struct {
	V       int    `json:"v"`
	Key     string `json:"key"`
	KeyB64  []byte `json:"key_b64"`
	Size    int64  `json:"size"`
	Sum     uint32 `json:"crc32c"`
	Written int64  `json:"written"`
}

// diskMetaRecord is the part of a diskRecord Get needs.
type diskMetaRecord struct {
	V    int    `json:"v"`
	Size int64  `json:"size"`
	Sum  uint32 `json:"crc32c"`
	Meta Meta   `json:"meta"`
}

const recordVersion = 1

// validMeta reports whether every string of m survives JSON unchanged.
func validMeta(m *Meta) bool {
	for _, s := range [...]string{m.Key, m.ETag, m.ContentType, m.CacheControl,
		m.ContentEncoding, m.ContentDisposition, m.ContentLanguage} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for k, v := range m.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// writeRecord writes an entry's metadata to path, and syncs it when sync
// is set.
func (d *Disk) writeRecord(path, key string, size int64, sum uint32, meta Meta, sync bool) error {
	rec := diskRecord{V: recordVersion, Size: size, Sum: sum, Written: time.Now().UnixNano(), Meta: meta}
	if utf8.ValidString(key) {
		rec.Key = key
	} else {
		rec.KeyB64 = []byte(key)
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	return d.writeFile(path, data, sync)
}

// writeFile writes data to a new file at path and syncs it when sync is
// set (and the disk syncs at all); on error the file is removed.
func (d *Disk) writeFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync && !d.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

var metaBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// readRecord reads and decodes a metadata file into rec.
func readRecord(path string, rec any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	bp := metaBufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			*bp = buf
			metaBufPool.Put(bp)
			return err
		}
	}
	f.Close()
	err = json.Unmarshal(buf, rec)
	*bp = buf
	metaBufPool.Put(bp)
	if err != nil {
		return fmt.Errorf("bad metadata: %w", err)
	}
	return nil
}

// checkVersion rejects records of another format.
func checkVersion(v int) error {
	if v != recordVersion {
		return errors.New("unknown metadata version " + strconv.Itoa(v))
	}
	return nil
}

var crcBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fileCRC computes the CRC-32C of f's whole content without moving its
// offset.
func fileCRC(f *os.File) (sum uint32, n int64, err error) {
	bp := crcBufPool.Get().(*[]byte)
	defer crcBufPool.Put(bp)
	buf := *bp
	for {
		m, err := f.ReadAt(buf, n)
		sum = crc32.Update(sum, castagnoli, buf[:m])
		n += int64(m)
		if err == io.EOF {
			return sum, n, nil
		}
		if err != nil {
			return sum, n, err
		}
	}
}

// lruNode links an entry into an lruList.
type lruNode struct {
	prev, next *lruNode
	e          *diskEntry
}

// lruList is an intrusive doubly linked list of entries, most recently used
// at the front.
type lruList struct {
	root lruNode
	n    int
}

func (l *lruList) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *lruList) pushFront(n *lruNode) {
	n.prev, n.next = &l.root, l.root.next
	n.prev.next, n.next.prev = n, n
	l.n++
}

// remove takes n out of the list; it does nothing if n is not in it.
func (l *lruList) remove(n *lruNode) {
	if n.prev == nil {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	l.n--
}

func (l *lruList) moveToFront(n *lruNode) {
	if l.root.next == n {
		return
	}
	l.remove(n)
	l.pushFront(n)
}

// back is the least recently used entry, nil when the list is empty.
func (l *lruList) back() *diskEntry {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev.e
}

// each calls fn for every entry, least recently used first.
func (l *lruList) each(fn func(e *diskEntry)) {
	for n := l.root.prev; n != &l.root; n = n.prev {
		fn(n.e)
	}
}
