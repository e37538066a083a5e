// Package e2e holds end-to-end tests that drive the gateway the way a user
// runs it (./xcaddy.sh run with Caddyfile.example) from a real headless
// Chromium.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decodes the JPEG variants
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	_ "golang.org/x/image/webp" // decodes the WebP variants
)

const (
	// siteURL is the site Caddyfile.example serves.
	siteURL = "http://localhost:8080/"
	// serverWait bounds how long the test waits for ./xcaddy.sh run to
	// answer: a cold build of ./caddy can take several minutes.
	serverWait = 10 * time.Minute
	// viewportWidth is the emulated CSS viewport width. The expectations
	// below hold for it: the <picture>'s wide <source> (min-width: 700px)
	// applies, and the srcset image's slot is sizes="400px".
	viewportWidth = 1000
	// viewportHeight is tall enough that the whole page is laid out in view.
	viewportHeight = 2000
	// pageTimeout bounds one page load and its checks.
	pageTimeout = 30 * time.Second
)

// variant is what one responsive image on the example page must fetch at a
// given device-pixel ratio.
type variant struct {
	// path is the request path and query the browser must pick.
	path string
	// width is the pixel width of the bytes the gateway must answer.
	width int
	// format is the format image.DecodeConfig must name ("jpeg", "webp").
	format string
	// mime is the response's MIME type as Chromium reports it.
	mime string
	// varyAccept: the response must carry Vary: Accept.
	varyAccept bool
}

// expected lists, per device-pixel ratio and per element id, the variant the
// browser must choose from examples/bucket/index.html at viewportWidth.
//
// #srcset-demo has srcset 400w/800w/1600w and sizes="400px": the slot is
// 400 CSS px, so 400 device px at DPR 1 and 800 at DPR 2; each is an exact
// candidate.
//
// #picture-demo sits in a <picture> whose first <source>, for
// (min-width: 700px), lists ?w=800&format=auto 1x and ?w=1600&format=auto 2x.
// format=auto must be answered with WebP, since Chromium's Accept for images
// lists image/webp (and AVIF, which this build cannot encode).
//
// valley.jpg is 2000 px wide, so every width here is a real downscale.
var expected = map[float64]map[string]variant{
	1: {
		"srcset-demo":  {path: "/images/valley.jpg?w=400", width: 400, format: "jpeg", mime: "image/jpeg"},
		"picture-demo": {path: "/images/valley.jpg?w=800&format=auto", width: 800, format: "webp", mime: "image/webp", varyAccept: true},
	},
	2: {
		"srcset-demo":  {path: "/images/valley.jpg?w=800", width: 800, format: "jpeg", mime: "image/jpeg"},
		"picture-demo": {path: "/images/valley.jpg?w=1600&format=auto", width: 1600, format: "webp", mime: "image/webp", varyAccept: true},
	},
}

// TestResponsiveImagesInChromium runs the example gateway as a user does and
// loads its index page in headless Chromium at device-pixel ratios 1 and 2.
// For each responsive image it checks the URL the browser chose (currentSrc),
// the pixel width of the bytes the gateway answered (decoded here from the
// response body Chromium received, not the density-corrected naturalWidth),
// and, for the format=auto image, that WebP was negotiated from Chromium's
// own Accept header and answered with Vary: Accept.
func TestResponsiveImagesInChromium(t *testing.T) {
	browser := findChromium(t)
	startGateway(t)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(browser),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
		)...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}

	for _, dpr := range []float64{1, 2} {
		t.Run(fmt.Sprintf("dpr%g", dpr), func(t *testing.T) {
			checkPage(t, browserCtx, dpr, expected[dpr])
		})
	}
}

// imageResponse is what the test keeps of one image response.
type imageResponse struct {
	requestID network.RequestID
	resp      *network.Response
}

