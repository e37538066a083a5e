package jpegenc

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r2gate/r2gate/resize/jpegdec"
)

// photo draws a photo-like w×h test image: smooth gradients, a few hard
// edges and some noise, as a 4:2:0 YCbCr (chroma averaged over 2×2).
func photo(w, h int, seed uint64) *image.YCbCr {
	r := rand.New(rand.NewPCG(seed, 1))
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rgb := func(x, y int) (uint8, uint8, uint8) {
		fx, fy := float64(x)/float64(w), float64(y)/float64(h)
		cr := 128 + 100*math.Sin(6*fx+2*fy)
		cg := 128 + 90*math.Cos(5*fy-3*fx)
		cb := 255 * fx * fy
		if (x/37+y/23)%5 == 0 { // hard-edged patches
			cr, cg, cb = 250, 30, 40
		}
		n := r.Float64()*24 - 12
		c := func(v float64) uint8 { return uint8(min(max(v+n, 0), 255)) }
		return c(cr), c(cg), c(cb)
	}
	cb := make([]int, m.CStride*((h+1)/2))
	cr := make([]int, len(cb))
	cnt := make([]int, len(cb))
	for y := range h {
		for x := range w {
			yy, u, v := color.RGBToYCbCr(rgb(x, y))
			m.Y[m.YOffset(x, y)] = yy
			ci := m.COffset(x, y)
			cb[ci] += int(u)
			cr[ci] += int(v)
			cnt[ci]++
		}
	}
	for i := range cb {
		if cnt[i] > 0 {
			m.Cb[i] = uint8((cb[i] + cnt[i]/2) / cnt[i])
			m.Cr[i] = uint8((cr[i] + cnt[i]/2) / cnt[i])
		}
	}
	return m
}

// toRGBA renders m.
func toRGBA(m image.Image) *image.RGBA {
	b := m.Bounds()
	out := image.NewRGBA(image.Rectangle{Max: b.Size()})
	draw.Draw(out, out.Rect, m, b.Min, draw.Src)
	return out
}

// psnr is the peak signal-to-noise ratio of b against a over R, G and B.
func psnr(t *testing.T, a, b *image.RGBA) float64 {
	t.Helper()
	if a.Rect != b.Rect {
		t.Fatalf("sizes differ: %v and %v", a.Rect, b.Rect)
	}
	var se float64
	var n int
	for i := 0; i < len(a.Pix); i += 4 {
		for c := range 3 {
			d := float64(a.Pix[i+c]) - float64(b.Pix[i+c])
			se += d * d
			n++
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

func encode(t *testing.T, m image.Image, q, workers int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, m, q, workers); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b.Bytes()
}

func decodeStd(t *testing.T, b []byte) image.Image {
	t.Helper()
	m, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("image/jpeg cannot decode the output: %v", err)
	}
	return m
}

// TestEncodeMatchesImageJPEGQuality encodes photos of awkward sizes at
// several qualities and checks, against image/jpeg encoding the same
// planes at the same quality, that the output decodes (with image/jpeg and
// with r2gate's decoder, which must agree), has the same size, is as
// faithful (PSNR) and about as small.
func TestEncodeMatchesImageJPEGQuality(t *testing.T) {
	for _, sz := range []image.Point{{1, 1}, {7, 9}, {16, 16}, {17, 33}, {250, 3}, {641, 427}} {
		src := photo(sz.X, sz.Y, uint64(sz.X*1000+sz.Y))
		ref := toRGBA(src)
		for _, q := range []int{30, 75, 85, 95} {
			ours := encode(t, src, q, 2)
			var std bytes.Buffer
			if err := jpeg.Encode(&std, src, &jpeg.Options{Quality: q}); err != nil {
				t.Fatal(err)
			}
			dm := decodeStd(t, ours)
			if dm.Bounds().Size() != sz {
				t.Fatalf("%v q%d: decoded size %v", sz, q, dm.Bounds().Size())
			}
			po, ps := psnr(t, ref, toRGBA(dm)), psnr(t, ref, toRGBA(decodeStd(t, std.Bytes())))
			if po < ps-0.3 {
				t.Errorf("%v q%d: PSNR %.2f dB, image/jpeg %.2f dB", sz, q, po, ps)
			}
			if sz.X*sz.Y >= 10000 {
				if q >= 75 && po < 30 {
					t.Errorf("%v q%d: PSNR %.2f dB is too low", sz, q, po)
				}
				// The restart markers cost a few bytes a row.
				if r := float64(len(ours)) / float64(std.Len()); r > 1.05 || r < 0.9 {
					t.Errorf("%v q%d: %d bytes, image/jpeg %d (%.3f×)", sz, q, len(ours), std.Len(), r)
				}
			}
			own, err := jpegdec.Decode(ours, 1, jpegdec.Limits{})
			if err != nil {
				t.Fatalf("%v q%d: r2gate's decoder: %v", sz, q, err)
			}
			if p := psnr(t, toRGBA(dm), toRGBA(own)); p < 45 {
				t.Errorf("%v q%d: the two decoders differ (PSNR %.1f dB)", sz, q, p)
			}
		}
	}
}

// TestEncodeIsTheSameOnAnyNumberOfWorkers: the rows are independent.
func TestEncodeIsTheSameOnAnyNumberOfWorkers(t *testing.T) {
	src := photo(300, 200, 7)
	one := encode(t, src, 85, 1)
	for _, w := range []int{2, 3, 16, 1000} {
		if !bytes.Equal(encode(t, src, 85, w), one) {
			t.Errorf("workers %d: different bytes", w)
		}
	}
}

// TestEncodeGray writes a greyscale JPEG image/jpeg reads as *image.Gray.
func TestEncodeGray(t *testing.T) {
	src := photo(99, 61, 3)
	g := &image.Gray{Pix: src.Y, Stride: src.YStride, Rect: src.Rect}
	m := decodeStd(t, encode(t, g, 90, 2))
	dg, ok := m.(*image.Gray)
	if !ok {
		t.Fatalf("decoded as %T", m)
	}
	if p := psnr(t, toRGBA(g), toRGBA(dg)); p < 35 {
		t.Errorf("PSNR %.1f dB", p)
	}
}

// TestEncodeSubImage encodes a sub-image (odd origin) like a whole one.
func TestEncodeSubImage(t *testing.T) {
	src := photo(64, 48, 5)
	sub := src.SubImage(image.Rect(16, 16, 48, 48)).(*image.YCbCr)
	whole := image.NewYCbCr(image.Rect(0, 0, 32, 32), image.YCbCrSubsampleRatio420)
	for y := range 32 {
		copy(whole.Y[y*whole.YStride:y*whole.YStride+32], sub.Y[sub.YOffset(16, 16+y):])
	}
	for y := range 16 {
		copy(whole.Cb[y*whole.CStride:y*whole.CStride+16], sub.Cb[sub.COffset(16, 16+2*y):])
		copy(whole.Cr[y*whole.CStride:y*whole.CStride+16], sub.Cr[sub.COffset(16, 16+2*y):])
	}
	if !bytes.Equal(encode(t, sub, 85, 1), encode(t, whole, 85, 1)) {
		t.Error("a sub-image encodes differently from the same pixels at the origin")
	}
}

// TestEncodeRefuses returns ErrUnsupported for other layouts and an error
// for an empty image.
func TestEncodeRefuses(t *testing.T) {
	for _, m := range []image.Image{
		image.NewRGBA(image.Rect(0, 0, 4, 4)),
		image.NewYCbCr(image.Rect(0, 0, 4, 4), image.YCbCrSubsampleRatio444),
	} {
		if err := Encode(&bytes.Buffer{}, m, 85, 1); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%T: %v, want ErrUnsupported", m, err)
		}
	}
	if err := Encode(&bytes.Buffer{}, image.NewGray(image.Rect(0, 0, 0, 5)), 85, 1); err == nil {
		t.Error("an empty image encoded")
	}
}

