package jpegdec

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
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
			want, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("image/jpeg: %v", err)
			}
			got, err := Decode(data, 1, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, image/jpeg %v", got.Bounds(), want.Bounds())
			}
			gn, gp := channels(got)
			wn, wp := channels(want)
			if gn != wn || len(gp) != len(wp) {
				t.Fatalf("got %T, image/jpeg %T", got, want)
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
			if maxd > 2 || mean > 0.5 {
				t.Errorf("max diff %d, mean %.3f against image/jpeg (want ≤ 2, ≤ 0.5)", maxd, mean)
			}
			worst = max(worst, maxd)
			sumMean += mean
			count++
		})
	}
	t.Logf("%d files: worst max diff %d, average mean diff %.4f", count, worst, sumMean/float64(count))
}

func TestDifferentialReducedScale(t *testing.T) {
	const minPSNR = 30.0
	for _, scale := range []int{2, 4, 8} {
		worst := math.Inf(1)
		for name, data := range corpus(t) {
			full, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				continue
			}
			t.Run(fmt.Sprintf("%d/%s", scale, name), func(t *testing.T) {
				got, err := Decode(data, scale, Limits{})
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				w, h, n, want := boxReduce(full, scale)
				if got.Bounds().Dx() != w || got.Bounds().Dy() != h {
					t.Fatalf("size %v, want %dx%d", got.Bounds(), w, h)
				}
				gn, gp := channels(got)
				if gn != n {
					t.Fatalf("got %T with %d channels, want %d", got, gn, n)
				}
				p := psnr(gp, want)
				t.Logf("PSNR %.2f dB", p)
				if p < minPSNR {
					t.Errorf("PSNR %.2f dB against a full decode box-reduced by %d (want ≥ %.0f)", p, scale, minPSNR)
				}
				worst = min(worst, p)
			})
		}
		t.Logf("scale 1/%d: worst PSNR %.2f dB", scale, worst)
	}
}

func psnr(a, b []int) float64 {
	var se float64
	for i := range a {
		d := float64(a[i] - b[i])
		se += d * d
	}
	if se == 0 {
		return math.Inf(1)
	}
	mse := se / float64(len(a))
	return 10 * math.Log10(255*255/mse)
}
