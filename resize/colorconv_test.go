package resize

import (
	"bytes"
	"compress/zlib"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// iccTestXYZToSRGB is the XYZ (D65) → linear sRGB matrix of W3C CSS Color 4
// (section "Sample code for color conversions", XYZ_to_lin_sRGB), the
// inverse of the IEC 61966-2-1 primaries' matrix.
var iccTestXYZToSRGB = [3][3]float64{
	{3.2409699419045226, -1.537383177570094, -0.4986107602930034},
	{-0.9692436362808796, 1.8759675015077202, 0.04155505740717559},
	{0.05563007969699366, -0.20397695888897652, 1.0569715142428786},
}

// iccTestReference converts an 8-bit colour with the given primaries (D65
// white) and decoding function to 8-bit sRGB in float64, directly in D65
// (no trip through the D50 PCS): decode, RGB → XYZ, XYZ → linear sRGB,
// clip, encode.
func iccTestReference(c [3]uint8, prim [3][2]float64, decode func(float64) float64) [3]float64 {
	m := iccTestMatrix(prim, iccTestD65)
	lin := [3]float64{decode(float64(c[0]) / 255), decode(float64(c[1]) / 255), decode(float64(c[2]) / 255)}
	var xyz, out [3]float64
	for i := range 3 {
		xyz[i] = m[i][0]*lin[0] + m[i][1]*lin[1] + m[i][2]*lin[2]
	}
	for i := range 3 {
		s := iccTestXYZToSRGB
		out[i] = iccTestSRGBCode(s[i][0]*xyz[0] + s[i][1]*xyz[1] + s[i][2]*xyz[2])
	}
	return out
}

func iccTestAdobeDecode(v float64) float64 { return math.Pow(v, 563.0/256) }

// iccTestConvert converts one NRGBA pixel with profile and returns it.
func iccTestConvert(t *testing.T, profile []byte, c [3]uint8) [3]uint8 {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.Pix[0], img.Pix[1], img.Pix[2], img.Pix[3] = c[0], c[1], c[2], 255
	out, converted, err := ToSRGB(img, profile, 1)
	if err != nil || !converted {
		t.Fatalf("converted %v, error %v", converted, err)
	}
	p := out.(*image.NRGBA).Pix
	if p[3] != 255 {
		t.Fatalf("alpha %d", p[3])
	}
	return [3]uint8{p[0], p[1], p[2]}
}

func TestToSRGBKnownColours(t *testing.T) {
	p3, adobe := iccTestP3(), iccTestAdobe()
	for _, tt := range []struct {
		name    string
		profile []byte
		in      [3]uint8
		ref     [3]float64 // from iccTestReference
		// want pins the expected result, ±1: the reference computed
		// separately (Python, the same published matrices in float64):
		// P3 (128,64,200) → 137.68 59.42 207.31, Adobe (100,150,50) →
		// 65.98 151.41 33.53, Adobe gray 128 → 129.03, Adobe green →
		// linear sRGB outside 0–1 on every channel, clipped to (0,255,0).
		want [3]uint8
	}{
		// Display P3 red is outside sRGB: linear sRGB (1.2249, -0.0421,
		// -0.0196), clipped.
		{"p3 red", p3, [3]uint8{255, 0, 0}, iccTestReference([3]uint8{255, 0, 0}, iccTestP3Prim, iccTestSRGBDecode), [3]uint8{255, 0, 0}},
		{"p3 mid-tone", p3, [3]uint8{128, 64, 200}, iccTestReference([3]uint8{128, 64, 200}, iccTestP3Prim, iccTestSRGBDecode), [3]uint8{138, 59, 207}},
		{"p3 gray", p3, [3]uint8{128, 128, 128}, [3]float64{128, 128, 128}, [3]uint8{128, 128, 128}},
		{"p3 white", p3, [3]uint8{255, 255, 255}, [3]float64{255, 255, 255}, [3]uint8{255, 255, 255}},
		{"adobe green", adobe, [3]uint8{0, 255, 0}, iccTestReference([3]uint8{0, 255, 0}, iccTestAdobePrim, iccTestAdobeDecode), [3]uint8{0, 255, 0}},
		{"adobe mid-tone", adobe, [3]uint8{100, 150, 50}, iccTestReference([3]uint8{100, 150, 50}, iccTestAdobePrim, iccTestAdobeDecode), [3]uint8{66, 151, 34}},
		// Gamma 2.2 gray is not sRGB gray: 128 decodes to 0.2184 linear,
		// which sRGB encodes as 129.
		{"adobe gray", adobe, [3]uint8{128, 128, 128}, iccTestReference([3]uint8{128, 128, 128}, iccTestAdobePrim, iccTestAdobeDecode), [3]uint8{129, 129, 129}},
	} {
		got := iccTestConvert(t, tt.profile, tt.in)
		t.Logf("%s: %v → %v (reference %.2f)", tt.name, tt.in, got, tt.ref)
		for i := range 3 {
			if math.Abs(float64(got[i])-tt.ref[i]) > 1 {
				t.Errorf("%s: %v → %v, reference %.2f", tt.name, tt.in, got, tt.ref)
			}
			if math.Abs(float64(got[i])-float64(tt.want[i])) > 1 {
				t.Errorf("%s: %v → %v, want %v", tt.name, tt.in, got, tt.want)
			}
		}
	}
}

func TestToSRGBSkipsSRGB(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 3))
	for name, b := range map[string][]byte{"none": nil, "srgb table": iccTestSRGB(), "srgb parametric": iccTestSRGBv4(),
		"srgb gray": iccTestProfile(4, "GRAY", iccTestTag{"kTRC", iccTestSRGBPara()})} {
		out, converted, err := ToSRGB(img, b, 2)
		if err != nil || converted || out != image.Image(img) {
			t.Fatalf("%s: converted %v, same image %v, error %v", name, converted, out == image.Image(img), err)
		}
	}
}

