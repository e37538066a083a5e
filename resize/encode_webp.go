//go:build nodynamic

package resize

import (
	"fmt"
	"image"
	"image/draw"
	"io"

	"github.com/gen2brain/webp"
)

// WebP encoding uses github.com/gen2brain/webp: libwebp compiled to
// WebAssembly and translated to Go by wasm2go, so it is pure Go, needs no
// cgo and runs in memory the translated module owns (a fresh module per
// encode: concurrent encodes share nothing). It is compiled in only with the
// build tag nodynamic, which is also the tag that stops gen2brain/webp from
// trying, at program start, to dlopen a system libwebp.so through purego:
// without the tag that attempt would make a CGO_ENABLED=0 binary dynamically
// linked and would run a system library (or one found through
// LD_LIBRARY_PATH) on untrusted pixels. So a build without the tag never
// links gen2brain/webp at all (encode_nowebp.go: WebP is then unavailable,
// as before), and a build with it is static and can encode WebP. Build with
// XCADDY_GO_BUILD_FLAGS="-tags nodynamic" xcaddy build ..., or
// go test -tags nodynamic.
//
// The encoder cannot make animated WebP; EncodeAnimation writes the first
// frame.

// webpAvailable reports that this build has a WebP encoder.
const webpAvailable = true

// webpMaxSide is the largest width or height a WebP can have.
const webpMaxSide = 16383

// webpLossyMethod is libwebp's speed/size trade-off (0 fast … 6 slow) for
// lossy output. Measured on a 1600×2133 photo at q=85 (one run, this
// encoder): method 0 0.73–0.83 s for 1,205,510 bytes, method 1 0.88–0.94 s
// for 1,198,170, method 2 1.12 s for 1,201,222, method 3 3.0–3.6 s for
// 1,188,996; earlier, on a 1600×1067 photo, method 4 (cwebp's default, with
// rate-distortion optimisation) took three times method 2's time for 1 %
// fewer bytes. Method 1 is the fastest that gives up no size.
const webpLossyMethod = 1

// webpLosslessMethod is the method for lossless output (q=100). Method 0
// took ~340 ms for 2.74 MB on the same photo, method 1 and up 2.1 s or
// more for 2.53 MB (8 % smaller, six times the time); method 0 is still
// 26 % smaller than PNG (3.70 MB) in about image/png's time (280 ms).
const webpLosslessMethod = 0

// EncodeWebP writes img as a still WebP at quality (clamped to 1–100; 0:
// DefaultQuality): lossy VP8 below 100, with the alpha channel kept
// (lossless alpha) when img is not opaque; lossless VP8L at 100. No
// metadata is written. Images wider or taller than 16383 pixels, WebP's
// limit, are an error. It returns ErrFormatUnavailable (wrapped) in builds
// without the nodynamic build tag.
func EncodeWebP(w io.Writer, img image.Image, quality int) (err error) {
	if quality == 0 {
		quality = DefaultQuality
	}
	quality = min(max(quality, 1), 100)
	b := img.Bounds()
	if b.Empty() || b.Dx() > webpMaxSide || b.Dy() > webpMaxSide {
		return fmt.Errorf("resize: encode webp: %d×%d is outside 1–%d pixels a side", b.Dx(), b.Dy(), webpMaxSide)
	}
	opt := webp.Options{Quality: quality, Method: webpLossyMethod}
	if quality == 100 {
		// gen2brain/webp documents that quality 100 implies lossless, but
		// it does not: without Lossless, q=100 is lossy.
		opt = webp.Options{Lossless: true, Method: webpLosslessMethod}
	}
	var m image.Image
	if y, ok := img.(*image.YCbCr); ok && !opt.Lossless {
		// The planes as they are (limited range), no RGB in between:
		// a third less memory than the RGBA a 4:2:0 image otherwise
		// becomes, and libwebp skips its own RGB to Y'CbCr conversion.
		if p, ok := webpPlanes(y); ok {
			m = p
		}
	}
	if m == nil {
		m = webpCompactNRGBA(img)
	}
	defer func() {
		// The translated module panics on a trap (out-of-bounds memory,
		// "unreachable"); it must never take the process down.
		if r := recover(); r != nil {
			err = fmt.Errorf("resize: encode webp: encoder panicked: %v", r)
		}
	}()
	if err := webp.Encode(w, m, opt); err != nil {
		return fmt.Errorf("resize: encode webp: %w", err)
	}
	return nil
}

// webpCompactNRGBA returns img as an *image.NRGBA at the origin with rows
// packed (Stride 4×width), which is what gen2brain/webp reads: it takes an
// *image.NRGBA's or *image.RGBA's Pix as is, ignoring Stride and Rect.Min,
// and would read a premultiplied *image.RGBA as straight alpha. Anything
// else is converted (a copy).
func webpCompactNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	if n, ok := img.(*image.NRGBA); ok && n.Rect.Min == (image.Point{}) && n.Stride == 4*b.Dx() && len(n.Pix) == 4*b.Dx()*b.Dy() {
		return n
	}
	if y, ok := img.(*image.YCbCr); ok {
		return ycbcrToNRGBA(y)
	}
	n := image.NewNRGBA(image.Rectangle{Max: b.Size()})
	draw.Draw(n, n.Rect, img, b.Min, draw.Src)
	return n
}

// fullToLimited maps a full-range (JFIF) luma or chroma sample to the
// limited range lossy WebP stores: Y 16–235, chroma 16–240 around 128.
var fullToLimited = func() (t [2][256]uint8) {
	for v := range 256 {
		t[0][v] = uint8((v*219+127)/255 + 16)
		t[1][v] = uint8(((v-128)*224+128*255+127)/255 - 128 + 128)
	}
	return t
}()

// webpPlanes returns a copy of the 4:2:0 full-range image m as the
// limited-range planes lossy WebP encodes (with an opaque alpha plane,
// which the encoder drops), so it is encoded without a detour through RGB.
// Other layouts report false.
func webpPlanes(m *image.YCbCr) (*image.NYCbCrA, bool) {
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || m.Rect.Min != (image.Point{}) {
		return nil, false
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	d := image.NewNYCbCrA(m.Rect, image.YCbCrSubsampleRatio420)
	for y := range h {
		src, dst := m.Y[y*m.YStride:y*m.YStride+w], d.Y[y*d.YStride:y*d.YStride+w]
		for x, v := range src {
			dst[x] = fullToLimited[0][v]
		}
	}
	cw, ch := (w+1)/2, (h+1)/2
	for y := range ch {
		for _, p := range [][2][]uint8{{m.Cb, d.Cb}, {m.Cr, d.Cr}} {
			src, dst := p[0][y*m.CStride:y*m.CStride+cw], p[1][y*d.CStride:y*d.CStride+cw]
			for x, v := range src {
				dst[x] = fullToLimited[1][v]
			}
		}
	}
	for i := range d.A {
		d.A[i] = 255
	}
	return d, true
}
