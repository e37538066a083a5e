package caddymodule_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/r2gate/r2gate/internal/s3test"
	"github.com/r2gate/r2gate/resize"
)

// resizeSite is a Caddyfile with one r2gate site over endpoint that resizes
// to the widths 100, 200, 400 and 800 (extra goes into the resize block).
func resizeSite(endpoint, extraResize, extraCache string) func(admin, port string) string {
	return func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %s
	persist_config off
	metrics
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	r2gate {
		%s
		cache {
			memory 64MiB
			%s
		}
		resize {
			widths 100 200 400 800
			%s
		}
	}
}
`, admin, port, bucketLines(endpoint), extraCache, extraResize)
	}
}

// gradient is a w×h colour gradient, so resampling has work.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}

// testPhoto is a w×h JPEG: a colour gradient, so resampling has work.
func testPhoto(t *testing.T, w, h int) []byte {
	t.Helper()
	img := gradient(w, h)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testPNG is a w×h PNG of testPhoto's gradient.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := gradient(w, h)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// putTyped writes key with a Content-Type and returns its ETag.
func putTyped(t *testing.T, key, contentType string, body []byte, meta map[string]string) string {
	t.Helper()
	out, err := env.s3.Client("").PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(contentType), Metadata: meta,
	})
	if err != nil {
		t.Fatalf("uploading %s: %v", key, err)
	}
	return aws.ToString(out.ETag)
}

// headObject returns the bucket's metadata of key, or nil when it is
// missing.
func headObject(t *testing.T, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := env.s3.Client("").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	var nf *types.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		t.Fatalf("HEAD %s: %v", key, err)
	}
	return out
}

// awaitObject waits until key is in the bucket and ok says it is what
// the test waits for.
func awaitObject(t *testing.T, key string, ok func(*s3.HeadObjectOutput) bool) *s3.HeadObjectOutput {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h := headObject(t, key); h != nil && ok(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared in the bucket as expected", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fetchImage GETs url and decodes the body as an image.
func fetchImage(t *testing.T, url string, kv ...string) (*http.Response, []byte, image.Config, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil && resize.Sniff(body) != resize.SourceWebP {
		t.Fatalf("GET %s: the body is not an image: %v", url, err)
	}
	if resize.Sniff(body) == resize.SourceWebP {
		info, perr := resize.Probe(body, resize.DecodeLimits{})
		if perr != nil {
			t.Fatalf("GET %s: bad WebP: %v", url, perr)
		}
		cfg, format = image.Config{Width: info.Width, Height: info.Height}, "webp"
	}
	return resp, body, cfg, format
}

// metricValue returns the admin API's value of one metric sample, such
// as r2gate_variants_total{result="made"}, 0 when it is absent.
func metricValue(t *testing.T, admin, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == sample {
			v, _ := strconv.ParseFloat(value, 64)
			return v
		}
	}
	return 0
}

// awaitMetric waits until sample reaches want.
func awaitMetric(t *testing.T, admin, sample string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := metricValue(t, admin, sample)
		if v == want {
			return
		}
		if v > want || time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", sample, v, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bucketCalls returns the requests of method the bucket saw whose path
// ends in /key.
func bucketCalls(method, key string) int {
	n := 0
	for _, r := range env.proxy.Matching("/" + key) {
		if r.Method == method {
			n++
		}
	}
	return n
}

// TestResizeMakesAVariantWritesItBackAndASecondNodeServesIt is the
// headline: the first request resizes and writes the variant to the
// bucket with its metadata; every spelling of the variant is one variant;
// a second process sharing the bucket serves the stored variant without
// fetching the source.
func TestResizeMakesAVariantWritesItBackAndASecondNodeServesIt(t *testing.T) {
	key := uniqueKey(t, "photo.jpg")
	srcETag := putTyped(t, key, "image/jpeg", testPhoto(t, 1200, 800), nil)
	_, _, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))

	resp, body, cfg, format := fetchImage(t, base+"/"+key+"?w=400")
	if cfg.Width != 400 || cfg.Height != 267 || format != "jpeg" || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("?w=400 gave a %dx%d %s (%s), want a 400x267 JPEG", cfg.Width, cfg.Height, format, resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("Etag")
	if !strings.HasPrefix(etag, `"rv`) || etag == srcETag {
		t.Errorf("variant ETag %q, want one derived from the source's", etag)
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=variant-resized") {
		t.Errorf("first answer Cache-Status %q, want detail=variant-resized", cs)
	}
	if resp.Header.Get("Last-Modified") == "" {
		t.Error("no Last-Modified on the variant")
	}

	// The variant object, written after the answer.
	stored := awaitObject(t, key+"?w=400", func(h *s3.HeadObjectOutput) bool { return h.Metadata["r2gate-etag"] != "" })
	if aws.ToString(stored.ContentType) != "image/jpeg" || stored.Metadata["r2gate-source-etag"] != srcETag ||
		stored.Metadata["r2gate-variant"] != "w=400" || stored.Metadata["r2gate-width"] != "400" || stored.Metadata["r2gate-height"] != "267" {
		t.Errorf("stored variant: type %q, metadata %v", aws.ToString(stored.ContentType), stored.Metadata)
	}

	// One variant, however it is spelled: a hit with the same ETag.
	for _, u := range []string{
		"/" + key + "?w=400&q=85", "/" + key + "?q=85&w=400&v=3", "/cdn-cgi/image/width=400/" + key,
		"/cdn-cgi/image/w=400,quality=85/" + key, "/" + key + "?w=200&dpr=2",
	} {
		r, b, _, _ := fetchImage(t, base+u)
		if r.Header.Get("Etag") != etag || !bytes.Equal(b, body) {
			t.Errorf("%s: ETag %q, want the same variant %q", u, r.Header.Get("Etag"), etag)
		}
		if cs := r.Header.Get("Cache-Status"); !strings.Contains(cs, "; hit") {
			t.Errorf("%s: Cache-Status %q, want a hit", u, cs)
		}
	}
	// A variant hit answers ranges and conditions as an object hit does.
	req, _ := http.NewRequest(http.MethodGet, base+"/"+key+"?w=400", nil)
	req.Header.Set("If-None-Match", etag)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match on the variant: %v %v, want 304", r.StatusCode, err)
	}
	req.Header.Del("If-None-Match")
	req.Header.Set("Range", "bytes=0-9")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusPartialContent {
		t.Errorf("Range on the variant: %v %v, want 206", r.StatusCode, err)
	}

	// A second node: the stored variant, no source GET.
	env.proxy.Reset()
	_, _, base2 := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	r2, b2, _, _ := fetchImage(t, base2+"/"+key+"?w=400")
	if r2.Header.Get("Etag") != etag || !bytes.Equal(b2, body) {
		t.Errorf("second node: ETag %q and %d bytes, want %q and the first node's bytes", r2.Header.Get("Etag"), len(b2), etag)
	}
	if cs := r2.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=variant-stored") {
		t.Errorf("second node Cache-Status %q, want detail=variant-stored", cs)
	}
	if n := bucketCalls(http.MethodGet, key); n != 0 {
		t.Errorf("the second node fetched the source %d times, want 0", n)
	}
	if n := bucketCalls(http.MethodPut, key+"?w=400"); n != 0 {
		t.Errorf("the second node wrote the variant %d times, want 0", n)
	}
}

