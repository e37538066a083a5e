package jpegdec

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus is every JPEG the differential tests use: generated with image/jpeg at several
// qualities and sizes (4:2:0 and gray), plus testdata/*.jpg (made with cjpeg/jpegtran, see
// testdata/README.md: other subsamplings, progressive, restarts, CMYK/YCCK).
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	sizes := [][2]int{{64, 48}, {333, 201}, {17, 9}, {1, 1}, {250, 31}}
	for _, q := range []int{50, 75, 95} {
		for i, sz := range sizes {
			img := synth(sz[0], sz[1], uint64(i))
			files[fmt.Sprintf("gen-%dx%d-q%d.jpg", sz[0], sz[1], q)] = encodeStd(t, img, q)
			gray := grayOf(img)
			files[fmt.Sprintf("gen-gray-%dx%d-q%d.jpg", sz[0], sz[1], q)] = encodeStd(t, gray, q)
		}
	}
	paths, err := filepath.Glob("testdata/*.jpg")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

func TestDifferentialFullScale(t *testing.T) {
	var worst int
	var sumMean float64
	var count int
	for name, data := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			want, tol := reference(t, name, data)
			got, err := Decode(data, 1, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, reference %v", got.Bounds(), want.Bounds())
			}
			gn, gp := channels(got)
			wn, wp := channels(want)
			if _, ok := want.(*image.RGBA); ok {
				gn, gp = rgbChannels(got)
			}
			if gn != wn || len(gp) != len(wp) {
				t.Fatalf("got %T, reference %T", got, want)
			}
			maxd, sum := 0, 0
			for i := range gp {
				dd := gp[i] - wp[i]
				if dd < 0 {
					dd = -dd
				}
				maxd = max(maxd, dd)
				sum += dd
			}
			mean := float64(sum) / float64(len(gp))
			t.Logf("%T max diff %d, mean %.4f", got, maxd, mean)
			if maxd > tol || mean > 0.5 {
				t.Errorf("max diff %d, mean %.3f against the reference (want ≤ %d, ≤ 0.5)", maxd, mean, tol)
			}
			worst = max(worst, maxd)
			sumMean += mean
			count++
		})
	}
	t.Logf("%d files: worst max diff %d, average mean diff %.4f", count, worst, sumMean/float64(count))
}

func TestDifferentialReducedScale(t *testing.T) {
	const (
		minPSNR          = 30.0
		minPSNRTiny      = 28.0
		minPSNRConverted = 18.0
	)
	for _, scale := range []int{2, 4, 8} {
		worst, worstY := math.Inf(1), math.Inf(1)
		for name, data := range corpus(t) {
			full, _ := reference(t, name, data)
			t.Run(fmt.Sprintf("%d/%s", scale, name), func(t *testing.T) {
				got, err := Decode(data, scale, Limits{})
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				fb := full.Bounds()
				if got.Bounds() != image.Rect(0, 0, (fb.Dx()+scale-1)/scale, (fb.Dy()+scale-1)/scale) {
					t.Fatalf("bounds %v for %v at 1/%d", got.Bounds(), fb, scale)
				}
				if _, ok := full.(*image.RGBA); ok {
					got = toRGBA(got)
				}
				p, py := reducedPSNR(t, got, full, scale)
				t.Logf("PSNR %.2f dB, luma %.2f dB", p, py)
				bound := minPSNR
				cfg, _ := DecodeConfig(data)
				fb = full.Bounds()
				switch _, rgbRef := full.(*image.RGBA); {
				case cfg.Subsampling != image.YCbCrSubsampleRatio444 && (rgbRef || cfg.Components == 4):
					// The reference went through a colour conversion at full
					// resolution, so its chroma is compared at 1/scale while ours
					// is at 1/(scale·subsampling): the synthetic picture's strong
					// colour edges and noise cost that much.
					bound = minPSNRConverted
				case fb.Dx() < 32 || fb.Dy() < 32:
					// A handful of groups: one outlier decides.
					bound = minPSNRTiny
				}
				if p < bound {
					t.Errorf("PSNR %.2f dB against a full decode box-reduced by %d (want ≥ %.0f)", p, scale, bound)
				}
				if bound == minPSNR {
					worst, worstY = min(worst, p), min(worstY, py)
				}
			})
		}
		t.Logf("scale 1/%d: worst PSNR %.2f dB (luma %.2f dB) over the files held to %.0f dB", scale, worst, worstY, minPSNR)
	}
}

// reference decodes a corpus file with image/jpeg, or, for the files it cannot decode, reads
// testdata/NAME.ref.ppm (djpeg's decode, see testdata/make.sh). It also returns the largest
// per-channel difference allowed at full scale: 2 (the IDCTs differ in rounding), 3 where the
// compared values went through a YCbCr→RGB conversion that amplifies ±1 (YCCK, the djpeg
// references).
func reference(t testing.TB, name string, data []byte) (image.Image, int) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err == nil {
		cfg, err := DecodeConfig(data)
		if err != nil {
			t.Fatalf("DecodeConfig: %v", err)
		}
		if cfg.Components == 4 && cfg.AdobeTransform != 0 {
			return img, 3
		}
		return img, 2
	}
	ppm, perr := os.ReadFile(filepath.Join("testdata", strings.TrimSuffix(name, ".jpg")+".ref.ppm"))
	if perr != nil {
		t.Fatalf("image/jpeg: %v, and no djpeg reference: %v", err, perr)
	}
	return readPPM(t, ppm), 3
}

func readPPM(t testing.TB, b []byte) *image.RGBA {
	t.Helper()
	var w, h, maxv int
	n, err := fmt.Sscan(strings.TrimPrefix(string(b[:min(len(b), 40)]), "P6"), &w, &h, &maxv)
	if err != nil || n != 3 || maxv != 255 {
		t.Fatalf("bad PPM header: %v", err)
	}
	px := b[len(b)-3*w*h:]
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:4*i+3], px[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return img
}
