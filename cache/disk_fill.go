package cache

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Fill writes one entry into the disk tier as its bytes arrive. Write the
// body, then Commit, or Abort. Write, Commit and Abort are for one writer;
// NewReader may be called from any goroutine, at any time.
type Fill struct {
	d    *Disk
	key  string
	meta Meta
	seq  uint64 // temp file number

	// wmu serialises Write, Commit and Abort (Close aborts from another
	// goroutine).
	wmu  sync.Mutex
	file *os.File // the temp body, open while filling
	sum  uint32   // CRC-32C so far

	mu    sync.Mutex
	cond  sync.Cond // signalled when n or state changes
	path  string    // the body: the temp file, then the entry's file
	n     int64     // bytes written so far
	state fillState // filling, committed or failed
	err   error     // why it failed

	// Guarded by d.mu.
	purged   bool // the key was deleted meanwhile: do not keep the entry
	released bool // the reservation was given back
}

type fillState uint8

const (
	filling fillState = iota
	committed
	failed
)

// Create starts a fill of meta.Size bytes under key (any string),
// reserving the room and evicting least recently used entries to make it.
// A body larger than the item bound gives ErrTooLarge: stream it through
// uncached. Other errors (ErrNoRoom, ErrInvalidMeta, a temp file that
// cannot be created, counted in WriteErrors) leave the tier usable.
// Readers may follow the fill with NewReader while it is written.
func (d *Disk) Create(key string, meta Meta) (*Fill, error) {
	size := meta.Size
	if size < 0 {
		return nil, fmt.Errorf("cache: disk fill %q: unknown size: %w", key, ErrSizeMismatch)
	}
	d.mu.Lock()
	maxItem := d.maxItem
	d.mu.Unlock()
	if size > maxItem {
		d.refused.Add(1)
		return nil, fmt.Errorf("cache: disk fill %q: %d bytes, the limit is %d: %w", key, size, maxItem, ErrTooLarge)
	}
	if !validMeta(&meta) {
		return nil, fmt.Errorf("cache: disk fill %q: %w", key, ErrInvalidMeta)
	}
	f := &Fill{d: d, key: key, meta: meta}
	f.cond.L = &f.mu
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrDiskClosed
	}
	victims, ok := d.evictLocked(size, nil)
	if ok {
		d.reserved += size
		d.fills[f] = struct{}{}
		d.tmpSeq++
		f.seq = d.tmpSeq
	}
	d.mu.Unlock()
	for _, id := range victims {
		d.removeFiles(id)
	}
	if !ok {
		return nil, fmt.Errorf("cache: disk fill %q: %d bytes: %w", key, size, ErrNoRoom)
	}
	f.path = d.tmpPath(f.seq, extBody)
	file, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		d.writeErrors.Add(1)
		d.release(f)
		return nil, fmt.Errorf("cache: disk fill %q: %w", key, err)
	}
	f.file = file
	return f, nil
}

// Write appends p to the body. Writing more than Meta.Size bytes fails the
// fill with ErrSizeMismatch; a failed write (disk full) fails it too. A
// failed fill's readers get the error and Commit returns it.
func (f *Fill) Write(p []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.done(); err != nil {
		return 0, err
	}
	if int64(len(p)) > f.meta.Size-f.n {
		err := fmt.Errorf("cache: disk fill %q: more than %d bytes: %w", f.key, f.meta.Size, ErrSizeMismatch)
		f.fail(err)
		return 0, err
	}
	var n int
	var err error
	if f.d.writeHook != nil {
		n, err = f.d.writeHook(f.file, f.key, f.n, p)
	} else {
		n, err = f.file.Write(p)
	}
	f.sum = crc32.Update(f.sum, castagnoli, p[:n])
	f.mu.Lock()
	f.n += int64(n)
	f.cond.Broadcast()
	f.mu.Unlock()
	if err != nil {
		return n, f.writeFailed("write", err)
	}
	return n, nil
}

// written is how many bytes were written so far.
func (f *Fill) written() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Commit checks that exactly Meta.Size bytes were written, syncs the body,
// writes the metadata and renames both into place (body first), then
// indexes the entry as the most recently used, replacing any entry of the
// key. On error the fill is failed and the tier stays as it was. If the
// key was deleted while the fill was in progress, Commit completes the
// fill for its readers but does not keep the entry.
func (f *Fill) Commit() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.done(); err != nil {
		return err
	}
	d := f.d
	if f.n != f.meta.Size {
		err := fmt.Errorf("cache: disk fill %q: %d bytes written, want %d: %w", f.key, f.n, f.meta.Size, ErrSizeMismatch)
		f.fail(err)
		return err
	}
	var err error
	if !d.noSync {
		err = f.file.Sync()
	}
	if cerr := f.file.Close(); err == nil {
		err = cerr
	}
	f.file = nil
	if err != nil {
		return f.writeFailed("sync body", err)
	}
	metaTmp := d.tmpPath(f.seq, extMeta)
	if err := d.writeRecord(metaTmp, f.key, f.n, f.sum, f.meta); err != nil {
		return f.writeFailed("write metadata", err)
	}

	d.mu.Lock()
	d.gen++
	id := fileID{hash: keyHash(f.key), gen: d.gen}
	d.mu.Unlock()
	body := d.path(id, extBody)
	f.mu.Lock()
	err = renameMkdir(f.path, body)
	if err == nil {
		f.path = body
	}
	f.mu.Unlock()
	if err == nil {
		err = os.Rename(metaTmp, d.path(id, extMeta))
	}
	if err != nil {
		os.Remove(metaTmp)
		return f.writeFailed("rename into place", err)
	}

	e := newDiskEntry(f.key, id, f.n, f.sum)
	e.verified = true
	meta := f.meta
	var victims []fileID
	compact := false
	d.mu.Lock()
	closed, keep := d.closed, !d.closed && !f.purged
	d.releaseLocked(f)
	if keep {
		if old := d.index[f.key]; old != nil {
			d.unlinkLocked(old)
			victims = append(victims, old.id)
		}
		d.index[f.key] = e
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
		f.finish(failed, ErrDiskClosed)
		return ErrDiskClosed
	}
	f.finish(committed, nil)
	if compact {
		d.SaveIndex() // a failure is counted in WriteErrors
	}
	return nil
}

