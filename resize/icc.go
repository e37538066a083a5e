package resize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ICC profile parsing, from ICC.1:2010 (profile version 4) and ICC.1:2001-04
// (version 2): the header, the tag table, and the tags of the two simple
// models a display profile uses, matrix/TRC for RGB (rXYZ, gXYZ, bXYZ,
// rTRC, gTRC, bTRC) and a single TRC for gray (kTRC). Profiles that only
// have LUTs (A2B0: most CMYK, some RGB), other colour spaces and the Lab PCS
// are ErrICCUnsupported; ToSRGB leaves their pixels alone.

// ErrICCMalformed is wrapped by the errors of a profile whose structure is
// broken (truncated, offsets outside the profile, bad magic).
var ErrICCMalformed = errors.New("resize: icc: malformed profile")

// ErrICCUnsupported is wrapped by the errors of a well-formed profile this
// package does not convert: a colour space other than RGB or gray, a Lab
// PCS, LUT-only (A2B0) profiles, a curve table over maxICCCurveEntries, a
// profile version other than 2 or 4.
var ErrICCUnsupported = errors.New("resize: icc: unsupported profile")

const (
	iccHeaderSize = 128
	// maxICCTags bounds the tag table (real profiles have 10–30 tags).
	maxICCTags = 1024
	// maxICCCurveEntries bounds a curveType table.
	maxICCCurveEntries = 4096
)

// ICCProfile is the part of an ICC profile that a conversion to sRGB needs.
type ICCProfile struct {
	// Version is the profile's major version (2 or 4).
	Version int
	// ColorSpace is the data colour space signature: "RGB " or "GRAY".
	ColorSpace string
	// Matrix maps linear RGB to PCS XYZ relative to D50: column j is the
	// XYZ of colorant j (rXYZ, gXYZ, bXYZ), so XYZ = Matrix × (r, g, b).
	// For a gray profile it is the D50-adapted sRGB matrix (gray stays
	// neutral).
	Matrix [3][3]float64
	// trc holds the red, green and blue tone curves (for gray, kTRC three
	// times): encoded value to linear, both 0–1.
	trc [3]iccCurve
}

// iccCurve is a curveType or parametricCurveType tone curve.
type iccCurve struct {
	kind  iccCurveKind
	gamma float64  // iccGamma
	table []uint16 // iccTable: 2–maxICCCurveEntries samples
	fn    int      // iccParametric: function type 0–4
	p     [7]float64
}

type iccCurveKind uint8

const (
	iccIdentity iccCurveKind = iota
	iccGamma
	iccTable
	iccParametric
)

// ParseICC parses an ICC profile of a matrix/TRC RGB or gray TRC display
// profile. Every offset and size it follows is checked against the profile;
// it never panics. Errors wrap ErrICCMalformed or ErrICCUnsupported.
func ParseICC(b []byte) (*ICCProfile, error) {
	if len(b) > MaxICCBytes {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrICCMalformed, len(b), MaxICCBytes)
	}
	if len(b) < iccHeaderSize+4 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrICCMalformed, len(b))
	}
	size := binary.BigEndian.Uint32(b)
	if size < iccHeaderSize+4 || uint64(size) > uint64(len(b)) {
		return nil, fmt.Errorf("%w: header says %d bytes, have %d", ErrICCMalformed, size, len(b))
	}
	b = b[:size]
	if string(b[36:40]) != "acsp" {
		return nil, fmt.Errorf("%w: no 'acsp' signature", ErrICCMalformed)
	}
	p := &ICCProfile{Version: int(b[8]), ColorSpace: string(b[16:20])}
	if p.Version != 2 && p.Version != 4 {
		return nil, fmt.Errorf("%w: version %d", ErrICCUnsupported, p.Version)
	}
	switch class := string(b[12:16]); class {
	case "link", "abst", "nmcl":
		return nil, fmt.Errorf("%w: profile class %q", ErrICCUnsupported, class)
	}
	if pcs := string(b[20:24]); pcs != "XYZ " {
		return nil, fmt.Errorf("%w: PCS %q", ErrICCUnsupported, pcs)
	}
	tags, err := iccTagTable(b)
	if err != nil {
		return nil, err
	}
	switch p.ColorSpace {
	case "RGB ":
		for i, sig := range [3]string{"rXYZ", "gXYZ", "bXYZ"} {
			d, ok := tags.find(sig)
			if !ok {
				return nil, iccMissing(tags, sig)
			}
			xyz, err := iccXYZ(d)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sig, err)
			}
			for r := range 3 {
				p.Matrix[r][i] = xyz[r]
			}
		}
		for i, sig := range [3]string{"rTRC", "gTRC", "bTRC"} {
			d, ok := tags.find(sig)
			if !ok {
				return nil, iccMissing(tags, sig)
			}
			if p.trc[i], err = parseICCCurve(d); err != nil {
				return nil, fmt.Errorf("%s: %w", sig, err)
			}
		}
	case "GRAY":
		d, ok := tags.find("kTRC")
		if !ok {
			return nil, iccMissing(tags, "kTRC")
		}
		c, err := parseICCCurve(d)
		if err != nil {
			return nil, fmt.Errorf("kTRC: %w", err)
		}
		p.trc = [3]iccCurve{c, c, c}
		p.Matrix = srgbD50()
	default:
		return nil, fmt.Errorf("%w: colour space %q", ErrICCUnsupported, p.ColorSpace)
	}
	return p, nil
}

