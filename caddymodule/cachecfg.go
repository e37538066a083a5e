package caddymodule

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/r2gate/r2gate/cache"
)

// Defaults of the cache block.
const (
	defaultMemory      = 256 << 20
	defaultMemoryItem  = 4 << 20
	defaultDiskItem    = 512 << 20
	defaultTTL         = time.Hour
	defaultStaleError  = time.Hour
	defaultNegativeTTL = 10 * time.Second
)

// CacheConfig configures the tiered cache. Sites whose cache settings
// (memory sizes and disk folder) are equal share one cache, and a config
// reload keeps what is cached.
type CacheConfig struct {
	// Memory bounds the memory tier in bytes: bodies rounded up to whole
	// 4 KiB pages, plus 512 bytes and the key per entry. Bodies live outside
	// the Go heap; one evicted while responses still send it stays until
	// they end. Default 256 MiB; 0 disables the memory tier.
	Memory *int64 `json:"memory,omitempty"`

	// MemoryItem is the largest body kept in memory. Default 4 MiB. Beyond
	// Memory, the process holds at most one such body per request or fill
	// in progress.
	MemoryItem int64 `json:"memory_item,omitempty"`

	// DiskPath is the folder of the disk tier, which survives restarts.
	// Default: no disk tier.
	DiskPath string `json:"disk_path,omitempty"`

	// Disk bounds the disk tier in bytes of bodies (metadata files, a few
	// hundred bytes each, come on top). Required with disk_path.
	Disk int64 `json:"disk,omitempty"`

	// DiskItem is the largest body kept on disk; larger objects stream
	// through uncached, and their ranges are forwarded to the bucket.
	// Default 512 MiB (at most disk).
	DiskItem int64 `json:"disk_item,omitempty"`

	// TTL is the edge freshness when the object's Cache-Control gives no
	// s-maxage or max-age. Default 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// StaleWhileRevalidate serves an expired entry at once for this long
	// after it expires, refreshing it in the background (one refresh per
	// key). Default 0 (off). The object's own stale-while-revalidate wins.
	StaleWhileRevalidate caddy.Duration `json:"stale_while_revalidate,omitempty"`

	// StaleIfError serves an expired entry for this long after it expires
	// when the bucket fails or times out. Default 1h. The object's own
	// stale-if-error wins.
	StaleIfError *caddy.Duration `json:"stale_if_error,omitempty"`

	// NegativeTTL is how long a missing object (404) is remembered.
	// Default 10s; 0 disables.
	NegativeTTL *caddy.Duration `json:"negative_ttl,omitempty"`

	// HonorNoCache makes a client's `Cache-Control: no-cache` revalidate
	// the entry with the bucket. Default off: a CDN protects its origin.
	HonorNoCache bool `json:"honor_no_cache,omitempty"`
}

// withDefaults returns c with every default filled in.
func (c CacheConfig) withDefaults() CacheConfig {
	if c.Memory == nil {
		m := int64(defaultMemory)
		c.Memory = &m
	}
	if c.MemoryItem <= 0 {
		c.MemoryItem = defaultMemoryItem
	}
	if c.DiskItem <= 0 {
		c.DiskItem = defaultDiskItem
	}
	if c.Disk > 0 && c.DiskItem > c.Disk {
		c.DiskItem = c.Disk
	}
	if c.TTL <= 0 {
		c.TTL = caddy.Duration(defaultTTL)
	}
	if c.StaleIfError == nil {
		d := caddy.Duration(defaultStaleError)
		c.StaleIfError = &d
	}
	if c.NegativeTTL == nil {
		d := caddy.Duration(defaultNegativeTTL)
		c.NegativeTTL = &d
	}
	return c
}

func (c CacheConfig) validate() error {
	if c.DiskPath != "" && c.Disk <= 0 {
		return errors.New("r2gate: cache disk needs a size")
	}
	if *c.Memory < 0 || c.Disk < 0 {
		return errors.New("r2gate: cache sizes must not be negative")
	}
	if *c.Memory == 0 && c.DiskPath == "" {
		return errors.New("r2gate: cache has neither a memory nor a disk tier")
	}
	return nil
}

// options are the per-request cache settings of this config.
func (c CacheConfig) options() cache.GetOptions {
	return cache.GetOptions{
		Policy: cache.Policy{
			DefaultTTL:           time.Duration(c.TTL),
			StaleWhileRevalidate: time.Duration(c.StaleWhileRevalidate),
			StaleIfError:         time.Duration(*c.StaleIfError),
		},
		NegativeTTL: time.Duration(*c.NegativeTTL),
	}
}

// poolKey names these settings in the app's cache pool: caches with equal
// keys are one cache. diskDir is the disk folder made absolute, or "".
func (c CacheConfig) poolKey() (key, diskDir string, err error) {
	if c.DiskPath != "" {
		if diskDir, err = filepath.Abs(c.DiskPath); err != nil {
			return "", "", fmt.Errorf("r2gate: cache disk path: %w", err)
		}
	}
	key = fmt.Sprintf("memory=%d/%d disk=%q/%d/%d", *c.Memory, c.MemoryItem, diskDir, c.Disk, c.DiskItem)
	return key, diskDir, nil
}
