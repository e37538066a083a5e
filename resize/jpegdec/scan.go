package jpegdec

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Scan kinds.
const (
	scanBaseline = iota
	scanDCFirst
	scanDCRefine
	scanACFirst
	scanACRefine
)

// scan is one parsed SOS header (T.81 B.2.3).
type scan struct {
	kind   int
	comps  [4]*component
	ci     [4]int // index of each in decoder.comps
	dc, ac [4]*huffTable
	mul    [4][64]int32 // baseline: dequantization multipliers by zigzag index
	n      int
	ss, se int
	ah, al uint
}

// keptMask[s] has bit k set when keepIdx[s][k] >= 0.
var keptMask [9]uint64

// keepIdx[s][k] is where zigzag coefficient k goes in the kept n×n block at scale s, or -1.
var keepIdx [9][64]int8

func init() {
	for _, s := range []int{1, 2, 4, 8} {
		n := 8 / s
		for k, z := range zigzag {
			r, c := z/8, z%8
			keepIdx[s][k] = -1
			if r < n && c < n {
				keepIdx[s][k] = int8(r*n + c)
				keptMask[s] |= 1 << uint(k)
			}
		}
	}
}

// multipliers fills mul (by zigzag index) with the dequantization at d.scale for table tq:
// the quantizer, times the reduced-transform factors below full scale.
func (d *decoder) multipliers(tq int, mul *[64]int32) {
	q := &d.quant[tq]
	s := d.scale
	for k, z := range zigzag {
		switch {
		case s == 1 || s == 8:
			mul[k] = q[z]
		case keepIdx[s][k] < 0:
			mul[k] = 0
		default:
			v, u := z/8, z%8
			f := redScale[s][u] * redScale[s][v] * (1 << redBits)
			if s == 4 { // the 2-point transform's cos(π/4), folded in
				if u == 1 {
					f *= 0.7071067811865476
				}
				if v == 1 {
					f *= 0.7071067811865476
				}
			}
			mul[k] = int32(float64(q[z])*f + 0.5)
		}
	}
}

func (d *decoder) parseSOS(seg []byte) error {
	if len(seg) < 1 {
		return corrupt("SOS truncated")
	}
	var sc scan
	sc.n = int(seg[0])
	if sc.n < 1 || sc.n > 4 || sc.n > len(d.comps) || len(seg) < 4+2*sc.n {
		return corrupt("SOS with %d components", sc.n)
	}
	for i := 0; i < sc.n; i++ {
		id, tables := seg[1+2*i], seg[2+2*i]
		var c *component
		ci := 0
		for j := range d.comps {
			if d.comps[j].id == id {
				c, ci = &d.comps[j], j
				break
			}
		}
		if c == nil {
			return corrupt("SOS names unknown component %d", id)
		}
		for j := 0; j < i; j++ {
			if sc.comps[j] == c {
				return corrupt("SOS names component %d twice", id)
			}
		}
		sc.comps[i] = c
		sc.ci[i] = ci
		td, ta := int(tables>>4), int(tables&15)
		if td > 3 || ta > 3 {
			return corrupt("SOS Huffman tables %d/%d", td, ta)
		}
		sc.dc[i], sc.ac[i] = &d.huff[0][td], &d.huff[1][ta]
	}
	p := seg[1+2*sc.n:]
	sc.ss, sc.se = int(p[0]), int(p[1])
	sc.ah, sc.al = uint(p[2]>>4), uint(p[2]&15)
	d.nscans++
	if d.lim.MaxScans > 0 && d.nscans > d.lim.MaxScans {
		return corrupt("more than %d scans", d.lim.MaxScans)
	}
	if !d.progressive {
		sc.kind = scanBaseline
		sc.ss, sc.se = 0, 63
	} else {
		switch {
		case sc.ss > sc.se || sc.se > 63 || sc.al > 13 || sc.ah > 13:
			return corrupt("progressive scan %d-%d %d/%d", sc.ss, sc.se, sc.ah, sc.al)
		case sc.ss == 0 && sc.se != 0:
			return corrupt("progressive DC scan with AC coefficients")
		case sc.ss > 0 && sc.n != 1:
			return corrupt("progressive AC scan with %d components", sc.n)
		case sc.ss == 0 && sc.ah == 0:
			sc.kind = scanDCFirst
		case sc.ss == 0:
			sc.kind = scanDCRefine
		case sc.ah == 0:
			sc.kind = scanACFirst
		default:
			sc.kind = scanACRefine
		}
	}
	for i := 0; i < sc.n; i++ {
		needDC := sc.kind == scanBaseline || sc.kind == scanDCFirst
		needAC := sc.kind == scanBaseline || sc.kind >= scanACFirst
		if (needDC && !sc.dc[i].defined) || (needAC && !sc.ac[i].defined) {
			return corrupt("scan uses an undefined Huffman table")
		}
		if sc.kind == scanBaseline {
			if !d.qset[sc.comps[i].tq] {
				return corrupt("scan uses an undefined quantization table")
			}
			d.multipliers(sc.comps[i].tq, &sc.mul[i])
		}
	}
	return d.decodeScan(&sc)
}

