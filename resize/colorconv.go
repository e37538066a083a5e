package resize

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
)

// Colour conversion of ICC-tagged pixels to sRGB: source code value → linear
// (the profile's TRC) → XYZ relative to D50 (the profile's matrix) → linear
// sRGB (the inverse of sRGB's Bradford-adapted D50 matrix) → the sRGB
// transfer function, clamped to the sRGB gamut (clipping, the ICC relative
// colorimetric intent without black point compensation, as browsers do for
// matrix profiles). Both ends are lookup tables, so an 8-bit pixel costs
// three table reads, nine multiplications and three more reads.

// srgbEncSize is the number of entries of the linear → sRGB 8-bit table:
// fine enough that sRGB's steepest part (slope 12.92 near black) moves by
// a fifth of an 8-bit step between entries.
const srgbEncSize = 1 << 14

// lin16Size is the number of entries of the linearisation table for
// 16-bit sources (indexed by the top 12 bits).
const lin16Size = 1 << 12

// ToSRGB converts img, whose pixels are in the colour space the ICC profile
// describes, to sRGB. It returns img itself and false when there is nothing
// to do: no profile, or a profile that is sRGB already (ICCProfile.IsSRGB).
// Otherwise it returns a new image and true: an *image.Paletted with its
// palette converted for a paletted source, an *image.Gray for a gray source
// with a gray profile, an *image.NRGBA (straight alpha, kept as is) for
// everything else, 16-bit sources included. The result does not depend on
// workers, the number of goroutines it converts row bands with (≤ 1: one).
//
// A profile that is malformed or unsupported (LUT-only, CMYK, Lab PCS...,
// see ParseICC) returns img, false and an error wrapping ErrICCMalformed or
// ErrICCUnsupported; so do CMYK pixels (image/jpeg's *image.CMYK) with an
// RGB or gray profile. The caller decides what to do then (serve the pixels
// unconverted with the profile kept, or refuse); ToSRGB never panics on a
// bad profile.
func ToSRGB(img image.Image, profile []byte, workers int) (image.Image, bool, error) {
	if len(profile) == 0 {
		return img, false, nil
	}
	p, err := ParseICC(profile)
	if err != nil {
		return img, false, err
	}
	if p.IsSRGB() {
		return img, false, nil
	}
	out, err := p.convert(img, workers)
	if err != nil {
		return img, false, err
	}
	return out, true, nil
}

// iccTransform is a profile's conversion to sRGB as lookup tables.
type iccTransform struct {
	lin8  [3][256]float32
	lin16 [][lin16Size]float32 // three tables, made for 16-bit sources only
	m     [3][3]float32        // linear source RGB → linear sRGB
	enc   []uint8              // linear 0–1 → sRGB code, srgbEncSize entries
}

// convert converts img with p, whether or not p is sRGB.
func (p *ICCProfile) convert(img image.Image, workers int) (image.Image, error) {
	if _, ok := img.(*image.CMYK); ok {
		return nil, fmt.Errorf("%w: CMYK pixels with a %q profile", ErrICCUnsupported, p.ColorSpace)
	}
	t := p.transform()
	r := img.Bounds()
	switch m := img.(type) {
	case *image.Paletted:
		pal := make(color.Palette, len(m.Palette))
		for i, c := range m.Palette {
			pal[i] = t.color16(color.NRGBA64Model.Convert(c).(color.NRGBA64))
		}
		out := &image.Paletted{Pix: append([]uint8(nil), m.Pix...), Stride: m.Stride, Rect: m.Rect, Palette: pal}
		return out, nil
	case *image.Gray:
		if p.ColorSpace == "GRAY" {
			var lut [256]uint8
			for v := range lut {
				lut[v] = t.encode(t.lin8[0][v])
			}
			out := image.NewGray(r)
			parallelRows(r.Dy(), workers, func(y0, y1 int) {
				for y := y0; y < y1; y++ {
					src := m.Pix[(y)*m.Stride : (y)*m.Stride+r.Dx()]
					dst := out.Pix[y*out.Stride : y*out.Stride+r.Dx()]
					for x, v := range src {
						dst[x] = lut[v]
					}
				}
			})
			return out, nil
		}
	}
	switch img.(type) {
	case *image.NRGBA, *image.RGBA, *image.YCbCr, *image.NYCbCrA, *image.Gray:
	default:
		t.makeLin16(p)
	}
	out := image.NewNRGBA(r)
	parallelRows(r.Dy(), workers, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			t.row(img, r.Min.Y+y, out.Pix[y*out.Stride:y*out.Stride+4*r.Dx()])
		}
	})
	return out, nil
}

