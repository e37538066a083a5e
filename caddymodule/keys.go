package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is the longest object key S3 and R2 accept, in bytes.
const maxKeyLen = 1024

// keyError is a request path that cannot become an object key.
type keyError struct {
	status int
	reason string
}

func (e *keyError) Error() string { return e.reason }

// objectKey maps a request path to an object key (see the Handler doc for
// the rules). dir reports that the path names a folder (it ends in `/`), so
// the key is a prefix to which an index name is appended.
func (h *Handler) objectKey(urlPath string) (key string, dir bool, err error) {
	return mapKey(urlPath, h.StripPrefix, h.Prefix)
}

// mapKey is objectKey without the Handler: urlPath is the percent-decoded
// request path.
func mapKey(urlPath, stripPrefix, prefix string) (key string, dir bool, err error) {
	if !utf8.ValidString(urlPath) {
		return "", false, &keyError{http.StatusBadRequest, "path is not valid UTF-8"}
	}
	for _, c := range urlPath {
		if c < 0x20 || c == 0x7f {
			return "", false, &keyError{http.StatusBadRequest, "path contains a control character"}
		}
	}
	if !strings.HasPrefix(urlPath, "/") {
		urlPath = "/" + urlPath
	}
	if stripPrefix != "" {
		sp := strings.TrimSuffix(stripPrefix, "/")
		if rest, ok := strings.CutPrefix(urlPath, sp); ok && (rest == "" || rest[0] == '/') {
			urlPath = rest
			if urlPath == "" {
				urlPath = "/"
			}
		}
	}
	for seg := range strings.SplitSeq(urlPath, "/") {
		if seg == "." || seg == ".." {
			return "", false, &keyError{http.StatusBadRequest, "path contains a . or .. segment"}
		}
	}
	key = prefix + urlPath[1:]
	if len(key) > maxKeyLen {
		return "", false, &keyError{http.StatusRequestURITooLong, "path is too long for an object key"}
	}
	return key, key == "" || strings.HasSuffix(key, "/"), nil
}

// checkIndexName refuses index names that would change the folder.
func checkIndexName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("r2gate: invalid index name %q", name)
	}
	return nil
}

// statusOf returns the HTTP status a key error carries.
func statusOf(err error) int {
	var ke *keyError
	if errors.As(err, &ke) {
		return ke.status
	}
	return http.StatusBadRequest
}
