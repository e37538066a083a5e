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
func synth(w, h int, seed uint64) *image.RGBA {
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
			n := rng.IntN(31) - 15
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

// boxReduce averages s×s groups of an image's channels (partial groups at the edges average
// what they have), the reference for a decode at 1/s.
func boxReduce(img image.Image, s int) (w, h, n int, px []int) {
	n, full := channels(img)
	b := img.Bounds()
	fw, fh := b.Dx(), b.Dy()
	w, h = (fw+s-1)/s, (fh+s-1)/s
	px = make([]int, w*h*n)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < n; c++ {
				sum, cnt := 0, 0
				for yy := y * s; yy < min(y*s+s, fh); yy++ {
					for xx := x * s; xx < min(x*s+s, fw); xx++ {
						sum += full[(yy*fw+xx)*n+c]
						cnt++
					}
				}
				px[(y*w+x)*n+c] = (sum + cnt/2) / cnt
			}
		}
	}
	return w, h, n, px
}

func grayOf(img *image.RGBA) *image.Gray {
	g := image.NewGray(img.Bounds())
	for i := range g.Pix {
		p := img.Pix[4*i : 4*i+3]
		g.Pix[i] = uint8((int(p[0])*299 + int(p[1])*587 + int(p[2])*114) / 1000)
	}
	return g
}
