package jpegdec

import (
	"fmt"
	"image"
)

// component is one frame component (T.81 B.2.2) and what decoding it needs.
type component struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantization table
	bw, bh int // blocks in the MCU-padded grid
	cw, ch int // blocks that cover the component itself (non-interleaved scans)
	pred   int32

	plane  []byte // output samples at the decode scale, bw*bsz wide
	stride int

	coef []int16  // progressive: nn coefficients per block (the kept top-left corner)
	mask []uint64 // progressive: bit k set when zigzag coefficient k is nonzero
}

// decoder holds the state of one Decode or DecodeConfig call.
type decoder struct {
	data       []byte
	pos        int
	scale, bsz int
	lim        Limits
	configOnly bool

	cfg         Config
	frame       bool
	progressive bool
	comps       []component
	hmax, vmax  int
	mcusX       int
	mcusY       int
	jfif        bool
	nscans      int
	ri          int
	eobrun      int

	quant [4][64]int32 // natural order
	qset  [4]bool
	huff  [2][4]huffTable // [0]: DC, [1]: AC
	br    bitReader
	blk   [64]int32
}

// run parses the markers of d.data and decodes every scan.
func (d *decoder) run() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return corrupt("missing SOI marker")
	}
	d.pos = 2
	for {
		m, ok := d.nextMarker()
		if !ok {
			if d.nscans > 0 {
				return fmt.Errorf("%w: no EOI marker", errTruncated)
			}
			return fmt.Errorf("%w before %s", errTruncated, d.missing())
		}
		switch {
		case m == mEOI:
			if d.configOnly || d.nscans == 0 {
				return corrupt("EOI before %s", d.missing())
			}
			return nil
		case m >= mRST0 && m <= mRST7, m == mTEM:
			continue // stray parameterless markers
		}
		seg, err := d.segment(m)
		if err != nil {
			return err
		}
		switch {
		case m == mSOF0 || m == mSOF1 || m == mSOF2:
			if err := d.parseSOF(seg, m); err != nil {
				return err
			}
			if d.configOnly {
				return nil
			}
			if err := d.allocate(); err != nil {
				return err
			}
		case m >= 0xC3 && m <= 0xCF && m != mDHT && m != 0xC8 && m != mDAC:
			return unsupported("frame type (hierarchical, lossless or arithmetic-coded)")
		case m == mDAC:
			return unsupported("arithmetic coding")
		case m == mDNL:
			return unsupported("DNL marker")
		case m == mDHT:
			if err := d.parseDHT(seg); err != nil {
				return err
			}
		case m == mDQT:
			if err := d.parseDQT(seg); err != nil {
				return err
			}
		case m == mDRI:
			if len(seg) != 2 {
				return corrupt("DRI length %d", len(seg))
			}
			d.ri = int(seg[0])<<8 | int(seg[1])
		case m == mAPP0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case m == mAPPE:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.cfg.Adobe = true
				d.cfg.AdobeTransform = int(seg[11])
			}
		case m == mSOS:
			if !d.frame {
				return corrupt("SOS before SOF")
			}
			if err := d.parseSOS(seg); err != nil {
				return err
			}
		}
	}
}

func (d *decoder) missing() string {
	if !d.frame {
		return "the frame header"
	}
	return "image data"
}

// nextMarker finds the next marker from d.pos, skipping fill bytes and any garbage, and
// returns its code with d.pos just after it.
func (d *decoder) nextMarker() (byte, bool) {
	data := d.data
	for d.pos < len(data) {
		if data[d.pos] != 0xFF {
			d.pos++
			continue
		}
		for d.pos < len(data) && data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(data) {
			break
		}
		m := data[d.pos]
		d.pos++
		if m != 0 {
			return m, true
		}
	}
	return 0, false
}

