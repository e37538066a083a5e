//go:build nodynamic

package resize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/webp"
)

// webpBuilt says whether this test binary has a WebP encoder (the tag
// nodynamic); tests shared by both builds use it for what differs.
const webpBuilt = true

// Images here are small: the translated libwebp is 20–30 times slower under
// the race detector (a 400×267 lossy encode takes ~4 s there, 0.1 s
// without).

// webpChunks returns the FourCCs of the top-level chunks of a RIFF WebP file.
func webpChunks(t *testing.T, data []byte) []string {
	t.Helper()
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		t.Fatalf("not a RIFF WEBP file: % x", data[:min(len(data), 16)])
	}
	if got := int(binary.LittleEndian.Uint32(data[4:8])) + 8; got != len(data) {
		t.Fatalf("RIFF size says %d bytes, file has %d", got, len(data))
	}
	var ids []string
	for p := 12; p+8 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[p+4 : p+8]))
		ids = append(ids, string(data[p:p+4]))
		p += 8 + n + n&1
	}
	return ids
}

// webpDecode decodes data with golang.org/x/image/webp (not the encoder's
// own decoder) as straight-alpha NRGBA. Lossy VP8 stores limited-range
// BT.601 YCbCr, but x/image/webp returns those planes as an *image.YCbCr
// or *image.NYCbCrA, which Go converts as full-range JPEG YCbCr (blacks
// lifted to 16, whites lowered to 235: golang/go#40173); this helper
// converts them with the limited-range formulas instead.
func webpDecode(t *testing.T, data []byte) *image.NRGBA {
	t.Helper()
	m, err := webp.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("x/image/webp cannot decode the output: %v", err)
	}
	var ycc *image.YCbCr
	var alpha func(x, y int) uint8
	switch m := m.(type) {
	case *image.YCbCr:
		ycc, alpha = m, func(int, int) uint8 { return 255 }
	case *image.NYCbCrA:
		ycc, alpha = &m.YCbCr, func(x, y int) uint8 { return m.A[m.AOffset(x, y)] }
	default:
		return webpToNRGBA(m)
	}
	b := ycc.Rect
	n := image.NewNRGBA(image.Rectangle{Max: b.Size()})
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			yy := 1.164 * (float64(ycc.Y[ycc.YOffset(x, y)]) - 16)
			cb := float64(ycc.Cb[ycc.COffset(x, y)]) - 128
			cr := float64(ycc.Cr[ycc.COffset(x, y)]) - 128
			c := func(v float64) uint8 { return uint8(min(max(math.Round(v), 0), 255)) }
			n.SetNRGBA(x-b.Min.X, y-b.Min.Y, color.NRGBA{
				R: c(yy + 1.596*cr), G: c(yy - 0.813*cr - 0.391*cb), B: c(yy + 2.018*cb), A: alpha(x, y)})
		}
	}
	return n
}

// webpToNRGBA converts m pixel by pixel with color.NRGBAModel (independent
// of the code under test).
func webpToNRGBA(m image.Image) *image.NRGBA {
	b := m.Bounds()
	n := image.NewNRGBA(image.Rectangle{Max: b.Size()})
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			n.SetNRGBA(x, y, color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA))
		}
	}
	return n
}

// webpEqualVisible reports the first pixel where got and want differ in
// alpha, or in colour where the pixel is not fully transparent (lossless
// WebP may change the colour under alpha 0).
func webpEqualVisible(got, want *image.NRGBA) (image.Point, bool) {
	if got.Rect != want.Rect {
		return image.Point{-1, -1}, false
	}
	for y := 0; y < want.Rect.Dy(); y++ {
		for x := 0; x < want.Rect.Dx(); x++ {
			g, w := got.NRGBAAt(x, y), want.NRGBAAt(x, y)
			if g.A != w.A || (w.A != 0 && g != w) {
				return image.Point{x, y}, false
			}
		}
	}
	return image.Point{}, true
}