// Abort discards the fill; its readers get ErrAborted. It does nothing
// after Commit or a failure.
func (f *Fill) Abort() { f.abort(ErrAborted) }

func (f *Fill) abort(err error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.done() == nil {
		f.fail(err)
	}
}

// done returns an error when the fill can no longer be written.
func (f *Fill) done() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.state {
	case committed:
		return fmt.Errorf("cache: disk fill %q: already committed", f.key)
	case failed:
		return f.err
	}
	return nil
}

// writeFailed counts a write error and fails the fill with it; a full
// filesystem also lowers the tier's bound (see disk_space.go). The caller
// holds wmu.
func (f *Fill) writeFailed(op string, err error) error {
	f.d.writeErrors.Add(1)
	full := isNoSpace(err)
	err = fmt.Errorf("cache: disk fill %q: %s: %w", f.key, op, err)
	f.fail(err)
	if full {
		f.d.noSpace(f.n)
	}
	return err
}

// fail discards the fill's files and reservation and wakes its readers
// with err. The caller holds wmu.
func (f *Fill) fail(err error) {
	if f.file != nil {
		f.file.Close()
		f.file = nil
	}
	os.Remove(f.d.tmpPath(f.seq, extMeta))
	f.mu.Lock()
	os.Remove(f.path)
	f.mu.Unlock()
	f.d.release(f)
	f.finish(failed, err)
}

func (f *Fill) finish(state fillState, err error) {
	f.mu.Lock()
	f.state, f.err = state, err
	f.cond.Broadcast()
	f.mu.Unlock()
}

// release gives back f's reservation.
func (d *Disk) release(f *Fill) {
	d.mu.Lock()
	d.releaseLocked(f)
	d.mu.Unlock()
}

func (d *Disk) releaseLocked(f *Fill) {
	if !f.released {
		f.released = true
		d.reserved -= f.meta.Size
		delete(d.fills, f)
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

// NewReader returns a reader of the fill's body from its first byte. It
// reads what has been written so far and blocks until more is written;
// after Commit it ends with io.EOF at Meta.Size bytes, after Abort or a
// failure it returns the fill's error. It may be created at any time until
// the fill fails, even after Commit (while the entry exists). It can Seek
// (io.SeekEnd is relative to Meta.Size) without waiting, so it can be
// handed to http.ServeContent for ranges. Close it when done.
func (f *Fill) NewReader() (io.ReadSeekCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == failed {
		return nil, f.err
	}
	file, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("cache: disk fill %q: reader: %w", f.key, err)
	}
	return &fillReader{f: f, file: file}, nil
}

// fillReader reads a fill's body as it grows, through its own descriptor,
// which keeps reading the same file across the rename at Commit.
type fillReader struct {
	f      *Fill
	file   *os.File
	off    int64
	closed bool // guarded by f.mu
}

// Read reads what is written past the reader's offset, waiting for it.
func (r *fillReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f := r.f
	f.mu.Lock()
	for {
		if r.closed {
			f.mu.Unlock()
			return 0, os.ErrClosed
		}
		if f.state == failed {
			f.mu.Unlock()
			return 0, f.err
		}
		if r.off < f.n {
			break
		}
		if f.state == committed {
			f.mu.Unlock()
			return 0, io.EOF
		}
		f.cond.Wait()
	}
	avail := f.n - r.off
	f.mu.Unlock()
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

// Seek sets where the next Read starts; it never waits for the fill.
func (r *fillReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.f.meta.Size
	default:
		return 0, errors.New("cache: fill reader: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("cache: fill reader: seek before the start")
	}
	r.off = offset
	return offset, nil
}

// Close releases the reader; a Read blocked on it returns os.ErrClosed.
func (r *fillReader) Close() error {
	r.f.mu.Lock()
	if r.closed {
		r.f.mu.Unlock()
		return nil
	}
	r.closed = true
	r.f.cond.Broadcast()
	r.f.mu.Unlock()
	return r.file.Close()
}
