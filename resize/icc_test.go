package resize

import (
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"math"
	"testing"
)

// This file's helpers write ICC profiles (ICC.1:2010 layout: a 128-byte
// header, a tag count and table, 4-byte aligned tag data) and do the
// colour science the tests compare against, independently of icc.go and
// colorconv.go.

type iccTestTag struct {
	sig  string
	data []byte
}

// iccTestProfile writes a display-class profile with the given version,
// colour space and tags, PCS XYZ.
func iccTestProfile(version byte, space string, tags ...iccTestTag) []byte {
	return iccTestProfilePCS(version, space, "XYZ ", tags...)
}

func iccTestProfilePCS(version byte, space, pcs string, tags ...iccTestTag) []byte {
	start := 128 + 4 + 12*len(tags)
	var table, body []byte
	for _, t := range tags {
		for (start+len(body))%4 != 0 {
			body = append(body, 0)
		}
		table = append(table, t.sig...)
		table = binary.BigEndian.AppendUint32(table, uint32(start+len(body)))
		table = binary.BigEndian.AppendUint32(table, uint32(len(t.data)))
		body = append(body, t.data...)
	}
	h := make([]byte, 128)
	binary.BigEndian.PutUint32(h, uint32(start+len(body)))
	h[8], h[9] = version, 0x10
	copy(h[12:], "mntr")
	copy(h[16:], space)
	copy(h[20:], pcs)
	copy(h[36:], "acsp")
	for i, v := range [3]float64{0.9642, 1, 0.8249} { // PCS illuminant
		binary.BigEndian.PutUint32(h[68+4*i:], iccTestS15(v))
	}
	b := binary.BigEndian.AppendUint32(h, uint32(len(tags)))
	return append(append(b, table...), body...)
}

func iccTestS15(v float64) uint32 { return uint32(int32(math.Round(v * 65536))) }

func iccTestXYZ(v [3]float64) []byte {
	b := append([]byte("XYZ "), 0, 0, 0, 0)
	for _, c := range v {
		b = binary.BigEndian.AppendUint32(b, iccTestS15(c))
	}
	return b
}

// iccTestGamma is a curveType with one u8Fixed8 gamma.
func iccTestGamma(g uint16) []byte {
	return binary.BigEndian.AppendUint16(append([]byte("curv\x00\x00\x00\x00"), 0, 0, 0, 1), g)
}

// iccTestTable is a curveType of n samples of f.
func iccTestTable(n int, f func(float64) float64) []byte {
	b := binary.BigEndian.AppendUint32([]byte("curv\x00\x00\x00\x00"), uint32(n))
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(65535*f(float64(i)/float64(n-1)))))
	}
	return b
}

// iccTestPara is a parametricCurveType.
func iccTestPara(fn uint16, params ...float64) []byte {
	b := binary.BigEndian.AppendUint16([]byte("para\x00\x00\x00\x00"), fn)
	b = append(b, 0, 0)
	for _, p := range params {
		b = binary.BigEndian.AppendUint32(b, iccTestS15(p))
	}
	return b
}

// iccTestSRGBPara is the sRGB transfer function as parametric function 3
// (IEC 61966-2-1: γ 2.4, a = 1/1.055, b = 0.055/1.055, c = 1/12.92, d =
// 0.04045), the form Display P3 profiles use.
func iccTestSRGBPara() []byte {
	return iccTestPara(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)
}

