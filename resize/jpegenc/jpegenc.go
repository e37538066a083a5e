// Package jpegenc is r2gate's baseline JPEG encoder, written from the JPEG
// specification (ITU T.81) for what the resize pipeline writes: a 4:2:0
// colour image or a greyscale one, 8-bit, with the specification's example
// Huffman tables (Annex K.3) and its example quantisation tables (Annex
// K.1) scaled by quality as libjpeg and Go's image/jpeg scale them, so a
// quality means the same here as there.
//
// It differs from image/jpeg in two ways that matter for a first variant:
// it reads the Y'CbCr planes as they are (no per-pixel interface calls, no
// colour conversion when the source is already Y'CbCr), and it writes one
// restart interval per row of MCUs, so the rows are encoded on several
// goroutines at once and concatenated; the output is a single baseline
// JPEG that any decoder reads (restart markers are part of baseline), at
// the cost of two or three bytes per row of 16 pixels.
//
// The forward DCT is the scaled float algorithm of Arai, Agui and Nakajima
// with the scale folded into the quantisation, computed in float32 with
// every product rounded on its own (no fused multiply-add), so the bytes
// are the same on every architecture.
package jpegenc

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/bits"
	"sync"
)

// MaxSide is the largest width or height Encode writes (the SOF header
// holds 16 bits, and the restart interval, one row of MCUs, must too).
const MaxSide = 65535

// ErrUnsupported is returned for an image layout Encode does not write
// (the caller uses another encoder).
var ErrUnsupported = errors.New("jpegenc: unsupported image layout")

// Encode writes m as a baseline JPEG at quality (clamped to 1–100) on up to
// workers goroutines. m must be a 4:2:0 *image.YCbCr with an even origin
// (written 4:2:0) or an *image.Gray (written greyscale); anything else is
// ErrUnsupported. No
// metadata is written beyond the JFIF header.
func Encode(w io.Writer, m image.Image, quality, workers int) error {
	var e encoder
	switch m := m.(type) {
	case *image.YCbCr:
		// Go's layout: index 0 of each plane is the sample of Rect.Min. An
		// odd origin would put a chroma sample across two MCUs.
		if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || m.Rect.Min.X%2 != 0 || m.Rect.Min.Y%2 != 0 {
			return ErrUnsupported
		}
		cw, ch := (m.Rect.Dx()+1)/2, (m.Rect.Dy()+1)/2
		e.planes = []plane{
			{pix: m.Y, stride: m.YStride, w: m.Rect.Dx(), h: m.Rect.Dy(), h2: 2, table: 0},
			{pix: m.Cb, stride: m.CStride, w: cw, h: ch, h2: 1, table: 1},
			{pix: m.Cr, stride: m.CStride, w: cw, h: ch, h2: 1, table: 1},
		}
		e.mcu = 16
	case *image.Gray:
		e.planes = []plane{{pix: m.Pix, stride: m.Stride, w: m.Rect.Dx(), h: m.Rect.Dy(), h2: 1}}
		e.mcu = 8
	default:
		return ErrUnsupported
	}
	b := m.Bounds()
	if b.Empty() || b.Dx() > MaxSide || b.Dy() > MaxSide {
		return fmt.Errorf("jpegenc: %d×%d is outside 1–%d pixels a side", b.Dx(), b.Dy(), MaxSide)
	}
	e.width, e.height = b.Dx(), b.Dy()
	e.setQuality(quality)
	return e.write(w, workers)
}

// plane is one component's samples: w×h from index 0 of pix. h2 is its
// sampling factor (2 for 4:2:0 luma: 2×2 blocks per MCU; 1 otherwise).
type plane struct {
	pix    []uint8
	stride int
	w, h   int
	h2     int
	table  int // quantisation and Huffman table: 0 luma, 1 chroma
}