// transform builds p's lookup tables and combined matrix.
func (p *ICCProfile) transform() *iccTransform {
	t := &iccTransform{enc: make([]uint8, srgbEncSize)}
	for c := range 3 {
		for v := range 256 {
			t.lin8[c][v] = float32(p.trc[c].eval(float64(v) / 255))
		}
	}
	inv, _ := mat3Inverse(srgbD50()) // a constant, invertible matrix
	m := mat3Mul(inv, p.Matrix)
	for i := range 3 {
		for j := range 3 {
			t.m[i][j] = float32(m[i][j])
		}
	}
	// enc[i] is the nearest code to linear i/(srgbEncSize-1): the code
	// after every threshold, the linear value halfway between two codes,
	// that it reaches (256 powers instead of one an entry).
	var thr [255]float64
	for k := range thr {
		thr[k] = srgbDecode((float64(k) + 0.5) / 255)
	}
	k := 0
	for i := range t.enc {
		x := float64(i) / (srgbEncSize - 1)
		for k < len(thr) && x >= thr[k] {
			k++
		}
		t.enc[i] = uint8(k)
	}
	return t
}

func (t *iccTransform) makeLin16(p *ICCProfile) {
	t.lin16 = make([][lin16Size]float32, 3)
	for c := range 3 {
		for v := range lin16Size {
			t.lin16[c][v] = float32(p.trc[c].eval(float64(v) / (lin16Size - 1)))
		}
	}
}

// encode maps linear light to an sRGB code, clipping.
func (t *iccTransform) encode(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return t.enc[int(v*(srgbEncSize-1)+0.5)]
}

// pixel converts linear source RGB to sRGB codes.
func (t *iccTransform) pixel(r, g, b float32) (uint8, uint8, uint8) {
	m := &t.m
	return t.encode(m[0][0]*r + m[0][1]*g + m[0][2]*b),
		t.encode(m[1][0]*r + m[1][1]*g + m[1][2]*b),
		t.encode(m[2][0]*r + m[2][1]*g + m[2][2]*b)
}

func (t *iccTransform) pixel8(dst []uint8, r, g, b, a uint8) {
	dst[0], dst[1], dst[2] = t.pixel(t.lin8[0][r], t.lin8[1][g], t.lin8[2][b])
	dst[3] = a
}

// color16 converts one 16-bit colour (for palettes; the lin16 tables are
// not needed: the curve is evaluated exactly).
func (t *iccTransform) color16(c color.NRGBA64) color.NRGBA {
	var out [4]uint8
	lin := func(ch int, v uint16) float32 {
		// Interpolate lin8: palette entries of 8-bit files are exact.
		x := float32(v) / 65535 * 255
		i := int(x)
		if i >= 255 {
			return t.lin8[ch][255]
		}
		f := x - float32(i)
		return t.lin8[ch][i]*(1-f) + t.lin8[ch][i+1]*f
	}
	out[0], out[1], out[2] = t.pixel(lin(0, c.R), lin(1, c.G), lin(2, c.B))
	return color.NRGBA{out[0], out[1], out[2], uint8(c.A >> 8)}
}

// row converts image row y into dst (4 bytes a pixel, straight alpha).
func (t *iccTransform) row(img image.Image, y int, dst []uint8) {
	r := img.Bounds()
	switch m := img.(type) {
	case *image.NRGBA:
		src := m.Pix[m.PixOffset(r.Min.X, y):]
		for i := 0; i < len(dst); i += 4 {
			t.pixel8(dst[i:i+4], src[i], src[i+1], src[i+2], src[i+3])
		}
	case *image.RGBA:
		src := m.Pix[m.PixOffset(r.Min.X, y):]
		for i := 0; i < len(dst); i += 4 {
			cr, cg, cb, a := src[i], src[i+1], src[i+2], src[i+3]
			switch a {
			case 0:
				dst[i], dst[i+1], dst[i+2], dst[i+3] = 0, 0, 0, 0
				continue
			case 255:
			default:
				cr, cg, cb = unpremul8(cr, a), unpremul8(cg, a), unpremul8(cb, a)
			}
			t.pixel8(dst[i:i+4], cr, cg, cb, a)
		}
	case *image.Gray:
		src := m.Pix[m.PixOffset(r.Min.X, y):]
		for x := range r.Dx() {
			v := src[x]
			t.pixel8(dst[4*x:4*x+4], v, v, v, 255)
		}
	case *image.YCbCr:
		t.ycbcrRow(m, nil, y, dst)
	case *image.NYCbCrA:
		t.ycbcrRow(&m.YCbCr, m.A[m.AOffset(r.Min.X, y):], y, dst)
	default:
		for x := range r.Dx() {
			c := color.NRGBA64Model.Convert(img.At(r.Min.X+x, y)).(color.NRGBA64)
			d := dst[4*x : 4*x+4]
			d[0], d[1], d[2] = t.pixel(t.lin16[0][c.R>>4], t.lin16[1][c.G>>4], t.lin16[2][c.B>>4])
			d[3] = uint8(c.A >> 8)
		}
	}
}