// decodeScan decodes the entropy-coded data of one scan, starting at d.pos, and leaves d.pos
// where that data stops.
func (d *decoder) decodeScan(sc *scan) error {
	var mcus, cw int
	if sc.n == 1 {
		c := sc.comps[0]
		cw = c.cw
		mcus = c.cw * c.ch
	} else {
		cw = d.mcusX
		mcus = d.mcusX * d.mcusY
	}
	if d.lim.Workers > 1 && sc.kind == scanBaseline && d.ri > 0 {
		if done, err := d.decodeParallel(sc, mcus, cw); done {
			return err
		}
	}
	d.br.reset(d.data, d.pos)
	d.eobrun = 0
	for i := 0; i < sc.n; i++ {
		sc.comps[i].pred = 0
	}
	if err := d.decodeMCUs(sc, 0, mcus, cw); err != nil {
		return err
	}
	d.pos = d.br.pos
	return nil
}

// decodeMCUs decodes MCUs m0 to m1 (exclusive) of a scan whose MCU rows are cw wide, from
// where d.br stands.
func (d *decoder) decodeMCUs(sc *scan, m0, m1, cw int) error {
	br := &d.br
	for m := m0; m < m1; m++ {
		if d.ri > 0 && m > m0 && m%d.ri == 0 {
			d.restart(sc)
		}
		mx, my := m%cw, m/cw
		// With all the segment's bits used (a marker met early), blocks decode as zeros.
		dry := br.stop && br.fake >= br.n
		if sc.n == 1 {
			if err := d.block(sc, 0, mx, my, dry); err != nil {
				return err
			}
		} else {
			for i := 0; i < sc.n; i++ {
				c := sc.comps[i]
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						if err := d.block(sc, i, mx*c.h+h, my*c.v+v, dry); err != nil {
							return err
						}
					}
				}
			}
		}
		if br.eof && br.overrun() {
			return fmt.Errorf("%w: entropy-coded data ends at MCU %d", errTruncated, m)
		}
	}
	return nil
}

// parallelScans counts the scans decodeParallel has split, for tests.
var parallelScans atomic.Int64

