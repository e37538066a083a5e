package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/r2gate/r2gate/internal/s3test"
)

// putObject writes key to a bucket server with an optional Cache-Control.
func putObject(t *testing.T, srv *s3test.Server, key string, body []byte, cacheControl string) {
	t.Helper()
	in := &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/octet-stream"),
	}
	if cacheControl != "" {
		in.CacheControl = aws.String(cacheControl)
	}
	if _, err := srv.Client("").PutObject(context.Background(), in); err != nil {
		t.Fatalf("uploading %s: %v", key, err)
	}
}

// uniqueKey returns a key no other test uses.
func uniqueKey(t *testing.T, name string) string {
	return fmt.Sprintf("cache-tests/%s/%d/%s", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), name)
}

// bucketGets returns the GETs the bucket saw for key, through the proxy.
func bucketGets(key string) []s3test.Request {
	var out []s3test.Request
	for _, r := range env.proxy.Matching("/" + key) {
		if r.Method == http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

func mustGet(t *testing.T, url string, want []byte, kv ...string) *http.Response {
	t.Helper()
	resp, body := get(t, newTester(t), url, kv...)
	if resp.StatusCode != 200 || !bytes.Equal([]byte(body), want) {
		t.Fatalf("GET %s: %d with %d bytes, want 200 with the %d uploaded", url, resp.StatusCode, len(body), len(want))
	}
	return resp
}

func TestCacheMissThenMemoryHit(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "a.bin")
	body := bytes.Repeat([]byte("m"), 10_000)
	putObject(t, env.s3, key, body, "")

	first := mustGet(t, cachedURL+"/"+key, body)
	if got := first.Header.Get("Cache-Status"); got != "r2gate; fwd=uri-miss; fwd-status=200; ttl=3600; stored" {
		t.Errorf("first request Cache-Status = %q", got)
	}
	if first.Header.Get("Age") != "0" {
		t.Errorf("first request Age = %q, want 0", first.Header.Get("Age"))
	}
	second := awaitHit(t, cachedURL+"/"+key, body)
	if got := second.Header.Get("Cache-Status"); !strings.HasPrefix(got, "r2gate; hit; ttl=") || !strings.HasSuffix(got, "; detail=memory") {
		t.Errorf("second request Cache-Status = %q, want a memory hit", got)
	}
	if n := len(bucketGets(key)); n != 1 {
		t.Errorf("the bucket saw %d GETs, want 1", n)
	}
}

func TestCacheDiskTierHits(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "d.bin")
	body := bytes.Repeat([]byte("d"), 300_000)
	putObject(t, env.s3, key, body, "")
	mustGet(t, diskOnlyURL+"/"+key, body)
	resp := mustGet(t, diskOnlyURL+"/"+key, body)
	if got := resp.Header.Get("Cache-Status"); !strings.HasSuffix(got, "detail=disk") || !strings.Contains(got, "hit") {
		t.Errorf("Cache-Status = %q, want a disk hit", got)
	}
	resp, got := get(t, newTester(t), diskOnlyURL+"/"+key, "Range", "bytes=1000-1999")
	if resp.StatusCode != 206 || got != string(body[1000:2000]) || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=disk") {
		t.Errorf("range from disk: %d, %d bytes, %q", resp.StatusCode, len(got), resp.Header.Get("Cache-Status"))
	}
	if n := len(bucketGets(key)); n != 1 {
		t.Errorf("the bucket saw %d GETs, want 1", n)
	}
}

