package resize

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// photoYCbCr is a w×h 4:2:0 image that looks more like a photograph than a
// gradient: smooth shading, blotches and some fine texture (periods of 24
// to 400 source pixels), deterministic.
func photoYCbCr(w, h int) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		fy := float64(y)
		row := m.Y[y*m.YStride : y*m.YStride+w]
		for x := range row {
			fx := float64(x)
			v := 40 + 140*fx/float64(w) + 30*math.Sin(fx/63)*math.Cos(fy/41) +
				18*math.Sin((fx+2*fy)/11) + 8*math.Sin(fx/4.1+fy/5.3)
			row[x] = uint8(min(max(v, 0), 255))
		}
	}
	for y := 0; y < (h+1)/2; y++ {
		for x := 0; x < (w+1)/2; x++ {
			fx, fy := float64(2*x), float64(2*y)
			i := y*m.CStride + x
			m.Cb[i] = uint8(128 + 50*math.Sin(fx/190+fy/270))
			m.Cr[i] = uint8(128 + 50*math.Cos(fx/310-fy/150))
		}
	}
	return m
}

// bigPhoto is a 4000×3000 (12 MP) JPEG of photoYCbCr at quality 90, made
// once for all the tests here.
var bigPhoto = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, photoYCbCr(4000, 3000), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
})

// psnr is the peak signal-to-noise ratio of b against a over R, G and B,
// in dB (+Inf for identical images); both must have the same bounds.
func psnr(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("psnr of %v against %v", b.Bounds(), a.Bounds())
	}
	var se float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			for _, d := range [3]float64{float64(ar>>8) - float64(br>>8), float64(ag>>8) - float64(bg>>8), float64(ab>>8) - float64(bb>>8)} {
				se += d * d
			}
		}
	}
	mse := se / float64(3*r.Dx()*r.Dy())
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// variant makes the variant query of src up to the encoder (so the pixels
// compared are the transform's) with shrink-on-load (std false) or
// image/jpeg at full size (std true).
func variant(t *testing.T, src []byte, query string, std bool) (*transformed, image.Image) {
	t.Helper()
	p := procNew(t, Config{}, nil)
	p.StdJPEG = std
	v, err := p.transform(context.Background(), src, procOptions(t, p, query), "")
	if err != nil {
		t.Fatalf("%s (std %v): %v", query, std, err)
	}
	return v, v.anim.Frames[0].Image
}

// fullDecodes caches image/jpeg's full-size decodes of the big sources.
var fullDecodes sync.Map // *byte (the source's first byte) → *Source