// encoder holds one image's settings.
type encoder struct {
	planes        []plane
	mcu           int // MCU side in pixels
	width, height int
	quant         [2][64]uint8   // in natural order
	recip         [2][64]float32 // 1/(quant × AAN scale × 8), natural order
}

// The example tables of Annex K.1, natural (row-major) order.
var baseQuant = [2][64]uint8{{
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99,
}, {
	17, 18, 24, 47, 99, 99, 99, 99,
	18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99,
	47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
}}

// zigzag[k] is the natural index of the k-th coefficient in zigzag order.
var zigzag = func() (z [64]int) {
	k := 0
	for s := 0; s < 15; s++ { // anti-diagonals r+c = s
		if s%2 == 0 { // upwards: row from high to low
			for r := min(s, 7); r >= 0 && s-r < 8; r-- {
				z[k], k = r*8+(s-r), k+1
			}
		} else {
			for c := min(s, 7); c >= 0 && s-c < 8; c-- {
				z[k], k = (s-c)*8+c, k+1
			}
		}
	}
	return z
}()

// aan[k] is the AAN scale factor of frequency k: √2·cos(kπ/16), 1 for 0.
var aan = func() (a [8]float64) {
	for k := range a {
		a[k] = math.Sqrt2 * math.Cos(float64(k)*math.Pi/16)
	}
	a[0] = 1
	return a
}()

// setQuality scales the example tables by quality as libjpeg does.
func (e *encoder) setQuality(q int) {
	q = min(max(q, 1), 100)
	scale := 200 - 2*q
	if q < 50 {
		scale = 5000 / q
	}
	for t := range e.quant {
		for i, b := range baseQuant[t] {
			v := min(max((int(b)*scale+50)/100, 1), 255)
			e.quant[t][i] = uint8(v)
			e.recip[t][i] = float32(1 / (float64(v) * aan[i/8] * aan[i%8] * 8))
		}
	}
}

// write writes the headers, the entropy-coded rows and EOI.
func (e *encoder) write(w io.Writer, workers int) error {
	mcux := (e.width + e.mcu - 1) / e.mcu
	mcuy := (e.height + e.mcu - 1) / e.mcu
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(e.headers(mcux))

	workers = min(max(workers, 1), mcuy, 64)
	rows := make([][]byte, mcuy)
	var wg sync.WaitGroup
	var fail error
	var once sync.Once
	for i := range workers {
		r0, r1 := mcuy*i/workers, mcuy*(i+1)/workers
		run := func() {
			defer func() {
				if r := recover(); r != nil {
					once.Do(func() { fail = fmt.Errorf("jpegenc: encoder panicked: %v", r) })
				}
			}()
			s := newSegmentWriter(e)
			for r := r0; r < r1; r++ {
				rows[r] = s.row(r, mcux, r == mcuy-1)
			}
		}
		if workers == 1 {
			run()
			break
		}
		wg.Go(run)
	}
	wg.Wait()
	if fail != nil {
		return fail
	}
	for _, r := range rows {
		bw.Write(r)
	}
	bw.Write([]byte{0xff, 0xd9})
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("jpegenc: write: %w", err)
	}
	return nil
}

