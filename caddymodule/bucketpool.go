package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/r2gate/r2gate/origin"
)

// pooledBucket is a bucket client in the app's bucket pool.
type pooledBucket struct {
	origin.Bucket
	close func() error
}

// Destruct closes the client (its idle connections, or the folder).
func (p pooledBucket) Destruct() error { return p.close() }

// openS3 returns the shared client for cfg, creating it on first use.
// Handlers with equal bucket settings share one client and its
// connections, across config reloads too: a reload neither drops warm
// connections nor leaves the old client's idle ones behind, and a fetch
// that outlives its config goes on over a client that stays open. The
// caller must call releaseBucket with the returned key when done.
func (a *App) openS3(ctx context.Context, cfg origin.S3Config) (origin.Bucket, string, error) {
	// The key holds a hash of the settings, not the secret itself.
	sum := sha256.Sum256(fmt.Appendf(nil, "%q %q %q %q %q %d %d",
		cfg.Endpoint, cfg.Bucket, cfg.Region, cfg.AccessKey, cfg.SecretKey, cfg.Timeout, cfg.MaxConns))
	key := "s3 " + hex.EncodeToString(sum[:])
	v, _, err := a.state.buckets.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := origin.NewS3(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return pooledBucket{Bucket: b, close: b.Close}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("r2gate: %w", err)
	}
	return v.(pooledBucket).Bucket, key, nil
}

// openDir returns the shared folder origin for the absolute path dir; the
// caller must call releaseBucket with the returned key when done.
func (a *App) openDir(dir string) (origin.Bucket, string, error) {
	key := "dir " + dir
	v, _, err := a.state.buckets.LoadOrNew(key, func() (caddy.Destructor, error) {
		d, err := origin.OpenDir(dir)
		if err != nil {
			return nil, err
		}
		return pooledBucket{Bucket: d, close: d.Close}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("r2gate: %w", err)
	}
	return v.(pooledBucket).Bucket, key, nil
}

// releaseBucket lets go of one use of the client under key; the last one
// closes it.
func (a *App) releaseBucket(key string) error {
	_, err := a.state.buckets.Delete(key)
	return err
}
