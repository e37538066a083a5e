package jpegdec

import "encoding/binary"

const lookBits = 10

// huffTable is a Huffman table (T.81 annex C) with a lookahead table for codes of up to
// lookBits bits and the canonical limits (F.2.2.3) for longer ones.
type huffTable struct {
	defined bool
	lut     [1 << lookBits]uint16 // code length << 8 | value; 0: longer code
	// fast decodes an AC code and the coefficient bits after it in one look, when both fit
	// in lookBits: total length | run << 4 | coefficient << 8; a zero coefficient is EOB
	// (run 0) or ZRL (run 15); 0: use lut.
	fast    [1 << lookBits]int32
	maxcode [18]int32 // largest code of each length, -1 if none
	valptr  [17]int32 // index in vals of the first code of each length, minus that code
	vals    [256]byte
}

// build makes the table from the code counts per length and the values (DHT).
func (t *huffTable) build(counts *[17]int, vals []byte) error {
	*t = huffTable{}
	copy(t.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l])
		t.valptr[l] = k - code
		if n == 0 {
			t.maxcode[l] = -1
		} else {
			if code+n > 1<<l {
				return corrupt("DHT: more codes of length %d than fit", l)
			}
			if l <= lookBits {
				for i := int32(0); i < n; i++ {
					c := code + i
					shift := lookBits - l
					e := uint16(l)<<8 | uint16(vals[k+i])
					for j := c << shift; j < (c+1)<<shift; j++ {
						t.lut[j] = e
					}
				}
			}
			t.maxcode[l] = code + n - 1
		}
		k += n
		code = (code + n) << 1
	}
	t.maxcode[17] = 1 << 30 // sentinel: never reached, lengths stop at 16
	for i := range t.fast {
		e := t.lut[i]
		if e == 0 {
			continue
		}
		l, rs := int32(e>>8), int32(e&255)
		r, sz := rs>>4, rs&15
		switch {
		case sz == 0 && (r == 0 || r == 15):
			t.fast[i] = l | r<<4
		case sz > 0 && l+sz <= lookBits:
			bits := int32(i>>(lookBits-l-sz)) & (1<<sz - 1)
			if bits < 1<<(sz-1) {
				bits += -1<<sz + 1
			}
			t.fast[i] = (l + sz) | r<<4 | bits<<8
		}
	}
	t.defined = true
	return nil
}

// bitReader reads the entropy-coded data of a scan (T.81 F.2.2.5): it removes the stuffed
// zero bytes and stops at the first marker, after which (and after the end of the data) it
// feeds zero bits and counts them.
type bitReader struct {
	data []byte
	pos  int
	acc  uint64 // the next n bits are the low n bits of acc
	n    uint
	fake uint // zero bits fed past a marker or the end of data, not yet known consumed
	stop bool // met a marker or the end of data
	eof  bool // met the end of data (not a marker)
}

func (b *bitReader) reset(data []byte, pos int) {
	*b = bitReader{data: data, pos: pos}
}

// fill tops acc up to at least 57 bits.
func (b *bitReader) fill() {
	if !b.stop && b.pos+8 <= len(b.data) {
		v := binary.BigEndian.Uint64(b.data[b.pos:])
		if x := ^v; (x-0x0101010101010101)&^x&0x8080808080808080 == 0 { // no 0xFF byte
			nb := (64 - b.n) >> 3
			b.acc = b.acc<<(nb*8) | v>>(64-nb*8)
			b.n += nb * 8
			b.pos += int(nb)
			return
		}
	}
	for b.n <= 56 {
		if b.stop {
			b.acc <<= 8
			b.n += 8
			b.fake += 8
			continue
		}
		if b.pos+1 < len(b.data) {
			c := b.data[b.pos]
			if c != 0xFF {
				b.pos++
				b.acc = b.acc<<8 | uint64(c)
				b.n += 8
				continue
			}
			if b.data[b.pos+1] == 0 {
				b.pos += 2
				b.acc = b.acc<<8 | 0xFF
				b.n += 8
				continue
			}
			b.stop = true // a marker: pos stays on its 0xFF
			continue
		}
		if b.pos < len(b.data) && b.data[b.pos] != 0xFF {
			b.pos++
			b.acc = b.acc<<8 | uint64(b.data[b.pos-1])
			b.n += 8
			continue
		}
		b.stop, b.eof = true, true
	}
}

// overrun tells whether bits past the end of the data have been consumed.
func (b *bitReader) overrun() bool {
	return b.eof && b.fake > b.n
}

// decode reads one Huffman-coded value.
func (b *bitReader) decode(t *huffTable) (byte, error) {
	if b.n < 16 {
		b.fill()
	}
	e := t.lut[(b.acc>>(b.n-lookBits))&(1<<lookBits-1)]
	if e != 0 {
		b.n -= uint(e >> 8)
		return byte(e), nil
	}
	for l := uint(lookBits + 1); l <= 16; l++ {
		code := int32((b.acc >> (b.n - l)) & (1<<l - 1))
		if code <= t.maxcode[l] {
			b.n -= l
			return t.vals[(t.valptr[l]+code)&255], nil
		}
	}
	if b.stop && b.fake > 0 {
		// Past a marker: the rest of the segment decodes as zeros.
		b.n -= 16
		return 0, nil
	}
	return 0, corrupt("bad Huffman code")
}

// bits reads n ≤ 16 bits.
func (b *bitReader) bits(n uint) int32 {
	if b.n < n {
		b.fill()
	}
	v := int32((b.acc >> (b.n - n)) & (1<<n - 1))
	b.n -= n
	return v
}

// bit reads one bit.
func (b *bitReader) bit() bool {
	if b.n == 0 {
		b.fill()
	}
	b.n--
	return (b.acc>>b.n)&1 != 0
}

// extend reads s ≤ 16 bits and sign-extends them as T.81 F.2.2.1 EXTEND does.
func (b *bitReader) extend(s uint) int32 {
	if s == 0 {
		return 0
	}
	v := b.bits(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// skip drops n ≤ 16 bits.
func (b *bitReader) skip(n uint) {
	if b.n < n {
		b.fill()
	}
	b.n -= n
}

// align drops the bits left in acc (before a restart marker) and forgets the fed zeros.
func (b *bitReader) align() {
	b.acc, b.n, b.fake = 0, 0, 0
}
