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
	"time"
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

func TestEncodeGIFWritesDifferences(t *testing.T) {
	// A still background with a red square moving right; the last frame
	// repeats the one before it.
	bg := smooth(120, 80)
	frame := func(x int) *image.NRGBA {
		m := image.NewNRGBA(bg.Rect)
		copy(m.Pix, bg.Pix)
		draw.Draw(m, image.Rect(x, 30, x+10, 40), image.NewUniform(red), image.Point{}, draw.Src)
		return m
	}
	var a Animation
	for _, x := range []int{10, 30, 50, 50} {
		a.Frames = append(a.Frames, Frame{Image: frame(x), Delay: 100 * time.Millisecond})
	}
	var b bytes.Buffer
	if err := EncodeGIF(&b, a); err != nil {
		t.Fatal(err)
	}
	out, err := gif.DecodeAll(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Image) != 4 {
		t.Fatalf("%d frames", len(out.Image))
	}
	wantBounds := []image.Rectangle{bg.Rect, image.Rect(10, 30, 40, 40), image.Rect(30, 30, 60, 40), image.Rect(0, 0, 1, 1)}
	canvas := image.NewNRGBA(bg.Rect)
	for i, pm := range out.Image {
		if pm.Bounds() != wantBounds[i] {
			t.Errorf("frame %d bounds %v, want %v", i, pm.Bounds(), wantBounds[i])
		}
		if out.Disposal[i] != gif.DisposalNone {
			t.Errorf("frame %d disposal %d", i, out.Disposal[i])
		}
		draw.Draw(canvas, pm.Bounds(), pm, pm.Bounds().Min, draw.Over)
		// The composited canvas shows the frame: the square red, the rest
		// the background as dithered in frame 0.
		want := a.Frames[i].Image.(*image.NRGBA)
		var sum float64
		for y := 0; y < 80; y++ {
			for x := 0; x < 120; x++ {
				c, o := canvas.NRGBAAt(x, y), want.NRGBAAt(x, y)
				if c.A != 255 {
					t.Fatalf("frame %d: pixel (%d,%d) transparent after compositing", i, x, y)
				}
				sum += math.Abs(float64(c.R)-float64(o.R)) + math.Abs(float64(c.G)-float64(o.G)) + math.Abs(float64(c.B)-float64(o.B))
			}
		}
		if mean := sum / (3 * 120 * 80); mean > 10 {
			t.Errorf("frame %d: mean error %.2f after compositing", i, mean)
		}
		for _, x := range []int{35, 44} { // inside the square, only while it is there
			inSquare := x >= []int{10, 30, 50, 50}[i] && x < []int{10, 30, 50, 50}[i]+10
			if c := canvas.NRGBAAt(x, 35); inSquare != near(c, red, 40) {
				t.Errorf("frame %d: pixel (%d,35) = %v, in the square: %v", i, x, c, inSquare)
			}
		}
	}
}

func TestEncodeGIFAnimationWithTransparency(t *testing.T) {
	// Frame 0: left red, right transparent; frame 1 the other way round,
	// with blue: frame 1's left must be transparent again, not red.
	a := Animation{Frames: []Frame{
		{Image: halves(40, 20, red, transparent, false), Delay: 100 * time.Millisecond},
		{Image: halves(40, 20, transparent, blue, false), Delay: 100 * time.Millisecond},
	}}
	var b bytes.Buffer
	if err := EncodeGIF(&b, a); err != nil {
		t.Fatal(err)
	}
	out, err := gif.DecodeAll(&b)
	if err != nil {
		t.Fatal(err)
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for i, pm := range out.Image {
		if i > 0 && out.Disposal[i-1] == gif.DisposalBackground {
			draw.Draw(canvas, out.Image[i-1].Bounds(), image.Transparent, image.Point{}, draw.Src)
		}
		draw.Draw(canvas, pm.Bounds(), pm, pm.Bounds().Min, draw.Over)
	}
	if c := canvas.NRGBAAt(5, 10); c.A != 0 {
		t.Errorf("frame 1 left %v, want transparent", c)
	}
	if c := canvas.NRGBAAt(35, 10); !near(c, blue, 40) {
		t.Errorf("frame 1 right %v, want blue", c)
	}
}