// iccTestSRGBDecode is the sRGB EOTF, encoded 0–1 to linear.
func iccTestSRGBDecode(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// iccTestSRGBCode encodes linear sRGB to an 8-bit code, clipping.
func iccTestSRGBCode(v float64) float64 {
	v = math.Min(math.Max(v, 0), 1)
	if v <= 0.0031308 {
		return 255 * 12.92 * v
	}
	return 255 * (1.055*math.Pow(v, 1/2.4) - 0.055)
}

// Primaries (CIE xy of red, green, blue) and the D65 white:
//   - sRGB: IEC 61966-2-1:1999 (the ITU-R BT.709 primaries);
//   - Display P3: SMPTE EG 432-1 (DCI-P3 primaries) with the D65 white, as
//     Apple defines Display P3;
//   - Adobe RGB (1998): Adobe RGB (1998) Color Image Encoding, version
//     2005-05, section 4.3.1.
var (
	iccTestD65       = [2]float64{0.3127, 0.3290}
	iccTestSRGBPrim  = [3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}
	iccTestP3Prim    = [3][2]float64{{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}}
	iccTestAdobePrim = [3][2]float64{{0.64, 0.33}, {0.21, 0.71}, {0.15, 0.06}}
)

// iccTestMatrix is the RGB → XYZ matrix of primaries prim and white w
// (columns: the primaries' XYZ scaled so that RGB 1,1,1 is the white with
// Y = 1), by Cramer's rule.
func iccTestMatrix(prim [3][2]float64, w [2]float64) [3][3]float64 {
	col := func(x, y float64) [3]float64 { return [3]float64{x / y, 1, (1 - x - y) / y} }
	var p [3][3]float64
	for j, c := range prim {
		v := col(c[0], c[1])
		p[0][j], p[1][j], p[2][j] = v[0], v[1], v[2]
	}
	W := col(w[0], w[1])
	det := func(m [3][3]float64) float64 {
		return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) - m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) + m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	}
	d := det(p)
	m := p
	for j := range 3 {
		q := p
		q[0][j], q[1][j], q[2][j] = W[0], W[1], W[2]
		s := det(q) / d
		for i := range 3 {
			m[i][j] *= s
		}
	}
	return m
}

// iccTestToD50 adapts the columns of an RGB → XYZ(D65) matrix to the ICC
// D50 PCS with the Bradford transform (ICC.1:2010 annex E.3).
func iccTestToD50(m [3][3]float64) [3][3]float64 {
	B := [3][3]float64{{0.8951, 0.2664, -0.1614}, {-0.7502, 1.7135, 0.0367}, {0.0389, -0.0685, 1.0296}}
	// Inverse of B as published with it (Lindbloom, "Chromatic Adaptation").
	Bi := [3][3]float64{{0.9869929, -0.1470543, 0.1599627}, {0.4323053, 0.5183603, 0.0492912}, {-0.0085287, 0.0400428, 0.9684867}}
	mul := func(a [3][3]float64, v [3]float64) [3]float64 {
		return [3]float64{a[0][0]*v[0] + a[0][1]*v[1] + a[0][2]*v[2], a[1][0]*v[0] + a[1][1]*v[1] + a[1][2]*v[2], a[2][0]*v[0] + a[2][1]*v[1] + a[2][2]*v[2]}
	}
	src := mul(B, [3]float64{0.3127 / 0.3290, 1, (1 - 0.3127 - 0.3290) / 0.3290})
	dst := mul(B, [3]float64{0.9642, 1, 0.8249})
	var out [3][3]float64
	for j := range 3 {
		c := mul(B, [3]float64{m[0][j], m[1][j], m[2][j]})
		for i := range 3 {
			c[i] *= dst[i] / src[i]
		}
		c = mul(Bi, c)
		out[0][j], out[1][j], out[2][j] = c[0], c[1], c[2]
	}
	return out
}

// iccTestRGBProfile is a v2 matrix/TRC profile for primaries prim (D65
// white, colorants adapted to D50 as ICC requires) with one curve for the
// three channels.
func iccTestRGBProfile(version byte, prim [3][2]float64, trc []byte) []byte {
	m := iccTestToD50(iccTestMatrix(prim, iccTestD65))
	col := func(j int) []byte { return iccTestXYZ([3]float64{m[0][j], m[1][j], m[2][j]}) }
	return iccTestProfile(version, "RGB ",
		iccTestTag{"desc", []byte("desc\x00\x00\x00\x00")},
		iccTestTag{"wtpt", iccTestXYZ([3]float64{0.9642, 1, 0.8249})},
		iccTestTag{"rXYZ", col(0)}, iccTestTag{"gXYZ", col(1)}, iccTestTag{"bXYZ", col(2)},
		iccTestTag{"rTRC", trc}, iccTestTag{"gTRC", trc}, iccTestTag{"bTRC", trc})
}

// The profiles the tests use: sRGB as the common v2 profile has it (a
// 1024-entry table), sRGB as a v4 parametric curve, Display P3 (v4 style,
// parametric sRGB curve), Adobe RGB (1998) (gamma 563/256 = 2.19921875 as
// u8Fixed8, the value Adobe's own profile stores).
func iccTestSRGB() []byte {
	return iccTestRGBProfile(2, iccTestSRGBPrim, iccTestTable(1024, iccTestSRGBDecode))
}
func iccTestSRGBv4() []byte { return iccTestRGBProfile(4, iccTestSRGBPrim, iccTestSRGBPara()) }
func iccTestP3() []byte     { return iccTestRGBProfile(4, iccTestP3Prim, iccTestSRGBPara()) }
func iccTestAdobe() []byte  { return iccTestRGBProfile(2, iccTestAdobePrim, iccTestGamma(563)) }
func iccTestGray22() []byte {
	return iccTestProfile(2, "GRAY", iccTestTag{"wtpt", iccTestXYZ([3]float64{0.9642, 1, 0.8249})}, iccTestTag{"kTRC", iccTestGamma(563)})
}