// fullVariant is the variant query of src made the previous way, from
// image/jpeg's full-size decode (cached: the tests make many variants of
// one source), for sources without an ICC profile.
func fullVariant(t *testing.T, src []byte, query string) image.Image {
	t.Helper()
	v, ok := fullDecodes.Load(&src[0])
	if !ok {
		s, err := Decoder{}.DecodeBytes(src)
		if err != nil {
			t.Fatal(err)
		}
		v, _ = fullDecodes.LoadOrStore(&src[0], s)
	}
	s := v.(*Source)
	p := procNew(t, Config{}, nil)
	o := procOptions(t, p, query)
	w, h := s.OrientedSize()
	g, err := PlanGeometry(w, h, o, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	anim, err := TransformSource(s, g, FormatJPEG, Background(o, FormatJPEG), p.Workers, false)
	if err != nil {
		t.Fatal(err)
	}
	return anim.Frames[0].Image
}

// TestShrinkOnLoadPicksTheScale makes variants of a 4000×3000 JPEG: the
// decode is reduced as far as the output allows (8 for 400 px wide, 2 for
// 1600, none for 3000), a crop counts its region, orientation 6 swaps the
// axes; every output is within 35 dB PSNR of the full decode's.
func TestShrinkOnLoadPicksTheScale(t *testing.T) {
	src := bigPhoto()
	rotated := jpegWithSegments(src, jpegSegment{0xE1, append([]byte(exifPrefix), tiffOrientation(binary.BigEndian, 6)...)})
	cases := []struct {
		name, query string
		src         []byte
		scale       int
		w, h        int
		race        bool // compared in -race builds too
	}{
		{"w=400", "w=400", src, 8, 400, 300, true},
		{"w=500 (exactly 1/8)", "w=500", src, 8, 500, 375, false},
		{"w=1600", "w=1600", src, 2, 1600, 1200, false},
		{"w=2001", "w=2001", src, 1, 2001, 1501, false},
		{"w=3000", "w=3000", src, 1, 3000, 2250, false},
		{"h=300", "h=300", src, 8, 400, 300, false},
		// cover 400×400 keeps a 3000×3000 region: 3000/8 < 400, 3000/4 ≥ 400.
		{"cover gravity left", "w=400&h=400&fit=cover&gravity=left", src, 4, 400, 400, true},
		{"cover gravity point", "w=400&h=200&fit=cover&gravity=0.3x0.8", src, 8, 400, 200, false},
		{"cover gravity point, tall", "w=200&h=400&fit=cover&gravity=0.7x0.2", src, 4, 200, 400, false},
		{"crop", "w=350&h=350&fit=crop&gravity=right", src, 8, 350, 350, false},
		{"pad", "w=400&h=400&fit=pad", src, 8, 400, 400, false},
		// Orientation 6: shown 3000×4000, so w=400 is 400×533: 3000/8 < 400.
		{"orientation 6 w=400", "w=400", rotated, 4, 400, 533, true},
		{"orientation 6 h=400", "h=400", rotated, 8, 300, 400, false},
		{"orientation 6 cover", "w=300&h=100&fit=cover&gravity=bottom", rotated, 8, 300, 100, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, got := variant(t, c.src, c.query, false)
			if res.scale != c.scale {
				t.Errorf("decoded at 1/%d, want 1/%d", res.scale, c.scale)
			}
			if b := got.Bounds(); b != image.Rect(0, 0, c.w, c.h) || res.canvas != image.Pt(c.w, c.h) {
				t.Fatalf("output %v (canvas %v), want %d×%d", b, res.canvas, c.w, c.h)
			}
			if c.w >= 3000 || raceEnabled && !c.race {
				return // w=2001 compares a 1/1 decode already; -race: a few
			}
			db := psnr(t, fullVariant(t, c.src, c.query), got)
			t.Logf("%s: 1/%d, PSNR %.1f dB against the full decode", c.query, res.scale, db)
			if db < 35 {
				t.Errorf("PSNR %.1f dB against the full decode, want ≥ 35", db)
			}
		})
	}
}

// TestJPEGShrink checks the rule on geometries directly.
func TestJPEGShrink(t *testing.T) {
	for _, c := range []struct {
		src, dst image.Rectangle
		want     int
	}{
		{image.Rect(0, 0, 4000, 3000), image.Rect(0, 0, 400, 300), 8},
		{image.Rect(0, 0, 4000, 3000), image.Rect(0, 0, 1600, 1200), 2},
		{image.Rect(0, 0, 4000, 3000), image.Rect(0, 0, 1000, 750), 4},
		{image.Rect(0, 0, 4000, 3000), image.Rect(0, 0, 1001, 751), 2},
		{image.Rect(0, 0, 4000, 3000), image.Rect(0, 0, 4000, 3000), 1},
		{image.Rect(0, 0, 100, 100), image.Rect(0, 0, 400, 400), 1},     // enlarging
		{image.Rect(500, 0, 3500, 3000), image.Rect(0, 0, 400, 400), 4}, // crop
		{image.Rect(0, 0, 4000, 100), image.Rect(0, 0, 400, 10), 8},     // thin
		{image.Rect(0, 0, 4000, 100), image.Rect(0, 0, 400, 13), 4},     // rounding on the short side
		{image.Rect(0, 0, 4000, 3000), image.Rect(20, 0, 420, 300), 8},  // padded: Dst's size counts
		{image.Rect(0, 0, 64000, 48000), image.Rect(0, 0, 400, 300), 8}, // never more than 8
	} {
		if got := JPEGShrink(Geometry{Src: c.src, Dst: c.dst, Canvas: c.dst.Max}); got != c.want {
			t.Errorf("JPEGShrink(src %v, dst %v) = %d, want %d", c.src, c.dst, got, c.want)
		}
	}
}

