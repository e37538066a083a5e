package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/r2gate/r2gate/cache"
	"github.com/r2gate/r2gate/origin"
)

// Label values the metrics know in advance; their series exist from the
// start, and recording them does not allocate. Other values still work,
// through a slower path.
var (
	// metricTiers: where an answer came from.
	metricTiers = [...]string{"memory", "disk", "bucket", "none"}
	// metricOutcomes: what the cache did for a request.
	metricOutcomes = [...]string{"hit", "miss", "stale", "revalidated", "bypass", "canceled", "error"}
	// metricOps: bucket operations.
	metricOps = [...]string{"get", "head", "put", "delete"}
	// metricResults: how a bucket request ended (see bucketResult).
	metricResults = [...]string{"ok", "not_found", "not_modified", "rejected", "timeout", "canceled", "error"}
)

// bucketLatencyBuckets are the histogram buckets of bucket request
// durations, in seconds: from a fast local store to the 30s timeout.
var bucketLatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// metrics records what r2gate's handlers do into Prometheus collectors.
// Its methods are safe for concurrent use and do nothing on a nil
// *metrics, so code without metrics needs no checks.
type metrics struct {
	requests       [len(metricTiers)][len(metricOutcomes)]prometheus.Counter
	bucketRequests [len(metricOps)][len(metricResults)]prometheus.Counter
	bucketDuration [len(metricOps)]prometheus.Observer
	servedBytes    [len(metricTiers)]prometheus.Counter
	set            *metricSet // for label values not known in advance
}

// request counts one request answered from tier ("memory", "disk",
// "bucket" or "none") with outcome ("hit", "miss", "stale", "revalidated",
// "bypass", "canceled" (the client went away) or "error").
func (m *metrics) request(tier, outcome string) {
	if m == nil {
		return
	}
	i, j := tierIndex(tier), outcomeIndex(outcome)
	if i < 0 || j < 0 {
		m.set.requests.WithLabelValues(tier, outcome).Inc()
		return
	}
	m.requests[i][j].Inc()
}

// bucketRequest counts one bucket request of op ("get", "head", "put",
// "delete") that started at start and ended with err, and records its
// duration.
func (m *metrics) bucketRequest(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	seconds := time.Since(start).Seconds()
	i, j := opIndex(op), bucketResult(err)
	if i < 0 {
		m.set.bucketRequests.WithLabelValues(op, metricResults[j]).Inc()
		m.set.bucketDuration.WithLabelValues(op).Observe(seconds)
		return
	}
	m.bucketRequests[i][j].Inc()
	m.bucketDuration[i].Observe(seconds)
}

// resize counts a variant the cache did not have, by result (see the
// variants_total help).
func (m *metrics) resize(result string) {
	if m != nil {
		m.set.resizes.WithLabelValues(result).Inc()
	}
}

// variantWrite counts a variant write-back, by result.
func (m *metrics) variantWrite(result string) {
	if m != nil {
		m.set.variantWrites.WithLabelValues(result).Inc()
	}
}

// served counts n body bytes sent to clients from tier.
func (m *metrics) served(tier string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	if i := tierIndex(tier); i >= 0 {
		m.servedBytes[i].Add(float64(n))
		return
	}
	m.set.served.WithLabelValues(tier).Add(float64(n))
}

func tierIndex(tier string) int {
	switch tier {
	case "memory":
		return 0
	case "disk":
		return 1
	case "bucket":
		return 2
	case "none":
		return 3
	}
	return -1
}

func outcomeIndex(outcome string) int {
	switch outcome {
	case "hit":
		return 0
	case "miss":
		return 1
	case "stale":
		return 2
	case "revalidated":
		return 3
	case "bypass":
		return 4
	case "canceled":
		return 5
	case "error":
		return 6
	}
	return -1
}

func opIndex(op string) int {
	switch op {
	case "get":
		return 0
	case "head":
		return 1
	case "put":
		return 2
	case "delete":
		return 3
	}
	return -1
}

// bucketResult classifies a bucket request's error as an index into
// metricResults: "ok"; "not_found" (404); "not_modified" (304 to a
// conditional GET); "rejected" (412, 416, or a key the bucket refuses);
// "timeout"; "canceled" (the client went away); "error" (anything else).
// ErrKeyTooLong wraps ErrInvalidKey, so it is "rejected" too.
func bucketResult(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, origin.ErrNotFound):
		return 1
	case errors.Is(err, origin.ErrNotModified):
		return 2
	case errors.Is(err, origin.ErrPreconditionFailed), errors.Is(err, origin.ErrRangeNotSatisfiable),
		errors.Is(err, origin.ErrInvalidKey), errors.Is(err, origin.ErrBadRequest):
		return 3
	case errors.Is(err, origin.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return 4
	case errors.Is(err, context.Canceled):
		return 5
	}
	return 6
}

