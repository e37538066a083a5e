package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// MaxPresignExpires is the longest lifetime of a presigned URL: SigV4 query
// signatures are valid for at most seven days (X-Amz-Expires 604800).
const MaxPresignExpires = 7 * 24 * time.Hour

// PresignMethods are the methods Presign signs, in the order its errors
// list them.
var PresignMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete}

// PresignOptions are the optional parts of a presigned request.
type PresignOptions struct {
	// ContentType, for a PUT only, is signed into the URL: the uploader
	// must send exactly this Content-Type header, and the object is stored
	// with it. Empty means the uploader chooses (or sends none).
	ContentType string
}

// Presign returns a SigV4 presigned URL for one request of method (GET,
// HEAD, PUT or DELETE; case-insensitive) on key in the bucket itself,
// valid for expires from now: whoever holds the URL can make that one
// kind of request on that key, with no credentials of their own, until it
// expires. Expires must be between one second and MaxPresignExpires;
// fractions of a second are dropped (X-Amz-Expires counts whole seconds).
//
// The URL carries the access key ID (X-Amz-Credential) and a signature,
// never the secret key. Presign does no network I/O, except what the AWS
// default credential chain does to find credentials when the S3 was made
// without static ones.
func (b *S3) Presign(ctx context.Context, method, key string, expires time.Duration, opts PresignOptions) (string, error) {
	m := strings.ToUpper(method)
	if !slices.Contains(PresignMethods, m) {
		return "", fmt.Errorf("presign %s: method %.16q is not one of %s",
			QuoteKey(key), method, strings.Join(PresignMethods, ", "))
	}
	op := "presign " + m
	if err := checkS3Key(op, key); err != nil {
		return "", err
	}
	if expires < time.Second || expires > MaxPresignExpires {
		return "", fmt.Errorf("%s %s: expiry %v is out of range: want 1s to %v (7 days, the SigV4 limit)",
			op, QuoteKey(key), expires, MaxPresignExpires)
	}
	if opts.ContentType != "" && m != http.MethodPut {
		return "", fmt.Errorf("%s %s: a content type applies only to PUT", op, QuoteKey(key))
	}
	if strings.ContainsAny(opts.ContentType, "\r\n") {
		return "", fmt.Errorf("%s %s: the content type holds a line break", op, QuoteKey(key))
	}
	pc := s3.NewPresignClient(b.client, s3.WithPresignExpires(expires.Truncate(time.Second)))
	var (
		req *v4.PresignedHTTPRequest
		err error
	)
	switch m {
	case http.MethodGet:
		req, err = pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	case http.MethodHead:
		req, err = pc.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	case http.MethodPut:
		in := &s3.PutObjectInput{Bucket: &b.bucket, Key: &key}
		if opts.ContentType != "" {
			in.ContentType = aws.String(opts.ContentType)
		}
		req, err = pc.PresignPutObject(ctx, in)
	case http.MethodDelete:
		req, err = pc.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	}
	if err != nil {
		// No request was sent: the error is the signer's or the credential
		// chain's, whose texts hold no secrets.
		var oe *smithy.OperationError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return "", fmt.Errorf("%s %s: %w", op, QuoteKey(key), err)
	}
	return req.URL, nil
}
