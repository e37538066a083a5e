package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/r2gate/r2gate/internal/flight"
	"github.com/r2gate/r2gate/internal/retryq"
	"github.com/r2gate/r2gate/origin"
	"github.com/r2gate/r2gate/resize"
)

// App is the r2gate app: the state that every r2gate handler, the purge
// webhook and the admin purge API of one Caddy process share. It owns the
// caches (by their settings, so that sites with equal settings share one,
// and a config reload keeps what is cached), the registry that purges and
// metrics walk, and the metrics themselves.
//
// It is configured with the global `r2gate` options block:
//
//	{
//		r2gate {
//			cache <name> { ... }
//			peers { ... }
//		}
//	}
//
// and is created on demand, with no configuration, when a site uses
// r2gate without the global block.
type App struct {
	// Caches are caches defined once and named by every site that uses
	// them (`cache <name>` inside an r2gate block). The map key is the
	// name. Sites may still configure a cache of their own with a
	// `cache { }` block; caches with equal settings are one cache either
	// way. Default: none.
	Caches map[string]*CacheConfig `json:"caches,omitempty"`

	// Peers are the other nodes of a fleet: every purge this node
	// accepts from the admin API, the R2 webhook or an upload is
	// forwarded to their r2gate_purge endpoints. Default: none.
	Peers *PeersConfig `json:"peers,omitempty"`

	peers   *peerConfig // provisioned Peers
	state   *appState
	metrics *metrics
	logger  *zap.Logger
}

// appState is what outlives one config: Caddy makes a new App for every
// config it loads, and each hands its state to the next one (see
// Provision), so caches, registered handlers and metric counts survive a
// reload without package variables. Bucket clients are shared too, so a
// reload keeps warm connections.
type appState struct {
	caches    *caddy.UsagePool // pooledCache by cache settings
	buckets   *caddy.UsagePool // pooledBucket by origin settings
	disks     *caddy.UsagePool // pooledDisk by disk folder
	registry  *cacheRegistry
	metricSet *metricSet
	logs      *logLimiter
	// fanout forwards purges to the peers and remembers the purge ids
	// seen.
	fanout *fanout

	mu sync.Mutex
	// resizeQueues admit resizes, one queue per set of bounds.
	resizeQueues map[queueSettings]*resize.Queue
	// variants coalesces the making of variants that no cache keeps.
	variants flight.Group[*madeVariant]
	// writeBacks writes new variants to the bucket; made on first use,
	// closed when the process exits.
	writeBacks *retryq.Queue
}

func newAppState() *appState {
	reg := new(cacheRegistry)
	s := &appState{
		caches:    caddy.NewUsagePool(),
		buckets:   caddy.NewUsagePool(),
		disks:     caddy.NewUsagePool(),
		registry:  reg,
		metricSet: newMetricSet(reg),
		logs:      new(logLimiter),
	}
	s.fanout = newFanout(s.metricSet, s.logs)
	s.metricSet.waiting = s.fanout.waiting
	return s
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "r2gate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision takes over the state of the running config's r2gate app, if
// there is one, registers the metrics on this config's registry, and
// loads the peers' upstream source.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if prev, err := caddy.ActiveContext().AppIfConfigured("r2gate"); err == nil {
		if p, ok := prev.(*App); ok && p.state != nil {
			a.state = p.state
		}
	}
	if a.state == nil {
		a.state = newAppState()
	}
	var err error
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		a.metrics, err = a.state.metricSet.register(reg)
	} else {
		a.metrics, err = a.state.metricSet.register(nil) // not a typed nil Registerer
	}
	if err != nil {
		return err
	}
	if a.Peers != nil {
		if a.peers, err = a.Peers.provision(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the named caches and the peers.
func (a *App) Validate() error {
	if a.Peers != nil {
		if err := a.Peers.validate(); err != nil {
			return err
		}
	}
	for _, name := range a.cacheNames() {
		c := a.Caches[name]
		if name == "" || c == nil {
			return fmt.Errorf("r2gate: a named cache needs a name and settings")
		}
		if err := c.withDefaults().validate(); err != nil {
			return fmt.Errorf("cache %q: %w", name, err)
		}
	}
	return nil
}

// Start hands this config's peers to the purge fan-out (none: purges
// stay on this node). The rest of the app's state is used by handlers as
// they are provisioned.
func (a *App) Start() error {
	a.state.fanout.configure(a.peers, a.logger)
	return nil
}

// purge removes keys (each with its variants) and every key below
// prefixes from this node's caches (of bucket, or of every bucket when it
// is ""), and forwards the purge to the peers in the background. source
// ("admin", "webhook", "upload") labels the purges_total metric. It
// returns how many cache entries were removed here.
func (a *App) purge(source, bucket string, keys, prefixes []string) int {
	n := a.state.registry.purge(bucket, keys, prefixes)
	a.state.metricSet.purges.WithLabelValues(source).Inc()
	a.state.fanout.send(purgeItems(bucket, keys, prefixes))
	return n
}

// Stop drains the purges for peers (for at most peerDrain) and the
// variant write-back queue (for at most writeBackDrain) when the process
// is exiting (not on a config reload: the next config's app takes the
// queues over). Handlers let go of their caches in their
// Cleanup, which Caddy runs after the servers stopped.
func (a *App) Stop() error {
	if !caddy.Exiting() {
		return nil
	}
	if err := a.state.fanout.close(); err != nil {
		a.logger.Warn("purges for peers still queued at exit were dropped", zap.Error(err))
	}
	a.state.mu.Lock()
	q := a.state.writeBacks
	a.state.writeBacks = nil
	a.state.mu.Unlock()
	if q == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeBackDrain)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		a.logger.Warn("variant writes still queued at exit were dropped", zap.Error(err))
	}
	return nil
}