// TestScaleGeometry maps random geometries: the reduced source rectangle is
// inside the reduced image, never empty, within half a reduced pixel of the
// exact mapping (an edge on the border stays there), and the canvas and
// destination are unchanged.
func TestScaleGeometry(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fits := []Fit{FitScaleDown, FitContain, FitCover, FitCrop, FitPad}
	for i := 0; i < 20000; i++ {
		fw, fh := 1+rng.IntN(5000), 1+rng.IntN(5000)
		o := Options{Width: rng.IntN(3000), Height: rng.IntN(3000), Fit: fits[rng.IntN(len(fits))],
			Gravity: Gravity{Mode: GravityPoint, X: uint16(rng.IntN(1001)), Y: uint16(rng.IntN(1001))}}
		g, err := PlanGeometry(fw, fh, o, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		scale := JPEGScales[rng.IntN(len(JPEGScales))]
		rw, rh := ScaledSize(fw, fh, scale)
		r := ScaleGeometry(g, scale, fw, fh, rw, rh)
		if r.Canvas != g.Canvas || r.Dst != g.Dst {
			t.Fatalf("%v → %v: canvas or destination changed", g, r)
		}
		if r.Src.Empty() || !r.Src.In(image.Rect(0, 0, rw, rh)) {
			t.Fatalf("%d×%d %+v at 1/%d: %v → %v, outside %d×%d", fw, fh, o, scale, g.Src, r.Src, rw, rh)
		}
		// An edge is the nearest reduced pixel, or one off when a
		// rectangle under one reduced pixel was widened to one.
		narrow := r.Src.Dx() == 1 || r.Src.Dy() == 1
		near := func(got, full, border, reduced int) bool {
			if full == border {
				return got == reduced
			}
			d := math.Abs(float64(got) - float64(full)/float64(scale))
			return d <= 0.5 || narrow && d < 1.5
		}
		if !near(r.Src.Min.X, g.Src.Min.X, -1, 0) || !near(r.Src.Max.X, g.Src.Max.X, fw, rw) ||
			!near(r.Src.Min.Y, g.Src.Min.Y, -1, 0) || !near(r.Src.Max.Y, g.Src.Max.Y, fh, rh) {
			t.Fatalf("%d×%d at 1/%d: %v → %v, not the nearest reduced pixels", fw, fh, scale, g.Src, r.Src)
		}
	}
}

// withScaledDecoder replaces the scaled decoder for one test.
func withScaledDecoder(t *testing.T, f func(data []byte, scale int, maxPixels int64, maxScans, workers int) (image.Image, error)) {
	t.Helper()
	old := scaledJPEG
	scaledJPEG = f
	t.Cleanup(func() { scaledJPEG = old })
}

// TestShrinkOnLoadFallsBack: a JPEG the scaled decoder does not support is
// decoded by image/jpeg at full size, with the same bytes as StdJPEG, after
// the queue admitted the full decode's memory; another failure of the
// scaled decoder is a corrupt image (422).
func TestShrinkOnLoadFallsBack(t *testing.T) {
	src := srcJPEG(t, photoYCbCr(1600, 1200), 90)
	calls := 0
	withScaledDecoder(t, func([]byte, int, int64, int, int) (image.Image, error) {
		calls++
		return nil, errScaledUnsupported
	})
	res, got := variant(t, src, "w=200", false)
	_, want := variant(t, src, "w=200", true)
	if calls != 1 || res.scale != 1 {
		t.Errorf("scaled decoder called %d times, decode scale %d; want once, then 1", calls, res.scale)
	}
	if db := psnr(t, want, got); !math.IsInf(db, 1) {
		t.Errorf("the fallback differs from the full decode (PSNR %.1f dB)", db)
	}

	// The queue admitted the reduced decode; the fallback needs the full
	// one, which this budget cannot hold: it is asked for and refused.
	info, err := Probe(src, DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	budget := int64(len(src)) + info.DecodeBytes/2
	p := procNew(t, Config{}, NewQueue(1, budget, 1, 0))
	if _, err := p.Process(context.Background(), src, procOptions(t, p, "w=200"), ""); !errors.Is(err, ErrQueueFull) {
		t.Errorf("fallback within a budget of %d bytes (full decode %d): %v, want ErrQueueFull", budget, info.DecodeBytes, err)
	}
	if running, waiting, used := p.Queue.Stats(); running != 0 || waiting != 0 || used != 0 {
		t.Errorf("queue after the refused fallback: %d running, %d waiting, %d bytes", running, waiting, used)
	}

	// The scaled decoder's own bugs (a recovered panic, an image of the
	// wrong size) fall back to the full decode too.
	for name, bug := range map[string]func([]byte, int, int64, int, int) (image.Image, error){
		"panic": func([]byte, int, int64, int, int) (image.Image, error) {
			return nil, fmt.Errorf("%w: index out of range", errScaledInternal)
		},
		"wrong size": func([]byte, int, int64, int, int) (image.Image, error) {
			return image.NewGray(image.Rect(0, 0, 3, 3)), nil
		},
	} {
		withScaledDecoder(t, bug)
		p := procNew(t, Config{}, nil)
		res, err := p.Process(context.Background(), src, procOptions(t, p, "w=200"), "")
		if err != nil || res.DecodeScale != 1 {
			t.Errorf("scaled decoder %s: %v (scale %v), want the full decode's variant", name, err, res)
		}
	}

	withScaledDecoder(t, func([]byte, int, int64, int, int) (image.Image, error) {
		return nil, errors.New("jpegdec: bad Huffman code")
	})
	p = procNew(t, Config{}, nil)
	_, err = p.Process(context.Background(), src, procOptions(t, p, "w=200"), "")
	if st, ok := DecodeStatus(err); !ok || st != http.StatusUnprocessableEntity || !errors.Is(err, ErrCorrupt) {
		t.Errorf("scaled decoder failure: %v (status %d), want ErrCorrupt, 422", err, st)
	}
}

// TestShrinkOnLoadUnsupportedJPEG: an arithmetic-coded (SOF9) or 12-bit
// (SOF1, precision 12) JPEG is refused as before (415), shrink-on-load or
// not.
func TestShrinkOnLoadUnsupportedJPEG(t *testing.T) {
	base := srcJPEG(t, photoYCbCr(640, 480), 90)
	patch := func(f func(sof []byte)) []byte {
		j := bytes.Clone(base)
		for p := 2; p+4 < len(j); {
			n := int(binary.BigEndian.Uint16(j[p+2:]))
			if j[p+1] == 0xC0 {
				f(j[p:])
				return j
			}
			p += 2 + n
		}
		t.Fatal("no SOF0")
		return nil
	}
	for name, src := range map[string][]byte{
		"arithmetic": patch(func(s []byte) { s[1] = 0xC9 }),
		"12-bit":     patch(func(s []byte) { s[1], s[4] = 0xC1, 12 }),
	} {
		for _, std := range []bool{false, true} {
			p := procNew(t, Config{}, nil)
			p.StdJPEG = std
			_, err := p.Process(context.Background(), src, procOptions(t, p, "w=100"), "")
			if st, ok := DecodeStatus(err); !ok || st != http.StatusUnsupportedMediaType {
				t.Errorf("%s (std %v): %v, status %d, want 415", name, std, err, st)
			}
		}
	}
}

// TestShrinkOnLoadMemoryEstimate: the queue is asked for the reduced
// decode, so a budget too small for a full decode admits a small variant
// of the same source; the estimate holds what the decode allocates.
func TestShrinkOnLoadMemoryEstimate(t *testing.T) {
	src := bigPhoto()
	info, err := Probe(src, DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{1, 2, 4, 8} {
		c := decodeCost(info, src, s)
		t.Logf("4000×3000 4:2:0 baseline: estimate at 1/%d %d bytes (image/jpeg full: %d)", s, c, info.DecodeBytes)
		if s > 1 && c*int64(s*s) > 2*decodeCost(info, src, 1) {
			t.Errorf("estimate at 1/%d is %d bytes, not about 1/%d of 1/1's %d", s, c, s*s, decodeCost(info, src, 1))
		}
	}
	budget := int64(len(src)) + info.DecodeBytes/4
	p := procNew(t, Config{}, NewQueue(1, budget, 1, 0))
	res, err := p.Process(context.Background(), src, procOptions(t, p, "w=400"), "")
	if err != nil || res.DecodeScale != 8 {
		t.Fatalf("w=400 within %d bytes: %v (scale %v)", budget, err, res)
	}
	p.StdJPEG = true
	if _, err := p.Process(context.Background(), src, procOptions(t, p, "w=400"), ""); !errors.Is(err, ErrQueueFull) {
		t.Errorf("full decode within %d bytes: %v, want ErrQueueFull", budget, err)
	}

	// What the scaled decode allocates is within its estimate.
	for _, s := range []int{8, 2} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := (Decoder{JPEGScale: s}).DecodeBytes(src); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		got, est := int64(after.TotalAlloc-before.TotalAlloc), decodeCost(info, src, s)
		t.Logf("decode at 1/%d allocated %d bytes, estimate %d", s, got, est)
		if got > est {
			t.Errorf("decode at 1/%d allocated %d bytes, the estimate is %d", s, got, est)
		}
	}
}

// meanRGB is the mean of m's R, G and B.
func meanRGB(m image.Image) [3]float64 {
	var sum [3]float64
	r := m.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := m.At(x, y).RGBA()
			sum[0] += float64(cr >> 8)
			sum[1] += float64(cg >> 8)
			sum[2] += float64(cb >> 8)
		}
	}
	n := float64(r.Dx() * r.Dy())
	return [3]float64{sum[0] / n, sum[1] / n, sum[2] / n}
}

