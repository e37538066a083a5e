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
	// Timeout is the longest wait for the bucket's answer to a Head, Get,
	// Delete, a page of a listing, or the start or abort of a multipart
	// upload, retries included (see s3call.go), and the longest a body
	// read may stall. A Put's upload (a PutObject, each part) is bounded
	// only by the stall timeout; then each attempt waits at most Timeout
	// for the answer. Default 30s.
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
	timeout   time.Duration
	// listPageSize, when positive, is the MaxKeys of List's pages (tests
	// set it to page through few keys).
	listPageSize int32
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
		config.WithRetryer(func() aws.Retryer { return newRetryer(cfg.Timeout) }),
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
	return &S3{bucket: cfg.Bucket, client: client, transport: tr, timeout: cfg.Timeout}, nil
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
	if err := checkS3Key("head", key); err != nil {
		return Info{}, err
	}
	bc := b.bound(ctx)
	defer bc.release()
	out, err := b.client.HeadObject(bc.ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if genericBadRequest(err) {
		// A HEAD answer has no body, so no error code: ask again with a
		// one-byte GET to learn whether the client (a key too long, say) or
		// the operator (an expired token) is at fault.
		err = b.probe(bc.ctx, key, err)
	}
	if err := bc.done(b, "head", key, err, nil); err != nil {
		return Info{}, err
	}
	info := s3Info(key, objectHeaders{out.ETag, out.ContentType, out.CacheControl, out.ContentEncoding,
		out.ContentDisposition, out.ContentLanguage, out.LastModified, out.Metadata})
	info.Size = aws.ToInt64(out.ContentLength)
	return info, nil
}

// objectHeaders are the fields HeadObject and GetObject answers share.
type objectHeaders struct {
	etag, contentType, cacheControl, contentEncoding *string
	contentDisposition, contentLanguage              *string
	lastModified                                     *time.Time
	metadata                                         map[string]string
}

// s3Info is the Info of key from the headers the bucket sent; Size is the
// caller's (a GET of a range sends the range's length).
func s3Info(key string, h objectHeaders) Info {
	return Info{
		Key:                key,
		ETag:               aws.ToString(h.etag),
		LastModified:       aws.ToTime(h.lastModified),
		ContentType:        aws.ToString(h.contentType),
		CacheControl:       aws.ToString(h.cacheControl),
		ContentEncoding:    aws.ToString(h.contentEncoding),
		ContentDisposition: aws.ToString(h.contentDisposition),
		ContentLanguage:    aws.ToString(h.contentLanguage),
		Metadata:           h.metadata,
	}
}

// Get implements Bucket.
func (b *S3) Get(ctx context.Context, key string, opts GetOptions) (*Object, error) {
	if err := checkS3Key("get", key); err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: &key}
	if opts.Range != nil {
		if opts.Range.Offset < 0 {
			return nil, fmt.Errorf("get %s: %w", QuoteKey(key), ErrRangeNotSatisfiable)
		}
		rng := "bytes=" + strconv.FormatInt(opts.Range.Offset, 10) + "-"
		if opts.Range.Length >= 0 {
			if opts.Range.Length == 0 {
				return nil, fmt.Errorf("get %s: empty range: %w", QuoteKey(key), ErrRangeNotSatisfiable)
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
	bc := b.bound(ctx)
	out, err := b.client.GetObject(bc.ctx, in)
	var body io.Closer
	if err == nil {
		body = out.Body
	}
	if err := bc.done(b, "get", key, err, body); err != nil {
		bc.release()
		return nil, err
	}
	out.Body = &boundedBody{ReadCloser: out.Body, bc: bc}
	obj := &Object{
		Info: s3Info(key, objectHeaders{out.ETag, out.ContentType, out.CacheControl, out.ContentEncoding,
			out.ContentDisposition, out.ContentLanguage, out.LastModified, out.Metadata}),
		Body:   out.Body,
		Length: aws.ToInt64(out.ContentLength),
	}
	obj.Size = obj.Length
	if cr := aws.ToString(out.ContentRange); cr != "" {
		off, size, ok := parseContentRange(cr)
		if !ok {
			out.Body.Close()
			return nil, fmt.Errorf("get %s: bucket sent a malformed Content-Range %.64q", QuoteKey(key), cr)
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

// Delete implements Bucket.
func (b *S3) Delete(ctx context.Context, key string) error {
	if err := checkS3Key("delete", key); err != nil {
		return err
	}
	bc := b.bound(ctx)
	defer bc.release()
	_, err := b.client.DeleteObject(bc.ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	return bc.done(b, "delete", key, err, nil)
}

// probe asks for the first byte of key after a HEAD failed with headErr,
// a 400 without a code, and returns the GET's error when it names a cause
// (its answer has a body); else headErr.
func (b *S3) probe(ctx context.Context, key string, headErr error) error {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key, Range: aws.String("bytes=0-0")})
	if err == nil {
		out.Body.Close()
		return headErr
	}
	if genericBadRequest(err) {
		return headErr
	}
	return err
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

// Write sends (part of) a request, after which an answer is awaited, so
// the wait counts from now: net/http's transport starts reading a pooled
// connection's next answer as soon as the connection goes idle, and that
// read's deadline, set when it started, would otherwise cut a request
// sent i seconds later timeout-i seconds in (found by the long form of
// TestFaultBucketSlowHonoursTimeoutsAndCoalesces: two bucket GETs for one
// miss, and a 504 from a bucket that answered within the timeout).
func (c *idleTimeoutConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Interface guard.
var _ Bucket = (*S3)(nil)
