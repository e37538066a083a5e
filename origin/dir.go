package origin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// reserved is the name prefix r2gate keeps for itself inside a Dir: sidecar
// metadata and temporary files. Keys with a segment starting with it are
// refused.
const reserved = ".r2gate"

// metaDir holds one JSON sidecar per object written by Put.
const metaDir = reserved + "-meta"

// maxNameLen is the longest file name most file systems take (NAME_MAX);
// a longer key segment fails with ENAMETOOLONG, which is ErrKeyTooLong.
const maxNameLen = 255

// maxETagMemo bounds the memo of content hashes.
const maxETagMemo = 16384

// racyWindow is how old a file's modification time must be before its hash
// is remembered. File systems stamp times with a coarse clock, so a file
// rewritten with the same size within one tick keeps its modification time;
// a hash taken that soon could outlive the content it was taken of.
const racyWindow = 2 * time.Second

// Dir is a Bucket backed by a folder on the local disk. Keys are paths
// relative to the folder. It is safe for concurrent use.
//
// No key can reach outside the folder: keys with "." or ".." segments, a
// leading slash, NUL or invalid UTF-8 are refused with ErrInvalidKey, and all
// access goes through an os.Root, so symbolic links that point outside the
// folder are not followed (such keys are not found).
//
// ETags are derived from the content (a SHA-256 prefix), so they are stable
// across restarts and copies; the hash is computed on first use and, once
// the file is a few seconds old, remembered while its size and modification
// time stay the same.
// Content-Type comes from the metadata stored by Put, else the file
// extension, else the first 512 bytes. Put stores metadata in a sidecar file
// under .r2gate-meta/ beside the objects.
type Dir struct {
	root *os.Root

	mu    sync.Mutex
	etags map[etagID]string

	// publish is held while Put checks its conditions and moves the new
	// object into place.
	publish sync.Mutex
}

type etagID struct {
	key   string
	size  int64
	mtime int64
}

// OpenDir opens the folder at dir as a Bucket.
func OpenDir(dir string) (*Dir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening bucket folder: %w", err)
	}
	return &Dir{root: root, etags: make(map[etagID]string)}, nil
}

// Close releases the folder.
func (d *Dir) Close() error { return d.root.Close() }

// sidecar is the metadata Put stores beside an object.
type sidecar struct {
	ContentType        string            `json:"content_type,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	ContentLanguage    string            `json:"content_language,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
}

// sidecarName is where Put keeps the metadata of key: "a/b" has
// .r2gate-meta/a/.r2gate/b.json. The folder with the reserved name holds
// only sidecars, so no key's folder (say "b.json/") can collide with one.
func sidecarName(key string) string {
	dir, base := path.Split(key)
	return metaDir + "/" + dir + reserved + "/" + base + ".json"
}

// checkKey refuses keys that could leave the folder or that name r2gate's
// own files.
func checkKey(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %s", ErrKeyTooLong, QuoteKey(key))
	}
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") ||
		strings.ContainsRune(key, 0) || !utf8.ValidString(key) {
		return fmt.Errorf("%w: %s", ErrInvalidKey, QuoteKey(key))
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." || strings.HasPrefix(seg, reserved) {
			return fmt.Errorf("%w: %s", ErrInvalidKey, QuoteKey(key))
		}
	}
	return nil
}

