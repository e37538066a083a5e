package origin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// maxCodeLen bounds the bucket's error code in messages: the code comes
// from the bucket's answer, whatever it sends.
const maxCodeLen = 64

// mapS3Error turns an SDK error into one of the package's errors. The
// result names the operation, the key (QuoteKey) and the bucket's status
// and error code; it never holds credentials, request IDs or the bucket's
// error body.
func mapS3Error(op, key string, err error) error {
	k := QuoteKey(key)
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("%s %s: %w", op, k, ErrNotFound)
	}
	var re *awshttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
		switch status {
		case http.StatusNotFound:
			return fmt.Errorf("%s %s: %w", op, k, ErrNotFound)
		case http.StatusNotModified:
			var h http.Header
			if re.Response != nil && re.Response.Response != nil {
				h = re.Response.Header
			}
			return NotModified(key, notModifiedInfo(key, h))
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%s %s: %w", op, k, ErrPreconditionFailed)
		case http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("%s %s: %w", op, k, ErrRangeNotSatisfiable)
		}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: %w", op, k, context.Canceled)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%s %s: %w", op, k, ErrTimeout)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if len(code) > maxCodeLen {
			code = code[:maxCodeLen]
		}
		code = strconv.QuoteToASCII(code)
		code = code[1 : len(code)-1]
		if fault := clientFault(status, ae.ErrorCode()); fault != nil {
			return fmt.Errorf("%s %s: bucket answered %d %s: %w", op, k, status, code, fault)
		}
		return fmt.Errorf("%s %s: bucket answered %d %s", op, k, status, code)
	}
	if re != nil { // its text holds the request IDs
		return fmt.Errorf("%s %s: bucket answered %d", op, k, status)
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return fmt.Errorf("%s %s: %w", op, k, oe.Err)
	}
	return fmt.Errorf("%s %s: %w", op, k, err)
}

// clientFault returns the package error for a refusal of the bucket that
// depends only on what the client asked for (a key, an argument), or nil
// when the refusal is the bucket's or the operator's problem: 5xx, and
// 4xx such as AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId,
// ExpiredToken or AuthorizationHeaderMalformed (a wrong region) stay 502.
func clientFault(status int, code string) error {
	if status != http.StatusBadRequest {
		return nil
	}
	switch code {
	case "KeyTooLongError":
		return ErrKeyTooLong
	case "InvalidArgument", "InvalidURI", "InvalidObjectName":
		return ErrBadRequest
	}
	return nil
}

// genericBadRequest reports whether err is a 400 without an error code,
// as HEAD answers are (they have no body to carry one).
func genericBadRequest(err error) bool {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		return false
	}
	var ae smithy.APIError
	return !errors.As(err, &ae) || ae.ErrorCode() == "" || ae.ErrorCode() == "BadRequest"
}

// notModifiedInfo reads the metadata a 304 carries.
func notModifiedInfo(key string, h http.Header) Info {
	info := Info{Key: key, ETag: h.Get("ETag"), CacheControl: h.Get("Cache-Control")}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.LastModified = t
	}
	return info
}

// checkS3Key refuses, before any request, keys no S3 bucket stores.
func checkS3Key(op, key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%s: empty key: %w", op, ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%s %s: %w", op, QuoteKey(key), ErrKeyTooLong)
	}
	return nil
}