func TestICCTestMatricesMatchPublished(t *testing.T) {
	// RGB → XYZ matrices as published: Display P3 in W3C CSS Color 4
	// (section "Sample code for color conversions", lin_P3_to_XYZ), Adobe
	// RGB (1998) in its specification (section 4.3.4.1, five decimals),
	// sRGB in IEC 61966-2-1 (four decimals).
	for _, tt := range []struct {
		name string
		prim [3][2]float64
		want [3][3]float64
	}{
		{"display p3", iccTestP3Prim, [3][3]float64{{0.48657095, 0.26566769, 0.19821729}, {0.22897456, 0.69173852, 0.07928691}, {0, 0.04511338, 1.04394437}}},
		{"adobe rgb", iccTestAdobePrim, [3][3]float64{{0.57667, 0.18556, 0.18823}, {0.29734, 0.62736, 0.07529}, {0.02703, 0.07069, 0.99134}}},
		{"srgb", iccTestSRGBPrim, [3][3]float64{{0.4124, 0.3576, 0.1805}, {0.2126, 0.7152, 0.0722}, {0.0193, 0.1192, 0.9505}}},
	} {
		m := iccTestMatrix(tt.prim, iccTestD65)
		for i := range 3 {
			for j := range 3 {
				if math.Abs(m[i][j]-tt.want[i][j]) > 2e-4 {
					t.Errorf("%s: [%d][%d] = %.6f, published %.6f", tt.name, i, j, m[i][j], tt.want[i][j])
				}
			}
		}
	}
	// The D50-adapted sRGB colorants of the common sRGB profile
	// (rXYZ 0.4361 0.2225 0.0139, gXYZ 0.3851 0.7169 0.0971, bXYZ 0.1431
	// 0.0606 0.7141).
	m := iccTestToD50(iccTestMatrix(iccTestSRGBPrim, iccTestD65))
	want := [3][3]float64{{0.4361, 0.3851, 0.1431}, {0.2225, 0.7169, 0.0606}, {0.0139, 0.0971, 0.7141}}
	for i := range 3 {
		for j := range 3 {
			if math.Abs(m[i][j]-want[i][j]) > 3e-4 {
				t.Errorf("srgb d50: [%d][%d] = %.6f, published %.4f", i, j, m[i][j], want[i][j])
			}
		}
	}
}

func TestParseICC(t *testing.T) {
	p, err := ParseICC(iccTestP3())
	if err != nil {
		t.Fatal(err)
	}
	// rXYZ is column 0: Display P3 red adapted to D50 (X 0.5151, Y 0.2412,
	// Z -0.0011 in Apple's Display P3 profile).
	if r := [3]float64{p.Matrix[0][0], p.Matrix[1][0], p.Matrix[2][0]}; math.Abs(r[0]-0.5151) > 3e-4 || math.Abs(r[1]-0.2412) > 3e-4 || math.Abs(r[2]+0.0011) > 3e-4 {
		t.Fatalf("red colorant %v", r)
	}
	// The Adobe RGB colorants as a real profile stores them (Ghostscript's
	// a98.icc: rXYZ 0.6097 0.3111 0.0195, gXYZ 0.2053 0.6257 0.0609, bXYZ
	// 0.1492 0.0632 0.7446): the test writer adapts to D50 as others do.
	a, err := ParseICC(iccTestAdobe())
	if err != nil {
		t.Fatal(err)
	}
	wantA := [3][3]float64{{0.6097, 0.2053, 0.1492}, {0.3111, 0.6257, 0.0632}, {0.0195, 0.0609, 0.7446}}
	for i := range 3 {
		for j := range 3 {
			if math.Abs(a.Matrix[i][j]-wantA[i][j]) > 3e-4 {
				t.Errorf("adobe [%d][%d] = %.4f, a98.icc has %.4f", i, j, a.Matrix[i][j], wantA[i][j])
			}
		}
	}
	if p.Version != 4 || p.ColorSpace != "RGB " || p.IsSRGB() {
		t.Fatalf("version %d, space %q, sRGB %v", p.Version, p.ColorSpace, p.IsSRGB())
	}
	for name, b := range map[string][]byte{"srgb table": iccTestSRGB(), "srgb parametric": iccTestSRGBv4()} {
		p, err := ParseICC(b)
		if err != nil || !p.IsSRGB() {
			t.Fatalf("%s: %v, sRGB %v", name, err, err == nil && p.IsSRGB())
		}
	}
	for name, b := range map[string][]byte{"adobe": iccTestAdobe(), "gray 2.2": iccTestGray22(),
		"srgb primaries gamma 2.2": iccTestRGBProfile(2, iccTestSRGBPrim, iccTestGamma(563))} {
		p, err := ParseICC(b)
		if err != nil || p.IsSRGB() {
			t.Fatalf("%s: %v, sRGB %v", name, err, err == nil && p.IsSRGB())
		}
	}
}

