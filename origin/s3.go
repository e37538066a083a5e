package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Config configures an S3 bucket.
type S3Config struct {
	// Bucket is the bucket's name. Required.
	Bucket string
	// Endpoint is the S3 API endpoint, e.g.
	// https://<account>.r2.cloudflarestorage.com. Empty means AWS S3.
	// Custom endpoints use path-style addressing.
	Endpoint string
	// Region defaults to "auto" (what R2 expects).
	Region string
	// AccessKey and SecretKey are static credentials. When empty, the AWS
	// default chain (environment, shared files, roles) is used.
	AccessKey string
	SecretKey string
	// Timeout bounds how long the bucket may take to start answering, and
	// how long a body read may stall. Default 30s.
	Timeout time.Duration
	// MaxConns bounds connections to the endpoint. Default 256.
	MaxConns int
}

// S3 is a Bucket on an S3-compatible service, one reused client with a
// tuned connection pool. It is safe for concurrent use.
type S3 struct {
	bucket    string
	client    *s3.Client
	transport *http.Transport
}

// R2Endpoint returns the S3 endpoint of a Cloudflare account.
func R2Endpoint(accountID string) string {
	return "https://" + accountID + ".r2.cloudflarestorage.com"
}

// NewS3 returns a Bucket for cfg. It does no network I/O.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: bucket name is required")
	}
	if cfg.Region == "" {
		cfg.Region = "auto"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	idle := cfg.Timeout
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleTimeoutConn{Conn: c, timeout: idle}, nil
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.MaxConns,
		MaxIdleConnsPerHost:   cfg.MaxConns,
		MaxConnsPerHost:       cfg.MaxConns,
		IdleConnTimeout:       min(90*time.Second, idle),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryMaxAttempts(2),
		// R2 rejects some requests carrying the SDK's default checksums.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS config: %w", err)
	}
	// Our client is set after loading: with a custom CA bundle configured
	// (AWS_CA_BUNDLE, ca_bundle) the loader refuses a plain *http.Client and
	// builds its own, whose TLS settings (the bundle) we keep.
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr.TLSClientConfig = bc.GetTransport().TLSClientConfig
	}
	awsCfg.HTTPClient = &http.Client{Transport: tr}
	var static *pathStyleEndpoint
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
		static = &pathStyleEndpoint{base: *u}
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if static != nil {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
			o.EndpointResolverV2 = static
		}
	})
	return &S3{bucket: cfg.Bucket, client: client, transport: tr}, nil
}

// pathStyleEndpoint resolves every request to <endpoint>/<bucket>, which
// is what the SDK's rules engine answers for a custom endpoint with path
// style, without running that engine: for a region it does not know
// (R2's "auto") it compiles the regular expressions of every AWS
// partition on each request, a third of a miss's allocations. Signing
// keeps the SDK's defaults (SigV4, service s3, the configured region).
type pathStyleEndpoint struct {
	base url.URL
}

// ResolveEndpoint implements s3.EndpointResolverV2.
func (e *pathStyleEndpoint) ResolveEndpoint(_ context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	u := e.base
	if p.Bucket != nil && *p.Bucket != "" {
		// The SDK joins the key's path to both Path and RawPath: both must
		// be set, or the escaped key loses the bucket.
		u.RawPath = strings.TrimSuffix(e.base.EscapedPath(), "/") + "/" + url.PathEscape(*p.Bucket)
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + *p.Bucket
	}
	// What the rules engine says for S3 with SigV4: sign for s3 in the
	// region, and never encode the already escaped key path twice.
	var sp smithy.Properties
	smithyhttp.SetDisableDoubleEncoding(&sp, true)
	smithyhttp.SetSigV4SigningName(&sp, "s3")
	if p.Region != nil {
		smithyhttp.SetSigV4SigningRegion(&sp, *p.Region)
	}
	var props smithy.Properties
	smithyauth.SetAuthOptions(&props, []*smithyauth.Option{{SchemeID: smithyauth.SchemeIDSigV4, SignerProperties: sp}})
	return smithyendpoints.Endpoint{URI: u, Properties: props}, nil
}

// Close releases idle connections.
func (b *S3) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}

// Head implements Bucket.
func (b *S3) Head(ctx context.Context, key string) (Info, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return Info{}, mapS3Error("head", key, err)
	}
	return Info{
		Key:                key,
		Size:               aws.ToInt64(out.ContentLength),
		ETag:               aws.ToString(out.ETag),
		LastModified:       aws.ToTime(out.LastModified),
		ContentType:        aws.ToString(out.ContentType),
		CacheControl:       aws.ToString(out.CacheControl),
		ContentEncoding:    aws.ToString(out.ContentEncoding),
		ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage:    aws.ToString(out.ContentLanguage),
		Metadata:           out.Metadata,
	}, nil
}