// TestShrinkOnLoadKeepsColourAndCMYK: CMYK and YCCK JPEGs (Adobe), a
// progressive gray one and an ICC-tagged (Display P3) one decode at a
// reduced scale to the same colours as at full size: the same mean colour
// to within a few levels (an inverted or unconverted CMYK, or a skipped
// ICC conversion, is off by far more), and close pixels.
func TestShrinkOnLoadKeepsColourAndCMYK(t *testing.T) {
	type input struct {
		name  string
		data  []byte
		query string
		scale int
		min   float64 // PSNR, dB
		// meanDiff bounds the mean colour's difference, in levels.
		meanDiff float64
	}
	var inputs []input
	for _, name := range []string{"adobe-cmyk.jpg", "adobe-ycck.jpg", "progressive.jpg", "progressive-gray.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		// 24×16 test images of hard edges: 1/2 (a 2×2 mean) then a copy,
		// against Catmull-Rom's 2:1 reduction, differ more than a photo's.
		// CMYK is decoded (scaled: averaged) in ink space and turned into
		// RGB by multiplying inks, so on these images of flat inks the
		// mean moves a little (3–4 levels in R of adobe-cmyk and
		// adobe-ycck); libjpeg's scaled decodes do the same.
		inputs = append(inputs, input{name, data, "w=12", 2, 28, 5})
	}
	p3 := jpegWithSegments(srcJPEG(t, photoYCbCr(1600, 1200), 90), iccChunk(1, 1, string(iccTestP3())))
	inputs = append(inputs, input{"Display P3 photo", p3, "w=200", 8, 35, 1})
	for _, in := range inputs {
		res, got := variant(t, in.data, in.query, false)
		std, want := variant(t, in.data, in.query, true)
		db := psnr(t, want, got)
		mg, mw := meanRGB(got), meanRGB(want)
		t.Logf("%s %s: 1/%d, PSNR %.1f dB, mean RGB %.1f against %.1f", in.name, in.query, res.scale, db, mg, mw)
		if res.scale != in.scale || res.managed != std.managed || db < in.min {
			t.Errorf("%s: 1/%d (want 1/%d), colour managed %v (full decode %v), PSNR %.1f dB (want ≥ %.0f)",
				in.name, res.scale, in.scale, res.managed, std.managed, db, in.min)
		}
		for c := range mg {
			if math.Abs(mg[c]-mw[c]) > in.meanDiff {
				t.Errorf("%s: mean RGB %.1f, the full decode's %.1f", in.name, mg, mw)
				break
			}
		}
	}
}

