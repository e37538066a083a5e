package caddymodule

import (
	"context"
	"io"
	"time"

	"github.com/r2gate/r2gate/origin"
)

// metered counts and times every request made to a bucket, whether by the
// handler or by the cache.
type metered struct {
	origin.Bucket
	m *metrics
}

func (b metered) Get(ctx context.Context, key string, opts origin.GetOptions) (*origin.Object, error) {
	start := time.Now()
	obj, err := b.Bucket.Get(ctx, key, opts)
	b.m.bucketRequest("get", start, err)
	return obj, err
}

func (b metered) Head(ctx context.Context, key string) (origin.Info, error) {
	start := time.Now()
	info, err := b.Bucket.Head(ctx, key)
	b.m.bucketRequest("head", start, err)
	return info, err
}

func (b metered) Put(ctx context.Context, key string, body io.Reader, size int64, meta origin.PutOptions) (origin.Info, error) {
	start := time.Now()
	info, err := b.Bucket.Put(ctx, key, body, size, meta)
	b.m.bucketRequest("put", start, err)
	return info, err
}

func (b metered) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := b.Bucket.Delete(ctx, key)
	b.m.bucketRequest("delete", start, err)
	return err
}

// Close closes the bucket beneath, if it has anything to close.
func (b metered) Close() error {
	if c, ok := b.Bucket.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
