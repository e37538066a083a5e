//go:build ignore

// genphoto writes examples/bucket/images/valley.jpg, the 2000×1333 synthetic
// landscape the example page's "Responsive images" section uses: large
// enough that its 800- and 1600-px variants are real downscales. Every pixel
// is computed here (no third-party image), so the file can be redistributed
// with the project. Run from the repository root:
//
//	go run e2e/genphoto.go
package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
)

const (
	width   = 2000
	height  = 1333
	quality = 82
	out     = "examples/bucket/images/valley.jpg"
)

// hash2 is a deterministic integer hash of a lattice point, in [0, 1).
func hash2(x, y int, seed uint32) float64 {
	h := uint32(x)*374761393 + uint32(y)*668265263 + seed*2246822519
	h = (h ^ (h >> 13)) * 1274126177
	h ^= h >> 16
	return float64(h&0xffffff) / float64(0x1000000)
}

// noise is smooth value noise at (x, y).
func noise(x, y float64, seed uint32) float64 {
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	fx = fx * fx * (3 - 2*fx)
	fy = fy * fy * (3 - 2*fy)
	ix, iy := int(x0), int(y0)
	a := hash2(ix, iy, seed)
	b := hash2(ix+1, iy, seed)
	c := hash2(ix, iy+1, seed)
	d := hash2(ix+1, iy+1, seed)
	return a + (b-a)*fx + (c-a)*fy + (a-b-c+d)*fx*fy
}

// fbm sums octaves of noise; the result is roughly in [0, 1).
func fbm(x, y float64, octaves int, seed uint32) float64 {
	sum, amp, norm := 0.0, 0.5, 0.0
	for i := 0; i < octaves; i++ {
		sum += amp * noise(x, y, seed+uint32(i)*17)
		norm += amp
		x, y = x*2.03, y*2.03
		amp *= 0.5
	}
	return sum / norm
}

// rgb is a colour with float channels in [0, 1].
type rgb struct{ r, g, b float64 }

func mix(a, b rgb, t float64) rgb {
	t = math.Max(0, math.Min(1, t))
	return rgb{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t}
}

func (c rgb) scale(k float64) rgb { return rgb{c.r * k, c.g * k, c.b * k} }

func clamp8(v float64) uint8 {
	v = math.Round(v * 255)
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ridge describes one range of hills: its base height (fraction of the
// image height from the top), how tall its noise makes it, its colour and
// how much haze sits on it.
type ridge struct {
	base, amp, freq float64
	seed            uint32
	col             rgb
	haze            float64
}

func main() {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	skyTop := rgb{0.20, 0.36, 0.62}
	skyLow := rgb{0.96, 0.78, 0.58}
	hazeCol := rgb{0.86, 0.80, 0.78}
	sunX, sunY := 0.68*width, 0.40*height
	ridges := []ridge{
		{0.52, 0.24, 1.6, 11, rgb{0.40, 0.44, 0.62}, 0.35},
		{0.63, 0.20, 2.4, 23, rgb{0.28, 0.40, 0.42}, 0.22},
		{0.76, 0.18, 3.3, 37, rgb{0.26, 0.42, 0.20}, 0.08},
		{0.90, 0.14, 4.1, 51, rgb{0.22, 0.36, 0.12}, 0.0},
	}
	for y := 0; y < height; y++ {
		fy := float64(y) / height
		for x := 0; x < width; x++ {
			fx := float64(x) / width
			// Sky: vertical gradient, a soft sun and a few clouds.
			c := mix(skyTop, skyLow, math.Pow(fy/0.6, 1.3))
			d := math.Hypot(float64(x)-sunX, float64(y)-sunY) / height
			c = mix(c, rgb{1, 0.95, 0.82}, math.Exp(-d*d*40))
			if d < 0.045 {
				c = mix(c, rgb{1, 0.98, 0.90}, (0.045-d)/0.01)
			}
			cloud := fbm(fx*6, fy*18, 5, 3) - 0.55
			if cloud > 0 && fy < 0.45 {
				c = mix(c, rgb{1, 0.93, 0.90}, cloud*2.2*(1-fy/0.45))
			}
			// Hills, back to front: the last one whose outline is above
			// this pixel paints it.
			for i, r := range ridges {
				top := r.base - r.amp*fbm(fx*r.freq, float64(i)*7.3, 6, r.seed)
				if fy < top {
					continue
				}
				depth := (fy - top) / (1 - top)
				tex := fbm(fx*r.freq*14, fy*r.freq*20, 4, r.seed+5)
				hc := r.col.scale(0.78 + 0.4*tex - 0.25*depth)
				// Light from the sun's side.
				hc = mix(hc, rgb{0.95, 0.80, 0.55}, 0.18*(1-math.Abs(fx-0.68))*(1-depth))
				c = mix(hc, hazeCol, r.haze*(1-depth*0.5))
			}
			img.SetRGBA(x, y, color.RGBA{clamp8(c.r), clamp8(c.g), clamp8(c.b), 255})
		}
	}
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genphoto:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: quality}); err != nil {
		fmt.Fprintln(os.Stderr, "genphoto: encode:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genphoto: write:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genphoto: close:", err)
		os.Exit(1)
	}
}
