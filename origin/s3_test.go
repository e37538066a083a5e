package origin_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/origin"
)

// s3Ops calls each Bucket method once and returns its error.
func s3Ops(t *testing.T, b origin.Bucket, key string) map[string]error {
	errs := map[string]error{}
	obj, err := b.Get(t.Context(), key, origin.GetOptions{})
	if err == nil {
		obj.Body.Close()
	}
	errs["Get"] = err
	_, errs["Head"] = b.Head(t.Context(), key)
	_, errs["Put"] = b.Put(t.Context(), key, strings.NewReader("x"), 1, origin.PutOptions{})
	errs["Delete"] = b.Delete(t.Context(), key)
	return errs
}

func TestS3WrongSecretIs502AndHidesTheSecret(t *testing.T) {
	const wrong = "wrong-secret-must-not-leak-0123456789"
	b, err := origin.NewS3(t.Context(), origin.S3Config{
		Bucket: testBucket, Endpoint: s3server.Endpoint, Region: "auto",
		AccessKey: s3server.AccessKey, SecretKey: wrong,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for op, err := range s3Ops(t, b, "TestS3WrongSecret/obj") {
		if got := origin.Status(err); got != http.StatusBadGateway {
			t.Errorf("%s = %v (status %d), want 502", op, err, got)
		}
		if err != nil && (strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), s3server.SecretKey)) {
			t.Errorf("%s error holds a secret key: %v", op, err)
		}
	}
}

// silentEndpoint accepts connections and never answers them.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestS3UnreachableEndpoint(t *testing.T) {
	refused, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		endpoint string
		want     int
	}{
		{"endpoint that never answers is 504", silentEndpoint(t), http.StatusGatewayTimeout},
		{"refused connection is 502", "http://" + refused, http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := origin.NewS3(t.Context(), origin.S3Config{
				Bucket: testBucket, Endpoint: tc.endpoint, Region: "auto",
				AccessKey: "k", SecretKey: "s", Timeout: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			start := time.Now()
			for op, err := range s3Ops(t, b, "obj") {
				if got := origin.Status(err); got != tc.want {
					t.Errorf("%s = %v (status %d), want %d", op, err, got, tc.want)
				}
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("four calls took %v with a 300ms timeout", d)
			}
		})
	}
}

func TestS3StalledBodyFails(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Header().Set("ETag", `"e"`)
		w.Write([]byte("ten bytes."))
		w.(http.Flusher).Flush()
		<-release
	}))
	defer srv.Close()
	defer close(release)
	b, err := origin.NewS3(t.Context(), origin.S3Config{
		Bucket: testBucket, Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	obj, err := b.Get(t.Context(), "obj", origin.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer obj.Body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, obj.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("reading a body that stalls after 10 of 100 bytes succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("body read still blocked 10s after the bucket stalled, with a 300ms timeout")
	}
}

func TestS3ContextCancel(t *testing.T) {
	b := newS3(t, "")
	f := fixture{b: b, prefix: t.Name() + "/"}
	// Large enough that the rest of the body cannot all wait in socket
	// buffers when the context is cancelled.
	content := pattern(32 << 20)
	f.put(t, "big", content, origin.PutOptions{})

	t.Run("cancel during a body read fails the read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		obj, err := b.Get(ctx, f.key("big"), origin.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Body.Close()
		head := make([]byte, 1024)
		if _, err := io.ReadFull(obj.Body, head); err != nil || !bytes.Equal(head, content[:1024]) {
			t.Fatalf("reading the start: %v", err)
		}
		cancel()
		n, err := io.Copy(io.Discard, obj.Body)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read on after cancel = %d bytes, %v; want context.Canceled", n, err)
		}
	})

	t.Run("cancelled context fails the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := b.Head(ctx, f.key("big")); !errors.Is(err, context.Canceled) {
			t.Errorf("Head = %v, want context.Canceled", err)
		}
	})

	t.Run("expired deadline is 504", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := b.Get(ctx, f.key("big"), origin.GetOptions{})
		if origin.Status(err) != http.StatusGatewayTimeout {
			t.Errorf("Get = %v (status %d), want 504", err, origin.Status(err))
		}
	})
}

func TestNewS3(t *testing.T) {
	t.Run("bucket name is required", func(t *testing.T) {
		if _, err := origin.NewS3(t.Context(), origin.S3Config{Endpoint: s3server.Endpoint}); err == nil {
			t.Error("NewS3 without a bucket succeeded")
		}
	})

	// A custom CA bundle (AWS_CA_BUNDLE, common behind corporate proxies)
	// must neither break NewS3 nor be ignored.
	t.Run("custom CA bundle is trusted", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
		srv.StartTLS()
		defer srv.Close()
		bundle := filepath.Join(t.TempDir(), "ca.pem")
		pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(bundle, pemCert, 0o600); err != nil {
			t.Fatal(err)
		}
		head := func() error {
			b, err := origin.NewS3(t.Context(), origin.S3Config{
				Bucket: testBucket, Endpoint: srv.URL, AccessKey: "k", SecretKey: "s",
			})
			if err != nil {
				t.Fatalf("NewS3 with AWS_CA_BUNDLE=%q: %v", os.Getenv("AWS_CA_BUNDLE"), err)
			}
			defer b.Close()
			_, err = b.Head(t.Context(), "obj")
			return err
		}
		t.Setenv("AWS_CA_BUNDLE", bundle)
		if err := head(); !errors.Is(err, origin.ErrNotFound) {
			t.Errorf("Head through TLS signed by the bundle = %v, want ErrNotFound", err)
		}
		t.Setenv("AWS_CA_BUNDLE", "")
		if err := head(); origin.Status(err) != http.StatusBadGateway {
			t.Errorf("Head through TLS with an unknown CA = %v, want a 502 error", err)
		}
	})
}