// open opens key for reading and returns the file and its metadata.
func (d *Dir) open(key string) (*os.File, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	f, err := d.root.Open(key)
	if err != nil {
		return nil, Info{}, d.mapErr("open", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("stat %s: %w", QuoteKey(key), err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, fmt.Errorf("%s is not a file: %w", QuoteKey(key), ErrNotFound)
	}
	info := Info{Key: key, Size: fi.Size(), LastModified: fi.ModTime().UTC().Truncate(time.Second)}
	if info.ETag, err = d.etag(f, key, fi); err != nil {
		f.Close()
		return nil, Info{}, err
	}
	d.readSidecar(key, &info)
	if info.ContentType == "" {
		info.ContentType = mime.TypeByExtension(path.Ext(key))
	}
	if info.ContentType == "" {
		var buf [512]byte
		n, _ := io.ReadFull(f, buf[:])
		info.ContentType = http.DetectContentType(buf[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, Info{}, fmt.Errorf("seek %s: %w", QuoteKey(key), err)
		}
	}
	return f, info, nil
}

// mapErr turns a file system error into one of the package's errors. The
// result names the key (QuoteKey), not the path.
func (d *Dir) mapErr(op, key string, err error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) {
		return fmt.Errorf("%s %s: %w", op, QuoteKey(key), ErrKeyTooLong)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", op, QuoteKey(key), ErrNotFound)
	}
	// os.Root refuses names that escape it (symbolic links pointing out,
	// and names under a file). From outside the folder they do not exist.
	var pe *fs.PathError
	if errors.As(err, &pe) && (strings.Contains(pe.Err.Error(), "escapes") || strings.Contains(pe.Err.Error(), "not a directory")) {
		return fmt.Errorf("%s %s: %w", op, QuoteKey(key), ErrNotFound)
	}
	if pe != nil {
		err = pe.Err // its path is the key again
	}
	return fmt.Errorf("%s %s: %w", op, QuoteKey(key), err)
}

// etag returns the content hash of f, from the memo when the file is
// unchanged. Recently modified files are hashed each time (see racyWindow).
func (d *Dir) etag(f *os.File, key string, fi fs.FileInfo) (string, error) {
	id := etagID{key: key, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	memo := time.Since(fi.ModTime()) > racyWindow
	d.mu.Lock()
	tag, ok := d.etags[id]
	d.mu.Unlock()
	if ok {
		return tag, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", QuoteKey(key), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("seek %s: %w", QuoteKey(key), err)
	}
	tag = `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	if !memo {
		return tag, nil
	}
	d.mu.Lock()
	if len(d.etags) >= maxETagMemo {
		clear(d.etags)
	}
	d.etags[id] = tag
	d.mu.Unlock()
	return tag, nil
}

func (d *Dir) readSidecar(key string, info *Info) {
	b, err := d.root.ReadFile(sidecarName(key))
	if err != nil {
		return
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil {
		return
	}
	info.ContentType = sc.ContentType
	info.CacheControl = sc.CacheControl
	info.ContentEncoding = sc.ContentEncoding
	info.ContentDisposition = sc.ContentDisposition
	info.ContentLanguage = sc.ContentLanguage
	info.Metadata = sc.Metadata
}

// Head implements Bucket.
func (d *Dir) Head(_ context.Context, key string) (Info, error) {
	f, info, err := d.open(key)
	if err != nil {
		return Info{}, err
	}
	f.Close()
	return info, nil
}

// Get implements Bucket.
func (d *Dir) Get(_ context.Context, key string, opts GetOptions) (*Object, error) {
	f, info, err := d.open(key)
	if err != nil {
		return nil, err
	}
	if err := opts.check(info); err != nil {
		f.Close()
		if errors.Is(err, ErrNotModified) {
			return nil, NotModified(key, info)
		}
		return nil, fmt.Errorf("get %s: %w", QuoteKey(key), err)
	}
	obj := &Object{Info: info, Body: f, Length: info.Size}
	if r := opts.Range; r != nil {
		off, n, err := r.clamp(info.Size)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("get %s: %w", QuoteKey(key), err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek %s: %w", QuoteKey(key), err)
		}
		obj.Offset, obj.Length = off, n
		obj.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(f, n), f}
	}
	return obj, nil
}

// Put implements Bucket. The bytes go to a temporary file beside the target
// that is renamed over it once complete, so readers never see a partial
// object. A negative size streams the body to its end.
//
// The conditions of meta are evaluated as the new object is moved into
// place: IfNoneMatch "*" with a hard link that fails if the key is taken
// (atomic even against other processes sharing the folder, on file systems
// with hard links), IfMatch against the content hash of the object there,
// atomic against the Puts of this Dir but not of other processes. Put
// stops, removing its temporary file, when ctx is done.
func (d *Dir) Put(ctx context.Context, key string, body io.Reader, size int64, meta PutOptions) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	if _, err := meta.plan(key); err != nil {
		return Info{}, err
	}
	if len(path.Base(key))+len(".json") > maxNameLen { // the sidecar's name would not fit
		return Info{}, fmt.Errorf("put %s: %w", QuoteKey(key), ErrKeyTooLong)
	}
	if dir := path.Dir(key); dir != "." {
		if err := d.root.MkdirAll(dir, 0o755); err != nil {
			return Info{}, d.mapErr("put", key, err)
		}
	}
	tmp, err := d.writeTemp(ctx, key, body, size)
	if err != nil {
		return Info{}, err
	}
	if err := d.publishObject(tmp, key, meta); err != nil {
		_ = d.root.Remove(tmp)
		return Info{}, err
	}
	sc, err := json.Marshal(sidecar{
		ContentType:        meta.ContentType,
		CacheControl:       meta.CacheControl,
		ContentEncoding:    meta.ContentEncoding,
		ContentDisposition: meta.ContentDisposition,
		ContentLanguage:    meta.ContentLanguage,
		Metadata:           meta.Metadata,
	})
	if err != nil {
		return Info{}, fmt.Errorf("put %s: encoding metadata: %w", QuoteKey(key), err)
	}
	scKey := sidecarName(key)
	if err := d.root.MkdirAll(path.Dir(scKey), 0o755); err != nil {
		return Info{}, d.mapErr("put", key, err)
	}
	if err := d.writeAtomic(scKey, strings.NewReader(string(sc)), int64(len(sc))); err != nil {
		return Info{}, err
	}
	return d.Head(context.Background(), key)
}

// publishObject moves the complete temporary file tmp to key if the
// conditions of meta hold.
func (d *Dir) publishObject(tmp, key string, meta PutOptions) error {
	d.publish.Lock()
	defer d.publish.Unlock()
	switch {
	case meta.IfNoneMatch != "":
		err := d.root.Link(tmp, key)
		switch {
		case err == nil:
			_ = d.root.Remove(tmp)
			return nil
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("put %s: an object exists: %w", QuoteKey(key), ErrPreconditionFailed)
		}
		// No hard links here: check, then rename (atomic within this Dir).
		if _, err := d.root.Lstat(key); err == nil {
			return fmt.Errorf("put %s: an object exists: %w", QuoteKey(key), ErrPreconditionFailed)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return d.mapErr("put", key, err)
		}
	case meta.IfMatch != "":
		f, info, err := d.open(key)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("put %s: no object to match %.80q: %w", QuoteKey(key), meta.IfMatch, ErrPreconditionFailed)
		}
		if err != nil {
			return err
		}
		f.Close()
		if !matchETag(meta.IfMatch, info.ETag, false) {
			return fmt.Errorf("put %s: the object is another version: %w", QuoteKey(key), ErrPreconditionFailed)
		}
	}
	if err := d.root.Rename(tmp, key); err != nil {
		if errors.Is(err, syscall.ENAMETOOLONG) {
			err = ErrKeyTooLong
		}
		return fmt.Errorf("put %s: %w", QuoteKey(key), err)
	}
	return nil
}

// writeTemp writes body to a new temporary file beside key and returns the
// file's name: exactly size bytes, or all of it when size is negative.
func (d *Dir) writeTemp(ctx context.Context, key string, body io.Reader, size int64) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(key), reserved+"-tmp-"+hex.EncodeToString(rnd[:]))
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", d.mapErr("put", key, err)
	}
	src := &ctxReader{ctx: ctx, r: body}
	var r io.Reader = src
	if size >= 0 {
		r = io.LimitReader(src, size)
	}
	n, err := io.Copy(f, r)
	switch {
	case src.err != nil && src.err == ctx.Err():
		err = fmt.Errorf("put %s: %w", QuoteKey(key), src.err)
	case src.err != nil:
		err = bodyErr(key, src.err)
	case err != nil:
		err = fmt.Errorf("put %s: %w", QuoteKey(key), err)
	case size >= 0 && n != size:
		err = sizeErr(key, n, size)
	case size >= 0:
		err = checkEnd(key, src, size)
	}
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("put %s: %w", QuoteKey(key), err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("put %s: %w", QuoteKey(key), cerr)
	}
	if err != nil {
		_ = d.root.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// ctxReader reads r until ctx is done, and remembers the first error of
// r itself (not io.EOF) or of ctx.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// writeAtomic writes exactly size bytes from r to name through a temporary
// file and a rename.
func (d *Dir) writeAtomic(name string, r io.Reader, size int64) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), reserved+"-tmp-"+hex.EncodeToString(rnd[:]))
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return d.mapErr("put", name, err)
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("body has %d bytes, want %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, name)
	}
	if err != nil {
		_ = d.root.Remove(tmp)
		if errors.Is(err, syscall.ENAMETOOLONG) {
			err = ErrKeyTooLong
		}
		return fmt.Errorf("put %s: %w", QuoteKey(name), err)
	}
	return nil
}

// Delete implements Bucket.
func (d *Dir) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d.mapErr("delete", key, err)
	}
	_ = d.root.Remove(sidecarName(key))
	return nil
}

// Interface guard.
var _ Bucket = (*Dir)(nil)