// metricSet is the Prometheus collectors behind metrics.
type metricSet struct {
	requests       *prometheus.CounterVec
	bucketRequests *prometheus.CounterVec
	bucketDuration *prometheus.HistogramVec
	served         *prometheus.CounterVec
	resizes        *prometheus.CounterVec
	variantWrites  *prometheus.CounterVec
	caches         prometheus.Collector

	// Purges and their fan-out to peers (fanout.go).
	purges         *prometheus.CounterVec
	peerSent       prometheus.Counter
	peerErrors     prometheus.Counter
	peerOverflows  prometheus.Counter
	peerDuplicates prometheus.Counter
	peerBacklog    prometheus.GaugeFunc
	// waiting, when set, counts the purge items waiting for peers.
	waiting func() int
}

// newMetricSet makes the collectors; the cache gauges read the caches in
// reg on every scrape. The app makes one and hands it from config to
// config: every Caddy config has a Prometheus registry of its own, and
// registering the same collectors on each keeps the counts going across
// config reloads, as the caches do.
func newMetricSet(reg *cacheRegistry) *metricSet {
	const ns = "r2gate"
	s := &metricSet{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "requests_total",
			Help: "Requests answered, by the tier that answered (" + strings.Join(metricTiers[:], ", ") +
				") and the cache outcome (" + strings.Join(metricOutcomes[:], ", ") + ").",
		}, []string{"tier", "outcome"}),
		bucketRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "bucket_requests_total",
			Help: "Requests made to the bucket, by operation (" + strings.Join(metricOps[:], ", ") +
				") and result (" + strings.Join(metricResults[:], ", ") + ").",
		}, []string{"op", "result"}),
		bucketDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "bucket_request_duration_seconds",
			Help:    "Time until the bucket answered a request (headers, not the whole body), by operation.",
			Buckets: bucketLatencyBuckets,
		}, []string{"op"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "served_bytes_total",
			Help: "Body bytes sent to clients, by the tier they came from.",
		}, []string{"tier"}),
		resizes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "variants_total",
			Help: "Image variants the cache did not have, by result: made (resized now), stored (found in the bucket), " +
				"refused (the source is no image, corrupt or over the limits), busy (the resize queue was full), failed.",
		}, []string{"result"}),
		variantWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "variant_writes_total",
			Help: "Variant write-backs to the bucket, by result: written, present (already there), " +
				"foreign (an object r2gate did not write is there: left alone), failed, dropped.",
		}, []string{"result"}),
		caches: newCacheCollector(reg),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "purges_total",
			Help: "Purges applied to this node's caches, by source: admin (the admin API and sync --purge), " +
				"webhook (R2 event notifications), upload (a PUT or DELETE through r2gate), peer (forwarded by a peer).",
		}, []string{"source"}),
		peerSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "purge_peer_sent_total",
			Help: "Forwarded purges a peer accepted.",
		}),
		peerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "purge_peer_errors_total",
			Help: "Failed requests forwarding a purge to a peer (each is retried, unless the peer refused it with 400 or 413).",
		}),
		peerOverflows: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "purge_peer_overflows_total",
			Help: "Times the purges waiting for a peer went over the backlog bound and became one purge of everything.",
		}),
		peerDuplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "purge_peer_duplicates_total",
			Help: "Forwarded purges received again (the same purge id) and not applied twice.",
		}),
	}
	s.peerBacklog = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "purge_peer_backlog",
		Help: "Purged keys and prefixes waiting to be forwarded to peers (summed over the peers).",
	}, func() float64 {
		if s.waiting == nil {
			return 0
		}
		return float64(s.waiting())
	})
	return s
}

// register adds the set's collectors to reg, or finds equal ones already
// there (from an earlier handler of the same config), and resolves the
// label values known in advance.
func (s *metricSet) register(reg prometheus.Registerer) (*metrics, error) {
	v := *s
	if reg != nil {
		var err error
		if v.requests, err = adoptCollector(reg, v.requests); err != nil {
			return nil, err
		}
		if v.bucketRequests, err = adoptCollector(reg, v.bucketRequests); err != nil {
			return nil, err
		}
		if v.bucketDuration, err = adoptCollector(reg, v.bucketDuration); err != nil {
			return nil, err
		}
		if v.served, err = adoptCollector(reg, v.served); err != nil {
			return nil, err
		}
		if v.resizes, err = adoptCollector(reg, v.resizes); err != nil {
			return nil, err
		}
		if v.variantWrites, err = adoptCollector(reg, v.variantWrites); err != nil {
			return nil, err
		}
		if v.caches, err = adoptCollector(reg, v.caches); err != nil {
			return nil, err
		}
		if err := v.registerPurgeMetrics(reg); err != nil {
			return nil, err
		}
	}
	m := &metrics{set: &v}
	for i, tier := range metricTiers {
		for j, outcome := range metricOutcomes {
			m.requests[i][j] = v.requests.WithLabelValues(tier, outcome)
		}
		m.servedBytes[i] = v.served.WithLabelValues(tier)
	}
	for i, op := range metricOps {
		for j, result := range metricResults {
			m.bucketRequests[i][j] = v.bucketRequests.WithLabelValues(op, result)
		}
		m.bucketDuration[i] = v.bucketDuration.WithLabelValues(op)
	}
	return m, nil
}