// Get implements Bucket.
func (b *S3) Get(ctx context.Context, key string, opts GetOptions) (*Object, error) {
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: &key}
	if opts.Range != nil {
		if opts.Range.Offset < 0 {
			return nil, fmt.Errorf("get %q: %w", key, ErrRangeNotSatisfiable)
		}
		rng := "bytes=" + strconv.FormatInt(opts.Range.Offset, 10) + "-"
		if opts.Range.Length >= 0 {
			if opts.Range.Length == 0 {
				return nil, fmt.Errorf("get %q: empty range: %w", key, ErrRangeNotSatisfiable)
			}
			rng += strconv.FormatInt(opts.Range.Offset+opts.Range.Length-1, 10)
		}
		in.Range = &rng
	}
	if opts.IfMatch != "" {
		in.IfMatch = &opts.IfMatch
	}
	if opts.IfNoneMatch != "" {
		in.IfNoneMatch = aws.String(strongTags(opts.IfNoneMatch))
	}
	if !opts.IfModifiedSince.IsZero() {
		in.IfModifiedSince = &opts.IfModifiedSince
	}
	if !opts.IfUnmodifiedSince.IsZero() {
		in.IfUnmodifiedSince = &opts.IfUnmodifiedSince
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, mapS3Error("get", key, err)
	}
	obj := &Object{
		Info: Info{
			Key:                key,
			ETag:               aws.ToString(out.ETag),
			LastModified:       aws.ToTime(out.LastModified),
			ContentType:        aws.ToString(out.ContentType),
			CacheControl:       aws.ToString(out.CacheControl),
			ContentEncoding:    aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition),
			ContentLanguage:    aws.ToString(out.ContentLanguage),
			Metadata:           out.Metadata,
		},
		Body:   out.Body,
		Length: aws.ToInt64(out.ContentLength),
	}
	obj.Size = obj.Length
	if cr := aws.ToString(out.ContentRange); cr != "" {
		off, size, ok := parseContentRange(cr)
		if !ok {
			out.Body.Close()
			return nil, fmt.Errorf("get %q: bucket sent a malformed Content-Range %q", key, cr)
		}
		obj.Offset, obj.Size = off, size
	}
	return obj, nil
}

// parseContentRange parses "bytes first-last/size".
func parseContentRange(s string) (off, size int64, ok bool) {
	s, ok = strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, total, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	off, err1 := strconv.ParseInt(first, 10, 64)
	size, err2 := strconv.ParseInt(total, 10, 64)
	return off, size, err1 == nil && err2 == nil
}

// Put implements Bucket. The body should be an io.ReadSeeker (bytes.Reader,
// *os.File): the SDK signs the payload and retries from the start.
func (b *S3) Put(ctx context.Context, key string, body io.Reader, size int64, meta PutOptions) (Info, error) {
	in := &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           &key,
		Body:          body,
		ContentLength: aws.Int64(size),
		Metadata:      meta.Metadata,
	}
	for _, f := range []struct {
		dst **string
		v   string
	}{
		{&in.ContentType, meta.ContentType},
		{&in.CacheControl, meta.CacheControl},
		{&in.ContentEncoding, meta.ContentEncoding},
		{&in.ContentDisposition, meta.ContentDisposition},
		{&in.ContentLanguage, meta.ContentLanguage},
	} {
		if f.v != "" {
			*f.dst = aws.String(f.v)
		}
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return Info{}, mapS3Error("put", key, err)
	}
	return b.Head(ctx, key)
}

// Delete implements Bucket.
func (b *S3) Delete(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return mapS3Error("delete", key, err)
	}
	return nil
}

// mapS3Error turns an SDK error into one of the package's errors. The
// result names the operation, the key and the bucket's error code; it never
// holds credentials or the bucket's error body.
// notModifiedInfo reads the metadata a 304 carries.
func notModifiedInfo(key string, h http.Header) Info {
	info := Info{Key: key, ETag: h.Get("ETag"), CacheControl: h.Get("Cache-Control")}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.LastModified = t
	}
	return info
}

func mapS3Error(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("%s %q: %w", op, key, ErrNotFound)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%s %q: %w", op, key, ErrNotFound)
		case http.StatusNotModified:
			var h http.Header
			if re.Response != nil && re.Response.Response != nil {
				h = re.Response.Header
			}
			return NotModified(key, notModifiedInfo(key, h))
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%s %q: %w", op, key, ErrPreconditionFailed)
		case http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("%s %q: %w", op, key, ErrRangeNotSatisfiable)
		}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %q: %w", op, key, context.Canceled)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%s %q: %w", op, key, ErrTimeout)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		status := 0
		if re != nil {
			status = re.HTTPStatusCode()
		}
		return fmt.Errorf("%s %q: bucket answered %d %s", op, key, status, ae.ErrorCode())
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return fmt.Errorf("%s %q: %w", op, key, oe.Err)
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

// idleTimeoutConn fails a read that waits longer than timeout for data, so
// a bucket that stalls mid-body cannot hold a request forever.
type idleTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleTimeoutConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Interface guard.
var _ Bucket = (*S3)(nil)