// checkPage loads siteURL in a fresh browser context (its own cache) at the
// given device-pixel ratio and checks every image in want.
func checkPage(t *testing.T, browserCtx context.Context, dpr float64, want map[string]variant) {
	var (
		mu sync.Mutex
		// accepts holds the Accept header each request went out with. It
		// is only known from the ExtraInfo event (the network stack adds
		// it), which can come before or after the response.
		accepts   = map[network.RequestID]string{}
		responses = map[string]imageResponse{} // by URL
	)
	listener := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSentExtraInfo:
			accepts[ev.RequestID] = headerValue(ev.Headers, "Accept")
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeImage && ev.Response != nil {
				responses[ev.Response.URL] = imageResponse{requestID: ev.RequestID, resp: ev.Response}
			}
		}
	}
	tabCtx, cancelTab := chromedp.NewContext(browserCtx,
		chromedp.WithNewBrowserContext(), chromedp.WithListener(listener))
	defer cancelTab()
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tabCtx, pageTimeout)
	defer cancel()

	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: viewportWidth, Height: viewportHeight, DeviceScaleFactor: dpr,
	}); err != nil {
		t.Fatalf("emulating DPR %g: %v", dpr, err)
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatalf("disabling the browser cache: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL)); err != nil {
		t.Fatalf("loading %s: %v", siteURL, err)
	}

	// The load event waits for images, but make sure every one is settled
	// (complete) before reading currentSrc.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`Array.from(document.images).every(i => i.complete)`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for the page's images: %v", err)
	}
	metrics, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		DPR   float64 `json:"dpr"`
		Width int     `json:"width"`
	}](`({dpr: window.devicePixelRatio, width: window.innerWidth})`))
	if err != nil {
		t.Fatalf("reading the page's metrics: %v", err)
	}
	if metrics.DPR != dpr || metrics.Width != viewportWidth {
		t.Fatalf("the page sees devicePixelRatio %g and innerWidth %d, want %g and %d: the emulation did not apply",
			metrics.DPR, metrics.Width, dpr, viewportWidth)
	}

	for _, id := range slices.Sorted(maps.Keys(want)) {
		v := want[id]
		state, err := chromedp.Run(ctx, chromedp.Evaluate[*struct {
			CurrentSrc string `json:"currentSrc"`
			Complete   bool   `json:"complete"`
			Natural    int    `json:"naturalWidth"`
		}](fmt.Sprintf(`(() => { const i = document.getElementById(%q);
			return i && {currentSrc: i.currentSrc, complete: i.complete, naturalWidth: i.naturalWidth}; })()`, id)))
		if err != nil {
			t.Fatalf("#%s: reading its state: %v", id, err)
		}
		if state == nil {
			t.Errorf("#%s: no such element on %s (examples/bucket/index.html)", id, siteURL)
			continue
		}
		wantURL := strings.TrimSuffix(siteURL, "/") + v.path
		if state.CurrentSrc != wantURL {
			t.Errorf("#%s at DPR %g: currentSrc = %q, want %q", id, dpr, state.CurrentSrc, wantURL)
			continue
		}
		if state.Natural == 0 {
			t.Errorf("#%s at DPR %g: %s did not load (naturalWidth 0)", id, dpr, wantURL)
		}

		mu.Lock()
		r, ok := responses[wantURL]
		accept := accepts[r.requestID]
		mu.Unlock()
		if !ok {
			t.Errorf("#%s at DPR %g: Chromium reported no image response for %s", id, dpr, wantURL)
			continue
		}
		desc := fmt.Sprintf("#%s at DPR %g: GET %s (Accept: %q) answered %d", id, dpr, v.path, accept, r.resp.Status)
		if v.format == "webp" && !strings.Contains(accept, "image/webp") {
			// Not the gateway's fault: the expectation assumes Chromium
			// asks for WebP.
			t.Errorf("%s: Chromium's Accept does not list image/webp, so WebP cannot be expected", desc)
		}
		if r.resp.Status != http.StatusOK {
			t.Errorf("%s, want 200; headers %v", desc, r.resp.Headers)
			continue
		}
		if r.resp.MimeType != v.mime {
			t.Errorf("%s with MIME type %q, want %q; headers %v", desc, r.resp.MimeType, v.mime, r.resp.Headers)
		}
		if v.varyAccept && !varyHas(headerValue(r.resp.Headers, "Vary"), "Accept") {
			t.Errorf("%s with Vary %q, want it to list Accept; headers %v",
				desc, headerValue(r.resp.Headers, "Vary"), r.resp.Headers)
		}

		body, err := responseBody(ctx, r.requestID)
		if err != nil {
			t.Errorf("%s; reading the body Chromium received: %v", desc, err)
			continue
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			t.Errorf("%s; decoding its %d bytes: %v", desc, len(body), err)
			continue
		}
		if format != v.format || cfg.Width != v.width {
			t.Errorf("%s with a %s image %d px wide (%d bytes), want %s %d px",
				desc, format, cfg.Width, len(body), v.format, v.width)
		}
		t.Logf("#%s at DPR %g: %s (Accept %q) -> %s %dx%d, %d bytes, Vary %q",
			id, dpr, v.path, accept, format, cfg.Width, cfg.Height, len(body), headerValue(r.resp.Headers, "Vary"))
	}
}