func TestParseICCRefuses(t *testing.T) {
	good := iccTestP3()
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	put32 := func(off int, v uint32) []byte {
		return mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], v); return b })
	}
	// Tag 2 of the P3 profile is rXYZ (desc, wtpt, rXYZ...): its entry is
	// at 132 + 2×12.
	const rXYZ = 132 + 2*12
	rgb := func(trc []byte) []byte { return iccTestRGBProfile(2, iccTestP3Prim, trc) }
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrICCMalformed},
		{"header only", good[:128], ErrICCMalformed},
		{"truncated", good[:len(good)-1], ErrICCMalformed},
		{"size under the header", put32(0, 100), ErrICCMalformed},
		{"no acsp", put32(36, 0), ErrICCMalformed},
		{"huge tag count", put32(128, 1<<31), ErrICCMalformed},
		{"tag table past the end", put32(128, 1000), ErrICCMalformed},
		{"tag offset past the end", put32(rXYZ+4, uint32(len(good))), ErrICCMalformed},
		{"tag offset overflows", put32(rXYZ+4, math.MaxUint32), ErrICCMalformed},
		{"tag size past the end", put32(rXYZ+8, math.MaxUint32), ErrICCMalformed},
		{"xyz tag too short", put32(rXYZ+8, 12), ErrICCMalformed},
		{"xyz tag wrong type", mut(func(b []byte) []byte {
			off := binary.BigEndian.Uint32(b[rXYZ+4:])
			copy(b[off:], "curv")
			return b
		}), ErrICCMalformed},
		{"curve table truncated", rgb(iccTestTable(16, iccTestSRGBDecode)[:30]), ErrICCMalformed},
		{"gamma truncated", rgb(iccTestGamma(563)[:12]), ErrICCMalformed},
		{"parametric truncated", rgb(iccTestSRGBPara()[:20]), ErrICCMalformed},
		{"curve of 4097 entries", rgb(iccTestTable(4097, iccTestSRGBDecode)), ErrICCUnsupported},
		{"parametric function 5", rgb(iccTestPara(5, 1, 1, 1, 1, 1, 1, 1, 1)), ErrICCUnsupported},
		{"unknown curve type", rgb([]byte("mft2\x00\x00\x00\x00\x00\x00\x00\x00")), ErrICCUnsupported},
		{"version 5", put32(8, 5<<24), ErrICCUnsupported},
		{"device link", mut(func(b []byte) []byte { copy(b[12:], "link"); return b }), ErrICCUnsupported},
		{"cmyk", iccTestProfile(2, "CMYK", iccTestTag{"A2B0", []byte("mft2\x00\x00\x00\x00")}), ErrICCUnsupported},
		{"lab pcs", iccTestProfilePCS(4, "RGB ", "Lab ", iccTestTag{"A2B0", []byte("mAB \x00\x00\x00\x00")}), ErrICCUnsupported},
		{"rgb lut only", iccTestProfile(4, "RGB ", iccTestTag{"A2B0", []byte("mAB \x00\x00\x00\x00")}), ErrICCUnsupported},
		{"gray without kTRC", iccTestProfile(2, "GRAY", iccTestTag{"wtpt", iccTestXYZ([3]float64{0.9642, 1, 0.8249})}), ErrICCUnsupported},
		{"over MaxICCBytes", make([]byte, MaxICCBytes+1), ErrICCMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseICC(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if len(tt.b) == 0 {
				return // ToSRGB: no profile, nothing to do
			}
			img := image.NewNRGBA(image.Rect(0, 0, 2, 2))
			out, converted, err := ToSRGB(img, tt.b, 2)
			if !errors.Is(err, tt.want) || converted || out != image.Image(img) {
				t.Fatalf("ToSRGB: converted %v, same image %v, error %v", converted, out == image.Image(img), err)
			}
		})
	}
}

