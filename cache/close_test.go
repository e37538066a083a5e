package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
)

// closeNow closes c and fails the test if Close does not return at once
// (it runs inside Caddy's config unload, which must not wait for traffic).
func closeNow(t *testing.T, c *Cache) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	await(t, closed, "Close returned")
}

// mustBypass checks that a Get on a closed cache answers with a
// *BypassError: the handler then serves from the bucket.
func mustBypass(t *testing.T, r *rig, key string) {
	t.Helper()
	var pt *BypassError
	resp, err := r.c.Get(context.Background(), r.src, key, r.opts)
	if err == nil {
		resp.Close()
	}
	if !errors.As(err, &pt) {
		t.Errorf("Get on a closed cache: %v, want a *BypassError", err)
	}
}

// readAll reads resp whole and closes it.
func readAll(resp *Response) ([]byte, error) {
	defer resp.Close()
	return io.ReadAll(resp.Body)
}

func TestCloseLetsWaitersOfACoalescedFetchFinish(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", withDisk), func(t *testing.T) {
			const waiters = 8
			base := runtime.NumGoroutine()
			r := newRig(t, withDisk)
			body := testBody(5, 300_000)
			r.b.put("k", body, "")
			gate := make(chan struct{})
			r.b.gate = gate // a slow bucket
			var wg sync.WaitGroup
			for i := range waiters {
				wg.Go(func() {
					resp, err := r.c.Get(context.Background(), r.src, "k", r.opts)
					if err != nil {
						t.Errorf("waiter %d: %v", i, err)
						return
					}
					if got, err := readAll(resp); err != nil || !bytes.Equal(got, body) {
						t.Errorf("waiter %d: %d of %d bytes, %v", i, len(got), len(body), err)
					}
				})
			}
			eventually(t, "every waiter joined the fetch", func() bool {
				return r.b.gets.Load() == 1 && r.c.Stats().Coalesced == waiters-1
			})
			closeNow(t, r.c)
			close(gate)
			wg.Wait()
			mustBypass(t, r, "k")
			await(t, r.c.Closed(), "the closed cache's work ended")
			if n := r.b.gets.Load(); n != 1 {
				t.Errorf("%d bucket gets, want 1", n)
			}
			waitGoroutines(t, base)
		})
	}
}

func TestCloseLetsReadersOfATransferFinish(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", withDisk), func(t *testing.T) {
			const readers = 4
			base := runtime.NumGoroutine()
			r := newRig(t, withDisk)
			body := testBody(6, 900_000) // a memory transfer without the disk tier
			r.b.put("k", body, "")
			release := make(chan struct{})
			r.b.body = func(ctx context.Context, _ string, b []byte) io.Reader {
				return &stalledBody{ctx: ctx, b: b, first: 100_000, release: release}
			}
			// Readers attach, one of them reading along after the fetch
			// returned, and read what has arrived.
			var resps []*Response
			for i := range readers {
				resp, err := r.c.Get(context.Background(), r.src, "k", r.opts)
				if err != nil {
					t.Fatalf("reader %d: %v", i, err)
				}
				if _, err := io.ReadFull(resp.Body, make([]byte, 50_000)); err != nil {
					t.Fatalf("reader %d: %v", i, err)
				}
				resps = append(resps, resp)
			}
			closeNow(t, r.c)
			close(release)
			for i, resp := range resps {
				rest, err := readAll(resp)
				if err != nil || !bytes.Equal(rest, body[50_000:]) {
					t.Errorf("reader %d: %d of %d bytes after the first 50,000, %v", i, len(rest), len(body)-50_000, err)
				}
			}
			mustBypass(t, r, "k")
			await(t, r.c.Closed(), "the closed cache's work ended")
			if n := r.b.gets.Load(); n != 1 {
				t.Errorf("%d bucket gets, want 1", n)
			}
			waitGoroutines(t, base)
		})
	}
}

func TestCloseStopsTransfersNobodyReads(t *testing.T) {
	for _, withDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", withDisk), func(t *testing.T) {
			base := runtime.NumGoroutine()
			r := newRig(t, withDisk)
			r.b.put("gone", testBody(7, 500_000), "")
			r.b.put("read", testBody(8, 500_000), "")
			release := make(chan struct{})
			defer close(release)
			r.b.body = func(ctx context.Context, _ string, b []byte) io.Reader {
				return &stalledBody{ctx: ctx, b: b, first: 10_000, release: release}
			}
			// "gone": its only reader left. "read": its reader leaves
			// after Close. Neither body ever arrives.
			resp, err := r.c.Get(context.Background(), r.src, "gone", r.opts)
			if err != nil {
				t.Fatal(err)
			}
			resp.Close()
			resp, err = r.c.Get(context.Background(), r.src, "read", r.opts)
			if err != nil {
				t.Fatal(err)
			}
			closeNow(t, r.c)
			select {
			case <-r.c.Closed():
				t.Fatal("the transfer of a reader's body stopped under it")
			default:
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 10_000)); err != nil {
				t.Errorf("reader after Close: %v", err)
			}
			resp.Close()
			await(t, r.c.Closed(), "transfers nobody reads stopped")
			waitGoroutines(t, base)
		})
	}
}