// ycbcrRow converts row y of m (with alpha row a, or opaque if nil).
func (t *iccTransform) ycbcrRow(m *image.YCbCr, a []uint8, y int, dst []uint8) {
	// Horizontal chroma subsampling: COffset(x, y) is the row's chroma
	// offset at Min.X plus x/h - Min.X/h.
	h := 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
		h = 2
	case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
		h = 4
	}
	x0 := m.Rect.Min.X
	ys := m.Y[m.YOffset(x0, y):]
	c0 := m.COffset(x0, y) - x0/h
	for x := range len(dst) / 4 {
		ci := c0 + (x0+x)/h
		cr, cg, cb := color.YCbCrToRGB(ys[x], m.Cb[ci], m.Cr[ci])
		alpha := uint8(255)
		if a != nil {
			alpha = a[x]
		}
		t.pixel8(dst[4*x:4*x+4], cr, cg, cb, alpha)
	}
}

// unpremul8 undoes alpha premultiplication of one 8-bit channel, rounding.
func unpremul8(c, a uint8) uint8 {
	v := (uint32(c)*255 + uint32(a)/2) / uint32(a)
	return uint8(min(v, 255))
}

// parallelRows calls f on row bands [y0, y1) covering 0–h, in up to
// workers goroutines, and waits for them.
func parallelRows(h, workers int, f func(y0, y1 int)) {
	workers = max(min(workers, h), 1)
	if workers == 1 {
		f(0, h)
		return
	}
	band := (h + workers - 1) / workers
	var wg sync.WaitGroup
	for y0 := 0; y0 < h; y0 += band {
		wg.Go(func() { f(y0, min(y0+band, h)) })
	}
	wg.Wait()
}

// srgbEncode is the sRGB transfer function (IEC 61966-2-1): linear light
// 0–1 to an encoded value 0–1.
func srgbEncode(v float64) float64 {
	if v <= 0.0031308 {
		return 12.92 * v
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

// srgbDecode is the inverse of srgbEncode.
func srgbDecode(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// srgbD50 is sRGB's RGB → XYZ matrix adapted to the ICC's D50 PCS white
// with the Bradford transform (ICC.1:2010 annex E), computed from the sRGB
// primaries and D65 white of IEC 61966-2-1 / ITU-R BT.709.
func srgbD50() [3][3]float64 {
	m := rgbToXYZ([3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}, [2]float64{0.3127, 0.3290})
	// The ICC PCS illuminant D50 as s15Fixed16 rounds it (ICC.1:2010 7.2.16).
	return mat3Mul(bradford(xyToXYZ(0.3127, 0.3290), [3]float64{0.9642, 1, 0.8249}), m)
}

func xyToXYZ(x, y float64) [3]float64 { return [3]float64{x / y, 1, (1 - x - y) / y} }

// rgbToXYZ is the matrix taking linear RGB with the given primaries'
// chromaticities and white point to XYZ (white Y = 1).
func rgbToXYZ(prim [3][2]float64, white [2]float64) [3][3]float64 {
	var m [3][3]float64
	for j, c := range prim {
		xyz := xyToXYZ(c[0], c[1])
		for i := range 3 {
			m[i][j] = xyz[i]
		}
	}
	inv, _ := mat3Inverse(m)
	s := mat3Apply(inv, xyToXYZ(white[0], white[1]))
	for i := range 3 {
		for j := range 3 {
			m[i][j] *= s[j]
		}
	}
	return m
}

// bradford is the chromatic adaptation matrix from white src to white dst.
func bradford(src, dst [3]float64) [3][3]float64 {
	b := [3][3]float64{{0.8951, 0.2664, -0.1614}, {-0.7502, 1.7135, 0.0367}, {0.0389, -0.0685, 1.0296}}
	bi, _ := mat3Inverse(b)
	s, d := mat3Apply(b, src), mat3Apply(b, dst)
	scale := [3][3]float64{{d[0] / s[0]}, {0, d[1] / s[1]}, {0, 0, d[2] / s[2]}}
	return mat3Mul(bi, mat3Mul(scale, b))
}

func mat3Mul(a, b [3][3]float64) [3][3]float64 {
	var m [3][3]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				m[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return m
}

func mat3Apply(a [3][3]float64, v [3]float64) [3]float64 {
	var r [3]float64
	for i := range 3 {
		r[i] = a[i][0]*v[0] + a[i][1]*v[1] + a[i][2]*v[2]
	}
	return r
}

// mat3Inverse inverts a; ok is false if it is singular.
func mat3Inverse(a [3][3]float64) (inv [3][3]float64, ok bool) {
	det := a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
		a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
		a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	if det == 0 || math.IsNaN(det) {
		return inv, false
	}
	for i := range 3 {
		for j := range 3 {
			// cofactor of a[j][i]
			r0, r1 := (j+1)%3, (j+2)%3
			c0, c1 := (i+1)%3, (i+2)%3
			inv[i][j] = (a[r0][c0]*a[r1][c1] - a[r0][c1]*a[r1][c0]) / det
		}
	}
	return inv, true
}