// TestTables checks the tables against what T.81 requires of them: every
// symbol the encoder can emit has a code, codes are a prefix code, and the
// zigzag order is a permutation starting as Figure A.6 shows.
func TestTables(t *testing.T) {
	for i, s := range specs {
		n := 0
		for _, b := range s.bits {
			n += int(b)
		}
		if n != len(s.vals) {
			t.Errorf("table %d: bits count %d symbols, vals has %d", i, n, len(s.vals))
		}
		var need []int
		if i%2 == 0 {
			for c := 0; c <= 11; c++ {
				need = append(need, c)
			}
		} else {
			need = append(need, 0x00, 0xf0)
			for run := range 16 {
				for size := 1; size <= 10; size++ {
					need = append(need, run<<4|size)
				}
			}
		}
		for _, sym := range need {
			if codes[i].size[sym] == 0 {
				t.Errorf("table %d: no code for symbol %#x", i, sym)
			}
		}
		// Prefix-free: no code is a prefix of another.
		for a := range 256 {
			for b := range 256 {
				sa, sb := codes[i].size[a], codes[i].size[b]
				if a == b || sa == 0 || sb == 0 || sa > sb {
					continue
				}
				if codes[i].code[b]>>(sb-sa) == codes[i].code[a] {
					t.Fatalf("table %d: code of %#x is a prefix of %#x's", i, a, b)
				}
			}
		}
	}
	want := []int{0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5}
	seen := map[int]bool{}
	for k, n := range zigzag {
		if k < len(want) && n != want[k] {
			t.Fatalf("zigzag[%d] = %d, want %d", k, n, want[k])
		}
		seen[n] = true
	}
	if len(seen) != 64 || zigzag[63] != 63 {
		t.Errorf("zigzag is not a permutation ending at 63: %v", zigzag)
	}
}

func BenchmarkEncode(b *testing.B) {
	src := photo(1600, 2133, 1)
	for _, w := range []int{1, 2} {
		b.Run(map[int]string{1: "workers1", 2: "workers2"}[w], func(b *testing.B) {
			for b.Loop() {
				Encode(&bytes.Buffer{}, src, 85, w)
			}
		})
	}
	b.Run("image-jpeg", func(b *testing.B) {
		for b.Loop() {
			jpeg.Encode(&bytes.Buffer{}, src, &jpeg.Options{Quality: 85})
		}
	})
}
