package jpegdec

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"
)

// synth makes a w×h test picture: gradients, noise, hard edges and a few thin lines.
func synth(w, h int, seed uint64) *image.RGBA { return synthNoise(w, h, seed, 15) }

// synthNoise is synth with noise of ±amp.
func synthNoise(w, h int, seed uint64, amp int) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r := 255 * x / max(w-1, 1)
			g := 255 * y / max(h-1, 1)
			b := int(128 + 100*math.Sin(float64(x+y)/7))
			if (x/13+y/11)%2 == 0 {
				r, b = 255-r, 255-b
			}
			if x%37 == 0 || y%29 == 0 {
				g = 255 - g
			}
			n := rng.IntN(2*amp+1) - amp
			img.Pix[y*img.Stride+4*x] = uint8(min(max(r+n, 0), 255))
			img.Pix[y*img.Stride+4*x+1] = uint8(min(max(g+n, 0), 255))
			img.Pix[y*img.Stride+4*x+2] = uint8(min(max(b-n, 0), 255))
			img.Pix[y*img.Stride+4*x+3] = 255
		}
	}
	return img
}

func encodeStd(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// channels returns an image's pixels as 8-bit channel values in a fixed layout (gray: 1,
// YCbCr: Y,Cb,Cr per pixel, CMYK: 4, RGBA: 3), so two decodes can be compared.
func channels(img image.Image) (n int, px []int) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		n = 1
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				px = append(px, int(m.GrayAt(x, y).Y))
			}
		}
	case *image.YCbCr:
		n = 3
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.YCbCrAt(x, y)
				px = append(px, int(c.Y), int(c.Cb), int(c.Cr))
			}
		}
	case *image.CMYK:
		n = 4
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.CMYKAt(x, y)
				px = append(px, int(c.C), int(c.M), int(c.Y), int(c.K))
			}
		}
	case *image.RGBA:
		n = 3
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.RGBAAt(x, y)
				px = append(px, int(c.R), int(c.G), int(c.B))
			}
		}
	default:
		n = 3
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				px = append(px, int(c.R), int(c.G), int(c.B))
			}
		}
	}
	return n, px
}

// planes returns an image's sample planes (Y, Cb, Cr for YCbCr, at their own resolution;
// the single plane of a Gray; the four channels of a CMYK; R, G, B otherwise) with their sizes.
func planes(img image.Image) (ps [][]int, ws, hs []int) {
	b := img.Bounds()
	add := func(w, h int, at func(x, y int) int) {
		p := make([]int, 0, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p = append(p, at(x, y))
			}
		}
		ps, ws, hs = append(ps, p), append(ws, w), append(hs, h)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		add(b.Dx(), b.Dy(), func(x, y int) int { return int(m.Y[m.YOffset(x, y)]) })
		cw, ch := b.Dx(), b.Dy()
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			cw = (cw + 1) / 2
		case image.YCbCrSubsampleRatio420:
			cw, ch = (cw+1)/2, (ch+1)/2
		case image.YCbCrSubsampleRatio440:
			ch = (ch + 1) / 2
		case image.YCbCrSubsampleRatio411:
			cw = (cw + 3) / 4
		case image.YCbCrSubsampleRatio410:
			cw, ch = (cw+3)/4, (ch+1)/2
		}
		add(cw, ch, func(x, y int) int { return int(m.Cb[y*m.CStride+x]) })
		add(cw, ch, func(x, y int) int { return int(m.Cr[y*m.CStride+x]) })
	default:
		n, px := channels(img)
		for c := 0; c < n; c++ {
			add(b.Dx(), b.Dy(), func(x, y int) int { return px[(y*b.Dx()+x)*n+c] })
		}
	}
	return ps, ws, hs
}

// reducedPSNR compares got, a decode at 1/s, with full, a full-size decode whose planes are
// box-reduced (each s×s group averaged) plane by plane. Groups that the image edge cuts
// are left out: the decoder averages the block padding there, the reference cannot.
// It returns the PSNR over all planes and that of the first (luma) plane.
func reducedPSNR(t *testing.T, got, full image.Image, s int) (all, luma float64) {
	t.Helper()
	gp, gw, gh := planes(got)
	fp, fw, fh := planes(full)
	if len(gp) != len(fp) {
		t.Fatalf("%T has %d planes, %T %d", got, len(gp), full, len(fp))
	}
	var se, n, se0, n0 float64
	for i := range fp {
		if gw[i] != (fw[i]+s-1)/s || gh[i] != (fh[i]+s-1)/s {
			t.Fatalf("plane %d is %dx%d, want %dx%d", i, gw[i], gh[i], (fw[i]+s-1)/s, (fh[i]+s-1)/s)
		}
		for y := 0; y < fh[i]/s; y++ {
			for x := 0; x < fw[i]/s; x++ {
				sum := 0
				for yy := y * s; yy < y*s+s; yy++ {
					for xx := x * s; xx < x*s+s; xx++ {
						sum += fp[i][yy*fw[i]+xx]
					}
				}
				d := float64(gp[i][y*gw[i]+x]) - float64(sum)/float64(s*s)
				se += d * d
				n++
				if i == 0 {
					se0 += d * d
					n0++
				}
			}
		}
	}
	return psnrOf(se, n), psnrOf(se0, n0)
}

func psnrOf(se, n float64) float64 {
	if se == 0 || n == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/n))
}

func grayOf(img *image.RGBA) *image.Gray {
	g := image.NewGray(img.Bounds())
	for i := range g.Pix {
		p := img.Pix[4*i : 4*i+3]
		g.Pix[i] = uint8((int(p[0])*299 + int(p[1])*587 + int(p[2])*114) / 1000)
	}
	return g
}

// rgbChannels is channels of img converted to RGB.
func rgbChannels(img image.Image) (int, []int) { return channels(toRGBA(img)) }

func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}