// segment returns the payload of the marker segment at d.pos and moves past it.
func (d *decoder) segment(m byte) ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, corrupt("marker %#x: truncated length", m)
	}
	n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if n < 2 || d.pos+n > len(d.data) {
		return nil, corrupt("marker %#x: length %d past the end of data", m, n)
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

func (d *decoder) parseSOF(seg []byte, m byte) error {
	if d.frame {
		return corrupt("more than one frame header")
	}
	if len(seg) < 6 {
		return corrupt("SOF length %d", len(seg))
	}
	if seg[0] != 8 {
		return unsupported("sample precision other than 8 bits")
	}
	h := int(seg[1])<<8 | int(seg[2])
	w := int(seg[3])<<8 | int(seg[4])
	nf := int(seg[5])
	if h == 0 {
		return unsupported("height defined by DNL")
	}
	if w == 0 {
		return corrupt("zero width")
	}
	if nf != 1 && nf != 3 && nf != 4 {
		if nf == 0 {
			return corrupt("no components")
		}
		return unsupported("component count other than 1, 3 or 4")
	}
	if len(seg) < 6+3*nf {
		return corrupt("SOF length %d for %d components", len(seg), nf)
	}
	d.comps = make([]component, nf)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		p := seg[6+3*i:]
		c.id = p[0]
		c.h, c.v = int(p[1]>>4), int(p[1]&15)
		c.tq = int(p[2])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return corrupt("sampling factors %dx%d", c.h, c.v)
		}
		if c.tq > 3 {
			return corrupt("quantization table %d", c.tq)
		}
		if nf == 1 {
			c.h, c.v = 1, 1 // a single component is never interleaved
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	ratio, err := d.subsampling()
	if err != nil {
		return err
	}
	d.frame = true
	d.progressive = m == mSOF2
	d.cfg.Width, d.cfg.Height, d.cfg.Components = w, h, nf
	d.cfg.Progressive = d.progressive
	d.cfg.Subsampling = ratio
	d.mcusX = (w + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (h + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		cw := (w*c.h + d.hmax - 1) / d.hmax
		ch := (h*c.v + d.vmax - 1) / d.vmax
		c.cw, c.ch = (cw+7)/8, (ch+7)/8
	}
	return nil
}

// subsampling checks that the sampling factors are ones Decode can return and names them.
func (d *decoder) subsampling() (image.YCbCrSubsampleRatio, error) {
	cs := d.comps
	if len(cs) == 1 {
		return image.YCbCrSubsampleRatio444, nil
	}
	y, cb, cr := cs[0], cs[1], cs[2]
	if cb.h != cr.h || cb.v != cr.v || y.h != d.hmax || y.v != d.vmax ||
		y.h%cb.h != 0 || y.v%cb.v != 0 {
		return 0, unsupported("sampling factors")
	}
	if len(cs) == 4 && (cs[3].h != y.h || cs[3].v != y.v) {
		return 0, unsupported("sampling factors of the fourth component")
	}
	switch [2]int{y.h / cb.h, y.v / cb.v} {
	case [2]int{1, 1}:
		return image.YCbCrSubsampleRatio444, nil
	case [2]int{2, 1}:
		return image.YCbCrSubsampleRatio422, nil
	case [2]int{2, 2}:
		return image.YCbCrSubsampleRatio420, nil
	case [2]int{1, 2}:
		return image.YCbCrSubsampleRatio440, nil
	case [2]int{4, 1}:
		return image.YCbCrSubsampleRatio411, nil
	case [2]int{4, 2}:
		return image.YCbCrSubsampleRatio410, nil
	}
	return 0, unsupported("sampling factors")
}

// allocate checks the limits and allocates the planes (and, for progressive frames, the
// coefficients) once the frame header is known.
func (d *decoder) allocate() error {
	w, h := int64(d.cfg.Width), int64(d.cfg.Height)
	if d.lim.MaxPixels > 0 && w*h > d.lim.MaxPixels {
		return corrupt("%dx%d is more than %d pixels", w, h, d.lim.MaxPixels)
	}
	// Every block costs at least one bit of entropy-coded data in its first scan.
	var blocks int64
	for _, c := range d.comps {
		blocks += int64(c.cw) * int64(c.ch)
	}
	if blocks > 8*int64(len(d.data)-d.pos)+64 {
		return corrupt("%dx%d declared in %d bytes", w, h, len(d.data))
	}
	nn := (d.bsz) * (d.bsz)
	for i := range d.comps {
		c := &d.comps[i]
		c.stride = c.bw * d.bsz
		if d.progressive {
			c.coef = make([]int16, c.bw*c.bh*nn)
			c.mask = make([]uint64, c.bw*c.bh)
		} else {
			c.plane = make([]byte, c.stride*c.bh*d.bsz)
		}
	}
	return nil
}

func (d *decoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return corrupt("DQT table %d precision %d", tq, pq)
		}
		seg = seg[1:]
		q := &d.quant[tq]
		if pq == 0 {
			if len(seg) < 64 {
				return corrupt("DQT truncated")
			}
			for k := 0; k < 64; k++ {
				q[zigzag[k]] = int32(seg[k])
			}
			seg = seg[64:]
		} else {
			if len(seg) < 128 {
				return corrupt("DQT truncated")
			}
			for k := 0; k < 64; k++ {
				q[zigzag[k]] = int32(seg[2*k])<<8 | int32(seg[2*k+1])
			}
			seg = seg[128:]
		}
		d.qset[tq] = true
	}
	return nil
}

func (d *decoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return corrupt("DHT truncated")
		}
		tc, th := int(seg[0]>>4), int(seg[0]&15)
		if tc > 1 || th > 3 {
			return corrupt("DHT class %d table %d", tc, th)
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(seg[l])
			total += counts[l]
		}
		if total > 256 || len(seg) < 17+total {
			return corrupt("DHT with %d codes", total)
		}
		if err := d.huff[tc][th].build(&counts, seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

// zigzag maps the zigzag index of a coefficient to its natural (row-major) index.
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}
