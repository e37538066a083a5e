package resize

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"math"
	"testing"
)

// smooth returns an opaque photo-like w×h image: smooth colour waves.
func smooth(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			v := func(a, b float64) uint8 { return uint8(127.5 + 127.5*math.Sin(fx/a+fy/b)) }
			m.SetNRGBA(x, y, color.NRGBA{v(37, 91), v(53, 55), v(150, 23), 255})
		}
	}
	return m
}

// gifError encodes m as a GIF, decodes it and returns the mean absolute
// channel error.
func gifError(t *testing.T, m *image.NRGBA) float64 {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeGIF(&b, Animation{Frames: []Frame{{Image: m}}}); err != nil {
		t.Fatal(err)
	}
	out, err := gif.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for y := 0; y < m.Rect.Dy(); y++ {
		for x := 0; x < m.Rect.Dx(); x++ {
			c := color.NRGBAModel.Convert(out.At(x, y)).(color.NRGBA)
			o := m.NRGBAAt(x, y)
			sum += math.Abs(float64(c.R)-float64(o.R)) + math.Abs(float64(c.G)-float64(o.G)) + math.Abs(float64(c.B)-float64(o.B))
		}
	}
	return sum / float64(3*m.Rect.Dx()*m.Rect.Dy())
}

func TestEncodeGIFPaletteFitsThePicture(t *testing.T) {
	m := smooth(200, 150)
	got := gifError(t, m)
	// What the fixed Plan 9 palette would give, for the log.
	p9 := image.NewPaletted(m.Rect, palette.Plan9)
	draw.FloydSteinberg.Draw(p9, m.Rect, m, image.Point{})
	var sum float64
	for i := range m.Rect.Dx() * m.Rect.Dy() {
		c := color.NRGBAModel.Convert(p9.Palette[p9.Pix[i]]).(color.NRGBA)
		o := m.Pix[4*i : 4*i+3]
		sum += math.Abs(float64(c.R)-float64(o[0])) + math.Abs(float64(c.G)-float64(o[1])) + math.Abs(float64(c.B)-float64(o[2]))
	}
	plan9 := sum / float64(3*m.Rect.Dx()*m.Rect.Dy())
	t.Logf("mean error: median cut %.2f, Plan 9 %.2f", got, plan9)
	if got > 10 || got > 0.75*plan9 {
		t.Errorf("mean error %.2f (Plan 9: %.2f)", got, plan9)
	}
}

func TestEncodeGIFKeepsFewColoursExactly(t *testing.T) {
	m := halves(60, 40, color.NRGBA{200, 30, 77, 255}, color.NRGBA{12, 140, 250, 255}, false)
	draw.Draw(m, image.Rect(0, 0, 60, 10), image.NewUniform(color.NRGBA{250, 250, 5, 255}), image.Point{}, draw.Src)
	if e := gifError(t, m); e != 0 {
		t.Errorf("three colours came back with mean error %v", e)
	}
}

func TestMedianCut(t *testing.T) {
	m := smooth(120, 90)
	for _, n := range []int{1, 2, 16, 255, 256} {
		p := medianCut([]image.Image{m}, n)
		if len(p) < 1 || len(p) > n {
			t.Errorf("n=%d: %d colours", n, len(p))
		}
		if q := medianCut([]image.Image{m}, n); !slicesEqual(p, q) {
			t.Errorf("n=%d: two runs differ", n)
		}
	}
	if p := medianCut([]image.Image{image.NewNRGBA(image.Rect(0, 0, 4, 4))}, 256); len(p) != 1 {
		t.Errorf("transparent image: %d colours", len(p))
	}
	// Over maxPaletteSamples pixels in all: rows are sampled, the palette
	// still covers both frames' colours.
	big := []image.Image{halves(1024, 600, red, red, false), halves(1024, 600, blue, blue, false)}
	p := medianCut(big, 256)
	if len(p) != 2 {
		t.Errorf("two colours over two big frames: palette %v", p)
	}
}

func slicesEqual(a, b color.Palette) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
