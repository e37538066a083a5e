package cache

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/r2gate/r2gate/internal/seek"
)

// Pending is an entry being written into the disk tier as its bytes
// arrive, returned by Create: write the body, then Commit, or Abort.
// Write, Commit and Abort are for one writer; NewReader may be called from
// any goroutine, at any time.
type Pending struct {
	d    *Disk
	key  string
	meta Meta
	seq  uint64 // temp file number

	// wmu serialises Write, Commit and Abort (Close aborts from another
	// goroutine).
	wmu  sync.Mutex
	file *os.File // the temp body, open while writing
	sum  uint32   // CRC-32C so far

	mu    sync.Mutex
	cond  sync.Cond    // signalled when n or state changes
	path  string       // the body: the temp file, then the entry's file
	n     int64        // bytes written so far
	state pendingState // writing, committed or failed
	err   error        // why it failed

	// Guarded by d.mu.
	purged   bool // the key was deleted meanwhile: do not keep the entry
	released bool // the reservation was given back
}

type pendingState uint8

const (
	writing pendingState = iota
	committed
	failed
)

// Create starts writing an entry of meta.Size bytes under key (any string),
// reserving the room and evicting least recently used entries to make it.
// A body larger than the item bound gives ErrTooLarge: stream it through
// uncached. Other errors (ErrNoRoom, ErrInvalidMeta, a temp file that
// cannot be created, counted in WriteErrors) leave the tier usable.
// Readers may follow it with NewReader while it is written.
func (d *Disk) Create(key string, meta Meta) (*Pending, error) {
	return d.create(key, meta, nil)
}

// create is Create with stale, when not nil, asked under the tier's lock
// as the entry is registered, the lock DeleteFunc holds while it marks
// pending entries: when it says a purge began since the body's bytes were
// asked for, the entry is written and read as usual but not kept. So a
// purge either marks the entry or is seen by stale (see Memory.put).
func (d *Disk) create(key string, meta Meta, stale func() bool) (*Pending, error) {
	size := meta.Size
	if size < 0 {
		return nil, fmt.Errorf("cache: writing disk entry %q: unknown size: %w", key, ErrSizeMismatch)
	}
	d.mu.Lock()
	maxItem := d.maxItem
	d.mu.Unlock()
	if size > maxItem {
		d.refused.Add(1)
		return nil, fmt.Errorf("cache: writing disk entry %q: %d bytes, the limit is %d: %w", key, size, maxItem, ErrTooLarge)
	}
	if !validMeta(&meta) {
		return nil, fmt.Errorf("cache: writing disk entry %q: %w", key, ErrInvalidMeta)
	}
	pe := &Pending{d: d, key: key, meta: meta}
	pe.cond.L = &pe.mu
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrDiskClosed
	}
	victims, ok := d.evictLocked(size, nil)
	if ok {
		d.reserved += size
		d.pending[pe] = struct{}{}
		pe.purged = stale != nil && stale()
		d.tmpSeq++
		pe.seq = d.tmpSeq
	}
	d.mu.Unlock()
	for _, id := range victims {
		d.removeFiles(id)
	}
	if !ok {
		return nil, fmt.Errorf("cache: writing disk entry %q: %d bytes: %w", key, size, ErrNoRoom)
	}
	pe.path = d.tmpPath(pe.seq, extBody)
	file, err := os.OpenFile(pe.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		d.writeErrors.Add(1)
		d.release(pe)
		return nil, fmt.Errorf("cache: writing disk entry %q: %w", key, err)
	}
	pe.file = file
	return pe, nil
}

// Write appends p to the body. Writing more than Meta.Size bytes fails the
// entry with ErrSizeMismatch; a failed write (disk full) fails it too. A
// failed entry's readers get the error and Commit returns it.
func (pe *Pending) Write(p []byte) (int, error) {
	pe.wmu.Lock()
	defer pe.wmu.Unlock()
	if err := pe.done(); err != nil {
		return 0, err
	}
	if int64(len(p)) > pe.meta.Size-pe.n {
		err := fmt.Errorf("cache: writing disk entry %q: more than %d bytes: %w", pe.key, pe.meta.Size, ErrSizeMismatch)
		pe.fail(err)
		return 0, err
	}
	var n int
	var err error
	if pe.d.writeHook != nil {
		n, err = pe.d.writeHook(pe.file, pe.key, pe.n, p)
	} else {
		n, err = pe.file.Write(p)
	}
	pe.sum = crc32.Update(pe.sum, castagnoli, p[:n])
	pe.mu.Lock()
	pe.n += int64(n)
	pe.cond.Broadcast()
	pe.mu.Unlock()
	if err != nil {
		return n, pe.writeFailed("write", err)
	}
	return n, nil
}