// headers returns SOI, JFIF APP0, DQT, SOF0, DHT, DRI and SOS.
func (e *encoder) headers(mcux int) []byte {
	h := make([]byte, 0, 1024)
	h = append(h, 0xff, 0xd8)
	h = append(h, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	nt := 1
	if len(e.planes) == 3 {
		nt = 2
	}
	h = append(h, 0xff, 0xdb)
	h = be16(h, 2+65*nt)
	for t := range nt {
		h = append(h, byte(t))
		for _, n := range zigzag {
			h = append(h, e.quant[t][n])
		}
	}
	h = append(h, 0xff, 0xc0)
	h = be16(h, 8+3*len(e.planes))
	h = append(h, 8)
	h = be16(h, e.height)
	h = be16(h, e.width)
	h = append(h, byte(len(e.planes)))
	for i, p := range e.planes {
		h = append(h, byte(i+1), byte(p.h2<<4|p.h2), byte(p.table))
	}
	h = append(h, 0xff, 0xc4)
	n := 2
	for t := range nt {
		n += 2 * 17
		n += len(specs[2*t].vals) + len(specs[2*t+1].vals)
	}
	h = be16(h, n)
	for t := range nt {
		for c, s := range []*huffSpec{&specs[2*t], &specs[2*t+1]} { // DC, AC
			h = append(h, byte(c<<4|t))
			h = append(h, s.bits[:]...)
			h = append(h, s.vals...)
		}
	}
	h = append(h, 0xff, 0xdd, 0, 4)
	h = be16(h, mcux)
	h = append(h, 0xff, 0xda)
	h = be16(h, 6+2*len(e.planes))
	h = append(h, byte(len(e.planes)))
	for i, p := range e.planes {
		h = append(h, byte(i+1), byte(p.table<<4|p.table))
	}
	h = append(h, 0, 63, 0)
	return h
}

// be16 appends v as a big-endian 16-bit number.
func be16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

// segmentWriter is one goroutine's state: a bit accumulator and buffers.
type segmentWriter struct {
	e    *encoder
	out  []byte
	acc  uint64 // pending bits, the first at bit nacc-1
	nacc uint
	blk  [64]float32
	q    [64]int32
}

func newSegmentWriter(e *encoder) *segmentWriter { return &segmentWriter{e: e} }

// row encodes MCU row r (its own restart interval) and returns its bytes,
// followed by the restart marker RSTn (n = r mod 8) unless last.
func (s *segmentWriter) row(r, mcux int, last bool) []byte {
	s.out = make([]byte, 0, 4096)
	var pred [3]int32
	for mx := range mcux {
		for ci := range s.e.planes {
			p := &s.e.planes[ci]
			for by := range p.h2 {
				for bx := range p.h2 {
					x := (mx*p.h2 + bx) * 8
					y := (r*p.h2 + by) * 8
					s.load(p, x, y)
					s.fdct()
					pred[ci] = s.block(p.table, pred[ci])
				}
			}
		}
	}
	// Pad the last byte with 1-bits (T.81 F.1.2.3).
	if s.nacc%8 != 0 {
		pad := 8 - s.nacc%8
		s.put(1<<pad-1, pad)
	}
	s.flush()
	if !last {
		s.out = append(s.out, 0xff, byte(0xd0+r%8))
	}
	return s.out
}

// load reads the 8×8 block at (x, y) of p, level-shifted, repeating the
// last column and row past the plane's edge.
func (s *segmentWriter) load(p *plane, x, y int) {
	for j := range 8 {
		yy := min(y+j, p.h-1)
		row := p.pix[yy*p.stride:]
		row = row[:p.w]
		b := s.blk[j*8 : j*8+8 : j*8+8]
		if x+8 <= p.w {
			src := row[x : x+8 : x+8]
			for i, v := range src {
				b[i] = float32(int32(v) - 128)
			}
			continue
		}
		for i := range 8 {
			b[i] = float32(int32(row[min(x+i, p.w-1)]) - 128)
		}
	}
}

// fdct transforms s.blk in place (AAN, scaled: see encoder.recip).
func (s *segmentWriter) fdct() {
	for i := range 8 {
		fdct1(s.blk[i*8:i*8+8:i*8+8], 1)
	}
	for i := range 8 {
		fdct1(s.blk[i:], 8)
	}
}

// AAN constants.
const (
	c4   = 0.707106781 // cos(4π/16)
	c6s  = 0.382683433 // cos(6π/16)
	c26a = 0.541196100 // cos(2π/16) - cos(6π/16)
	c26b = 1.306562965 // cos(2π/16) + cos(6π/16)
)

// fdct1 is the one-dimensional scaled DCT of d[0], d[st], … d[7st].
func fdct1(d []float32, st int) {
	_ = d[7*st]
	t0, t7 := d[0]+d[7*st], d[0]-d[7*st]
	t1, t6 := d[st]+d[6*st], d[st]-d[6*st]
	t2, t5 := d[2*st]+d[5*st], d[2*st]-d[5*st]
	t3, t4 := d[3*st]+d[4*st], d[3*st]-d[4*st]

	t10, t13 := t0+t3, t0-t3
	t11, t12 := t1+t2, t1-t2
	d[0] = t10 + t11
	d[4*st] = t10 - t11
	z1 := float32((t12 + t13) * c4)
	d[2*st] = t13 + z1
	d[6*st] = t13 - z1

	t10 = t4 + t5
	t11 = t5 + t6
	t12 = t6 + t7
	z5 := float32((t10 - t12) * c6s)
	z2 := float32(c26a*t10) + z5
	z4 := float32(c26b*t12) + z5
	z3 := float32(t11 * c4)
	z11, z13 := t7+z3, t7-z3
	d[5*st] = z13 + z2
	d[3*st] = z13 - z2
	d[st] = z11 + z4
	d[7*st] = z11 - z4
}

// block quantises s.blk with table t and writes it, DC relative to pred;
// it returns the new DC predictor.
func (s *segmentWriter) block(t int, pred int32) int32 {
	rc := &s.e.recip[t]
	var nz uint64 // bit k: zigzag coefficient k is not zero
	for k, n := range zigzag {
		// Round to nearest without a branch (halves round up): the
		// biased value is positive, so the conversion's truncation is a
		// floor. |v| is at most 2048·8 for 8-bit samples.
		v := float32(s.blk[n] * rc[n])
		q := int32(v+32768.5) - 32768
		s.q[k] = q
		nz |= uint64(uint32(q|-q)>>31) << k
	}
	dc := &codes[2*t]
	ac := &codes[2*t+1]
	diff := s.q[0] - pred
	n := magnitude(diff)
	s.put(uint64(dc.code[n]), uint(dc.size[n]))
	if n > 0 {
		s.put(extra(diff, n), n)
	}
	last := 0
	for m := nz &^ 1; m != 0; m &= m - 1 {
		k := bits.TrailingZeros64(m)
		run := k - last - 1
		for run > 15 {
			s.put(uint64(ac.code[0xf0]), uint(ac.size[0xf0]))
			run -= 16
		}
		v := s.q[k]
		n := magnitude(v)
		sym := run<<4 | int(n)
		s.put(uint64(ac.code[sym]), uint(ac.size[sym]))
		s.put(extra(v, n), n)
		last = k
	}
	if last < 63 {
		s.put(uint64(ac.code[0]), uint(ac.size[0]))
	}
	return s.q[0]
}

// magnitude is the number of bits of |v| (the category SSSS).
func magnitude(v int32) uint {
	if v < 0 {
		v = -v
	}
	return uint(bits.Len32(uint32(v)))
}

// extra is the n additional bits of v: v itself when positive, v-1's low
// bits when negative (T.81 F.1.2.1).
func extra(v int32, n uint) uint64 {
	if v < 0 {
		v--
	}
	return uint64(uint32(v) & (1<<n - 1))
}

// put appends the n low bits of v (n ≤ 32).
func (s *segmentWriter) put(v uint64, n uint) {
	s.acc = s.acc<<n | v
	s.nacc += n
	if s.nacc >= 32 {
		s.flush()
	}
}

// flush writes the whole bytes of the accumulator, stuffing a zero byte
// after every 0xFF.
func (s *segmentWriter) flush() {
	for s.nacc >= 8 {
		s.nacc -= 8
		b := byte(s.acc >> s.nacc)
		s.out = append(s.out, b)
		if b == 0xff {
			s.out = append(s.out, 0)
		}
	}
	s.acc &= 1<<s.nacc - 1
}
