package resize

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"testing"
)

// halves returns a w×h image whose left (or, if vertical, top) half is a
// and the rest b.
func halves(w, h int, a, b color.NRGBA, vertical bool) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := b
			if (!vertical && x < w/2) || (vertical && y < h/2) {
				c = a
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

// noise returns a w×h image of pseudo-random pixels (random alpha too).
func noise(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(rng.UintN(256))
	}
	return m
}

// plan is PlanGeometry that fails the test on error.
func plan(t testing.TB, sw, sh int, o Options) Geometry {
	t.Helper()
	g, err := PlanGeometry(sw, sh, o, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// transform is Transform that fails the test on error.
func transform(t testing.TB, src image.Image, g Geometry, bg color.NRGBA, workers int) *image.NRGBA {
	t.Helper()
	m, err := Transform(src, g, bg, workers)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Bounds(); got != (image.Rectangle{Max: g.Canvas}) {
		t.Fatalf("output bounds %v, want the %v canvas", got, g.Canvas)
	}
	return m
}

// near reports whether two colours differ by at most tol in every channel.
func near(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

// eachPixel calls f for every pixel of m inside r, stopping the test at the
// first failure f reports.
func eachPixel(t *testing.T, m *image.NRGBA, r image.Rectangle, f func(c color.NRGBA) bool) {
	t.Helper()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := m.NRGBAAt(x, y); !f(c) {
				t.Fatalf("pixel (%d,%d) = %v", x, y, c)
			}
		}
	}
}

var (
	red         = color.NRGBA{255, 0, 0, 255}
	blue        = color.NRGBA{0, 0, 255, 255}
	green       = color.NRGBA{0, 255, 0, 255}
	white       = color.NRGBA{255, 255, 255, 255}
	transparent = color.NRGBA{}
)

func TestTransformGravityKeepsTheRightPixels(t *testing.T) {
	wide := halves(400, 200, red, blue, false)
	tall := halves(200, 400, green, blue, true)
	tests := []struct {
		name string
		src  *image.NRGBA
		g    Gravity
		want color.NRGBA
	}{
		{"cover gravity left keeps the red left half", wide, Gravity{Mode: GravityLeft}, red},
		{"cover gravity right keeps the blue right half", wide, Gravity{Mode: GravityRight}, blue},
		{"cover point 0.1x0.5 keeps the left half", wide, Gravity{Mode: GravityPoint, X: 100, Y: 500}, red},
		{"cover gravity top keeps the green top half", tall, Gravity{Mode: GravityTop}, green},
		{"cover gravity bottom keeps the blue bottom half", tall, Gravity{Mode: GravityBottom}, blue},
	}
	for _, tt := range tests {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.name, workers), func(t *testing.T) {
				g := plan(t, 400, 200, Options{Width: 64, Height: 64, Fit: FitCover, Gravity: tt.g})
				if tt.src == tall {
					g = plan(t, 200, 400, Options{Width: 64, Height: 64, Fit: FitCover, Gravity: tt.g})
				}
				m := transform(t, tt.src, g, transparent, workers)
				eachPixel(t, m, m.Bounds(), func(c color.NRGBA) bool { return near(c, tt.want, 1) })
			})
		}
	}
}

func TestTransformCentreCoverKeepsBoth(t *testing.T) {
	m := transform(t, halves(400, 200, red, blue, false), plan(t, 400, 200, Options{Width: 64, Height: 64, Fit: FitCover}), transparent, 1)
	if c := m.NRGBAAt(0, 32); !near(c, red, 1) {
		t.Errorf("left edge %v, want red", c)
	}
	if c := m.NRGBAAt(63, 32); !near(c, blue, 1) {
		t.Errorf("right edge %v, want blue", c)
	}
}