// iccTestNoise is a deterministic w×h NRGBA of random colours, opaque or not.
func iccTestNoise(w, h int, opaque bool) *image.NRGBA {
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(r.IntN(256))
		if opaque && i%4 == 3 {
			m.Pix[i] = 255
		}
	}
	return m
}

// TestSRGBProfileRoundTrip converts through the sRGB profile itself
// (forced: ToSRGB would skip it): every colour comes back within ±1, which
// also checks the matrix orientation (a transposed matrix moves colours by
// tens of codes).
func TestSRGBProfileRoundTrip(t *testing.T) {
	for name, b := range map[string][]byte{"table": iccTestSRGB(), "parametric": iccTestSRGBv4()} {
		p, err := ParseICC(b)
		if err != nil {
			t.Fatal(err)
		}
		in := iccTestNoise(256, 64, false)
		for x := range 256 { // row 0: every gray
			copy(in.Pix[4*x:], []uint8{uint8(x), uint8(x), uint8(x), 255})
		}
		out, err := p.convert(in, 2)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*image.NRGBA).Pix
		exact := 0
		for i := range got {
			d := int(got[i]) - int(in.Pix[i])
			if d < -1 || d > 1 {
				t.Fatalf("%s: byte %d: %d, want %d±1", name, i, got[i], in.Pix[i])
			}
			if d == 0 {
				exact++
			}
		}
		t.Logf("%s: %d of %d bytes exact, the rest ±1", name, exact, len(got))
	}
}

func TestToSRGBWorkersIdentical(t *testing.T) {
	in := iccTestNoise(257, 131, false)
	var first []uint8
	for _, w := range []int{0, 1, 2, 3, 8, 500} {
		out, converted, err := ToSRGB(in, iccTestP3(), w)
		if err != nil || !converted {
			t.Fatalf("workers %d: %v %v", w, converted, err)
		}
		pix := out.(*image.NRGBA).Pix
		if first == nil {
			first = pix
		} else if !bytes.Equal(pix, first) {
			t.Fatalf("workers %d: output differs from workers 0", w)
		}
	}
}

