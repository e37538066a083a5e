package caddymodule

// What the admin purge API (admin.go) and the purge webhook (webhook.go)
// share: the body limit, reading the body, the JSON answers and the check
// of a key.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

const (
	// purgeMaxBody bounds the body of a purge request (admin API and
	// webhook).
	purgeMaxBody = 1 << 20
	// purgeMaxItems bounds the keys plus prefixes of one admin purge.
	purgeMaxItems = 10000
)

// checkPurgeKey refuses keys no object can have.
func checkPurgeKey(k string) error {
	if strings.IndexByte(k, 0) >= 0 {
		return fmt.Errorf("key %q contains NUL", k)
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("key %q is not valid UTF-8", k)
	}
	return nil
}

// errPurgeBodyTooLarge: the request body is over purgeMaxBody.
var errPurgeBodyTooLarge = fmt.Errorf("request body larger than %d bytes", purgeMaxBody)

// readPurgeBody reads at most purgeMaxBody bytes of the request body.
func readPurgeBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > purgeMaxBody {
		return nil, errPurgeBodyTooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, purgeMaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errPurgeBodyTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return data, nil
}

// purgeBodyStatus is the status that answers an error of readPurgeBody,
// the same at the admin API and the webhook: 413 for a body over
// purgeMaxBody, 400 for one that could not be read.
func purgeBodyStatus(err error) int {
	if errors.Is(err, errPurgeBodyTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// writePurgeJSON answers with status and v as JSON.
func writePurgeJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding answer: %w", err)
	}
	data = append(data, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(data) // the status is sent; a failed write means the client left
	return nil
}