// responseBody returns the body of a response exactly as Chromium received
// it (cdproto has already undone the protocol's base64).
func responseBody(ctx context.Context, id network.RequestID) ([]byte, error) {
	res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
	if err != nil {
		return nil, fmt.Errorf("Network.getResponseBody: %w", err)
	}
	return res.Body, nil
}

// headerValue returns the value of the header name in h, matched without
// regard to case; Chromium joins repeated headers with newlines.
func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// varyHas reports whether the Vary value vary lists the header name.
func varyHas(vary, name string) bool {
	for _, f := range strings.FieldsFunc(vary, func(r rune) bool { return r == ',' || r == '\n' }) {
		if strings.EqualFold(strings.TrimSpace(f), name) {
			return true
		}
	}
	return false
}

// findChromium returns the Chromium to drive: $R2GATE_CHROMIUM, else
// chromium or chromium-browser on PATH. A missing browser fails the test
// (it is never skipped).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("R2GATE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("R2GATE_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: neither chromium nor chromium-browser is on PATH and R2GATE_CHROMIUM is not set; " +
		"install it with: apt-get install -y chromium")
	return ""
}

// startGateway runs ./xcaddy.sh run from the repository root, as the README
// tells a user to, waits until siteURL answers 200 and stops the whole
// process group when the test ends. It fails at once when port 8080 or 2019
// is already taken, since the test would then talk to another server.
func startGateway(t *testing.T) {
	t.Helper()
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:2019"} {
		if err := portFree(addr); err != nil {
			t.Fatalf("port %s is taken (%v): stop whatever listens there (another caddy, ./xcaddy.sh run?) before running this test",
				addr, err)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("finding the repository root: %v", err)
	}
	logPath := filepath.Join(t.TempDir(), "xcaddy-run.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating the server log: %v", err)
	}
	cmd := exec.Command("./xcaddy.sh", "run")
	cmd.Dir = root
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ./xcaddy.sh run in %s: %v", root, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stopGroup(t, cmd.Process.Pid, exited)
		if err := logFile.Close(); err != nil {
			t.Errorf("closing the server log: %v", err)
		}
		if t.Failed() {
			t.Logf("./xcaddy.sh run output (last 4 KB):\n%s", tail(logPath, 4096))
		}
	})

	start := time.Now()
	deadline := start.Add(serverWait)
	if d, ok := t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
		deadline = d.Add(-time.Minute) // leave time for the browser part
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case err := <-exited:
			exited <- err // for stopGroup
			t.Fatalf("./xcaddy.sh run exited before serving %s: %v\n%s", siteURL, err, tail(logPath, 4096))
		default:
		}
		resp, err := client.Get(siteURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("%s answered 200 after %s", siteURL, time.Since(start).Round(100*time.Millisecond))
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s (last: %v); run go test with -timeout 15m for a cold build",
				siteURL, time.Since(start).Round(time.Second), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// portFree reports an error when something already listens on addr.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// stopGroup sends SIGTERM to the process group pgid (xcaddy.sh execs caddy,
// and a build runs go and xcaddy in it), then SIGKILL if the leader has not
// exited within 10 s.
func stopGroup(t *testing.T, pgid int, exited <-chan error) {
	t.Helper()
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("stopping process group %d: %v", pgid, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("process group %d did not exit within 10 s of SIGTERM; killing it", pgid)
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("killing process group %d: %v", pgid, err)
		}
		<-exited
	}
	// Whatever else is left in the group (a go build child) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// tail returns the last n bytes of the file at path, or why it cannot.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}