func TestCacheCoalescesConcurrentMisses(t *testing.T) {
	tester := newTester(t)
	key := uniqueKey(t, "hot.bin")
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	putObject(t, env.s3, key, body, "")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			resp, err := tester.Client.Get(cachedURL + "/" + key)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(resp.Body); err != nil || resp.StatusCode != 200 || !bytes.Equal(buf.Bytes(), body) {
				errs <- fmt.Errorf("status %d, %d bytes, err %v", resp.StatusCode, buf.Len(), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(bucketGets(key)); n != 1 {
		t.Errorf("100 concurrent requests for a cold key made %d bucket GETs, want 1", n)
	}
}

func TestCacheNegativeEntries(t *testing.T) {
	tester := newTester(t)
	key := uniqueKey(t, "missing.bin")
	for i := range 3 {
		resp, _ := get(t, tester, cachedURL+"/"+key)
		if resp.StatusCode != 404 {
			t.Fatalf("missing key: %d, want 404", resp.StatusCode)
		}
		cs := resp.Header.Get("Cache-Status")
		if want := "r2gate; fwd=uri-miss; fwd-status=404; ttl="; i == 0 && !strings.HasPrefix(cs, want) {
			t.Errorf("first 404: Cache-Status %q, want %q…", cs, want)
		}
		if want := "r2gate; hit; ttl="; i > 0 && (!strings.HasPrefix(cs, want) || !strings.HasSuffix(cs, "; detail=negative")) {
			t.Errorf("remembered 404: Cache-Status %q, want %q…; detail=negative", cs, want)
		}
	}
	if n := len(bucketGets(key)); n != 1 {
		t.Errorf("three requests for a missing key made %d bucket GETs, want 1 (negative_ttl)", n)
	}
}

func TestCacheRevalidatesWithConditionalGet(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "short.bin")
	body := []byte("short-lived")
	putObject(t, env.s3, key, body, "public, max-age=1")
	mustGet(t, cachedURL+"/"+key, body)
	time.Sleep(1100 * time.Millisecond)
	resp := mustGet(t, cachedURL+"/"+key, body)
	if got := resp.Header.Get("Cache-Status"); got != "r2gate; fwd=stale; fwd-status=304; ttl=1; stored" {
		t.Errorf("after expiry Cache-Status = %q, want a 304 revalidation", got)
	}
	gets := bucketGets(key)
	if len(gets) != 2 || gets[1].IfNoneMatch == "" || gets[1].Status != http.StatusNotModified {
		t.Errorf("bucket GETs %+v, want a full GET then a conditional one answered 304", gets)
	}
	if resp.Header.Get("Cache-Control") != "public, max-age=1" {
		t.Errorf("Cache-Control = %q, want the object's own", resp.Header.Get("Cache-Control"))
	}
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "swr.bin")
	body := []byte("version one")
	putObject(t, env.s3, key, body, "public, max-age=1")
	mustGet(t, swrURL+"/"+key, body)
	time.Sleep(1100 * time.Millisecond)
	putObject(t, env.s3, key, []byte("version two"), "public, max-age=60")

	resp := mustGet(t, swrURL+"/"+key, body) // the stale copy, at once
	if got := resp.Header.Get("Cache-Status"); !strings.HasPrefix(got, "r2gate; hit; ttl=-") {
		t.Errorf("stale hit Cache-Status = %q, want a hit with a negative ttl", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := get(t, newTester(t), swrURL+"/"+key)
		if got == "version two" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background refresh never brought version two (still %q)", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(bucketGets(key)); n != 2 {
		t.Errorf("the bucket saw %d GETs, want 2 (fill, one background refresh)", n)
	}
}

func TestCacheStaleIfErrorWithTheBucketDown(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "sie.bin")
	body := []byte("survives the outage")
	putObject(t, env.s3b, key, body, "public, max-age=1")
	mustGet(t, sieURL+"/"+key, body)
	mustGet(t, noSieURL+"/"+key, body)
	time.Sleep(1100 * time.Millisecond)
	env.s3b.Stop()

	resp := mustGet(t, sieURL+"/"+key, body)
	if got := resp.Header.Get("Cache-Status"); !strings.Contains(got, "fwd=stale; fwd-status=502") {
		t.Errorf("stale-if-error Cache-Status = %q, want fwd=stale; fwd-status=502", got)
	}
	if resp, _ := get(t, newTester(t), noSieURL+"/"+key); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("without stale_if_error: %d, want 502", resp.StatusCode)
	}
}

func TestSitesWithTheSameCacheSettingsShareIt(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "shared.bin")
	body := []byte("one copy for two sites")
	putObject(t, env.s3, key, body, "")
	expectHit(t, cachedURL+"/"+key, body)
	resp := mustGet(t, sharedURL+"/"+key, body)
	if got := resp.Header.Get("Cache-Status"); !strings.Contains(got, "; hit;") {
		t.Errorf("the second site's Cache-Status = %q, want a hit from the shared cache", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=1" {
		t.Errorf("the second site's browser Cache-Control = %q, want its own rule", got)
	}
	if n := len(bucketGets(key)); n != 1 {
		t.Errorf("two sites made %d bucket GETs, want 1", n)
	}
}