// TestToSRGBPixelTypes converts the same colours held in every image type
// the decoders make: each agrees with the NRGBA conversion (±1 where the
// type itself rounds), alpha kept straight.
func TestToSRGBPixelTypes(t *testing.T) {
	profile := iccTestP3()
	src := iccTestNoise(37, 23, true)
	wantImg, _, err := ToSRGB(src, profile, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := wantImg.(*image.NRGBA)
	check := func(name string, img image.Image, ref image.Image, tol int) {
		t.Helper()
		out, converted, err := ToSRGB(img, profile, 3)
		if err != nil || !converted {
			t.Fatalf("%s: converted %v, %v", name, converted, err)
		}
		if out.Bounds() != img.Bounds() {
			t.Fatalf("%s: bounds %v, want %v", name, out.Bounds(), img.Bounds())
		}
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g := color.NRGBAModel.Convert(out.At(x, y)).(color.NRGBA)
				w := color.NRGBAModel.Convert(ref.At(x, y)).(color.NRGBA)
				for i, d := range []int{int(g.R) - int(w.R), int(g.G) - int(w.G), int(g.B) - int(w.B), int(g.A) - int(w.A)} {
					if d < -tol || d > tol {
						t.Fatalf("%s (%d,%d) channel %d: %v, want %v±%d", name, x, y, i, g, w, tol)
					}
				}
			}
		}
	}
	rgba := image.NewRGBA(src.Rect)
	wide := image.NewNRGBA64(src.Rect)
	for y := range src.Rect.Dy() {
		for x := range src.Rect.Dx() {
			rgba.Set(x, y, src.At(x, y))
			wide.Set(x, y, src.At(x, y))
		}
	}
	check("rgba", rgba, want, 0)
	check("nrgba64", wide, want, 1)
	check("sub-image", src.SubImage(image.Rect(5, 7, 30, 20)), want, 0)

	// YCbCr (every subsampling, odd origin): compare with the NRGBA
	// conversion of its own RGB values.
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		ycc := image.NewYCbCr(image.Rect(3, 3, 40, 27), ratio)
		r := rand.New(rand.NewPCG(1, uint64(ratio)))
		for _, p := range [][]uint8{ycc.Y, ycc.Cb, ycc.Cr} {
			for i := range p {
				p[i] = uint8(r.IntN(256))
			}
		}
		yccRGB := image.NewNRGBA(ycc.Rect)
		for y := ycc.Rect.Min.Y; y < ycc.Rect.Max.Y; y++ {
			for x := ycc.Rect.Min.X; x < ycc.Rect.Max.X; x++ {
				c := ycc.YCbCrAt(x, y)
				cr, cg, cb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				yccRGB.SetNRGBA(x, y, color.NRGBA{cr, cg, cb, 255})
			}
		}
		yccWant, _, _ := ToSRGB(yccRGB, profile, 1)
		check("ycbcr "+ratio.String(), ycc, yccWant, 0)
		sub := ycc.SubImage(image.Rect(6, 5, 33, 20))
		check("ycbcr sub-image "+ratio.String(), sub, yccWant, 0)
		nycca := &image.NYCbCrA{YCbCr: *ycc, A: make([]uint8, ycc.Rect.Dx()*ycc.Rect.Dy()), AStride: ycc.Rect.Dx()}
		for i := range nycca.A {
			nycca.A[i] = uint8(r.IntN(256))
			yccRGB.Pix[4*i+3] = nycca.A[i]
		}
		yccWant, _, _ = ToSRGB(yccRGB, profile, 1)
		check("nycbcra "+ratio.String(), nycca, yccWant, 0)
		check("nycbcra sub-image "+ratio.String(), nycca.SubImage(image.Rect(6, 5, 33, 20)), yccWant, 0)
	}

	// Paletted: the palette is converted, the indices kept.
	pal := image.NewPaletted(image.Rect(0, 0, 4, 1), color.Palette{color.NRGBA{128, 64, 200, 255}, color.NRGBA{255, 0, 0, 128}, color.Transparent})
	pal.Pix = []uint8{0, 1, 2, 0}
	palRGB := image.NewNRGBA(pal.Rect)
	for x := range 4 {
		palRGB.Set(x, 0, pal.At(x, 0))
	}
	palWant, _, _ := ToSRGB(palRGB, profile, 1)
	out, _, _ := ToSRGB(pal, profile, 1)
	if _, ok := out.(*image.Paletted); !ok {
		t.Fatalf("paletted became %T", out)
	}
	check("paletted", pal, palWant, 0)

	// CMYK pixels are refused, not converted as RGB.
	if _, converted, err := ToSRGB(image.NewCMYK(image.Rect(0, 0, 1, 1)), profile, 1); converted || err == nil {
		t.Fatalf("cmyk: converted %v, error %v", converted, err)
	}
}