// iccTags is a profile and its tag table.
type iccTags struct {
	b     []byte
	table []byte // 12 bytes a tag: signature, offset, size
}

// iccTagTable checks the tag count against the profile and returns the
// table. Tag offsets and sizes are checked when a tag is read.
func iccTagTable(b []byte) (iccTags, error) {
	n := binary.BigEndian.Uint32(b[iccHeaderSize:])
	if n > maxICCTags {
		return iccTags{}, fmt.Errorf("%w: %d tags, over %d", ErrICCMalformed, n, maxICCTags)
	}
	end := iccHeaderSize + 4 + 12*int(n)
	if end > len(b) {
		return iccTags{}, fmt.Errorf("%w: tag table of %d tags past the end", ErrICCMalformed, n)
	}
	return iccTags{b: b, table: b[iccHeaderSize+4 : end]}, nil
}

// find returns the data of the first tag with signature sig; ok is false
// if there is none or it lies outside the profile.
func (t iccTags) find(sig string) ([]byte, bool) {
	for e := t.table; len(e) >= 12; e = e[12:] {
		if string(e[:4]) != sig {
			continue
		}
		off := uint64(binary.BigEndian.Uint32(e[4:]))
		size := uint64(binary.BigEndian.Uint32(e[8:]))
		if off+size > uint64(len(t.b)) {
			return nil, false
		}
		return t.b[off : off+size], true
	}
	return nil, false
}

// has reports whether the table lists sig (in bounds or not).
func (t iccTags) has(sig string) bool {
	for e := t.table; len(e) >= 12; e = e[12:] {
		if string(e[:4]) == sig {
			return true
		}
	}
	return false
}

// iccMissing is the error for a required tag that is absent or out of
// bounds: a LUT-only profile is unsupported, a listed tag outside the
// profile is malformed.
func iccMissing(t iccTags, sig string) error {
	switch {
	case t.has(sig):
		return fmt.Errorf("%w: tag %s outside the profile", ErrICCMalformed, sig)
	case t.has("A2B0"):
		return fmt.Errorf("%w: LUT-based (A2B0) profile without %s", ErrICCUnsupported, sig)
	}
	return fmt.Errorf("%w: no %s tag", ErrICCUnsupported, sig)
}

// iccXYZ reads an XYZType tag's first XYZNumber.
func iccXYZ(d []byte) ([3]float64, error) {
	if len(d) < 20 || string(d[:4]) != "XYZ " {
		return [3]float64{}, fmt.Errorf("%w: not an XYZType of 20 bytes", ErrICCMalformed)
	}
	return [3]float64{iccS15Fixed16(d[8:]), iccS15Fixed16(d[12:]), iccS15Fixed16(d[16:])}, nil
}

func iccS15Fixed16(b []byte) float64 {
	return float64(int32(binary.BigEndian.Uint32(b))) / 65536
}

// iccParamCount is the number of parameters of parametric functions 0–4
// (ICC.1:2010 table 65).
var iccParamCount = [5]int{1, 3, 4, 5, 7}

