package origin_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/origin"
)

// checkRefusal checks that err maps to want and says nothing it must not:
// not the whole of a long key, nor anything of the bucket's error body.
func checkRefusal(t *testing.T, what string, err error, want int, key string) {
	t.Helper()
	if got := origin.Status(err); got != want {
		t.Errorf("%s = %v (status %d), want %d", what, err, got, want)
	}
	if err == nil {
		return
	}
	msg := err.Error()
	if len(key) > 200 && strings.Contains(msg, key[:200]) {
		t.Errorf("%s: the error holds the whole %d-byte key (%d bytes of message)", what, len(key), len(msg))
	}
	for _, leak := range []string{"REQ-ID-42", "HOST-ID-42", "<Error>", "do not show this"} {
		if strings.Contains(msg, leak) {
			t.Errorf("%s: the error holds %q from the bucket's answer: %s", what, leak, msg)
		}
	}
}

// Refusals that are the client's fault are 4xx, not 502 (issue 7, bug 7:
// a key segment of 256 bytes was answered 502, its whole key logged).
func TestKeyTooLong(t *testing.T) {
	forEachBucket(t, func(t *testing.T, f fixture) {
		t.Run("segment longer than the bucket's file system takes is 414", func(t *testing.T) {
			f.put(t, "dir/ok", []byte("ok"), origin.PutOptions{}) // the folder exists
			key := f.key("dir/" + strings.Repeat("k", 300))
			obj, err := f.b.Get(t.Context(), key, origin.GetOptions{})
			if err == nil {
				obj.Body.Close()
			}
			checkRefusal(t, "Get", err, http.StatusRequestURITooLong, key)
			_, err = f.b.Head(t.Context(), key)
			checkRefusal(t, "Head", err, http.StatusRequestURITooLong, key)
			_, err = f.b.Put(t.Context(), key, strings.NewReader("x"), 1, origin.PutOptions{})
			checkRefusal(t, "Put", err, http.StatusRequestURITooLong, key)
		})

		t.Run("key over 1024 bytes is 414", func(t *testing.T) {
			key := f.key(strings.Repeat("seg/", origin.MaxKeyLen/4) + "x")
			for op, err := range s3Ops(t, f.b, key) {
				if errors.Is(err, origin.ErrNotFound) && op == "Delete" {
					continue
				}
				checkRefusal(t, op, err, http.StatusRequestURITooLong, key)
				if !errors.Is(err, origin.ErrInvalidKey) {
					t.Errorf("%s = %v, want an ErrInvalidKey too", op, err)
				}
			}
		})
	})
}

func TestS3KeyOver1024BytesMakesNoRequest(t *testing.T) {
	proxy, err := s3test.NewProxy(s3server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	b := newS3(t, proxy.Endpoint)
	key := strings.Repeat("k", origin.MaxKeyLen+1)
	for op, err := range s3Ops(t, b, key) {
		checkRefusal(t, op, err, http.StatusRequestURITooLong, key)
	}
	if reqs := proxy.Requests(); len(reqs) != 0 {
		t.Errorf("bucket saw %d requests for a key over %d bytes, want none", len(reqs), origin.MaxKeyLen)
	}
	if got := origin.QuoteKey(key); len(got) > 200 || !strings.Contains(got, "1025 bytes") {
		t.Errorf("QuoteKey of a 1025-byte key = %q, want it cut, with the length", got)
	}
}

// TestS3RefusalsByCause answers every request with one S3 error and
// checks the status each maps to: the client's fault is 400 or 414, the
// operator's or the bucket's is 502. HEAD answers carry no error code, so
// a 400 to a HEAD is asked again as a one-byte GET to learn it.
func TestS3RefusalsByCause(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   int
	}{
		{400, "KeyTooLongError", http.StatusRequestURITooLong},
		{400, "InvalidArgument", http.StatusBadRequest},
		{400, "InvalidURI", http.StatusBadRequest},
		{400, "AuthorizationHeaderMalformed", http.StatusBadGateway}, // a wrong region
		{400, "ExpiredToken", http.StatusBadGateway},
		{400, "SomethingNew", http.StatusBadGateway},
		{403, "AccessDenied", http.StatusBadGateway},
		{403, "SignatureDoesNotMatch", http.StatusBadGateway},
		{403, "InvalidAccessKeyId", http.StatusBadGateway},
		{500, "InternalError", http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			sb := newScriptedBucket(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Amz-Request-Id", "REQ-ID-42")
				w.Header().Set("X-Amz-Id-2", "HOST-ID-42")
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tc.status)
				if r.Method != http.MethodHead {
					w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + tc.code +
						`</Code><Message>do not show this</Message><RequestId>REQ-ID-42</RequestId><HostId>HOST-ID-42</HostId></Error>`))
				}
			})
			b := sb.open(t, 0)
			key := "dir/" + strings.Repeat("k", 300)
			for op, err := range s3Ops(t, b, key) {
				checkRefusal(t, op, err, tc.want, key)
			}
		})
	}
}

func TestShortKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"short/key.txt", "short/key.txt"},
		{strings.Repeat("a", 96), strings.Repeat("a", 96)},
		{strings.Repeat("a", 97), strings.Repeat("a", 96) + "…"},
		{"a" + strings.Repeat("é", 100), "a" + strings.Repeat("é", 47) + "…"}, // cut before a split character
	} {
		if got := origin.ShortKey(tc.key); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("ShortKey(%d bytes) = %q, want %q", len(tc.key), got, tc.want)
		}
	}
	if got, want := origin.QuoteKey(strings.Repeat("a", 97)), `"`+strings.Repeat("a", 96)+`…" (97 bytes)`; got != want {
		t.Errorf("QuoteKey = %s, want %s", got, want)
	}
}
