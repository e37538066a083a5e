package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/r2gate/r2gate/cache"
	"github.com/r2gate/r2gate/origin"
)

func TestMetricsRegisterTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	set := newMetricSet(new(cacheRegistry))
	m1, err := set.register(reg)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := set.register(reg) // a second handler in the same config
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	// Collectors made anew (as after a reload) find the registered ones.
	m3, err := newMetricSet(new(cacheRegistry)).register(reg)
	if err != nil {
		t.Fatalf("registration of equal collectors: %v", err)
	}
	m1.request("memory", "hit")
	m2.request("memory", "hit")
	m3.request("memory", "hit")
	if got := valueOf(t, set.requests.WithLabelValues("memory", "hit")); got != 3 {
		t.Errorf("memory hits %v, want 3 (every handler counts into the registered collector)", got)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
}

func TestMetricsProvisionKeepsCountsAcrossRegistries(t *testing.T) {
	// Each config load has a context with a registry of its own.
	ctx1, cancel1 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel1()
	ctx2, cancel2 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel2()
	first, second := ctx1.GetMetricsRegistry(), ctx2.GetMetricsRegistry()
	set := newAppState().metricSet // handed from app to app
	m1, err := set.register(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.register(first); err != nil {
		t.Fatal(err)
	}
	m2, err := set.register(second) // the next config after a reload
	if err != nil {
		t.Fatal(err)
	}
	before := valueOf(t, set.served.WithLabelValues("disk"))
	m1.served("disk", 100)
	m2.served("disk", 50)
	for _, reg := range []*prometheus.Registry{first, second} {
		got := gathered(t, reg, "r2gate_served_bytes_total")["counter r2gate_served_bytes_total{tier=disk}"]
		if got-before != 150 {
			t.Errorf("disk bytes grew by %v, want 150 in every config's registry", got-before)
		}
	}
	if m, err := set.register(nil); err != nil || m == nil { // no registry
		t.Errorf("without a registry: %v, %v", m, err)
	}
}

func TestMetricsRefusesAConflictingCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Someone else's r2gate_requests_total with other labels.
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r2gate_requests_total", Help: "x"}, []string{"x"}))
	if _, err := newMetricSet(new(cacheRegistry)).register(reg); err == nil {
		t.Error("no error for a conflicting collector")
	}
}