// TestShrinkOnLoadSharedPhotos measures the shared test photographs (when
// present; big.jpg is progressive): the scaled decode's allocations
// against its estimate, the scale at w=400 and w=1600 and the PSNR against
// the full decode.
func TestShrinkOnLoadSharedPhotos(t *testing.T) {
	for _, name := range []string{"big-baseline.jpg", "big.jpg"} {
		data, err := os.ReadFile(filepath.Join(sharedImages, name))
		if err != nil {
			t.Logf("%s: not here (%v)", name, err)
			continue
		}
		info, err := Probe(data, DecodeLimits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []int{8, 2} {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := (Decoder{JPEGScale: s}).DecodeBytes(data); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			got, est := int64(after.TotalAlloc-before.TotalAlloc), decodeCost(info, data, s)
			t.Logf("%s: decode at 1/%d allocated %d bytes, estimate %d (image/jpeg full: %d)", name, s, got, est, info.DecodeBytes)
			if got > est {
				t.Errorf("%s: decode at 1/%d allocated %d bytes, the estimate is %d", name, s, got, est)
			}
		}
		for _, q := range []string{"w=400", "w=1600"} {
			if raceEnabled && (q != "w=400" || name != "big-baseline.jpg") {
				continue // -race: one variant
			}
			res, got := variant(t, data, q, false)
			db := psnr(t, fullVariant(t, data, q), got)
			t.Logf("%s %s: 1/%d, PSNR %.1f dB against the full decode", name, q, res.scale, db)
			if db < 35 || res.scale < 2 {
				t.Errorf("%s %s: 1/%d, PSNR %.1f dB", name, q, res.scale, db)
			}
		}
	}
}

// BenchmarkProcessJPEG makes variants of the shared photographs (when
// present) and of the generated 12 MP one (not with -short) with
// Processor.Process on two workers, with shrink-on-load and without
// (StdJPEG): for CPU profiles of one resize (go test -short -run '^$'
// -bench 'ProcessJPEG/big-baseline.jpg/w=400/shrink' -cpuprofile cpu.out
// ./resize/).
func BenchmarkProcessJPEG(b *testing.B) {
	type input struct {
		name string
		data []byte
	}
	var inputs []input
	if !testing.Short() { // -short: the shared photos only
		inputs = append(inputs, input{"generated-4000x3000.jpg", bigPhoto()})
	}
	for _, name := range []string{"big-baseline.jpg", "big.jpg"} {
		if data, err := os.ReadFile(filepath.Join(sharedImages, name)); err == nil {
			inputs = append(inputs, input{name, data})
		}
	}
	parser, err := NewParser(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range inputs {
		for _, q := range []string{"w=400", "w=1600", "w=400&format=webp", "w=1600&format=webp"} {
			o, err := parser.ParseQuery(q)
			if err != nil {
				b.Fatal(err)
			}
			if !CanEncode(o.Format) && o.Format != FormatOriginal {
				continue
			}
			for _, std := range []bool{false, true} {
				name := in.name + "/" + q + "/shrink"
				if std {
					name = in.name + "/" + q + "/std"
				}
				b.Run(name, func(b *testing.B) {
					p := &Processor{Parser: parser, Workers: 2, StdJPEG: std}
					for b.Loop() {
						if _, err := p.Process(context.Background(), in.data, o, ""); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// TestTransformSourceOrientsTheOutput: a still is resampled as stored and
// its output oriented; for every orientation and fit mode (crops, gravity,
// padding) that is the same picture as orienting the source first (the
// previous way), to within rounding.
func TestTransformSourceOrientsTheOutput(t *testing.T) {
	src := inGamut(301, 203, image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(3, 4))
	fits := []Fit{FitScaleDown, FitContain, FitCover, FitCrop, FitPad}
	for o := 1; o <= 8; o++ {
		s := &Source{Format: SourceJPEG, Width: 301, Height: 203, Orientation: o, FrameCount: 1, Scale: 1,
			Frames: []SourceFrame{{Image: src}}}
		shown := Orient(src, o)
		for i := 0; i < 12; i++ {
			opts := Options{Width: 20 + rng.IntN(300), Height: 20 + rng.IntN(300), Fit: fits[rng.IntN(len(fits))],
				Gravity: Gravity{Mode: GravityPoint, X: uint16(rng.IntN(1001)), Y: uint16(rng.IntN(1001))}}
			w, h := s.OrientedSize()
			g, err := PlanGeometry(w, h, opts, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Transform(shown, g, DefaultBackground, 2)
			if err != nil {
				t.Fatal(err)
			}
			// PNG: the RGBA path; JPEG: the planar one where the output
			// fills the canvas (4:2:0, so compared with the RGBA path's
			// result in 4:2:0).
			for _, out := range []Format{FormatPNG, FormatJPEG} {
				a, err := TransformSource(s, g, out, DefaultBackground, 2, false)
				if err != nil {
					t.Fatal(err)
				}
				want := image.Image(want)
				if _, ok := a.Frames[0].Image.(*image.YCbCr); ok {
					want = rgbaToYCbCr420((*image.RGBA)(want.(*image.NRGBA)))
				} else if out == FormatJPEG && g.Dst == (image.Rectangle{Max: g.Canvas}) {
					t.Errorf("orientation %d, %+v: JPEG output of a YCbCr source is %T", o, opts, a.Frames[0].Image)
				}
				if db := psnr(t, want, a.Frames[0].Image); db < 45 {
					t.Errorf("orientation %d, %+v, %v: PSNR %.1f dB against orienting first", o, opts, out, db)
				}
			}
		}
	}
}