// uniformImages returns one uniform image of each decoder type, with the
// colour each should come out as.
func uniformImages(w, h int) map[string]struct {
	img  image.Image
	want color.NRGBA
} {
	out := map[string]struct {
		img  image.Image
		want color.NRGBA
	}{}
	r := image.Rect(0, 0, w, h)
	fill := func(name string, m draw.Image, c color.Color) {
		draw.Draw(m, r, image.NewUniform(c), image.Point{}, draw.Src)
		out[name] = struct {
			img  image.Image
			want color.NRGBA
		}{m, color.NRGBAModel.Convert(c).(color.NRGBA)}
	}
	fill("NRGBA opaque", image.NewNRGBA(r), color.NRGBA{10, 200, 30, 255})
	fill("NRGBA translucent", image.NewNRGBA(r), color.NRGBA{10, 200, 30, 128})
	fill("RGBA", image.NewRGBA(r), color.RGBA{100, 50, 25, 255})
	fill("Gray", image.NewGray(r), color.Gray{77})
	fill("CMYK", image.NewCMYK(r), color.CMYK{10, 80, 160, 20})
	fill("RGBA64 (generic path)", image.NewRGBA64(r), color.RGBA64{0x4000, 0x8000, 0xc000, 0xffff})
	pal := image.NewPaletted(r, color.Palette{color.NRGBA{0, 0, 0, 0}, color.NRGBA{200, 100, 50, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = 1
	}
	out["Paletted"] = struct {
		img  image.Image
		want color.NRGBA
	}{pal, color.NRGBA{200, 100, 50, 255}}
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio411} {
		m := image.NewYCbCr(r, ratio)
		for i := range m.Y {
			m.Y[i] = 120
		}
		for i := range m.Cb {
			m.Cb[i], m.Cr[i] = 90, 170
		}
		rr, gg, bb := color.YCbCrToRGB(120, 90, 170)
		out["YCbCr "+ratio.String()] = struct {
			img  image.Image
			want color.NRGBA
		}{m, color.NRGBA{rr, gg, bb, 255}}
	}
	return out
}

func TestTransformUniformStaysUniform(t *testing.T) {
	for name, tc := range uniformImages(233, 150) {
		for _, o := range []Options{{Width: 100}, {Width: 300, Fit: FitContain}, {Width: 90, Height: 90, Fit: FitCover}, {Width: 233}} {
			t.Run(name+"/"+o.Canonical(), func(t *testing.T) {
				m := transform(t, tc.img, plan(t, 233, 150, o), transparent, 2)
				eachPixel(t, m, m.Bounds(), func(c color.NRGBA) bool { return near(c, tc.want, 1) })
			})
		}
	}
}

func TestTransformAlphaEdgeHasNoDarkFringe(t *testing.T) {
	// Opaque red against transparent black: resampling straight alpha would
	// mix the black into the edge.
	src := halves(301, 120, red, transparent, false)
	for _, o := range []Options{{Width: 100}, {Width: 37}, {Width: 900, Fit: FitContain}} {
		t.Run(o.Canonical(), func(t *testing.T) {
			m := transform(t, src, plan(t, 301, 120, o), transparent, 1)
			partial := 0
			eachPixel(t, m, m.Bounds(), func(c color.NRGBA) bool {
				if c.A > 0 && c.A < 255 {
					partial++
				}
				return c.A == 0 || (c.R >= 254 && c.G <= 1 && c.B <= 1)
			})
			if partial == 0 {
				t.Error("no partly transparent pixel: the edge was not resampled")
			}
		})
	}
}

func TestTransformFlattensOntoBackground(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	draw.Draw(src, image.Rect(0, 0, 20, 40), image.NewUniform(color.NRGBA{255, 0, 0, 128}), image.Point{}, draw.Src)
	// The right half stays transparent.
	m := transform(t, src, plan(t, 40, 40, Options{Format: FormatJPEG}), Background(Options{}, FormatJPEG), 1)
	eachPixel(t, m, image.Rect(0, 0, 20, 40), func(c color.NRGBA) bool { return near(c, color.NRGBA{255, 127, 127, 255}, 1) })
	eachPixel(t, m, image.Rect(20, 0, 40, 40), func(c color.NRGBA) bool { return c == white })

	// An explicit background applies to PNG too; the default keeps alpha.
	o := Options{Background: "#0000ff"}
	m = transform(t, src, plan(t, 40, 40, o), Background(o, FormatPNG), 1)
	eachPixel(t, m, image.Rect(20, 0, 40, 40), func(c color.NRGBA) bool { return c == blue })
	m = transform(t, src, plan(t, 40, 40, Options{}), Background(Options{}, FormatPNG), 1)
	eachPixel(t, m, image.Rect(0, 0, 20, 40), func(c color.NRGBA) bool { return near(c, color.NRGBA{255, 0, 0, 128}, 1) })
	eachPixel(t, m, image.Rect(20, 0, 40, 40), func(c color.NRGBA) bool { return c.A == 0 })
}

func TestTransformPadFillsWithBackground(t *testing.T) {
	src := halves(80, 40, red, red, false)
	g := plan(t, 80, 40, Options{Width: 60, Height: 60, Fit: FitPad})
	if g.Dst != image.Rect(0, 15, 60, 45) {
		t.Fatalf("Dst %v", g.Dst)
	}
	bg := color.NRGBA{0, 255, 0, 255}
	m := transform(t, src, g, bg, 2)
	eachPixel(t, m, image.Rect(0, 0, 60, 15), func(c color.NRGBA) bool { return c == bg })
	eachPixel(t, m, image.Rect(0, 45, 60, 60), func(c color.NRGBA) bool { return c == bg })
	eachPixel(t, m, g.Dst, func(c color.NRGBA) bool { return near(c, red, 1) })
	// Default (transparent) padding for PNG.
	m = transform(t, src, g, Background(Options{}, FormatPNG), 2)
	eachPixel(t, m, image.Rect(0, 0, 60, 15), func(c color.NRGBA) bool { return c == transparent })
}

func TestTransformOutputSizeForEveryFit(t *testing.T) {
	src := noise(300, 200, 1)
	for fit := FitScaleDown; fit <= FitPad; fit++ {
		for _, box := range [][2]int{{100, 100}, {500, 120}, {40, 0}, {0, 260}} {
			o := Options{Width: box[0], Height: box[1], Fit: fit}
			t.Run(o.Canonical(), func(t *testing.T) {
				g := plan(t, 300, 200, o)
				transform(t, src, g, transparent, 2) // checks the bounds
			})
		}
	}
}

func TestTransformIdentityCopies(t *testing.T) {
	src := noise(97, 61, 2)
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = 255
	}
	m := transform(t, src, plan(t, 97, 61, Options{}), transparent, 2)
	if !bytes.Equal(m.Pix, src.Pix) {
		t.Error("an identity transform changed opaque pixels")
	}
	// A crop without scaling copies the crop.
	g := plan(t, 97, 61, Options{Width: 50, Height: 200, Fit: FitCrop, Gravity: Gravity{Mode: GravityRight}})
	m = transform(t, src, g, transparent, 1)
	want := src.SubImage(image.Rect(47, 0, 97, 61)).(*image.NRGBA)
	for y := 0; y < 61; y++ {
		if !bytes.Equal(m.Pix[y*m.Stride:y*m.Stride+200], want.Pix[y*want.Stride:y*want.Stride+200]) {
			t.Fatalf("row %d of the crop differs", y)
		}
	}
}