func TestMetricsRecord(t *testing.T) {
	set := newMetricSet(new(cacheRegistry))
	m, err := set.register(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.request("disk", "stale")
	m.request("bucket", "revalidated")
	m.request("elsewhere", "hit") // not known in advance: still counted
	m.served("memory", 1000)
	m.served("memory", 24)
	m.served("memory", 0)
	m.served("memory", -5) // ignored: a counter never goes down
	m.served("bucket", 7)
	m.served("edge", 3)
	start := time.Now().Add(-40 * time.Millisecond)
	errs := map[string]error{
		"ok":           nil,
		"not_found":    fmt.Errorf("get: %w", origin.ErrNotFound),
		"not_modified": origin.ErrNotModified,
		"rejected":     origin.ErrPreconditionFailed,
		"timeout":      origin.ErrTimeout,
		"canceled":     context.Canceled,
		"error":        errors.New("connection reset"),
	}
	for result, err := range errs {
		m.bucketRequest("get", start, err)
		if got := valueOf(t, set.bucketRequests.WithLabelValues("get", result)); got != 1 {
			t.Errorf("bucket get %s: %v, want 1", result, got)
		}
	}
	m.bucketRequest("list", start, nil)
	m.bucketRequest("head", start, context.DeadlineExceeded)

	checks := []struct {
		c    prometheus.Collector
		want float64
	}{
		{set.requests.WithLabelValues("disk", "stale"), 1},
		{set.requests.WithLabelValues("bucket", "revalidated"), 1},
		{set.requests.WithLabelValues("elsewhere", "hit"), 1},
		{set.requests.WithLabelValues("memory", "hit"), 0},
		{set.served.WithLabelValues("memory"), 1024},
		{set.served.WithLabelValues("bucket"), 7},
		{set.served.WithLabelValues("edge"), 3},
		{set.bucketRequests.WithLabelValues("list", "ok"), 1},
		{set.bucketRequests.WithLabelValues("head", "timeout"), 1},
	}
	for _, c := range checks {
		if got := valueOf(t, c.c); got != c.want {
			t.Errorf("%v = %v, want %v", c.c, got, c.want)
		}
	}
	if n := seriesCount(set.bucketDuration); n != len(metricOps)+1 {
		t.Errorf("%d duration series, want %d (every known op, plus list)", n, len(metricOps)+1)
	}
	var head dto.Metric
	if err := set.bucketDuration.WithLabelValues("head").(prometheus.Histogram).Write(&head); err != nil {
		t.Fatal(err)
	}
	if h := head.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() < 0.04 {
		t.Errorf("head duration: count %d, sum %v; want 1 and about 0.04", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestMetricsNilIsANoOp(t *testing.T) {
	var m *metrics
	m.request("memory", "hit")
	m.bucketRequest("get", time.Now(), nil)
	m.served("disk", 10)
}

func TestMetricsCacheCollector(t *testing.T) {
	var r cacheRegistry
	a := newFakeCache()
	// A cache has no disk figures: a disk tier may be shared, so its
	// figures come from the disk itself, once.
	a.stats = cache.Stats{MemoryBytes: 1000, MemoryItems: 3, MemoryEvictions: 11, Coalesced: 17, FailedFast: 5}
	b := newFakeCache()
	b.stats = cache.Stats{MemoryBytes: 24, MemoryItems: 1, Coalesced: 1}
	disk, err := cache.OpenDisk(t.TempDir(), 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	// Two handlers share a (counted once), a third has b; a and b share
	// one (empty) disk tier.
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: a, disk: disk})
	r.register(&Handler{}, cacheUse{bucket: "assets", namespace: "ns/", cache: a, disk: disk})
	r.register(&Handler{}, cacheUse{bucket: "other", namespace: "o/", cache: b, disk: disk})

	reg := prometheus.NewPedanticRegistry()
	if _, err := newMetricSet(&r).register(reg); err != nil {
		t.Fatal(err)
	}
	names := []string{"r2gate_cache_bytes", "r2gate_cache_items", "r2gate_cache_evictions_total",
		"r2gate_disk_corrupted_total", "r2gate_disk_errors_total", "r2gate_coalesced_total",
		"r2gate_bucket_failed_fast_total", "r2gate_disk_limit_bytes"}
	want := map[string]float64{
		"counter r2gate_bucket_failed_fast_total":           5,
		"gauge r2gate_disk_limit_bytes":                     1 << 20, // one disk, counted once
		"gauge r2gate_cache_bytes{tier=disk}":               0,
		"gauge r2gate_cache_bytes{tier=memory}":             1024,
		"gauge r2gate_cache_items{tier=disk}":               0,
		"gauge r2gate_cache_items{tier=memory}":             4,
		"counter r2gate_cache_evictions_total{tier=disk}":   0,
		"counter r2gate_cache_evictions_total{tier=memory}": 11,
		"counter r2gate_disk_corrupted_total":               0,
		"counter r2gate_disk_errors_total":                  0,
		"counter r2gate_coalesced_total":                    18,
	}
	if got := gathered(t, reg, names...); !maps.Equal(got, want) {
		t.Errorf("exported\n%v\nwant\n%v", got, want)
	}

	// Values are read at scrape time.
	a.mu.Lock()
	a.stats.MemoryBytes = 4000
	a.mu.Unlock()
	if got := gathered(t, reg, "r2gate_cache_bytes"); got["gauge r2gate_cache_bytes{tier=memory}"] != 4024 {
		t.Errorf("after a change: %v", got)
	}

	// Without caches, nothing is exported.
	var empty cacheRegistry
	if n := seriesCount(newCacheCollector(&empty)); n != 0 {
		t.Errorf("%d cache metrics without caches, want 0", n)
	}
}

func TestMetricsHotPathDoesNotAllocate(t *testing.T) {
	m, err := newMetricSet(new(cacheRegistry)).register(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	notFound := fmt.Errorf("get: %w", origin.ErrNotFound)
	allocs := testing.AllocsPerRun(1000, func() {
		m.request("memory", "hit")
		m.served("memory", 102400)
		m.bucketRequest("get", start, nil)
		m.bucketRequest("get", start, notFound)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}

func BenchmarkMetricsHotPath(b *testing.B) {
	m, err := newMetricSet(new(cacheRegistry)).register(prometheus.NewPedanticRegistry())
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.Run("request+served", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.request("memory", "hit")
			m.served("memory", 102400)
		}
	})
	b.Run("bucketRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.bucketRequest("get", start, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.request("memory", "hit")
				m.served("memory", 102400)
			}
		})
	})
	b.Run("nil", func(b *testing.B) {
		var m *metrics
		b.ReportAllocs()
		for b.Loop() {
			m.request("memory", "hit")
			m.served("memory", 102400)
		}
	})
}

// valueOf returns the value of a counter or gauge with one series (as
// prometheus/testutil's ToFloat64 does; testutil needs a module this
// go.mod does not list).
func valueOf(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 2)
	c.Collect(ch)
	close(ch)
	if len(ch) != 1 {
		t.Fatalf("%d series, want 1", len(ch))
	}
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// seriesCount returns how many series c exports.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 1024)
	c.Collect(ch)
	return len(ch)
}

// gathered returns what reg exports under names, as
// "type name{label=value,...}" → value, for counters and gauges.
func gathered(t *testing.T, reg prometheus.Gatherer, names ...string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		if !slices.Contains(names, mf.GetName()) {
			continue
		}
		typ := strings.ToLower(mf.GetType().String())
		for _, m := range mf.GetMetric() {
			key := typ + " " + mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			v := m.GetCounter().GetValue()
			if m.Gauge != nil {
				v = m.GetGauge().GetValue()
			}
			out[key] = v
		}
	}
	return out
}
