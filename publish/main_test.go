package publish

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/origin"
)

// s3server is the versitygw the package's integration tests share; each
// test makes its own bucket on it (newBucket).
var s3server *s3test.Server

// TestMain starts one versitygw for the package on a free port. A
// missing or broken server fails the run: the S3 tests are not optional.
func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	return s3test.Main(m, "publish", func(srv *s3test.Server) error {
		s3server = srv
		return nil
	})
}

var bucketSeq atomic.Int64

// newBucket makes a fresh bucket on the test server and returns its name
// and an origin.S3 for it, reached through endpoint (the server itself
// when empty).
func newBucket(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("sync-%d-%d", os.Getpid()%10000, bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s3server.CreateBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// openS3 returns an origin.S3 for bucket through endpoint (the server
// itself when empty).
func openS3(t *testing.T, bucket, endpoint string) *origin.S3 {
	t.Helper()
	if endpoint == "" {
		endpoint = s3server.Endpoint
	}
	b, err := origin.NewS3(t.Context(), origin.S3Config{
		Bucket: bucket, Endpoint: endpoint, Region: "auto",
		AccessKey: s3server.AccessKey, SecretKey: s3server.SecretKey,
		Timeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
