// Package auth verifies the credentials r2gate accepts on protected paths:
// native signed URLs, Cloudflare-style timed HMAC tokens and JWTs. It has no
// Caddy dependency; the caddymodule package maps its errors to HTTP answers.
package auth

import (
	"errors"
	"net/http"
)

// ErrNoCredential means the request carries no credential at all. The caller
// answers 401 (with WWW-Authenticate: Bearer when JWT is configured).
var ErrNoCredential = errors.New("auth: no credential")

// Reasons are the one-line explanations sent to the client with a 403. They
// never contain key material or expected signatures.
const (
	ReasonExpired      = "expired"
	ReasonBadSignature = "bad signature"
	ReasonUnknownKey   = "unknown key"
	ReasonMalformed    = "malformed"
	ReasonOutOfScope   = "out of scope"
	ReasonInvalidToken = "invalid token"
	ReasonReadOnly     = "read only"
	ReasonWrongMethod  = "not signed for this method"
)

// Error is a rejected credential. Reason is safe to show to the client;
// Detail is for logs and is also free of secrets.
type Error struct {
	Reason string
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "auth: " + e.Reason
	}
	return "auth: " + e.Reason + ": " + e.Detail
}

func reject(reason, detail string) *Error { return &Error{Reason: reason, Detail: detail} }

// Reason returns the client-facing reason of err, or "" if err is not a
// rejected credential.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// StatusCode maps a verification result to an HTTP status: 200 for nil, 401
// for ErrNoCredential, 403 for a rejected credential, 500 otherwise.
func StatusCode(err error) int {
	var e *Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNoCredential):
		return http.StatusUnauthorized
	case errors.As(err, &e):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}