// written is how many bytes were written so far.
func (pe *Pending) written() int64 {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	return pe.n
}

// Commit checks that exactly Meta.Size bytes were written, syncs the body,
// writes the metadata and renames both into place (body first), then
// indexes the entry as the most recently used, replacing any entry of the
// key. On error the entry is failed and the tier stays as it was. If the
// key was deleted while it was written, Commit completes the entry for its
// readers but does not keep it.
func (pe *Pending) Commit() error {
	pe.wmu.Lock()
	defer pe.wmu.Unlock()
	if err := pe.done(); err != nil {
		return err
	}
	d := pe.d
	if pe.n != pe.meta.Size {
		err := fmt.Errorf("cache: writing disk entry %q: %d bytes written, want %d: %w", pe.key, pe.n, pe.meta.Size, ErrSizeMismatch)
		pe.fail(err)
		return err
	}
	var err error
	if !d.noSync {
		err = pe.file.Sync()
	}
	if cerr := pe.file.Close(); err == nil {
		err = cerr
	}
	pe.file = nil
	if err != nil {
		return pe.writeFailed("sync body", err)
	}
	metaTmp := d.tmpPath(pe.seq, extMeta)
	if err := d.writeRecord(metaTmp, pe.key, pe.n, pe.sum, pe.meta, true); err != nil {
		return pe.writeFailed("write metadata", err)
	}

	d.mu.Lock()
	d.gen++
	id := fileID{hash: keyHash(pe.key), gen: d.gen}
	d.mu.Unlock()
	body := d.path(id, extBody)
	pe.mu.Lock()
	err = renameMkdir(pe.path, body)
	if err == nil {
		pe.path = body
	}
	pe.mu.Unlock()
	if err == nil {
		err = os.Rename(metaTmp, d.path(id, extMeta))
	}
	if err != nil {
		os.Remove(metaTmp)
		return pe.writeFailed("rename into place", err)
	}

	e := newDiskEntry(pe.key, id, pe.n, pe.sum)
	e.verified = true
	meta := pe.meta
	var victims []fileID
	compact := false
	d.mu.Lock()
	closed, keep := d.closed, !d.closed && !pe.purged
	d.releaseLocked(pe)
	if keep {
		if old := d.index[pe.key]; old != nil {
			d.unlinkLocked(old)
			victims = append(victims, old.id)
		}
		d.index[pe.key] = e
		d.lru.pushFront(&e.used)
		d.bytes += e.size
		d.cacheMetaLocked(e, &meta)
		compact = d.journalLocked(e)
	} else {
		victims = append(victims, id)
	}
	d.mu.Unlock()
	for _, v := range victims {
		d.removeFiles(v)
	}
	if closed {
		pe.finish(failed, ErrDiskClosed)
		return ErrDiskClosed
	}
	pe.finish(committed, nil)
	if compact {
		d.SaveIndex() // a failure is counted in WriteErrors
	}
	return nil
}

// Abort discards the entry; its readers get ErrAborted. It does nothing
// after Commit or a failure.
func (pe *Pending) Abort() { pe.abort(ErrAborted) }

func (pe *Pending) abort(err error) {
	pe.wmu.Lock()
	defer pe.wmu.Unlock()
	if pe.done() == nil {
		pe.fail(err)
	}
}

// done returns an error when the entry can no longer be written.
func (pe *Pending) done() error {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	switch pe.state {
	case committed:
		return fmt.Errorf("cache: writing disk entry %q: already committed", pe.key)
	case failed:
		return pe.err
	}
	return nil
}

