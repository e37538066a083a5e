// Package r2gate is an edge gateway for object storage: a Caddy v2 module
// that serves a Cloudflare R2 (or any S3-compatible) bucket with correct
// HTTP semantics. Importing this package registers the module, so
//
//	xcaddy build --with github.com/r2gate/r2gate
//
// builds a Caddy with it. The code lives in caddymodule/ and the libraries
// beside it.
package r2gate

import _ "github.com/r2gate/r2gate/caddymodule"
