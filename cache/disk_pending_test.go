package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/origin"
)

func TestDiskPendingReadersGetExactlyTheBytes(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		readers int
	}{
		{"empty body", 0, 3},
		{"one chunk", 100, 3},
		{"many chunks, many readers", 1 << 20, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 4<<20, 0)
			body := testBody(3, tt.size)
			f, err := d.Create("k", testMeta("k", int64(tt.size)))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			read := func(i int) {
				r, err := f.NewReader()
				if err != nil {
					t.Error(err)
					return
				}
				defer r.Close()
				// Readers read with odd buffers, some slowly.
				buf := make([]byte, 1+i*i*997)
				var got []byte
				for reads := 0; ; reads++ {
					n, err := r.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Errorf("reader %d: %v", i, err)
						return
					}
					if i%3 == 0 && reads%64 == 0 {
						time.Sleep(time.Microsecond)
					}
				}
				if !bytes.Equal(got, body) {
					t.Errorf("reader %d: got %d bytes, want %d (or different bytes)", i, len(got), len(body))
				}
			}
			// Half the readers start before the first byte, the others
			// while the body is written.
			for i := range tt.readers / 2 {
				wg.Go(func() { read(i) })
			}
			r := rand.New(rand.NewPCG(1, 2))
			for rest, started := body, false; len(rest) > 0; {
				n := min(len(rest), 1+r.IntN(64<<10))
				if _, err := f.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
				if !started && len(rest) < len(body)/2 {
					started = true
					for i := tt.readers / 2; i < tt.readers-1; i++ {
						wg.Go(func() { read(i) })
					}
				}
				time.Sleep(50 * time.Microsecond)
			}
			if tt.size == 0 {
				for i := tt.readers / 2; i < tt.readers-1; i++ {
					wg.Go(func() { read(i) })
				}
			}
			if err := f.Commit(); err != nil {
				t.Fatal(err)
			}
			read(tt.readers - 1) // a reader made after Commit
			wg.Wait()
			mustGet(t, d, "k", body)
			checkConsistent(t, d)
		})
	}
}

func TestDiskPendingReaderSeeksAheadAndWaits(t *testing.T) {
	const size = 200_000
	body := testBody(9, size)
	tests := []struct {
		name string
		rng  string // Range header; "" for the whole body
		want []byte
		code int
	}{
		{"whole body through ServeContent", "", body, http.StatusOK},
		{"range in the part not written yet", "bytes=150000-150999", body[150000:151000], http.StatusPartialContent},
		{"suffix range", "bytes=-100", body[size-100:], http.StatusPartialContent},
		{"range past the end", "bytes=300000-", nil, http.StatusRequestedRangeNotSatisfiable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			f, err := d.Create("k", testMeta("k", size))
			if err != nil {
				t.Fatal(err)
			}
			r, err := f.NewReader()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			written := make(chan error)
			go func() {
				for rest := body; len(rest) > 0; rest = rest[min(len(rest), 10000):] {
					f.Write(rest[:min(len(rest), 10000)])
					time.Sleep(100 * time.Microsecond)
				}
				written <- f.Commit()
			}()
			defer func() {
				if err := <-written; err != nil {
					t.Error(err)
				}
			}()
			req := httptest.NewRequest("GET", "/k", nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			w := httptest.NewRecorder()
			http.ServeContent(w, req, "", time.Time{}, r)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
			if tt.want != nil && !bytes.Equal(w.Body.Bytes(), tt.want) {
				t.Errorf("body: %d bytes, want %d (or different bytes)", w.Body.Len(), len(tt.want))
			}
		})
	}
}

