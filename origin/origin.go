// Package origin is the bucket r2gate serves from: one small interface with
// two implementations, an S3-compatible bucket (Cloudflare R2, AWS S3,
// versitygw, MinIO, ...) and a local folder used as the embedded default and
// for development.
//
// The package knows nothing about Caddy. Errors returned by a Bucket are safe
// to log (they never contain credentials) but are not meant for clients: map
// them with Status and send a short body of your own.
package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes, that S3 and R2 accept. Both
// buckets refuse longer keys with ErrKeyTooLong before any I/O.
const MaxKeyLen = 1024

// shortKeyLen is how much of a key ShortKey keeps.
const shortKeyLen = 96

// ShortKey returns key for a log line: whole, or when longer than a short
// line its first bytes (cut at a character boundary) and "…".
func ShortKey(key string) string {
	if len(key) <= shortKeyLen {
		return key
	}
	cut := shortKeyLen
	for cut > 0 && !utf8.RuneStart(key[cut]) {
		cut--
	}
	return key[:cut] + "…"
}

// QuoteKey returns key quoted for an error message: ShortKey(key), and
// the key's length when it was cut: "abc…" (1024 bytes).
func QuoteKey(key string) string {
	if len(key) <= shortKeyLen {
		return strconv.Quote(key)
	}
	return strconv.Quote(ShortKey(key)) + " (" + strconv.Itoa(len(key)) + " bytes)"
}

// Bucket is a store of objects addressed by key.
type Bucket interface {
	// Get returns the object's metadata and body. With opts.Range set the
	// body holds only those bytes (Object.Range says which). Conditions in
	// opts are evaluated by the bucket: an unmet If-None-Match or
	// If-Modified-Since gives ErrNotModified, an unmet If-Match or
	// If-Unmodified-Since gives ErrPreconditionFailed. The caller must
	// close Object.Body.
	Get(ctx context.Context, key string, opts GetOptions) (*Object, error)

	// Head returns the object's metadata without its body.
	Head(ctx context.Context, key string) (Info, error)

	// Put stores size bytes read from body under key, replacing any object
	// there, and returns the new object's metadata. Readers of the key see
	// either the old object or the new one, never a mix. A negative size
	// means the length is unknown: the body is read to its end. With a
	// size, a body that is shorter or longer is ErrBodySize; an error
	// reading the body is ErrBodyRead and the reader's error, both
	// wrapped. The conditions in meta (IfNoneMatch, IfMatch) are
	// evaluated by the bucket.
	Put(ctx context.Context, key string, body io.Reader, size int64, meta PutOptions) (Info, error)

	// Delete removes the object under key. Deleting a missing key is not an
	// error.
	Delete(ctx context.Context, key string) error
}

// Info is an object's metadata.
type Info struct {
	// Key is the object's key in the bucket.
	Key string
	// Size is the length of the whole object in bytes.
	Size int64
	// ETag is the entity tag as HTTP sends it, quoted ("abc" or W/"abc").
	ETag string
	// LastModified is when the object was last written.
	LastModified time.Time

	ContentType        string
	CacheControl       string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string

	// Metadata is the object's user metadata (x-amz-meta-*), with
	// lower-case keys without the prefix.
	Metadata map[string]string
}

// PutOptions is the metadata stored with a new object, the conditions of
// the write and how a large body is uploaded.
type PutOptions struct {
	ContentType        string
	CacheControl       string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	// Metadata is stored as user metadata; keys should be lower-case.
	Metadata map[string]string

	// IfNoneMatch, when "*", creates the object only if no object is
	// under the key. The bucket evaluates it as it publishes the object
	// (S3's If-None-Match on PutObject and CompleteMultipartUpload), so of
	// two concurrent creations one fails. Unmet, Put returns an error
	// wrapping ErrPreconditionFailed (Status 412). Any other non-empty
	// value is refused with ErrBadRequest before any I/O.
	IfNoneMatch string
	// IfMatch, when not empty, is an entity tag ("abc" as Info.ETag has
	// it): the object is written only if it replaces that version, checked
	// by the bucket as it publishes the object. Unmet, and also when there
	// is no object under the key, Put returns an error wrapping
	// ErrPreconditionFailed (Status 412), never ErrNotFound. Setting both
	// IfMatch and IfNoneMatch can never be met: ErrPreconditionFailed
	// before any I/O.
	IfMatch string

	// PartSize is the size of each part of a multipart upload and the
	// largest body sent in a single request: 0 means DefaultPartSize,
	// others must be at least MinPartSize and at most MaxPartSize.
	PartSize int64
	// Concurrency is how many parts of a multipart upload are sent at
	// once: 0 means DefaultPartConcurrency. A Put holds at most
	// Concurrency+1 part buffers whatever the object's size.
	Concurrency int
}

// Limits and defaults of uploads (PutOptions).
const (
	// DefaultPartSize is the part size when PutOptions.PartSize is 0.
	DefaultPartSize = 8 << 20
	// DefaultPartConcurrency is how many parts are sent at once when
	// PutOptions.Concurrency is 0.
	DefaultPartConcurrency = 4
	// MinPartSize is the smallest part S3 accepts (but for the last).
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize = 5 << 30
	// MaxParts is the most parts an upload may have, so an object is at
	// most MaxParts × PartSize bytes (78 GiB with the default part size):
	// a larger one is ErrTooLarge.
	MaxParts = 10000
)