// TestResizeCoalescesConcurrentRequests: 50 requests at once for a new
// variant make one source GET, one resize and one bucket write.
func TestResizeCoalescesConcurrentRequests(t *testing.T) {
	key := uniqueKey(t, "crowd.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 1600, 1000), nil)
	_, admin, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	env.proxy.Reset()

	const n = 50
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.Get(base + "/" + key + "?w=200")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			bodies[i], errs[i] = io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				errs[i] = fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(bodies[i], bodies[0]) || len(bodies[0]) == 0 {
			t.Fatalf("request %d: %v (%d bytes), want the same variant as the others", i, errs[i], len(bodies[i]))
		}
	}
	awaitMetric(t, admin, `r2gate_variant_writes_total{result="written"}`, 1)
	if got := bucketCalls(http.MethodGet, key); got != 1 {
		t.Errorf("%d source GETs, want 1", got)
	}
	if got := metricValue(t, admin, `r2gate_variants_total{result="made"}`); got != 1 {
		t.Errorf("%v resizes, want 1", got)
	}
	if got := bucketCalls(http.MethodPut, key+"?w=200"); got != 1 {
		t.Errorf("%d variant writes, want 1", got)
	}
}

// TestResizeFollowsTheSource: a replaced source makes its old variants
// stale the next time they are revalidated (cache and bucket), and a
// deleted source makes them 404 though the variant object is still in
// the bucket.
func TestResizeFollowsTheSource(t *testing.T) {
	key := uniqueKey(t, "changing.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 1200, 800), nil)
	_, _, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", "ttl 1s"))

	r1, _, cfg, _ := fetchImage(t, base+"/"+key+"?w=400")
	if cfg.Height != 267 {
		t.Fatalf("first variant is %dx%d, want 400x267", cfg.Width, cfg.Height)
	}
	awaitObject(t, key+"?w=400", func(h *s3.HeadObjectOutput) bool { return h.Metadata["r2gate-etag"] == r1.Header.Get("Etag") })

	newETag := putTyped(t, key, "image/jpeg", testPhoto(t, 800, 800), nil)
	time.Sleep(1100 * time.Millisecond) // the cached variant goes stale
	r2, _, cfg, _ := fetchImage(t, base+"/"+key+"?w=400")
	if cfg.Width != 400 || cfg.Height != 400 || r2.Header.Get("Etag") == r1.Header.Get("Etag") {
		t.Fatalf("after replacing the source: %dx%d, ETag %q; want a new 400x400 variant", cfg.Width, cfg.Height, r2.Header.Get("Etag"))
	}
	awaitObject(t, key+"?w=400", func(h *s3.HeadObjectOutput) bool { return h.Metadata["r2gate-source-etag"] == newETag })

	// Unchanged source: revalidation keeps the variant (304 from the
	// variant source after a HEAD), nothing is resized again.
	time.Sleep(1100 * time.Millisecond)
	env.proxy.Reset()
	r3, _, _, _ := fetchImage(t, base+"/"+key+"?w=400")
	if r3.Header.Get("Etag") != r2.Header.Get("Etag") || bucketCalls(http.MethodGet, key) != 0 {
		t.Errorf("revalidating an unchanged variant: ETag %q (want %q), %d source GETs (want 0)",
			r3.Header.Get("Etag"), r2.Header.Get("Etag"), bucketCalls(http.MethodGet, key))
	}

	if _, err := env.s3.Client("").DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	resp, err := http.Get(base + "/" + key + "?w=400")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("variant of a deleted source: %d, want 404", resp.StatusCode)
	}
	if headObject(t, key+"?w=400") == nil {
		t.Error("the test expected the stale variant object to be still in the bucket")
	}
	// A fresh node never serves that stored variant either.
	_, _, base2 := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	if resp, err := http.Get(base2 + "/" + key + "?w=400"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("second node, deleted source: %v %v, want 404", resp.StatusCode, err)
	}
}