func TestTransformKeepsPositions(t *testing.T) {
	// A horizontal ramp: each output pixel should have the value at its
	// centre in the source (no half-pixel shift).
	const sw = 800
	src := image.NewGray(image.Rect(0, 0, sw, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < sw; x++ {
			src.Pix[y*src.Stride+x] = uint8(x * 255 / (sw - 1))
		}
	}
	for _, dw := range []int{100, 37, 1600} {
		g := Geometry{Canvas: image.Pt(dw, 8), Dst: image.Rect(0, 0, dw, 8), Src: image.Rect(0, 0, sw, 8)}
		m := transform(t, src, g, transparent, 1)
		scale := float64(sw) / float64(dw)
		for x := 3; x < dw-3; x++ { // edges are clamped
			c := (float64(x)+0.5)*scale - 0.5
			want := c * 255 / (sw - 1)
			if got := float64(m.NRGBAAt(x, 4).R); got < want-1.5 || got > want+1.5 {
				t.Fatalf("width %d: pixel %d = %v, want %.1f", dw, x, got, want)
			}
		}
	}
}

func TestTransformYCbCrMatchesGenericConversion(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, ratio := range ratios {
		full := image.NewYCbCr(image.Rect(0, 0, 131, 77), ratio)
		for _, p := range [][]uint8{full.Y, full.Cb, full.Cr} {
			for i := range p {
				p[i] = uint8(rng.UintN(256))
			}
		}
		// A sub-image has an odd, non-zero origin.
		sub := full.SubImage(image.Rect(3, 5, 120, 70)).(*image.YCbCr)
		for _, src := range []*image.YCbCr{full, sub} {
			b := src.Bounds()
			ref := image.NewRGBA(b)
			draw.Draw(ref, b, src, b.Min, draw.Src)
			for _, o := range []Options{{}, {Width: 40}} {
				t.Run(fmt.Sprintf("%v/%v/%s", ratio, b, o.Canonical()), func(t *testing.T) {
					g := plan(t, b.Dx(), b.Dy(), o)
					got := transform(t, src, g, transparent, 1)
					want := transform(t, ref, g, transparent, 1)
					tol := 1
					if o.Width > 0 {
						tol = 2
					}
					for i := range got.Pix {
						if d := int(got.Pix[i]) - int(want.Pix[i]); d > tol || -d > tol {
							t.Fatalf("byte %d: %d, want %d±%d", i, got.Pix[i], want.Pix[i], tol)
						}
					}
				})
			}
		}
	}
}

func TestTransformParallelEqualsSerial(t *testing.T) {
	src := noise(320, 240, 5)
	opts := []Options{
		{Width: 200},
		{Width: 450, Fit: FitContain},
		{Width: 150, Height: 300, Fit: FitCover, Gravity: Gravity{Mode: GravityPoint, X: 300, Y: 700}},
		{Width: 300, Height: 300, Fit: FitPad},
		{Width: 320, Height: 100, Fit: FitCrop},
	}
	for _, o := range opts {
		g := plan(t, 320, 240, o)
		bg := color.NRGBA{10, 20, 30, 200}
		want := transform(t, src, g, bg, 1)
		for _, workers := range []int{2, 3, 7, 1000} {
			got := transform(t, src, g, bg, workers)
			if !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("%s: %d workers differ from 1", o.Canonical(), workers)
			}
		}
	}
}