func TestICCCurves(t *testing.T) {
	const g, a, b, c, d, e, f = 2.2, 0.9, 0.1, 0.3, 0.2, 0.05, 0.02
	for _, tt := range []struct {
		name  string
		curve []byte
		want  func(x float64) float64
	}{
		{"identity", []byte("curv\x00\x00\x00\x00\x00\x00\x00\x00"), func(x float64) float64 { return x }},
		{"gamma 563/256", iccTestGamma(563), func(x float64) float64 { return math.Pow(x, 563.0/256) }},
		{"table", iccTestTable(2, func(x float64) float64 { return x / 2 }), func(x float64) float64 { return x / 2 }},
		{"parametric 0", iccTestPara(0, g), func(x float64) float64 { return math.Pow(x, g) }},
		{"parametric 1", iccTestPara(1, g, a, -b), func(x float64) float64 {
			if x >= b/a {
				return math.Pow(a*x-b, g)
			}
			return 0
		}},
		{"parametric 2", iccTestPara(2, g, a, -b, c), func(x float64) float64 {
			if x >= b/a {
				return math.Min(math.Pow(a*x-b, g)+c, 1)
			}
			return c
		}},
		{"parametric 3", iccTestPara(3, g, a, b, c, d), func(x float64) float64 {
			if x >= d {
				return math.Pow(a*x+b, g)
			}
			return c * x
		}},
		{"parametric 4", iccTestPara(4, g, a, b, c, d, e, f), func(x float64) float64 {
			if x >= d {
				return math.Min(math.Pow(a*x+b, g)+e, 1)
			}
			return c*x + f
		}},
	} {
		cv, err := parseICCCurve(tt.curve)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for i := range 21 {
			x := float64(i) / 20
			// s15Fixed16 parameters are exact to 1.5e-5; allow for that.
			if got, want := cv.eval(x), tt.want(x); math.Abs(got-want) > 2e-4 {
				t.Errorf("%s(%.2f) = %.6f, want %.6f", tt.name, x, got, want)
			}
		}
	}
}

// iccTestSeeds are the profiles the tests build, for the fuzzer.
func iccTestSeeds() [][]byte {
	return [][]byte{iccTestSRGB(), iccTestSRGBv4(), iccTestP3(), iccTestAdobe(), iccTestGray22(),
		iccTestRGBProfile(2, iccTestP3Prim, iccTestPara(4, 2.2, 0.9, 0.1, 0.3, 0.2, 0.05, 0.02)),
		iccTestRGBProfile(2, iccTestP3Prim, iccTestPara(1, 2.2, 0.9, -0.1)),
		iccTestRGBProfile(2, iccTestP3Prim, iccTestPara(2, 2.2, 0.9, -0.1, 0.3)),
		iccTestRGBProfile(2, iccTestP3Prim, iccTestTable(3, math.Sqrt)),
		iccTestProfile(2, "CMYK", iccTestTag{"A2B0", []byte("mft2\x00\x00\x00\x00")}),
	}
}

func FuzzICC(f *testing.F) {
	for _, s := range iccTestSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseICC(data)
		if err != nil {
			if !errors.Is(err, ErrICCMalformed) && !errors.Is(err, ErrICCUnsupported) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		p.IsSRGB()
		nrgba := image.NewNRGBA(image.Rect(1, 1, 5, 4))
		for i := range nrgba.Pix {
			nrgba.Pix[i] = uint8(i * 37)
		}
		gray := image.NewGray(image.Rect(0, 0, 3, 2))
		pal := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.White, color.NRGBA{200, 10, 40, 128}})
		wide := image.NewNRGBA64(image.Rect(0, 0, 2, 2))
		for _, img := range []image.Image{nrgba, gray, pal, wide} {
			out, _, err := ToSRGB(img, data, 2)
			if err != nil {
				t.Fatalf("%T: %v", img, err)
			}
			if out.Bounds() != img.Bounds() {
				t.Fatalf("%T: bounds %v, want %v", img, out.Bounds(), img.Bounds())
			}
		}
	})
}
