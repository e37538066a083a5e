package origin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestPathStyleEndpoint(t *testing.T) {
	for _, tc := range []struct{ base, bucket, path, raw string }{
		{"https://acc.r2.cloudflarestorage.com", "assets", "/assets", "/assets"},
		{"http://127.0.0.1:7070/", "b", "/b", "/b"},
		{"https://gw.example/s3/", "my.bucket", "/s3/my.bucket", "/s3/my.bucket"},
		{"https://gw.example/a%20b", "x", "/a b/x", "/a%20b/x"},
	} {
		u, _ := url.Parse(tc.base)
		e := &pathStyleEndpoint{base: *u}
		got, err := e.ResolveEndpoint(context.Background(), s3.EndpointParameters{Bucket: aws.String(tc.bucket), Region: aws.String("auto")})
		if err != nil {
			t.Fatal(err)
		}
		if got.URI.Path != tc.path || got.URI.RawPath != tc.raw || got.URI.Host != u.Host || got.URI.Scheme != u.Scheme {
			t.Errorf("%s + %s: %s (path %q, raw %q), want path %q raw %q", tc.base, tc.bucket, got.URI.String(), got.URI.Path, got.URI.RawPath, tc.path, tc.raw)
		}
		opts, ok := smithyauth.GetAuthOptions(&got.Properties)
		if !ok || len(opts) != 1 || opts[0].SchemeID != smithyauth.SchemeIDSigV4 {
			t.Fatalf("auth options %+v, want one SigV4", opts)
		}
		sp := &opts[0].SignerProperties
		if name, _ := smithyhttp.GetSigV4SigningName(sp); name != "s3" {
			t.Errorf("signing name %q, want s3", name)
		}
		if region, _ := smithyhttp.GetSigV4SigningRegion(sp); region != "auto" {
			t.Errorf("signing region %q, want auto", region)
		}
		if d, _ := smithyhttp.GetDisableDoubleEncoding(sp); !d {
			t.Error("double encoding not disabled: keys with escapes would fail their signature")
		}
	}
	if _, err := NewS3(context.Background(), S3Config{Bucket: "b", Endpoint: "ftp://x", AccessKey: "a", SecretKey: "s"}); err == nil {
		t.Error("NewS3 accepted an ftp endpoint")
	}
}

func TestNotModifiedInfoReadsThe304Headers(t *testing.T) {
	h := http.Header{}
	h.Set("ETag", `"abc"`)
	h.Set("Last-Modified", "Wed, 25 Nov 2026 10:00:00 GMT")
	h.Set("Cache-Control", "max-age=60")
	got := notModifiedInfo("k", h)
	want := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if got.Key != "k" || got.ETag != `"abc"` || !got.LastModified.Equal(want) || got.CacheControl != "max-age=60" {
		t.Errorf("notModifiedInfo = %+v", got)
	}
	if got := notModifiedInfo("k", nil); got.ETag != "" || !got.LastModified.IsZero() {
		t.Errorf("no headers: %+v", got)
	}
	err := NotModified("k", got)
	var nm *NotModifiedError
	if !errors.Is(err, ErrNotModified) || !errors.As(err, &nm) || Status(err) != http.StatusNotModified {
		t.Errorf("NotModified = %v: not an ErrNotModified", err)
	}
}