func TestTransformRefusesBadGeometry(t *testing.T) {
	src := noise(10, 10, 1)
	bad := []Geometry{
		{Canvas: image.Pt(5, 5), Dst: image.Rect(0, 0, 5, 5), Src: image.Rect(0, 0, 11, 10)},
		{Canvas: image.Pt(5, 5), Dst: image.Rect(0, 0, 6, 5), Src: image.Rect(0, 0, 10, 10)},
		{Canvas: image.Pt(5, 5), Dst: image.Rect(0, 0, 5, 5)},
		{Canvas: image.Pt(MaxDimension+1, 1), Dst: image.Rect(0, 0, 5, 1), Src: image.Rect(0, 0, 10, 10)},
	}
	for _, g := range bad {
		if _, err := Transform(src, g, transparent, 1); err == nil {
			t.Errorf("Transform(%+v) gave no error", g)
		}
	}
}

func TestMakeTapsWeightsSumToOne(t *testing.T) {
	for _, c := range [][2]int{{800, 100}, {100, 800}, {7, 3}, {3, 7}, {10000, 1}, {1, 5}, {5, 5}, {4000, 400}, {1001, 250}, {399, 100}} {
		tp := makeTaps(c[0], c[1], shrinkAndTaps)
		if tp.mid != (c[0]+tp.k-1)/tp.k || tp.k < 1 {
			t.Fatalf("%d→%d: box shrink %d to %d", c[0], c[1], tp.k, tp.mid)
		}
		if s := float64(c[0]) / float64(c[1]); s >= 4 && float64(c[0])/float64(tp.k)/float64(c[1]) < 2 {
			t.Fatalf("%d→%d: box shrink %d leaves a residual under 2", c[0], c[1], tp.k)
		}
		for i := range c[1] {
			var sum float64
			for _, w := range tp.w[i*tp.n : i*tp.n+int(tp.count[i])] {
				sum += float64(w)
			}
			if s, n := int(tp.start[i]), int(tp.count[i]); sum < 0.9999 || sum > 1.0001 || s < 0 || s+n > tp.mid || n < 1 || n > tp.n {
				t.Fatalf("%d→%d output %d: start %d count %d sum %v", c[0], c[1], i, s, n, sum)
			}
		}
	}
}