// registerPurgeMetrics adopts the purge collectors on reg.
func (v *metricSet) registerPurgeMetrics(reg prometheus.Registerer) error {
	var err error
	if v.purges, err = adoptCollector(reg, v.purges); err != nil {
		return err
	}
	for _, c := range []*prometheus.Counter{&v.peerSent, &v.peerErrors, &v.peerOverflows, &v.peerDuplicates} {
		if *c, err = adoptCollector(reg, *c); err != nil {
			return err
		}
	}
	v.peerBacklog, err = adoptCollector(reg, v.peerBacklog)
	return err
}

// adoptCollector registers c on reg. When an equal collector is there
// already, it returns that one instead, so that every handler records
// into the collector the registry exports.
func adoptCollector[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("r2gate: registering metrics: %w", err)
}

// cacheCollector exports the caches' own counters and sizes, read from
// Stats() of every registered cache at scrape time. Caches shared by
// several handlers count once; several distinct caches are summed. A
// cache that goes away takes its counts with it (Prometheus sees a counter
// reset). Nothing is exported while no handler has a cache.
type cacheCollector struct {
	reg                                     *cacheRegistry
	bytes, items, evictions                 *prometheus.Desc
	diskCorrupted, diskErrors, coalescedAll *prometheus.Desc
	failedFast, diskLimit                   *prometheus.Desc
}

func newCacheCollector(reg *cacheRegistry) *cacheCollector {
	tier := []string{"tier"}
	return &cacheCollector{
		reg: reg,
		bytes: prometheus.NewDesc("r2gate_cache_bytes",
			"Body bytes held by each cache tier now.", tier, nil),
		items: prometheus.NewDesc("r2gate_cache_items",
			"Entries held by each cache tier now.", tier, nil),
		evictions: prometheus.NewDesc("r2gate_cache_evictions_total",
			"Entries pushed out of a cache tier to make room.", tier, nil),
		diskCorrupted: prometheus.NewDesc("r2gate_disk_corrupted_total",
			"Disk entries dropped because their checksum or size was wrong.", nil, nil),
		diskErrors: prometheus.NewDesc("r2gate_disk_errors_total",
			"Failed disk tier writes (disk full, folder not writable).", nil, nil),
		failedFast: prometheus.NewDesc("r2gate_bucket_failed_fast_total",
			"Requests answered without asking the bucket, because it (or the key) failed recently and is backing off.", nil, nil),
		diskLimit: prometheus.NewDesc("r2gate_disk_limit_bytes",
			"The disk tiers' bound in force: the configured one, or lower after the filesystem ran out of space.", nil, nil),
		coalescedAll: prometheus.NewDesc("r2gate_coalesced_total",
			"Requests that waited for another request's bucket fetch, as the caches count them.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.items, c.evictions, c.diskCorrupted, c.diskErrors,
		c.coalescedAll, c.failedFast, c.diskLimit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	list := c.reg.distinctCaches()
	if len(list) == 0 {
		return
	}
	// Memory tiers and coalescing belong to each cache; a disk tier may
	// be shared by caches with different memory settings, so disk figures
	// come from each distinct disk once.
	var sum cache.Stats
	for _, pc := range list {
		s := pc.Stats()
		sum.MemoryBytes += s.MemoryBytes
		sum.MemoryItems += s.MemoryItems
		sum.MemoryEvictions += s.MemoryEvictions
		sum.Coalesced += s.Coalesced
		sum.FailedFast += s.FailedFast
	}
	var disk cache.DiskStats
	for _, d := range c.reg.distinctDisks() {
		ds := d.Stats()
		disk.Bytes += ds.Bytes
		disk.Entries += ds.Entries
		disk.Evictions += ds.Evictions
		disk.Corrupted += ds.Corrupted
		disk.WriteErrors += ds.WriteErrors
		disk.Limit += ds.Limit
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(c.bytes, gauge, float64(sum.MemoryBytes), "memory")
	ch <- prometheus.MustNewConstMetric(c.bytes, gauge, float64(disk.Bytes), "disk")
	ch <- prometheus.MustNewConstMetric(c.items, gauge, float64(sum.MemoryItems), "memory")
	ch <- prometheus.MustNewConstMetric(c.items, gauge, float64(disk.Entries), "disk")
	ch <- prometheus.MustNewConstMetric(c.evictions, counter, float64(sum.MemoryEvictions), "memory")
	ch <- prometheus.MustNewConstMetric(c.evictions, counter, float64(disk.Evictions), "disk")
	ch <- prometheus.MustNewConstMetric(c.diskCorrupted, counter, float64(disk.Corrupted))
	ch <- prometheus.MustNewConstMetric(c.diskErrors, counter, float64(disk.WriteErrors))
	ch <- prometheus.MustNewConstMetric(c.coalescedAll, counter, float64(sum.Coalesced))
	ch <- prometheus.MustNewConstMetric(c.failedFast, counter, float64(sum.FailedFast))
	ch <- prometheus.MustNewConstMetric(c.diskLimit, gauge, float64(disk.Limit))
}

// Interface guard.
var _ prometheus.Collector = (*cacheCollector)(nil)
