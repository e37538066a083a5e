package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/r2gate/r2gate/cache"
)

// pooledCache is a cache in the app's cache pool.
type pooledCache struct {
	*cache.Cache
	disk    *cache.Disk // its disk tier, or nil
	disks   *caddy.UsagePool
	diskDir string // its disk tier's key in disks, or ""
}

// Destruct closes the cache and lets go of its disk tier once the work
// the cache left running has ended (a transfer that requests still read,
// or one committing its last bytes), waiting for that at most
// cacheDrainWait; after that the disk is let go of in the background, when
// the work ends. A new config wanting the same folder meanwhile shares the
// open disk.
func (p pooledCache) Destruct() error {
	err := p.Cache.Close()
	if p.diskDir == "" {
		return err
	}
	release := func() error {
		_, derr := p.disks.Delete(p.diskDir)
		return derr
	}
	t := time.NewTimer(cacheDrainWait)
	defer t.Stop()
	select {
	case <-p.Cache.Closed():
		if derr := release(); err == nil {
			err = derr
		}
	case <-t.C:
		go func() {
			<-p.Cache.Closed()
			_ = release()
		}()
	}
	return err
}

// cacheDrainWait bounds how long a config unload waits for a destroyed
// cache's work to end before it lets go of the disk tier in the
// background.
const cacheDrainWait = 2 * time.Second

// pooledDisk is a disk tier in the app's disk pool.
type pooledDisk struct{ *cache.Disk }

// Destruct closes the disk tier (saving its index).
func (p pooledDisk) Destruct() error { return p.Disk.Close() }

// diskLogInterval is the least time between two log lines about one disk
// tier's failures.
const diskLogInterval = time.Minute

// openCache returns the shared cache for the settings c (defaults filled
// in), creating it and its disk tier on first use. The caller must call
// releaseCache with the returned key when done. disk is the cache's disk
// tier (nil without one), which other caches may share.
func (a *App) openCache(c CacheConfig) (_ *cache.Cache, disk *cache.Disk, key string, err error) {
	key, diskDir, err := c.poolKey()
	if err != nil {
		return nil, nil, "", err
	}
	st := a.state
	v, _, err := st.caches.LoadOrNew(key, func() (caddy.Destructor, error) {
		var disk *cache.Disk
		if diskDir != "" {
			dv, _, err := st.disks.LoadOrNew(diskDir, func() (caddy.Destructor, error) {
				d, err := cache.OpenDisk(diskDir, c.Disk, c.DiskItem)
				if err != nil {
					return nil, err
				}
				return pooledDisk{d}, nil
			})
			if err != nil {
				return nil, err
			}
			disk = dv.(pooledDisk).Disk
			disk.SetLimits(c.Disk, c.DiskItem)
		}
		logger := a.logger
		onDiskError := func(err error) {
			// The cache reports the first failure of each outage; the
			// limiter keeps a flapping disk from flooding the log. Every
			// failure is counted in r2gate_disk_errors_total.
			if ok, held := st.logs.allow("disk "+diskDir, time.Now(), diskLogInterval); ok {
				logger.Error("disk tier write failed; its requests are served without it until it recovers",
					zap.String("disk", diskDir), zap.Int("unlogged_outages", held), zap.Error(err))
			}
		}
		onBucketOutage := func(namespace string, down bool, err error) {
			bucket := zap.String("bucket", strings.TrimSuffix(namespace, "\x00"))
			if !down {
				logger.Info("bucket answers again; requests reach it as usual", bucket)
				return
			}
			if ok, held := st.logs.allow("outage "+namespace, time.Now(), bucketLogInterval); ok {
				logger.Error("bucket down: every recent request failed; stale copies are served where allowed, and one request a second probes it",
					bucket, zap.Int("unlogged_outages", held), zap.Error(err))
			}
		}
		cc, err := cache.New(cache.Config{
			MemoryBytes: *c.Memory, MemoryItem: c.MemoryItem, Disk: disk,
			OnDiskError: onDiskError, OnBucketOutage: onBucketOutage,
		})
		if err != nil {
			if diskDir != "" {
				_, _ = st.disks.Delete(diskDir)
			}
			return nil, err
		}
		return pooledCache{Cache: cc, disk: disk, disks: st.disks, diskDir: diskDir}, nil
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("r2gate: opening the cache: %w", err)
	}
	pc := v.(pooledCache)
	return pc.Cache, pc.disk, key, nil
}

// releaseCache lets go of one use of the cache under key; the last one
// closes it.
func (a *App) releaseCache(key string) error {
	_, err := a.state.caches.Delete(key)
	return err
}