// writeBackDrain bounds how long an exiting process waits for queued
// variant writes.
const writeBackDrain = 10 * time.Second

// resizeQueue returns the process's resize queue for the bounds q.
func (a *App) resizeQueue(q queueSettings) *resize.Queue {
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	if a.state.resizeQueues == nil {
		a.state.resizeQueues = make(map[queueSettings]*resize.Queue)
	}
	rq := a.state.resizeQueues[q]
	if rq == nil {
		rq = resize.NewQueue(q.concurrency, q.memory, q.waiting, q.timeout)
		a.state.resizeQueues[q] = rq
	}
	return rq
}

// writeBacks returns the queue that writes variants to the bucket: two
// workers, 1024 waiting writes, 3 attempts each. A write that fails its
// last attempt or finds the queue full is logged (at most once every
// 10 s) and counted; the variant was served all the same.
func (a *App) writeBacks() *retryq.Queue {
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	if a.state.writeBacks == nil {
		logger, state, m := a.logger, a.state, a.metrics
		a.state.writeBacks = retryq.New(retryq.Config{
			Workers: 2, Size: 1024, Attempts: 3,
			OnGiveUp: func(key string, err error) {
				m.variantWrite("failed")
				if ok, held := state.logs.allow("variant writes", time.Now(), bucketLogInterval); ok {
					logger.Warn("writing a variant to the bucket failed",
						zap.String("key", origin.ShortKey(key)), zap.Int("unlogged_failures", held), zap.Error(err))
				}
			},
		})
	}
	return a.state.writeBacks
}

// cacheNames returns the named caches' names in order.
func (a *App) cacheNames() []string {
	names := make([]string, 0, len(a.Caches))
	for n := range a.Caches {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// namedCache returns the settings of the cache called name.
func (a *App) namedCache(name string) (*CacheConfig, error) {
	c, ok := a.Caches[name]
	if !ok || c == nil {
		return nil, fmt.Errorf("r2gate: cache %q is not defined in the global r2gate options", name)
	}
	return c, nil
}

// appFrom returns the r2gate app of the config ctx belongs to, creating it
// when the config has no global r2gate block.
func appFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("r2gate")
	if err != nil {
		return nil, fmt.Errorf("r2gate: loading the r2gate app: %w", err)
	}
	a, ok := v.(*App)
	if !ok {
		return nil, errors.New("r2gate: the r2gate app has an unexpected type")
	}
	return a, nil
}

// activeApp returns the running config's r2gate app, or nil when it has
// none. The admin API uses it: its routes outlive the config they were
// provisioned with.
func activeApp() *App {
	v, err := caddy.ActiveContext().AppIfConfigured("r2gate")
	if err != nil {
		return nil
	}
	a, _ := v.(*App)
	return a
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Validator   = (*App)(nil)
)