// decodeParallel decodes a baseline scan's restart intervals in up to d.lim.Workers
// goroutines, each from its own restart marker and into its own MCUs of the planes. It
// reports done false, having decoded nothing, unless the scan's restart markers are all
// there, in order, and the scan's data ends at a marker: the serial decoder handles the rest.
func (d *decoder) decodeParallel(sc *scan, mcus, cw int) (done bool, err error) {
	intervals := (mcus + d.ri - 1) / d.ri
	if intervals < 2 {
		return false, nil
	}
	data := d.data
	starts := make([]int, 1, intervals)
	starts[0] = d.pos
	end := -1
	for p := d.pos; p+1 < len(data); {
		i := bytes.IndexByte(data[p:len(data)-1], 0xFF)
		if i < 0 {
			break
		}
		p += i
		switch m := data[p+1]; {
		case m == 0:
			p += 2
		case m == 0xFF:
			p++
		case m >= mRST0 && m <= mRST7:
			if len(starts) == intervals || int(m-mRST0) != (len(starts)-1)&7 {
				return false, nil
			}
			starts = append(starts, p+2)
			p += 2
		default:
			end = p
		}
		if end >= 0 {
			break
		}
	}
	if end < 0 || len(starts) != intervals {
		return false, nil
	}
	workers := min(d.lim.Workers, intervals)
	parallelScans.Add(1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		i0, i1 := intervals*w/workers, intervals*(w+1)/workers
		wd := *d
		wd.comps = slices.Clone(d.comps)
		wsc := *sc
		for i := 0; i < sc.n; i++ {
			wsc.comps[i] = &wd.comps[sc.ci[i]]
			wsc.comps[i].pred = 0
		}
		wd.br.reset(data, starts[i0])
		wg.Add(1)
		go func() {
			defer wg.Done()
			if catchPanics {
				defer func() {
					if r := recover(); r != nil {
						errs[w] = fmt.Errorf("%w: %v", ErrInternal, r)
					}
				}()
			}
			errs[w] = wd.decodeMCUs(&wsc, i0*d.ri, min(i1*d.ri, mcus), cw)
		}()
	}
	wg.Wait()
	d.pos = end
	return true, errors.Join(errs...)
}

// restart handles the restart marker expected after every d.ri MCUs (T.81 F.1.2.3): it
// resyncs on the next RSTn whatever its number; a missing one leaves the rest of the scan
// to decode as zeros.
func (d *decoder) restart(sc *scan) {
	br := &d.br
	br.align()
	data := br.data
	if !br.stop {
		for br.pos+1 < len(data) && (data[br.pos] != 0xFF || data[br.pos+1] == 0 || data[br.pos+1] == 0xFF) {
			br.pos++
		}
		br.stop = true
		if br.pos+1 >= len(data) {
			br.eof = true
		}
	}
	if !br.eof {
		p := br.pos
		for p+1 < len(data) && data[p+1] == 0xFF {
			p++
		}
		if p+1 < len(data) && data[p+1] >= mRST0 && data[p+1] <= mRST7 {
			br.pos = p + 2
			br.stop = false
		}
	}
	for i := 0; i < sc.n; i++ {
		sc.comps[i].pred = 0
	}
	d.eobrun = 0
}

// block decodes one block of component sc.comps[i] at block column bx, row by.
func (d *decoder) block(sc *scan, i, bx, by int, dry bool) error {
	c := sc.comps[i]
	if sc.kind == scanBaseline {
		return d.baselineBlock(c, sc.dc[i], sc.ac[i], &sc.mul[i], bx, by, dry)
	}
	if dry {
		return nil
	}
	nn := d.bsz * d.bsz
	bi := by*c.bw + bx
	coef := c.coef[bi*nn : bi*nn+nn]
	br := &d.br
	switch sc.kind {
	case scanDCFirst:
		s, err := br.decode(sc.dc[i])
		if err != nil {
			return err
		}
		if s > 16 {
			return corrupt("DC category %d", s)
		}
		c.pred += br.extend(uint(s))
		coef[0] = int16(c.pred << sc.al)
	case scanDCRefine:
		if br.bit() {
			coef[0] |= 1 << sc.al
		}
	case scanACFirst:
		return d.acFirst(sc, coef, &c.mask[bi])
	case scanACRefine:
		return d.acRefine(sc, coef, &c.mask[bi])
	}
	return nil
}