func webpEncode(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeWebP(&b, img, q); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEncodeWebPLossy(t *testing.T) {
	src := gradient(64, 48)
	start := time.Now()
	data := encodeBytes(t, src, FormatWebP, 0)
	t.Logf("64×48 lossy q=%d: %d bytes in %v", DefaultQuality, len(data), time.Since(start))
	if ids := webpChunks(t, data); len(ids) != 1 || ids[0] != "VP8 " {
		t.Fatalf("chunks %q, want one lossy VP8 chunk", ids)
	}
	got := webpDecode(t, data)
	if got.Rect != src.Rect {
		t.Fatalf("decoded %v, want %v", got.Rect, src.Rect)
	}
	var sum, worst int
	for i := range src.Pix {
		d := absDiff(int(got.Pix[i]) - int(src.Pix[i]))
		sum += d
		worst = max(worst, d)
	}
	mean := float64(sum) / float64(len(src.Pix))
	t.Logf("mean channel error %.2f, worst %d", mean, worst)
	if mean > 2.5 || worst > 24 {
		t.Errorf("mean channel error %.2f, worst %d: not a faithful lossy copy", mean, worst)
	}
}

func TestEncodeWebPLossless(t *testing.T) {
	src := noise(48, 32, 3) // random colours and alpha
	data := webpEncode(t, src, 100)
	if ids := webpChunks(t, data); len(ids) != 1 || ids[0] != "VP8L" {
		t.Fatalf("chunks %q, want one lossless VP8L chunk", ids)
	}
	if p, ok := webpEqualVisible(webpDecode(t, data), src); !ok {
		t.Fatalf("q=100 is not lossless: first difference at %v", p)
	}
	// Above 100 is clamped to 100: lossless too.
	if !bytes.Equal(webpEncode(t, src, 150), data) {
		t.Error("q=150 differs from q=100")
	}
}

func TestEncodeWebPLossyAlpha(t *testing.T) {
	src := gradient(40, 30)
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			src.Pix[src.PixOffset(x, y)+3] = uint8(x * 255 / 39) // 0 on the left, 255 on the right
		}
	}
	data := webpEncode(t, src, 80)
	ids := webpChunks(t, data)
	if len(ids) != 3 || ids[0] != "VP8X" || ids[1] != "ALPH" || ids[2] != "VP8 " {
		t.Fatalf("chunks %q, want VP8X, ALPH, VP8", ids)
	}
	got := webpDecode(t, data)
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			if g, w := got.NRGBAAt(x, y).A, src.NRGBAAt(x, y).A; g != w {
				t.Fatalf("alpha at (%d,%d) = %d, want %d (the alpha plane is lossless)", x, y, g, w)
			}
		}
	}
}

// TestEncodeWebPLayouts checks that images the encoder library would
// misread (it takes Pix as is) are converted first: a sub-image with an
// offset origin and a wider stride, premultiplied RGBA with translucent
// pixels, gray and YCbCr.
func TestEncodeWebPLayouts(t *testing.T) {
	big := noise(50, 40, 5)
	sub := big.SubImage(image.Rect(7, 5, 37, 29)).(*image.NRGBA)
	rgba := image.NewRGBA(image.Rect(0, 0, 20, 10))
	draw.Draw(rgba, rgba.Rect, noise(20, 10, 6), image.Point{}, draw.Src)
	gray := image.NewGray(image.Rect(2, 3, 22, 13))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 5)
	}
	ycc := image.NewYCbCr(image.Rect(0, 0, 16, 12), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i * 3)
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = uint8(100+i), uint8(200-i)
	}
	for name, m := range map[string]image.Image{"sub-image": sub, "rgba": rgba, "gray": gray, "ycbcr": ycc} {
		t.Run(name, func(t *testing.T) {
			got := webpDecode(t, webpEncode(t, m, 100))
			if p, ok := webpEqualVisible(got, webpToNRGBA(m)); !ok {
				t.Fatalf("first difference at %v", p)
			}
		})
	}
}

func TestEncodeWebPQuality(t *testing.T) {
	src := noise(32, 32, 8)
	def := webpEncode(t, src, DefaultQuality)
	if !bytes.Equal(webpEncode(t, src, 0), def) {
		t.Error("q=0 is not the default quality")
	}
	if !bytes.Equal(webpEncode(t, src, -3), webpEncode(t, src, 1)) {
		t.Error("q=-3 is not clamped to 1")
	}
	low, high := webpEncode(t, src, 10), webpEncode(t, src, 95)
	t.Logf("32×32 noise: q=10 %d bytes, q=%d %d, q=95 %d", len(low), DefaultQuality, len(def), len(high))
	if len(low) >= len(high) {
		t.Errorf("q=10 gives %d bytes, q=95 %d: quality is not applied", len(low), len(high))
	}
}

