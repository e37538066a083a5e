package origin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/r2gate/r2gate/origin"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil is 200", nil, http.StatusOK},
		{"not found is 404", origin.ErrNotFound, http.StatusNotFound},
		{"not modified is 304", origin.ErrNotModified, http.StatusNotModified},
		{"precondition failed is 412", origin.ErrPreconditionFailed, http.StatusPreconditionFailed},
		{"range not satisfiable is 416", origin.ErrRangeNotSatisfiable, http.StatusRequestedRangeNotSatisfiable},
		{"invalid key is 400", origin.ErrInvalidKey, http.StatusBadRequest},
		{"timeout is 504", origin.ErrTimeout, http.StatusGatewayTimeout},
		{"deadline exceeded is 504", context.DeadlineExceeded, http.StatusGatewayTimeout},
		{"wrapped sentinel keeps its status", fmt.Errorf("get %q: %w", "k", origin.ErrNotFound), http.StatusNotFound},
		{"doubly wrapped timeout is 504", fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", origin.ErrTimeout)), http.StatusGatewayTimeout},
		{"any other error is 502", errors.New("bucket answered 403 AccessDenied"), http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := origin.Status(tc.err); got != tc.want {
				t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestR2Endpoint(t *testing.T) {
	if got, want := origin.R2Endpoint("abc123"), "https://abc123.r2.cloudflarestorage.com"; got != want {
		t.Errorf("R2Endpoint = %q, want %q", got, want)
	}
}
