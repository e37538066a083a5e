// Package s3test starts a real S3-compatible server (versitygw) on loopback
// for tests, and an optional recording proxy in front of it that counts the
// requests the bucket sees.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the tests are written against.
const Version = "v1.8.0"

// InstallHint says how to get the server when it is missing and cannot be
// installed by the tests.
const InstallHint = "install it with: GOBIN=$HOME/.cache/r2gate-tools go install github.com/versity/versitygw/cmd/versitygw@" + Version +
	" (or put versitygw on PATH, or set R2GATE_VERSITYGW to its path); .ci/run does this"

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint  string
	AccessKey string
	SecretKey string
	// Dir is the folder the posix backend stores buckets in.
	Dir string

	cmd  *exec.Cmd
	done chan struct{}
	logs bytes.Buffer
}

// Binary finds the versitygw executable, installing it on first use (see
// install) unless R2GATE_NO_INSTALL is set.
func Binary() (string, error) {
	if p := os.Getenv("R2GATE_VERSITYGW"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var cands []string
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(home, ".cache", "r2gate-tools", "versitygw"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		cands = append(cands, filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw"))
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c, nil
		}
	}
	if os.Getenv("R2GATE_NO_INSTALL") != "" {
		return "", errors.New("versitygw not found; " + InstallHint)
	}
	bin, err := install()
	if err != nil {
		return "", fmt.Errorf("versitygw not found and installing it failed: %w; %s", err, InstallHint)
	}
	return bin, nil
}

// FreePort returns a loopback address with a port nobody listens on.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Start runs versitygw on a free loopback port, storing buckets under dir,
// and waits until it answers.
func Start(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	addr, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("finding a port: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: "r2gatetestaccess",
		SecretKey: "r2gatetestsecret0123456789",
		Dir:       dir,
		done:      make(chan struct{}),
	}
	s.cmd = exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", "auto", "--keep-alive", "--quiet", "posix", dir)
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting versitygw: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("versitygw exited at start: %s", s.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("versitygw did not listen on %s within 20s", addr)
		}
	}
}

// Stop ends the server and waits for it.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// Client returns an S3 client for the server (or for endpoint, when not
// empty, e.g. a proxy in front of it).
func (s *Server) Client(endpoint string) *s3.Client {
	if endpoint == "" {
		endpoint = s.Endpoint
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("auto"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		panic(err) // static configuration; cannot fail
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

// CreateBucket makes a bucket.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	_, err := s.Client("").CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
	if err != nil {
		return fmt.Errorf("creating bucket %q: %w", name, err)
	}
	return nil
}