// TestResizeRefusesBadInputClearly: bad options are 400 before any bucket
// request; non-images, corrupt images and bombs are 4xx, never 500, and
// nothing is written back; SVG is served unchanged.
func TestResizeRefusesBadInputClearly(t *testing.T) {
	prefix := uniqueKey(t, "")
	text, corrupt, bomb, svg := prefix+"notes.jpg", prefix+"broken.jpg", prefix+"bomb.png", prefix+"logo.svg"
	putTyped(t, text, "image/jpeg", []byte("this is not an image at all\n"), nil)
	photo := testPhoto(t, 300, 200)
	putTyped(t, corrupt, "image/jpeg", photo[:len(photo)/2], nil)
	putTyped(t, bomb, "image/png", pngBomb(t), nil)
	svgBody := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`)
	putTyped(t, svg, "image/svg+xml", svgBody, nil)
	_, _, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	env.proxy.Reset()

	for _, c := range []struct {
		path   string
		status int
	}{
		{"/" + text + "?w=abc", 400},
		{"/" + text + "?w=123", 400}, // not in widths
		{"/" + text + "?w=100&fit=sideways", 400},
		{"/" + text + "?h=100", 400}, // a height without a width
		// With widths, the other open-ended options come from lists
		// (none here): else each value is a new variant in the bucket.
		{"/" + text + "?w=100&h=100", 400},
		{"/" + text + "?w=100&q=84", 400},
		{"/" + text + "?w=100&background=%23123456", 400},
		{"/" + text + "?w=100&h=100&fit=cover&gravity=0.3x0.7", 400},
		{"/cdn-cgi/image/width=100,sharpen=2/" + text, 400},
		{"/cdn-cgi/image/width=100/https://example.com/a.jpg", 400},
		{"/cdn-cgi/image/width=100//example.com/a.jpg", 400},
	} {
		resp, body := rawGet(t, base, c.path)
		if resp.StatusCode != c.status || len(body) > 200 || strings.Contains(body, "<") {
			t.Errorf("%s: %d %q, want %d with a short plain body", c.path, resp.StatusCode, body, c.status)
		}
	}
	if n := len(env.proxy.Requests()); n != 0 {
		t.Errorf("bad options made %d bucket requests, want 0", n)
	}

	for _, c := range []struct {
		key    string
		status int
	}{{text, 415}, {corrupt, 422}, {bomb, 422}} {
		resp, body := rawGet(t, base, "/"+c.key+"?w=100")
		if resp.StatusCode != c.status || len(body) > 200 {
			t.Errorf("%s?w=100: %d %q, want %d", c.key, resp.StatusCode, body, c.status)
		}
	}
	resp, body := rawGet(t, base, "/"+svg+"?w=100")
	if resp.StatusCode != 200 || body != string(svgBody) || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("SVG ?w=100: %d %q %q, want the SVG unchanged", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// onerror=redirect sends the browser to the source instead.
	resp, _ = rawGet(t, base, "/cdn-cgi/image/width=100,onerror=redirect/"+text)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/"+text {
		t.Errorf("onerror=redirect: %d to %q, want 302 to /%s", resp.StatusCode, resp.Header.Get("Location"), text)
	}
	time.Sleep(200 * time.Millisecond) // a write-back would have started by now
	for _, k := range []string{text, corrupt, bomb, svg} {
		if bucketCalls(http.MethodPut, k+"?w=100") != 0 || headObject(t, k+"?w=100") != nil {
			t.Errorf("a failed or unchanged variant of %s was written to the bucket", k)
		}
	}
}

// pngBomb is a tiny PNG whose header declares 100000×100000 pixels.
func pngBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR's width and height are at bytes 16..23; the CRC is not fixed:
	// the size check comes first.
	for i, v := range []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0} {
		b[16+i] = v
	}
	return b
}

// TestResizeQueueFullAnswers503WhileHitsAnswer: with one resize at a time
// and no waiting room, a resize that finds the slot taken is 503 with
// Retry-After, while cached objects and variants still answer.
func TestResizeQueueFullAnswers503WhileHitsAnswer(t *testing.T) {
	// The big source is a PNG: no shrink-on-load, so its resize takes
	// long enough (a full 20 MP decode) for the others to find it running.
	big, small := uniqueKey(t, "big.png"), uniqueKey(t, "small.jpg")
	putTyped(t, big, "image/png", testPNG(t, 5000, 4000), nil)
	putTyped(t, small, "image/jpeg", testPhoto(t, 400, 300), nil)
	qualities := make([]string, 100) // q=1 … q=100: new variants to ask for
	for i := range qualities {
		qualities[i] = strconv.Itoa(i + 1)
	}
	_, _, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint,
		"concurrency 1\n\t\t\tqueue 0 1s\n\t\t\tqualities "+strings.Join(qualities, " "), ""))
	fetchImage(t, base+"/"+small+"?w=100") // a cached variant
	fetchImage(t, base+"/"+small)          // and a cached object
	fetchImage(t, base+"/"+big)            // the big source, cached: its resize starts at once

	// The big resize holds the only slot for a second or more. A small
	// resize may still grab the slot first; then the big one is the one
	// refused, and is asked again.
	saw503 := false
	q := 0
	for attempt := 0; attempt < 5 && !saw503; attempt++ {
		done := make(chan int, 1)
		go func() {
			resp, err := http.Get(base + "/" + big + "?w=100")
			if err != nil {
				done <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		time.Sleep(100 * time.Millisecond)
		bigStatus := 0
		for bigStatus == 0 && !saw503 {
			select {
			case bigStatus = <-done:
				continue
			default:
			}
			q++
			if q > 100 {
				t.Fatal("ran out of new variants to ask for")
			}
			resp, body := rawGet(t, base, "/"+small+"?w=200&q="+strconv.Itoa(q)) // a new variant each time
			switch resp.StatusCode {
			case http.StatusServiceUnavailable:
				saw503 = true
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("503 without a Retry-After: %q", resp.Header.Get("Retry-After"))
				}
				if len(body) > 200 {
					t.Errorf("503 body %q", body)
				}
				// Hits do not wait behind the resize.
				for _, u := range []string{"/" + small + "?w=100", "/" + small} {
					r, _, _, _ := fetchImage(t, base+u)
					if !strings.Contains(r.Header.Get("Cache-Status"), "; hit") {
						t.Errorf("%s while the queue was full: Cache-Status %q, want a hit", u, r.Header.Get("Cache-Status"))
					}
				}
			case http.StatusOK:
				time.Sleep(10 * time.Millisecond)
			default:
				t.Fatalf("a resize during the big one: %d %q", resp.StatusCode, body)
			}
		}
		if saw503 {
			bigStatus = <-done
		}
		switch bigStatus {
		case http.StatusOK, http.StatusServiceUnavailable: // refused: asked again
		default:
			t.Fatalf("the big resize answered %d", bigStatus)
		}
		if saw503 && bigStatus != http.StatusOK {
			t.Errorf("the big resize answered %d after holding the slot, want 200", bigStatus)
		}
	}
	if !saw503 {
		t.Fatal("no resize found the queue full")
	}
}

// putsProxy is a proxy to the bucket server whose PUTs go through onPut
// first: it answers them itself (and returns true), or delays them.
func putsProxy(t *testing.T, onPut func(http.ResponseWriter) bool) string {
	t.Helper()
	target, _ := url.Parse(env.s3.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	addr, err := s3test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && onPut(w) {
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.ListenAndServe()
	t.Cleanup(func() { srv.Close() })
	return "http://" + addr
}

// failingPuts is a proxy to the bucket server that fails every PUT with
// 500, as a bucket refusing writes would.
func failingPuts(t *testing.T) string {
	return putsProxy(t, func(w http.ResponseWriter) bool {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return true
	})
}

// TestResizeFailingWriteStillServesTheVariant: a bucket that refuses the
// write-back costs nothing but a log line and a count.
func TestResizeFailingWriteStillServesTheVariant(t *testing.T) {
	key := uniqueKey(t, "readonly.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 800, 600), nil)
	_, admin, base := caddyOnFreePorts(t, resizeSite(failingPuts(t), "", ""))
	_, _, cfg, _ := fetchImage(t, base+"/"+key+"?w=100")
	if cfg.Width != 100 {
		t.Fatalf("variant is %d wide, want 100", cfg.Width)
	}
	awaitMetric(t, admin, `r2gate_variant_writes_total{result="failed"}`, 1)
	if headObject(t, key+"?w=100") != nil {
		t.Error("the variant is in the bucket though every write failed")
	}
	if _, _, cfg, _ := fetchImage(t, base+"/"+key+"?w=100"); cfg.Width != 100 {
		t.Errorf("after the failed write: %d wide, want 100", cfg.Width)
	}
}

// TestResizeNeverOverwritesAForeignObject: an object that happens to be
// named like a variant, without r2gate's metadata, is neither served as
// the variant nor overwritten.
func TestResizeNeverOverwritesAForeignObject(t *testing.T) {
	key := uniqueKey(t, "shared.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 800, 600), nil)
	foreign := []byte("uploaded by someone else")
	putTyped(t, key+"?w=100", "text/plain", foreign, nil)
	_, admin, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))

	_, _, cfg, _ := fetchImage(t, base+"/"+key+"?w=100")
	if cfg.Width != 100 {
		t.Fatalf("variant is %d wide, want 100", cfg.Width)
	}
	awaitMetric(t, admin, `r2gate_variant_writes_total{result="foreign"}`, 1)
	out, err := env.s3.Client("").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key + "?w=100")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); !bytes.Equal(b, foreign) {
		t.Errorf("the foreign object was overwritten with %d bytes", len(b))
	}
}

// TestResizeFormatAuto: format=auto answers with Vary: Accept, keys the
// cache on the negotiated format (not the raw header), and picks WebP for
// browsers that list it when this build encodes WebP.
func TestResizeFormatAuto(t *testing.T) {
	key := uniqueKey(t, "auto.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 800, 600), nil)
	_, _, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	u := base + "/" + key + "?w=200&format=auto"

	chrome := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	r1, _, _, f1 := fetchImage(t, u, "Accept", chrome)
	r2, _, _, _ := fetchImage(t, u, "Accept", "image/webp,*/*")
	r3, _, _, f3 := fetchImage(t, u, "Accept", "image/*,*/*;q=0.8")
	for _, r := range []*http.Response{r1, r2, r3} {
		if !strings.Contains(r.Header.Get("Vary"), "Accept") {
			t.Errorf("format=auto answer without Vary: Accept (%q)", r.Header.Get("Vary"))
		}
	}
	if r1.Header.Get("Etag") != r2.Header.Get("Etag") {
		t.Errorf("two Accept headers listing WebP gave two variants: %q, %q", r1.Header.Get("Etag"), r2.Header.Get("Etag"))
	}
	if !strings.Contains(r2.Header.Get("Cache-Status"), "; hit") {
		t.Errorf("the second WebP-accepting request was not a hit: %q", r2.Header.Get("Cache-Status"))
	}
	if f3 != "jpeg" {
		t.Errorf("without WebP in Accept: %s, want the source's jpeg", f3)
	}
	wantWebP := resize.CanEncode(resize.FormatWebP)
	if (f1 == "webp") != wantWebP || (r1.Header.Get("Etag") == r3.Header.Get("Etag")) == wantWebP {
		t.Errorf("Accept with WebP gave %s (this build encodes WebP: %v)", f1, wantWebP)
	}
}

// TestResizeWriteBacksDrainAtShutdown: a variant write still running when
// Caddy is told to stop lands in the bucket before the process exits.
func TestResizeWriteBacksDrainAtShutdown(t *testing.T) {
	key := uniqueKey(t, "late.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 800, 600), nil)
	slow := putsProxy(t, func(http.ResponseWriter) bool {
		time.Sleep(time.Second)
		return false
	})
	p, admin, base := caddyOnFreePorts(t, resizeSite(slow, "", ""))
	fetchImage(t, base+"/"+key+"?w=100")
	if headObject(t, key+"?w=100") != nil {
		t.Fatal("the write landed before the stop: the test proves nothing")
	}
	if code, body := post(t, "http://"+admin+"/stop", ""); code != 200 {
		t.Fatalf("POST /stop: %d %s", code, body)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("caddy did not exit")
	}
	if h := headObject(t, key+"?w=100"); h == nil || h.Metadata["r2gate-etag"] == "" {
		t.Error("the variant write queued before the stop was lost")
	}
}

// TestResizePurgeTakesTheVariants: purging a source key through the admin
// API removes its cached variants; the next request finds the stored
// variant in the bucket.
func TestResizePurgeTakesTheVariants(t *testing.T) {
	key := uniqueKey(t, "purged.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 800, 600), nil)
	_, admin, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	fetchImage(t, base+"/"+key+"?w=100")
	awaitObject(t, key+"?w=100", func(h *s3.HeadObjectOutput) bool { return h.Metadata["r2gate-etag"] != "" })
	if r, _, _, _ := fetchImage(t, base+"/"+key+"?w=100"); !strings.Contains(r.Header.Get("Cache-Status"), "; hit") {
		t.Fatalf("before the purge: Cache-Status %q, want a hit", r.Header.Get("Cache-Status"))
	}
	if code, body := post(t, "http://"+admin+"/r2gate/purge", `{"keys":["`+key+`"]}`); code != 200 {
		t.Fatalf("purge: %d %s", code, body)
	}
	r, _, _, _ := fetchImage(t, base+"/"+key+"?w=100")
	if cs := r.Header.Get("Cache-Status"); strings.Contains(cs, "; hit") || !strings.Contains(cs, "detail=variant-stored") {
		t.Errorf("after the purge: Cache-Status %q, want a miss answered by the stored variant", cs)
	}
}

// TestResizeKeepsAnimations: an animated GIF stays animated, every frame
// resized; anim=false makes a still.
func TestResizeKeepsAnimations(t *testing.T) {
	key := uniqueKey(t, "spinner.gif")
	putTyped(t, key, "image/gif", testGIF(t, 400, 300, 4), nil)
	_, _, base := caddyOnFreePorts(t, resizeSite(env.proxy.Endpoint, "", ""))
	for _, c := range []struct {
		query  string
		frames int
	}{{"?w=100", 4}, {"?w=100&anim=false", 1}} {
		resp, body, cfg, format := fetchImage(t, base+"/"+key+c.query)
		g, err := gif.DecodeAll(bytes.NewReader(body))
		if err != nil || format != "gif" || resp.Header.Get("Content-Type") != "image/gif" {
			t.Fatalf("%s: %s %q %v, want a GIF", c.query, format, resp.Header.Get("Content-Type"), err)
		}
		if len(g.Image) != c.frames || cfg.Width != 100 || cfg.Height != 75 {
			t.Errorf("%s: %d frames of %dx%d, want %d of 100x75", c.query, len(g.Image), cfg.Width, cfg.Height, c.frames)
		}
	}
}

// testGIF is an animation of n w×h frames, each a different colour.
func testGIF(t *testing.T, w, h, n int) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	g := &gif.GIF{}
	for i := range n {
		img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for y := range h {
			for x := range w {
				img.SetColorIndex(x, y, uint8((x/20+y/20+i)%len(pal)))
			}
		}
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestResizeWithoutACacheCoalescesToo: a route without a cache still makes
// a new variant once for concurrent requests (the app's flight group), and
// serves it.
func TestResizeWithoutACacheCoalescesToo(t *testing.T) {
	key := uniqueKey(t, "nocache.jpg")
	putTyped(t, key, "image/jpeg", testPhoto(t, 1600, 1000), nil)
	_, admin, base := caddyOnFreePorts(t, func(admin, port string) string {
		return fmt.Sprintf(`{
	admin %s
	persist_config off
	metrics
}
http://127.0.0.1:%s {
	bind 127.0.0.1
	r2gate {
		%s
		resize {
			widths 200
		}
	}
}
`, admin, port, bucketLines(env.proxy.Endpoint))
	})
	const n = 20
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := http.Get(base + "/" + key + "?w=200")
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == 200 {
				bodies[i], _ = io.ReadAll(resp.Body)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if len(bodies[i]) == 0 || !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("request %d: %d bytes, want the same variant as the others", i, len(bodies[i]))
		}
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(bodies[0])); err != nil || cfg.Width != 200 {
		t.Fatalf("variant: %v, %d wide; want 200", err, cfg.Width)
	}
	if got := metricValue(t, admin, `r2gate_variants_total{result="made"}`); got != 1 {
		t.Errorf("%v resizes for %d concurrent requests, want 1", got, n)
	}
	awaitMetric(t, admin, `r2gate_variant_writes_total{result="written"}`, 1)
}