// parseICCCurve reads a curveType ('curv') or parametricCurveType ('para').
func parseICCCurve(d []byte) (iccCurve, error) {
	if len(d) < 12 {
		return iccCurve{}, fmt.Errorf("%w: curve of %d bytes", ErrICCMalformed, len(d))
	}
	switch string(d[:4]) {
	case "curv":
		n := binary.BigEndian.Uint32(d[8:])
		switch {
		case n == 0:
			return iccCurve{kind: iccIdentity}, nil
		case n == 1:
			if len(d) < 14 {
				return iccCurve{}, fmt.Errorf("%w: truncated gamma curve", ErrICCMalformed)
			}
			return iccCurve{kind: iccGamma, gamma: float64(binary.BigEndian.Uint16(d[12:])) / 256}, nil
		case n > maxICCCurveEntries:
			return iccCurve{}, fmt.Errorf("%w: curve of %d entries, over %d", ErrICCUnsupported, n, maxICCCurveEntries)
		case uint64(len(d)) < 12+2*uint64(n):
			return iccCurve{}, fmt.Errorf("%w: curve of %d entries in %d bytes", ErrICCMalformed, n, len(d))
		}
		t := make([]uint16, n)
		for i := range t {
			t[i] = binary.BigEndian.Uint16(d[12+2*i:])
		}
		return iccCurve{kind: iccTable, table: t}, nil
	case "para":
		fn := int(binary.BigEndian.Uint16(d[8:]))
		if fn >= len(iccParamCount) {
			return iccCurve{}, fmt.Errorf("%w: parametric function %d", ErrICCUnsupported, fn)
		}
		n := iccParamCount[fn]
		if len(d) < 12+4*n {
			return iccCurve{}, fmt.Errorf("%w: parametric function %d in %d bytes", ErrICCMalformed, fn, len(d))
		}
		c := iccCurve{kind: iccParametric, fn: fn}
		for i := range n {
			c.p[i] = iccS15Fixed16(d[12+4*i:])
		}
		return c, nil
	}
	return iccCurve{}, fmt.Errorf("%w: curve type %q", ErrICCUnsupported, d[:4])
}

// eval maps an encoded value x in 0–1 to linear light, clamped to 0–1 (a
// NaN from absurd parameters becomes 0).
func (c *iccCurve) eval(x float64) float64 {
	var y float64
	switch c.kind {
	case iccIdentity:
		y = x
	case iccGamma:
		y = math.Pow(x, c.gamma)
	case iccTable:
		pos := x * float64(len(c.table)-1)
		i := int(pos)
		if i >= len(c.table)-1 {
			y = float64(c.table[len(c.table)-1])
		} else {
			f := pos - float64(i)
			y = float64(c.table[i])*(1-f) + float64(c.table[i+1])*f
		}
		y /= 65535
	case iccParametric:
		g, a, b, cc, d, e, f := c.p[0], c.p[1], c.p[2], c.p[3], c.p[4], c.p[5], c.p[6]
		pow := func(v float64) float64 { return math.Pow(max(v, 0), g) }
		switch c.fn {
		case 0:
			y = pow(x)
		case 1: // (aX+b)^g for X >= -b/a, else 0
			if a*x+b >= 0 {
				y = pow(a*x + b)
			}
		case 2: // (aX+b)^g + c for X >= -b/a, else c
			y = cc
			if a*x+b >= 0 {
				y += pow(a*x + b)
			}
		case 3: // (aX+b)^g for X >= d, else cX
			if x >= d {
				y = pow(a*x + b)
			} else {
				y = cc * x
			}
		case 4: // (aX+b)^g + e for X >= d, else cX + f
			if x >= d {
				y = pow(a*x+b) + e
			} else {
				y = cc*x + f
			}
		}
	}
	if !(y > 0) {
		return 0
	}
	return min(y, 1)
}

// IsSRGB reports whether the profile describes sRGB closely enough that
// converting would change no 8-bit value by more than rounding: the
// colorants within 0.002 of sRGB's D50-adapted ones (s15Fixed16 rounding
// and the small differences between published sRGB profiles are far
// smaller than the gap to Display P3 or Adobe RGB), and every curve within
// half an 8-bit step of the sRGB transfer function at all 256 codes. A gray
// profile is sRGB if its curve is.
func (p *ICCProfile) IsSRGB() bool {
	s := srgbD50()
	for i := range 3 {
		for j := range 3 {
			if math.Abs(p.Matrix[i][j]-s[i][j]) > 0.002 {
				return false
			}
		}
	}
	for c := range p.trc {
		for v := range 256 {
			x := float64(v) / 255
			if math.Abs(srgbEncode(p.trc[c].eval(x))-x) > 0.5/255 {
				return false
			}
		}
	}
	return true
}
