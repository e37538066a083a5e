package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// How S3 calls are bounded in time. S3Config.Timeout is the longest wait
// for the bucket's answer to a Head, Get or Delete, retries included: a
// timer cancels the call when it runs out before the answer, and a failed
// attempt is retried (once) only while a quarter of the timeout is left.
// Once a Get's answer has come, its body is bounded by the stall timeout
// of each read (idleTimeoutConn), not by the call's.

const (
	// maxAttempts is how many times a call is sent at most.
	maxAttempts = 2
	// retryBackoff bounds the pause before a retry (with jitter): a client
	// is waiting.
	retryBackoff = 50 * time.Millisecond
)

// errCallTimeout is the cause of a call canceled by its timer.
var errCallTimeout = errors.New("bucket call timed out")

// errNoTimeToRetry stops a retry that could not finish within the call's
// timeout; the attempt's own error is returned with it.
var errNoTimeToRetry = errors.New("no time left to retry")

// callEndKey is the context key of a call's due time, for boundedRetryer.
type callEndKey struct{}

// callBound is one call's timer.
type callBound struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// bound starts the timer of one call. The call must use bc.ctx, then call
// done when the answer (or the error) is there, and release once it no
// longer needs the context: for a Get, when its body is closed.
func (b *S3) bound(ctx context.Context) *callBound {
	cctx, cancel := context.WithCancelCause(ctx)
	bc := &callBound{cancel: cancel}
	bc.ctx = context.WithValue(cctx, callEndKey{}, time.Now().Add(b.timeout))
	bc.timer = time.AfterFunc(b.timeout, func() { cancel(errCallTimeout) })
	return bc
}

// done stops the timer and returns the call's error as the package's: a
// call the timer canceled is ErrTimeout, even when its answer came just
// as the timer fired (then body, if any, is closed).
func (bc *callBound) done(b *S3, op, key string, err error, body io.Closer) error {
	fired := !bc.timer.Stop()
	if fired && err == nil {
		if body != nil {
			body.Close()
		}
		err = context.Canceled
	}
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(bc.ctx), errCallTimeout) && errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: no answer within %v: %w", op, QuoteKey(key), b.timeout, ErrTimeout)
	}
	return mapS3Error(op, key, err)
}

// release frees the call's context.
func (bc *callBound) release() { bc.cancel(nil) }

// boundedBody is a Get's body, which holds the call's context until it is
// closed.
type boundedBody struct {
	io.ReadCloser
	bc *callBound
}

func (r *boundedBody) Close() error {
	err := r.ReadCloser.Close()
	r.bc.release()
	return err
}

// newRetryer is the SDK's standard retryer (which errors are retryable,
// its retry quota) with at most maxAttempts attempts, a short backoff,
// and no retry that could not finish within the call's timeout.
func newRetryer(timeout time.Duration) aws.Retryer {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
			return rand.N(retryBackoff), nil
		})
	})
	return &boundedRetryer{RetryerV2: std, minLeft: max(timeout/4, 2*retryBackoff)}
}

// boundedRetryer refuses a retry when less than minLeft is left of the
// call's timeout (known from its context; calls without one, such as
// Put, retry as the standard retryer does).
type boundedRetryer struct {
	aws.RetryerV2
	minLeft time.Duration
}

// GetRetryToken implements aws.Retryer. The SDK asks for it after a
// retryable failure and before the backoff; an error ends the call with
// the attempt's error joined to it.
func (r *boundedRetryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if end, ok := ctx.Value(callEndKey{}).(time.Time); ok && time.Until(end) < r.minLeft {
		return nil, errNoTimeToRetry
	}
	return r.RetryerV2.GetRetryToken(ctx, opErr)
}