func TestEncodeWebPLimits(t *testing.T) {
	for _, r := range []image.Rectangle{image.Rect(0, 0, webpMaxSide+1, 1), image.Rect(0, 0, 1, webpMaxSide+1), image.Rect(3, 3, 3, 9)} {
		err := EncodeWebP(&bytes.Buffer{}, image.NewGray(r), 85)
		if err == nil || errors.Is(err, ErrFormatUnavailable) {
			t.Errorf("%v: %v, want a size error", r, err)
		}
	}
	// The largest side WebP allows still encodes.
	data := webpEncode(t, image.NewGray(image.Rect(0, 0, webpMaxSide, 1)), 85)
	if got := webpDecode(t, data).Rect.Size(); got != (image.Point{webpMaxSide, 1}) {
		t.Errorf("decoded %v", got)
	}
}

// TestEncodeWebPConcurrent encodes from several goroutines at once (each
// encode has its own translated module): the same bytes as one at a time,
// and no race.
func TestEncodeWebPConcurrent(t *testing.T) {
	src := noise(24, 24, 9)
	want := webpEncode(t, src, 70)
	const n = 4
	var wg sync.WaitGroup
	out := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			var b bytes.Buffer
			errs[i] = EncodeWebP(&b, src, 70)
			out[i] = b.Bytes()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(out[i], want) {
			t.Errorf("goroutine %d: %v, %d bytes, want %d identical", i, errs[i], len(out[i]), len(want))
		}
	}
}

func TestEncodeWebPThisBuild(t *testing.T) {
	if !CanEncode(FormatWebP) {
		t.Fatal("CanEncode(FormatWebP) is false in a nodynamic build")
	}
	// format=auto for Chrome: AVIF cannot be encoded, so WebP.
	if got := Negotiate(Options{Format: FormatAuto}, chromeAccept, FormatJPEG, nil); got != FormatWebP {
		t.Errorf("Negotiate(auto, chrome) = %v, want webp", got)
	}
	// An animation is written as its first frame.
	first, second := gradient(16, 16), noise(16, 16, 1)
	a := Animation{Frames: []Frame{{Image: first, Delay: time.Second}, {Image: second, Delay: time.Second}}}
	var b bytes.Buffer
	if err := EncodeAnimation(&b, a, FormatWebP, 100, 1); err != nil {
		t.Fatal(err)
	}
	if p, ok := webpEqualVisible(webpDecode(t, b.Bytes()), first); !ok {
		t.Errorf("not the first frame: first difference at %v", p)
	}
}

// TestEncodeWebPFromPlanes: a 4:2:0 YCbCr (what the planar resampler makes)
// is handed to libwebp as limited-range planes, not RGB; the result is an
// opaque lossy WebP (no alpha chunk) that shows the same picture as the
// RGB route, and the source image is left as it was.
func TestEncodeWebPFromPlanes(t *testing.T) {
	src := inGamut(161, 121, image.YCbCrSubsampleRatio420)
	before := string(src.Y) + string(src.Cb) + string(src.Cr)
	planes := webpEncode(t, src, 90)
	if string(src.Y)+string(src.Cb)+string(src.Cr) != before {
		t.Fatal("EncodeWebP changed its source")
	}
	if ids := webpChunks(t, planes); len(ids) != 1 || ids[0] != "VP8 " {
		t.Fatalf("chunks %q, want one lossy VP8 chunk", ids)
	}
	viaRGB := webpEncode(t, webpCompactNRGBA(src), 90)
	want := asNRGBA(src)
	for name, data := range map[string][]byte{"planes": planes, "RGB": viaRGB} {
		got := webpDecode(t, data)
		var sum int
		for i := range want.Pix {
			sum += absDiff(int(got.Pix[i]) - int(want.Pix[i]))
		}
		mean := float64(sum) / float64(len(want.Pix))
		t.Logf("%s: %d bytes, mean channel error %.2f", name, len(data), mean)
		if mean > 2.5 {
			t.Errorf("%s: mean channel error %.2f against the source", name, mean)
		}
	}
}