// writeFailed counts a write error and fails the entry with it; a full
// filesystem also lowers the tier's bound (see disk_space.go). The caller
// holds wmu.
func (pe *Pending) writeFailed(op string, err error) error {
	pe.d.writeErrors.Add(1)
	full := isNoSpace(err)
	err = fmt.Errorf("cache: writing disk entry %q: %s: %w", pe.key, op, err)
	pe.fail(err)
	if full {
		pe.d.noSpace(pe.n)
	}
	return err
}

// fail discards the entry's files and reservation and wakes its readers
// with err. The caller holds wmu.
func (pe *Pending) fail(err error) {
	if pe.file != nil {
		pe.file.Close()
		pe.file = nil
	}
	os.Remove(pe.d.tmpPath(pe.seq, extMeta))
	pe.mu.Lock()
	os.Remove(pe.path)
	pe.mu.Unlock()
	pe.d.release(pe)
	pe.finish(failed, err)
}

func (pe *Pending) finish(state pendingState, err error) {
	pe.mu.Lock()
	pe.state, pe.err = state, err
	pe.cond.Broadcast()
	pe.mu.Unlock()
}

// release gives back pe's reservation.
func (d *Disk) release(pe *Pending) {
	d.mu.Lock()
	d.releaseLocked(pe)
	d.mu.Unlock()
}

func (d *Disk) releaseLocked(pe *Pending) {
	if !pe.released {
		pe.released = true
		d.reserved -= pe.meta.Size
		delete(d.pending, pe)
	}
}

// renameMkdir renames from to to, creating to's folder if it is missing.
func renameMkdir(from, to string) error {
	err := os.Rename(from, to)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		if merr := os.Mkdir(filepath.Dir(to), 0o755); merr == nil || errors.Is(merr, os.ErrExist) {
			err = os.Rename(from, to)
		}
	}
	return err
}

// NewReader returns a reader of the entry's body from its first byte. It
// reads what has been written so far and blocks until more is written;
// after Commit it ends with io.EOF at Meta.Size bytes, after Abort or a
// failure it returns the entry's error. It may be created at any time until
// the entry fails, even after Commit (while the entry exists). It can Seek
// (io.SeekEnd is relative to Meta.Size) without waiting, so it can be
// handed to http.ServeContent for ranges. Close it when done.
func (pe *Pending) NewReader() (io.ReadSeekCloser, error) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if pe.state == failed {
		return nil, pe.err
	}
	file, err := os.Open(pe.path)
	if err != nil {
		return nil, fmt.Errorf("cache: writing disk entry %q: reader: %w", pe.key, err)
	}
	return &pendingReader{pe: pe, file: file}, nil
}

// pendingReader reads a pending entry's body as it grows, through its own
// descriptor, which keeps reading the same file across the rename at Commit.
type pendingReader struct {
	pe     *Pending
	file   *os.File
	off    int64
	closed bool // guarded by pe.mu
}

// Read reads what is written past the reader's offset, waiting for it.
func (r *pendingReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	pe := r.pe
	pe.mu.Lock()
	for {
		if r.closed {
			pe.mu.Unlock()
			return 0, os.ErrClosed
		}
		if pe.state == failed {
			pe.mu.Unlock()
			return 0, pe.err
		}
		if r.off < pe.n {
			break
		}
		if pe.state == committed {
			pe.mu.Unlock()
			return 0, io.EOF
		}
		pe.cond.Wait()
	}
	avail := pe.n - r.off
	pe.mu.Unlock()
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	n, err := r.file.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF { // the file is shorter than what was written: damaged
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Seek sets where the next Read starts; it never waits for the entry.
func (r *pendingReader) Seek(offset int64, whence int) (int64, error) {
	off, err := seek.Offset(r.off, r.pe.meta.Size, offset, whence)
	if err != nil {
		return 0, err
	}
	r.off = off
	return off, nil
}

// Close releases the reader; a Read blocked on it returns os.ErrClosed.
func (r *pendingReader) Close() error {
	r.pe.mu.Lock()
	if r.closed {
		r.pe.mu.Unlock()
		return nil
	}
	r.closed = true
	r.pe.cond.Broadcast()
	r.pe.mu.Unlock()
	return r.file.Close()
}