func TestTransformBytesCoversTheCanvas(t *testing.T) {
	g := plan(t, 4000, 3000, Options{Width: 400})
	n := TransformBytes(g, 2)
	if canvas := int64(4 * 400 * 300); n < canvas || n > canvas+4<<20 {
		t.Errorf("TransformBytes = %d for a %d-byte canvas", n, canvas)
	}
}

// BenchmarkResize resizes a generated 4000×3000 photo-like image (4:2:0
// YCbCr, as a JPEG decodes) to 400 px wide on one and two goroutines.
func BenchmarkResize(b *testing.B) {
	src := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, p := range [][]uint8{src.Y, src.Cb, src.Cr} {
		for i := range p {
			p[i] = uint8(rng.UintN(256))
		}
	}
	g := plan(b, 4000, 3000, Options{Width: 400})
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("N=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Transform(src, g, transparent, workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// noShrink plans Catmull-Rom on the source itself, without a box shrink.
func noShrink(sn, dn int) (int, int) {
	if sn == dn {
		return 1, 1
	}
	return 1, 2*int(math.Ceil(2*max(float64(sn)/float64(dn), 1))) + 1
}

func TestTransformBoxShrinkIsCloseToDirectFiltering(t *testing.T) {
	// A smooth photo-like pattern with detail at several scales.
	const w, h = 800, 600
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			v := func(a, b float64) uint8 { return uint8(127.5 + 127.5*math.Sin(fx/a+fy/b)) }
			src.SetNRGBA(x, y, color.NRGBA{v(37, 91), v(13, 55), v(150, 23), 255})
		}
	}
	for _, dw := range []int{200, 97, 40} {
		g := plan(t, w, h, Options{Width: dw})
		got, err := transformPlanned(src, g, transparent, 1, shrinkAndTaps)
		if err != nil {
			t.Fatal(err)
		}
		want, err := transformPlanned(src, g, transparent, 1, noShrink)
		if err != nil {
			t.Fatal(err)
		}
		var worst, sum float64
		for i := range got.Pix {
			d := math.Abs(float64(got.Pix[i]) - float64(want.Pix[i]))
			worst = max(worst, d)
			sum += d
		}
		mean := sum / float64(len(got.Pix))
		t.Logf("width %d: mean difference %.2f, worst %v", dw, mean, worst)
		if mean > 1 || worst > 8 {
			t.Errorf("width %d: box shrink differs from direct filtering by %.2f on average, %v at worst", dw, mean, worst)
		}
	}
}

// TestTransformGolden pins Transform's output bytes: the same variant must
// come out byte for byte the same on every node, whatever its architecture
// (no fused multiply-adds) or its worker count. A deliberate change to the
// filter changes these hashes; update them then.
func TestTransformGolden(t *testing.T) {
	src := noise(211, 157, 42)
	tests := []struct {
		o    Options
		bg   color.NRGBA
		want string
	}{
		{Options{Width: 50}, transparent, "52f8785fd0decbfe4e145cb0059bbbf79d0bfe1038d18b5953936c98b0e37296"},
		{Options{Width: 500, Fit: FitContain}, transparent, "029312b71d46a22698f902edaf482c39be7f8fbdaada44f72ffb6ee7c75cb150"},
		{Options{Width: 60, Height: 90, Fit: FitCover, Gravity: Gravity{Mode: GravityPoint, X: 250, Y: 750}}, white, "8a9f5198f13cc4d3ed0d3acdd1460e8d997b8568ca0664fbc67b3c5be401fefd"},
		{Options{Width: 80, Height: 80, Fit: FitPad}, color.NRGBA{1, 2, 3, 100}, "a922ac38ebc5383eb8b1a53a7e4e0f54f9b4d72ebc6da3a89fbde887d68b00f1"},
	}
	for _, tt := range tests {
		m := transform(t, src, plan(t, 211, 157, tt.o), tt.bg, 3)
		if got := fmt.Sprintf("%x", sha256.Sum256(m.Pix)); got != tt.want {
			t.Errorf("%s over %v: sha256 %s, want %s", tt.o.Canonical(), tt.bg, got, tt.want)
		}
	}
}