// Lister lists the objects of a bucket. S3 and Dir implement it.
type Lister interface {
	// List calls fn for every object whose key starts with prefix, in
	// key order (byte-wise), and stops at the first error fn returns,
	// returning it as is.
	List(ctx context.Context, prefix string, fn func(ListEntry) error) error
}

// GetOptions narrows a Get.
type GetOptions struct {
	// Range, when not nil, asks for part of the object.
	Range *Range

	// Conditions, evaluated by the bucket. Empty values are not sent.
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// Range is a byte range of an object: Length bytes from Offset, or to the
// end of the object when Length is negative.
type Range struct {
	Offset int64
	Length int64
}

// Object is an open object: its metadata and its body.
type Object struct {
	Info
	// Body streams the object's bytes, or only the requested range. The
	// caller must close it.
	Body io.ReadCloser
	// Offset is where Body starts within the object.
	Offset int64
	// Length is how many bytes Body holds.
	Length int64
}

// Errors a Bucket returns, possibly wrapped. Test with errors.Is.
var (
	// ErrNotFound: there is no object under the key.
	ErrNotFound = errors.New("object not found")
	// ErrNotModified: an If-None-Match or If-Modified-Since condition
	// matched, so the bucket sent no body.
	ErrNotModified = errors.New("object not modified")
	// ErrPreconditionFailed: an If-Match or If-Unmodified-Since condition
	// failed.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrRangeNotSatisfiable: the requested range starts past the end.
	ErrRangeNotSatisfiable = errors.New("range not satisfiable")
	// ErrInvalidKey: the key cannot name an object (for example it would
	// leave the bucket's folder).
	ErrInvalidKey = errors.New("invalid object key")
	// ErrKeyTooLong: the key is longer than the bucket accepts (MaxKeyLen
	// bytes, or a path segment the bucket's file system cannot hold). It is
	// also an ErrInvalidKey.
	ErrKeyTooLong = fmt.Errorf("%w: too long", ErrInvalidKey)
	// ErrBadRequest: the bucket refused the request as malformed for a
	// reason that lies in the request itself (S3's InvalidArgument,
	// InvalidURI): the client's fault, not the bucket's.
	ErrBadRequest = errors.New("bucket refused the request as invalid")
	// ErrTimeout: the bucket did not answer in time.
	ErrTimeout = errors.New("bucket timed out")
	// ErrBodyRead: a Put could not read the body it was given (a client
	// that hung up, a body over its limit). The reader's own error is
	// wrapped too: errors.As finds an *http.MaxBytesError, for instance.
	// The upload was aborted; nothing was written.
	ErrBodyRead = errors.New("reading the body")
	// ErrBodySize: a Put's body was shorter or longer than the size it was
	// given. A short body's error also wraps io.ErrUnexpectedEOF.
	ErrBodySize = errors.New("body size differs from the declared size")
	// ErrTooLarge: the object would need more than MaxParts parts.
	ErrTooLarge = errors.New("object too large")
)

// GatewayError is a failure of the gateway's own making, not the bucket's:
// a Bucket that derives objects (a resized image variant) returns it for
// its own refusals and failures, such as a full resize queue (503) or a
// source that is not an image (415). Status returns its Code. It says
// nothing about the bucket's health: caches neither back off from nor
// open a breaker for it.
type GatewayError struct {
	// Code is the HTTP status to answer with.
	Code int
	// Reason is a short text for the response body; it never holds bucket
	// error text or secrets.
	Reason string
	// RetryAfter, when positive, is sent as Retry-After.
	RetryAfter time.Duration
	// Err is the cause, for logs.
	Err error
}

func (e *GatewayError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *GatewayError) Unwrap() error { return e.Err }

// NotModifiedError is ErrNotModified with the metadata the bucket sent
// along with its 304, which a cache uses to update what it stored (RFC 9111
// section 4.3.4). Fields the bucket did not send are zero.
type NotModifiedError struct {
	Info Info
	msg  string
}

// NotModified returns a *NotModifiedError for key with the metadata info.
func NotModified(key string, info Info) error {
	return &NotModifiedError{Info: info, msg: fmt.Sprintf("get %s: %v", QuoteKey(key), ErrNotModified)}
}

func (e *NotModifiedError) Error() string { return e.msg }

// Unwrap returns ErrNotModified.
func (e *NotModifiedError) Unwrap() error { return ErrNotModified }

// Status maps an error from a Bucket to the HTTP status a gateway should
// answer with: 404 for a missing object, 304 and 412 for conditions, 416
// for ranges, 414 for keys too long, 413 for bodies over a limit (an
// *http.MaxBytesError from the body, ErrTooLarge), 400 for other bad keys,
// bodies that fail or do not match their size, and requests the bucket
// refuses as malformed, 504 for timeouts and 502 for everything else
// (access denied, bad credentials, a bucket that is down: the operator's
// problem, not the client's). A nil error is 200.
func Status(err error) int {
	var ge *GatewayError
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &ge):
		return ge.Code
	case errors.As(err, &mbe), errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBodyRead), errors.Is(err, ErrBodySize):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotModified):
		return http.StatusNotModified
	case errors.Is(err, ErrPreconditionFailed):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrRangeNotSatisfiable):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, ErrKeyTooLong):
		return http.StatusRequestURITooLong
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}