func TestToSRGBGray(t *testing.T) {
	in := image.NewGray(image.Rect(0, 0, 256, 2))
	for x := range 256 {
		in.Pix[x], in.Pix[in.Stride+x] = uint8(x), uint8(255-x)
	}
	out, converted, err := ToSRGB(in, iccTestGray22(), 2)
	if err != nil || !converted {
		t.Fatalf("converted %v, %v", converted, err)
	}
	g, ok := out.(*image.Gray)
	if !ok {
		t.Fatalf("gray became %T", out)
	}
	for i, v := range in.Pix {
		want := iccTestSRGBCode(iccTestAdobeDecode(float64(v) / 255))
		if math.Abs(float64(g.Pix[i])-want) > 1 {
			t.Fatalf("gray %d → %d, want %.2f", v, g.Pix[i], want)
		}
	}
	// A gray+alpha PNG decodes to NRGBA: the same curve on each channel.
	if c := iccTestConvert(t, iccTestGray22(), [3]uint8{128, 128, 128}); c != [3]uint8{g.Pix[128], g.Pix[128], g.Pix[128]} {
		t.Fatalf("nrgba gray 128 → %v, gray image gives %d", c, g.Pix[128])
	}
	// RGB profile on gray pixels: neutral stays neutral.
	out, _, _ = ToSRGB(in, iccTestP3(), 2)
	for i := 0; i < len(out.(*image.NRGBA).Pix); i += 4 {
		p := out.(*image.NRGBA).Pix[i : i+4]
		if p[0] != p[1] || p[1] != p[2] {
			if math.Abs(float64(p[0])-float64(p[1])) > 1 || math.Abs(float64(p[1])-float64(p[2])) > 1 {
				t.Fatalf("gray %d with a P3 profile → %v", in.Pix[i/4], p)
			}
		}
	}
}

// TestToSRGBLargeImage converts a 2000×1500 4:2:0 YCbCr (a typical camera
// JPEG) and logs the time (not asserted).
func TestToSRGBLargeImage(t *testing.T) {
	if testing.Short() {
		t.Log("short: 200×150 instead")
	}
	w, h := 2000, 1500
	if testing.Short() {
		w, h = 200, 150
	}
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i)
	}
	start := time.Now()
	out, converted, err := ToSRGB(img, iccTestP3(), 2)
	if err != nil || !converted || out.Bounds() != img.Rect {
		t.Fatalf("converted %v, %v", converted, err)
	}
	t.Logf("%d×%d P3 → sRGB with 2 workers in %v", w, h, time.Since(start))
}

func TestSRGBEncodeTable(t *testing.T) {
	tr := (&ICCProfile{}).transform()
	for i, got := range tr.enc {
		want := iccTestSRGBCode(float64(i) / (srgbEncSize - 1))
		if math.Abs(float64(got)-want) > 0.5+1e-9 {
			t.Fatalf("enc[%d] = %d, want round(%.4f)", i, got, want)
		}
	}
}

// TestToSRGBDecodedSources runs the pipeline's first steps on files that
// carry a Display P3 profile: decode (the profile read from PNG iCCP or
// JPEG APP2), then ToSRGB on the decoded frame.
func TestToSRGBDecodedSources(t *testing.T) {
	profile := iccTestP3()
	in := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(in.Pix); i += 4 {
		copy(in.Pix[i:], []uint8{128, 64, 200, 255})
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(profile)
	_ = zw.Close()
	pngFile := pngWithChunks(srcPNG(t, in), pngChunk("iCCP", append([]byte("Display P3\x00\x00"), z.Bytes()...)))
	// The JPEG profile split over two APP2 chunks, as large profiles are.
	half := len(profile) / 2
	jpegFile := jpegWithSegments(srcJPEG(t, in, 95), iccChunk(1, 2, string(profile[:half])), iccChunk(2, 2, string(profile[half:])))
	for name, file := range map[string][]byte{"png": pngFile, "jpeg": jpegFile} {
		src := decodeBytes(t, file)
		if !bytes.Equal(src.ICC, profile) {
			t.Fatalf("%s: profile of %d bytes read, want %d", name, len(src.ICC), len(profile))
		}
		img := src.Frames[0].Image
		out, converted, err := ToSRGB(img, src.ICC, 2)
		if err != nil || !converted {
			t.Fatalf("%s: converted %v, %v", name, converted, err)
		}
		// Compare the centre pixel with the reference for the colour the
		// decoder produced (JPEG is lossy).
		c := color.NRGBAModel.Convert(img.At(8, 8)).(color.NRGBA)
		ref := iccTestReference([3]uint8{c.R, c.G, c.B}, iccTestP3Prim, iccTestSRGBDecode)
		g := color.NRGBAModel.Convert(out.At(8, 8)).(color.NRGBA)
		t.Logf("%s (%T): decoded %v → %v, reference %.2f", name, img, c, g, ref)
		for i, v := range []uint8{g.R, g.G, g.B} {
			if math.Abs(float64(v)-ref[i]) > 1 {
				t.Fatalf("%s: %v → %v, reference %.2f", name, c, g, ref)
			}
		}
	}
}
