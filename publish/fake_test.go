package publish

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// fakeBucket is an in-memory bucket whose ETags are computed as S3 and R2
// compute them: the MD5 of a body sent in one PUT, the multipart ETag for
// a body larger than its PartSize. It records what it was asked.
type fakeBucket struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	heads   []string
	puts    []string
	deletes []string
	// failPut fails the Put of these keys, failHead their Head.
	failPut, failHead map[string]bool
	// onPut, when set, runs at the start of every Put.
	onPut func(key string)
}

type fakeObject struct {
	body []byte
	info origin.Info
	meta origin.PutOptions
}

func newFake() *fakeBucket {
	return &fakeBucket{objects: map[string]fakeObject{}, failPut: map[string]bool{}, failHead: map[string]bool{}}
}

// etagFor is the ETag S3 gives body uploaded with part size ps.
func etagFor(body []byte, ps int64) (string, error) {
	if ps == 0 {
		ps = origin.DefaultPartSize
	}
	if int64(len(body)) > ps {
		return origin.MultipartETag(bytes.NewReader(body), ps)
	}
	return origin.PlainETag(bytes.NewReader(body))
}

// put stores an object as another tool would (no sync metadata unless
// meta has it), uploaded with part size ps.
func (f *fakeBucket) put(t testing.TB, key string, body []byte, ps int64, meta origin.PutOptions) {
	t.Helper()
	if err := f.store(key, body, ps, meta); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeBucket) store(key string, body []byte, ps int64, meta origin.PutOptions) error {
	etag, err := etagFor(body, ps)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = fakeObject{body: body, meta: meta, info: origin.Info{
		Key: key, Size: int64(len(body)), ETag: etag, Metadata: meta.Metadata,
		ContentType: meta.ContentType, CacheControl: meta.CacheControl, ContentEncoding: meta.ContentEncoding,
	}}
	return nil
}

func (f *fakeBucket) List(ctx context.Context, prefix string, fn func(origin.ListEntry) error) error {
	f.mu.Lock()
	var entries []origin.ListEntry
	for k, o := range f.objects {
		if strings.HasPrefix(k, prefix) {
			entries = append(entries, origin.ListEntry{Key: k, Size: o.info.Size, ETag: o.info.ETag})
		}
	}
	f.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeBucket) Head(ctx context.Context, key string) (origin.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads = append(f.heads, key)
	if f.failHead[key] {
		return origin.Info{}, errors.New("head " + key + ": bucket refused (fake)")
	}
	o, ok := f.objects[key]
	if !ok {
		return origin.Info{}, origin.ErrNotFound
	}
	return o.info, nil
}

func (f *fakeBucket) Put(ctx context.Context, key string, body io.Reader, size int64, meta origin.PutOptions) (origin.Info, error) {
	if f.onPut != nil {
		f.onPut(key)
	}
	f.mu.Lock()
	fail := f.failPut[key]
	f.mu.Unlock()
	if fail {
		return origin.Info{}, errors.New("put " + key + ": bucket refused (fake)")
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return origin.Info{}, err
	}
	if int64(len(b)) != size {
		return origin.Info{}, origin.ErrBodySize
	}
	if err := f.store(key, b, meta.PartSize, meta); err != nil {
		return origin.Info{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, key)
	return f.objects[key].info, nil
}

func (f *fakeBucket) Delete(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, key)
	delete(f.objects, key)
	return nil
}

// keys returns the bucket's keys, sorted.
func (f *fakeBucket) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.objects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reset forgets the recorded calls.
func (f *fakeBucket) reset() {
	f.mu.Lock()
	f.heads, f.puts, f.deletes = nil, nil, nil
	f.mu.Unlock()
}

// fixedClock returns a now func that advances by step on each call.
func fixedClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}