func TestDiskFailedPendingFailsItsReaders(t *testing.T) {
	tests := []struct {
		name    string
		finish  func(f *Pending) error
		wantErr error
	}{
		{"abort", func(f *Pending) error { f.Abort(); return nil }, ErrAborted},
		{"commit of a short body", func(f *Pending) error { return f.Commit() }, ErrSizeMismatch},
		{"write past the size", func(f *Pending) error {
			_, err := f.Write(make([]byte, 2000))
			return err
		}, ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			put(t, d, "other", testBody(1, 100))
			f, err := d.Create("k", testMeta("k", 2000))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(testBody(2, 1000)); err != nil {
				t.Fatal(err)
			}
			const readers = 4
			errs := make(chan error, readers)
			started := make(chan struct{}, readers)
			for range readers {
				r, err := f.NewReader()
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					defer r.Close()
					started <- struct{}{}
					_, err := io.ReadAll(r)
					errs <- err
				}()
			}
			for range readers {
				<-started
			}
			time.Sleep(10 * time.Millisecond) // let them block at byte 1000
			if err := tt.finish(f); !errors.Is(err, tt.wantErr) && err != nil {
				t.Errorf("finishing: %v, want %v", err, tt.wantErr)
			}
			for range readers {
				if err := <-errs; !errors.Is(err, tt.wantErr) {
					t.Errorf("reader: %v, want %v", err, tt.wantErr)
				}
			}
			if _, err := f.NewReader(); !errors.Is(err, tt.wantErr) {
				t.Errorf("NewReader after failure: %v", err)
			}
			if err := f.Commit(); err == nil {
				t.Error("Commit after failure succeeded")
			}
			f.Abort() // harmless
			mustMiss(t, d, "k")
			if s := d.Stats(); s.Reserved != 0 || s.Entries != 1 || s.WriteErrors != 0 {
				t.Errorf("stats = %+v", s)
			}
			checkConsistent(t, d)
		})
	}
}

func TestDiskPendingPurgedMidwayIsNotKept(t *testing.T) {
	tests := []struct {
		name  string
		purge func(d *Disk)
	}{
		{"delete of the key", func(d *Disk) { d.Delete("a/k") }},
		{"delete of a prefix", func(d *Disk) { d.DeletePrefix("a/") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openTestDisk(t, 1<<20, 0)
			put(t, d, "a/k", testBody(1, 100))
			body := testBody(2, 1000)
			f, err := d.Create("a/k", testMeta("a/k", 1000))
			if err != nil {
				t.Fatal(err)
			}
			r, err := f.NewReader()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			f.Write(body[:500])
			tt.purge(d)
			f.Write(body[500:])
			if err := f.Commit(); err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, body) {
				t.Errorf("reader: %d bytes, %v", len(got), err)
			}
			mustMiss(t, d, "a/k")
			checkConsistent(t, d)
		})
	}
}

func TestDiskReservationsNeverExceedTheBound(t *testing.T) {
	d := openTestDisk(t, 10000, 6000)
	put(t, d, "old", testBody(1, 3000))
	a, err := d.Create("a", testMeta("a", 6000))
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Reserved != 6000 || s.Bytes != 3000 {
		t.Errorf("stats = %+v", s)
	}
	// 6000 reserved + 5000 more cannot fit even with "old" evicted.
	if _, err := d.Create("b", testMeta("b", 5000)); !errors.Is(err, ErrNoRoom) {
		t.Errorf("Create beyond reservations: %v, want ErrNoRoom", err)
	}
	a.Abort()
	b, err := d.Create("b", testMeta("b", 5000))
	if err != nil {
		t.Fatal(err)
	}
	b.Write(testBody(2, 5000))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Reserved != 0 || s.Bytes+s.Reserved > 10000 {
		t.Errorf("stats = %+v", s)
	}
	checkConsistent(t, d)
}

func TestDiskConcurrentWritesOfOneKeyLeaveOneEntry(t *testing.T) {
	d := openTestDisk(t, 1<<20, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				size := 100 + i*10 + j
				if err := tryPut(d, "k", testMeta("k", int64(size)), testBody(uint64(size), size)); err != nil {
					t.Error(err)
				}
				if meta, f, err := d.Get("k"); err == nil {
					got, _ := io.ReadAll(f)
					f.Close()
					if !bytes.Equal(got, testBody(uint64(meta.Size), int(meta.Size))) {
						t.Error("body does not match its metadata")
					}
				}
			}
		})
	}
	wg.Wait()
	if s := d.Stats(); s.Entries != 1 {
		t.Errorf("stats = %+v", s)
	}
	checkConsistent(t, d)
}

func ExampleDisk_Create() {
	dir, _ := os.MkdirTemp("", "r2gate-disk")
	defer os.RemoveAll(dir)
	d, err := OpenDisk(dir, 1<<30, 100<<20)
	if err != nil {
		panic(err)
	}
	defer d.Close()

	body := []byte("hello, disk")
	f, err := d.Create("greeting", Meta{Info: origin.Info{Key: "greeting", Size: int64(len(body))}})
	if err != nil {
		panic(err) // ErrTooLarge: stream it through uncached
	}
	r, _ := f.NewReader() // a coalesced waiter follows the fill
	go func() {
		f.Write(body) // usually io.Copy from the bucket
		f.Commit()
	}()
	got, _ := io.ReadAll(r)
	r.Close()
	fmt.Println(string(got))
	// Output: hello, disk
}