// baselineBlock decodes a sequential-mode block and writes its samples at d.scale.
func (d *decoder) baselineBlock(c *component, dct, act *huffTable, mul *[64]int32, bx, by int, dry bool) error {
	br := &d.br
	if dry {
		d.flat(c, bx, by, c.pred*mul[0])
		return nil
	}
	s, err := br.decode(dct)
	if err != nil {
		return err
	}
	if s > 16 {
		return corrupt("DC category %d", s)
	}
	c.pred += br.extend(uint(s))
	// The AC loops keep the bit buffer in locals, written back around calls.
	acc, n := br.acc, br.n
	if d.scale == 8 {
		for k := 1; k < 64; k++ {
			if n < 26 {
				br.acc, br.n = acc, n
				br.fill()
				acc, n = br.acc, br.n
			}
			e := act.lut[(acc>>(n-lookBits))&(1<<lookBits-1)]
			if e == 0 {
				br.acc, br.n = acc, n
				rs, err := br.decode(act)
				if err != nil {
					return err
				}
				r, s := int(rs>>4), uint(rs&15)
				if s == 0 {
					acc, n = br.acc, br.n
					if r != 15 {
						break
					}
					k += 15
					continue
				}
				br.skip(s)
				acc, n = br.acc, br.n
				k += r
				continue
			}
			// Only the code matters here: skip it and the coefficient bits.
			r, s := int(e>>4&15), uint(e&15)
			if s == 0 {
				n -= uint(e >> 8)
				if r != 15 {
					break
				}
				k += 15
				continue
			}
			n -= uint(e>>8) + s
			k += r
		}
		br.acc, br.n = acc, n
		c.plane[by*c.stride+bx] = clamp8((c.pred*mul[0]+4)>>3 + 128)
		return nil
	}
	blk := &d.blk
	if d.scale == 1 {
		*blk = [64]int32{}
	} else {
		clear(blk[:d.bsz*d.bsz])
	}
	blk[0] = c.pred * mul[0]
	keep := &keepIdx[d.scale]
	for k := 1; k < 64; k++ {
		if n < 16 {
			br.acc, br.n = acc, n
			br.fill()
			acc, n = br.acc, br.n
		}
		if e := act.fast[(acc>>(n-lookBits))&(1<<lookBits-1)]; e != 0 {
			n -= uint(e & 15)
			v, r := e>>8, int(e>>4&15)
			if v == 0 {
				if r == 0 { // EOB
					break
				}
				k += 15 // ZRL: the loop adds the 16th
				continue
			}
			k += r
			if k > 63 {
				return corrupt("AC coefficient past the end of the block")
			}
			if j := keep[k]; j >= 0 {
				blk[j] = v * mul[k]
			}
			continue
		}
		br.acc, br.n = acc, n
		rs, err := br.decode(act)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			acc, n = br.acc, br.n
			if r != 15 {
				break
			}
			k += 15
			continue
		}
		k += r
		if k > 63 {
			return corrupt("AC coefficient past the end of the block")
		}
		v := br.extend(s)
		acc, n = br.acc, br.n
		if j := keep[k]; j >= 0 {
			blk[j] = v * mul[k]
		}
	}
	br.acc, br.n = acc, n
	d.transform(c, bx, by)
	return nil
}

// transform writes the samples of d.blk (dequantized, scaled) for block bx, by of c.
func (d *decoder) transform(c *component, bx, by int) {
	off := by*d.bsz*c.stride + bx*d.bsz
	switch d.scale {
	case 1:
		idct8(&d.blk, c.plane[off:], c.stride)
	case 2:
		idct4(&d.blk, c.plane[off:], c.stride)
	case 4:
		idct2(&d.blk, c.plane[off:], c.stride)
	case 8:
		c.plane[off] = clamp8((d.blk[0]+4)>>3 + 128)
	}
}

// flat writes a block whose only coefficient is the dequantized DC dc.
func (d *decoder) flat(c *component, bx, by int, dc int32) {
	v := clamp8((dc+4)>>3 + 128)
	off := by*d.bsz*c.stride + bx*d.bsz
	for y := 0; y < d.bsz; y++ {
		row := c.plane[off+y*c.stride : off+y*c.stride+d.bsz]
		for x := range row {
			row[x] = v
		}
	}
}
