package caddymodule_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// emptyConfig is a config without any r2gate site: loading it lets every
// cache go (memory dropped, disk index saved and closed).
const emptyConfig = `{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}
http://127.0.0.1:9080 {
	bind 127.0.0.1
	respond "no r2gate here"
}
`

func load(t *testing.T, config string) {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
}

func TestDiskTierSurvivesARestartOfItsCache(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "persist.bin")
	body := []byte(strings.Repeat("persist ", 5000))
	putObject(t, env.s3, key, body, "")
	expectHit(t, diskOnlyURL+"/"+key, body)

	load(t, emptyConfig) // the caches and disk tiers close
	newTester(t)         // and open again, rebuilding the index from the folder
	env.proxy.Reset()
	resp := mustGet(t, diskOnlyURL+"/"+key, body)
	if got := resp.Header.Get("Cache-Status"); !strings.Contains(got, "; hit;") || !strings.HasSuffix(got, "detail=disk") {
		t.Errorf("after the restart Cache-Status = %q, want a disk hit", got)
	}
	if n := len(bucketGets(key)); n != 0 {
		t.Errorf("after the restart the bucket saw %d GETs, want 0", n)
	}
}

func TestReloadKeepsTheCache(t *testing.T) {
	newTester(t)
	key := uniqueKey(t, "keep.bin")
	body := []byte("kept across reloads")
	putObject(t, env.s3, key, body, "")
	expectHit(t, cachedURL+"/"+key, body)

	// Same cache settings, something else changed: the cache is kept.
	load(t, env.config+"\nhttp://127.0.0.1:9099 {\n\tbind 127.0.0.1\n\trespond \"extra\"\n}\n")
	env.proxy.Reset()
	resp := mustGet(t, cachedURL+"/"+key, body)
	if got := resp.Header.Get("Cache-Status"); !strings.HasSuffix(got, "detail=memory") {
		t.Errorf("after a reload Cache-Status = %q, want a memory hit", got)
	}
	if n := len(bucketGets(key)); n != 0 {
		t.Errorf("after a reload the bucket saw %d GETs, want 0", n)
	}
	newTester(t)
}

func TestChangedCacheConfigLeaksNoGoroutines(t *testing.T) {
	newTester(t)
	changed := strings.Replace(env.config, "memory 64MiB", "memory 32MiB", 1)
	if changed == env.config {
		t.Fatal("the test config has no memory 64MiB line to change")
	}
	count := func() int {
		runtime.GC()
		time.Sleep(200 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	load(t, changed)
	load(t, env.config)
	before := count()
	for range 4 {
		load(t, changed)
		load(t, env.config)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := count()
		if after <= before+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines grew from %d to %d over 8 reloads with a changed cache", before, after)
		}
	}
}
