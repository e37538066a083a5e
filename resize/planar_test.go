package resize

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"
)

// inGamut is photoYCbCr(w, h) turned into RGB and back, with chroma
// subsampled as r: a Y'CbCr image every sample of which is a colour (the
// plane-wise and the RGBA resampling then differ by rounding alone; out
// of gamut, the RGBA path clamps each source pixel first).
func inGamut(w, h int, r image.YCbCrSubsampleRatio) *image.YCbCr {
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(rgba, rgba.Rect, photoYCbCr(w, h), image.Point{}, draw.Src)
	if r == image.YCbCrSubsampleRatio420 {
		return rgbaToYCbCr420(rgba)
	}
	m := image.NewYCbCr(rgba.Rect, r)
	for y := range h {
		for x := range w {
			c := rgba.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			m.Y[m.YOffset(x, y)] = yy
			m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)] = cb, cr
		}
	}
	return m
}

// planePSNR compares w×h samples of two planes.
func planePSNR(a, b []uint8, w, h, sa, sb int) float64 {
	var se float64
	for y := range h {
		for x := range w {
			d := float64(a[y*sa+x]) - float64(b[y*sb+x])
			se += d * d
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(w*h)))
}

// TestTransformYCbCrMatchesTheRGBAPath: resampling the planes (chroma at
// its own resolution, output 4:2:0) gives, plane by plane, what Transform
// gives converted to 4:2:0, for reductions, enlargements, crops at odd
// offsets and every subsampling; and the same bytes on any number of
// workers.
func TestTransformYCbCrMatchesTheRGBAPath(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio444,
		image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio440}
	cases := []struct {
		src  image.Rectangle
		size image.Point
	}{
		{image.Rect(0, 0, 301, 203), image.Pt(21, 14)},   // box shrink, then the filter
		{image.Rect(0, 0, 301, 203), image.Pt(160, 108)}, // under 2×
		{image.Rect(0, 0, 301, 203), image.Pt(301, 203)}, // identity
		{image.Rect(0, 0, 301, 203), image.Pt(450, 300)}, // enlargement
		{image.Rect(37, 11, 250, 180), image.Pt(99, 77)}, // a crop at odd offsets
		{image.Rect(1, 1, 300, 202), image.Pt(1, 1)},
	}
	for _, r := range ratios {
		src := inGamut(301, 203, r)
		for _, c := range cases {
			g := Geometry{Canvas: c.size, Dst: image.Rectangle{Max: c.size}, Src: c.src}
			p, ok := transformYCbCr(src, g, 1, 1)
			if !ok {
				t.Fatalf("%v %+v: not handled", r, c)
			}
			p3, _ := transformYCbCr(src, g, 1, 3)
			if string(p3.Y) != string(p.Y) || string(p3.Cb) != string(p.Cb) || string(p3.Cr) != string(p.Cr) {
				t.Errorf("%v %+v: 3 workers give other bytes than 1", r, c)
			}
			n, err := Transform(src, g, DefaultBackground, 1)
			if err != nil {
				t.Fatal(err)
			}
			q := rgbaToYCbCr420((*image.RGBA)(n))
			cw, ch := (c.size.X+1)/2, (c.size.Y+1)/2
			for _, pl := range []struct {
				name   string
				a, b   []uint8
				w, h   int
				sa, sb int
			}{
				{"Y", p.Y, q.Y, c.size.X, c.size.Y, p.YStride, q.YStride},
				{"Cb", p.Cb, q.Cb, cw, ch, p.CStride, q.CStride},
				{"Cr", p.Cr, q.Cr, cw, ch, p.CStride, q.CStride},
			} {
				// A pixel or two: the box bins' edges differ between
				// the planes' resolutions.
				min := 48.0
				if c.size.X*c.size.Y < 4 {
					min = 30
				}
				if db := planePSNR(pl.a, pl.b, pl.w, pl.h, pl.sa, pl.sb); db < min {
					t.Errorf("%v %+v: %s plane PSNR %.1f dB against the RGBA path", r, c, pl.name, db)
				}
			}
		}
	}
}

// TestTransformYCbCrDeclines: padding, an unknown layout or a geometry
// outside the image go to Transform.
func TestTransformYCbCrDeclines(t *testing.T) {
	src := inGamut(64, 48, image.YCbCrSubsampleRatio420)
	full := image.Rectangle{Max: image.Pt(32, 24)}
	for name, g := range map[string]Geometry{
		"padding": {Canvas: image.Pt(40, 24), Dst: full, Src: src.Rect},
		"outside": {Canvas: full.Max, Dst: full, Src: image.Rect(0, 0, 65, 48)},
		"empty":   {Canvas: full.Max, Dst: full, Src: image.Rect(3, 3, 3, 9)},
	} {
		if _, ok := transformYCbCr(src, g, 1, 1); ok {
			t.Errorf("%s: handled", name)
		}
	}
	odd := *src
	odd.SubsampleRatio = image.YCbCrSubsampleRatio(99)
	if _, ok := transformYCbCr(&odd, Geometry{Canvas: full.Max, Dst: full, Src: src.Rect}, 1, 1); ok {
		t.Error("unknown subsampling: handled")
	}
}

// TestOrientYCbCr turns a 4:2:0 image's planes like Orient turns RGBA:
// exactly for even sides; with an odd side the chroma of a flipped axis is
// paired with other luma columns, at most one output pixel away.
func TestOrientYCbCr(t *testing.T) {
	for _, sz := range []image.Point{{32, 20}, {33, 21}} {
		src := inGamut(sz.X, sz.Y, image.YCbCrSubsampleRatio420)
		for o := 2; o <= 8; o++ {
			got := Orient(src, o)
			y, ok := got.(*image.YCbCr)
			if !ok {
				t.Fatalf("orientation %d: %T", o, got)
			}
			want := Orient(asNRGBA(src), o)
			min := 99.0
			if sz.X%2 == 1 {
				min = 40
			}
			if db := psnr(t, want, asNRGBA(y)); db < min {
				t.Errorf("%v, orientation %d: PSNR %.1f dB against orienting the RGBA", sz, o, db)
			}
		}
	}
}

// TestDecoderWorkersDecodeTheSame: a JPEG with restart markers (what
// jpegenc writes: one interval per row of MCUs) decodes to the same pixels
// on several goroutines as on one, at every scale.
func TestDecoderWorkersDecodeTheSame(t *testing.T) {
	var b bytes.Buffer
	if err := encodeJPEG(&b, inGamut(403, 301, image.YCbCrSubsampleRatio420), 90, 2); err != nil {
		t.Fatal(err)
	}
	for _, scale := range []int{1, 2, 4, 8} {
		one, err := Decoder{JPEGScale: scale, Workers: 1}.DecodeBytes(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		three, err := Decoder{JPEGScale: scale, Workers: 3}.DecodeBytes(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if db := psnr(t, one.Still(), three.Still()); !math.IsInf(db, 1) {
			t.Errorf("1/%d: 3 workers decode differently (PSNR %.1f dB)", scale, db)
		}
	}
}
