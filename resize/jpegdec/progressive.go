package jpegdec

import "math/bits"

// Progressive AC scans (T.81 G.1.2). Coefficients are kept only inside the top-left corner
// the decode scale needs; mask records, per block, which zigzag positions are nonzero, which
// is all a refinement scan needs to know of the others.

// acFirst decodes the first scan of a spectral band (T.81 G.1.2.2).
func (d *decoder) acFirst(sc *scan, coef []int16, mask *uint64) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	br := &d.br
	keep := &keepIdx[d.scale]
	t := sc.ac[0]
	m := *mask
	for k := sc.ss; k <= sc.se; k++ {
		if br.n < 16 {
			br.fill()
		}
		var v int32
		if e := t.fast[(br.acc>>(br.n-lookBits))&(1<<lookBits-1)]; e != 0 {
			br.n -= uint(e & 15)
			r := int(e >> 4 & 15)
			if v = e >> 8; v == 0 {
				if r == 0 { // EOB of this block only
					break
				}
				k += 15
				continue
			}
			k += r
		} else {
			rs, err := br.decode(t)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), uint(rs&15)
			if s == 0 {
				if r < 15 {
					d.eobrun = 1<<r - 1
					if r > 0 {
						d.eobrun += int(br.bits(uint(r)))
					}
					break
				}
				k += 15
				continue
			}
			k += r
			v = br.extend(s)
		}
		if k > sc.se {
			return corrupt("AC coefficient past the end of the band")
		}
		m |= 1 << uint(k)
		if j := keep[k]; j >= 0 {
			coef[j] = int16(v << sc.al)
		}
	}
	*mask = m
	return nil
}

// refineCoef adds a correction bit to a nonzero coefficient (T.81 G.1.2.3), away from zero.
func refineCoef(c *int16, p1 int16) {
	if *c&p1 == 0 {
		if *c >= 0 {
			*c += p1
		} else {
			*c -= p1
		}
	}
}

// acRefine decodes a successive-approximation refinement of a spectral band (T.81 G.1.2.3).
func (d *decoder) acRefine(sc *scan, coef []int16, mask *uint64) error {
	br := &d.br
	keep := &keepIdx[d.scale]
	p1 := int16(1) << sc.al
	k, se := sc.ss, sc.se
	m := *mask
	if d.eobrun == 0 {
		t := sc.ac[0]
		for k <= se {
			var rs byte
			if br.n < 16 {
				br.fill()
			}
			if e := t.lut[(br.acc>>(br.n-lookBits))&(1<<lookBits-1)]; e != 0 {
				br.n -= uint(e >> 8)
				rs = byte(e)
			} else {
				var err error
				if rs, err = br.decode(t); err != nil {
					return err
				}
			}
			r, s := int(rs>>4), rs&15
			var val int16
			if s == 0 {
				if r < 15 {
					d.eobrun = 1 << r
					if r > 0 {
						d.eobrun += int(br.bits(uint(r)))
					}
					break
				}
			} else {
				val = -p1
				if br.bit() {
					val = p1
				}
			}
			// Skip r coefficients with no history, refining the nonzero ones met on the
			// way, and put val in the next one with no history (T.81 figure G.7).
			z := ^m & band(k, se)
			for ; r > 0 && z != 0; r-- {
				z &= z - 1
			}
			target := se + 1
			if z != 0 {
				target = bits.TrailingZeros64(z)
			}
			d.refineBand(coef, m&band(k, target-1), p1)
			if target <= se && val != 0 {
				m |= 1 << uint(target)
				if j := keep[target]; j >= 0 {
					coef[j] = val
				}
			}
			k = target + 1
		}
	}
	if d.eobrun > 0 {
		// Within an EOB run only the nonzero coefficients get a correction bit.
		d.refineBand(coef, m&band(k, se), p1)
		d.eobrun--
	}
	*mask = m
	return nil
}

// band is the mask of zigzag positions lo..hi (empty when lo > hi).
func band(lo, hi int) uint64 {
	if lo > hi || lo > 63 {
		return 0
	}
	m := ^uint64(0) << uint(lo)
	if hi < 63 {
		m &= 1<<uint(hi+1) - 1
	}
	return m
}

// refineBand reads the correction bits of the nonzero coefficients in nz (zigzag positions)
// and applies those of the kept ones; the others' bits are skipped together.
func (d *decoder) refineBand(coef []int16, nz uint64, p1 int16) {
	br := &d.br
	if nz&keptMask[d.scale] == 0 {
		for n := bits.OnesCount64(nz); n > 0; n -= 32 {
			c := uint(min(n, 32))
			if br.n < c {
				br.fill()
			}
			br.n -= c
		}
		return
	}
	keep := &keepIdx[d.scale]
	for b := nz; b != 0; b &= b - 1 {
		if br.bit() {
			if j := keep[bits.TrailingZeros64(b)]; j >= 0 {
				refineCoef(&coef[j], p1)
			}
		}
	}
}
