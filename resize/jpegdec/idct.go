package jpegdec

import "math"

// The 8×8 inverse DCT follows the factorization of Loeffler, Ligtenberg and Moschytz (1989):
// 12 multiplications per 1-D transform, fixed point with constBits fractional bits, the
// first (column) pass keeping pass1Bits extra bits of precision.
const (
	constBits = 13
	pass1Bits = 2
)

func fix(x float64) int32 { return int32(math.Round(x * (1 << constBits))) }

var (
	c0298 = fix(0.298631336)
	c0390 = fix(0.390180644)
	c0541 = fix(0.541196100)
	c0765 = fix(0.765366865)
	c0899 = fix(0.899976223)
	c1175 = fix(1.175875602)
	c1501 = fix(1.501321110)
	c1847 = fix(1.847759065)
	c1961 = fix(1.961570560)
	c2053 = fix(2.053119869)
	c2562 = fix(2.562915447)
	c3072 = fix(3.072711026)
)

func clamp8(v int32) byte {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return byte(v)
}

// idct8 transforms the dequantized coefficients in blk (natural order) into 8×8 samples at
// dst with the given stride, level-shifted and clamped.
func idct8(blk *[64]int32, dst []byte, stride int) {
	var ws [64]int32
	for col := 0; col < 8; col++ {
		in := blk[col:]
		if in[8]|in[16]|in[24]|in[32]|in[40]|in[48]|in[56] == 0 {
			dc := in[0] << pass1Bits
			for r := 0; r < 64; r += 8 {
				ws[r+col] = dc
			}
			continue
		}
		// Even part.
		z2, z3 := in[16], in[48]
		z1 := (z2 + z3) * c0541
		t2 := z1 - z3*c1847
		t3 := z1 + z2*c0765
		t0 := (in[0] + in[32]) << constBits
		t1 := (in[0] - in[32]) << constBits
		t10, t13 := t0+t3, t0-t3
		t11, t12 := t1+t2, t1-t2
		// Odd part.
		o0, o1, o2, o3 := in[56], in[40], in[24], in[8]
		p1, p2, p3, p4 := o0+o3, o1+o2, o0+o2, o1+o3
		p5 := (p3 + p4) * c1175
		o0 *= c0298
		o1 *= c2053
		o2 *= c3072
		o3 *= c1501
		p1 *= -c0899
		p2 *= -c2562
		p3 = p3*-c1961 + p5
		p4 = p4*-c0390 + p5
		o0 += p1 + p3
		o1 += p2 + p4
		o2 += p2 + p3
		o3 += p1 + p4
		const sh = constBits - pass1Bits
		const rnd = 1 << (sh - 1)
		ws[col] = (t10 + o3 + rnd) >> sh
		ws[56+col] = (t10 - o3 + rnd) >> sh
		ws[8+col] = (t11 + o2 + rnd) >> sh
		ws[48+col] = (t11 - o2 + rnd) >> sh
		ws[16+col] = (t12 + o1 + rnd) >> sh
		ws[40+col] = (t12 - o1 + rnd) >> sh
		ws[24+col] = (t13 + o0 + rnd) >> sh
		ws[32+col] = (t13 - o0 + rnd) >> sh
	}
	for row := 0; row < 8; row++ {
		in := ws[row*8 : row*8+8 : row*8+8]
		out := dst[row*stride : row*stride+8 : row*stride+8]
		if in[1]|in[2]|in[3]|in[4]|in[5]|in[6]|in[7] == 0 {
			v := clamp8((in[0]+(1<<(pass1Bits+2)))>>(pass1Bits+3) + 128)
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2, z3 := in[2], in[6]
		z1 := (z2 + z3) * c0541
		t2 := z1 - z3*c1847
		t3 := z1 + z2*c0765
		t0 := (in[0] + in[4]) << constBits
		t1 := (in[0] - in[4]) << constBits
		t10, t13 := t0+t3, t0-t3
		t11, t12 := t1+t2, t1-t2
		o0, o1, o2, o3 := in[7], in[5], in[3], in[1]
		p1, p2, p3, p4 := o0+o3, o1+o2, o0+o2, o1+o3
		p5 := (p3 + p4) * c1175
		o0 *= c0298
		o1 *= c2053
		o2 *= c3072
		o3 *= c1501
		p1 *= -c0899
		p2 *= -c2562
		p3 = p3*-c1961 + p5
		p4 = p4*-c0390 + p5
		o0 += p1 + p3
		o1 += p2 + p4
		o2 += p2 + p3
		o3 += p1 + p4
		const sh = constBits + pass1Bits + 3
		const rnd = 1<<(sh-1) + 128<<sh
		out[0] = clamp8((t10 + o3 + rnd) >> sh)
		out[7] = clamp8((t10 - o3 + rnd) >> sh)
		out[1] = clamp8((t11 + o2 + rnd) >> sh)
		out[6] = clamp8((t11 - o2 + rnd) >> sh)
		out[2] = clamp8((t12 + o1 + rnd) >> sh)
		out[5] = clamp8((t12 - o1 + rnd) >> sh)
		out[3] = clamp8((t13 + o0 + rnd) >> sh)
		out[4] = clamp8((t13 - o0 + rnd) >> sh)
	}
}

// Reduced-size transforms. A block decoded at 1/s keeps the top-left n×n coefficients
// (n = 8/s) and produces n×n samples, each the mean of an s×s group of the full-size samples
// as far as those coefficients describe them: for an 8-point basis function u, the mean of
// its s samples around the centre of group j is A_s(u)·cos((2j+1)uπ/2n), so the reduced
// transform is the n-point IDCT of F(u,v)·C(u)/2·A_s(u)·C(v)/2·A_s(v). Those per-coefficient
// factors are folded into the dequantization (redScale), in fixed point with redBits bits.
const redBits = 10

// redScale[s][u] is C(u)/2·A_s(u) for scale s.
var redScale [9][8]float64

func init() {
	for _, s := range []int{1, 2, 4, 8} {
		for u := 0; u < 8/s; u++ {
			a := 0.0
			for j := 0; j < s; j++ {
				off := float64(2*j+1-s) / 2 // sample offset from the group centre
				a += math.Cos(2 * off * float64(u) * math.Pi / 16)
			}
			a /= float64(s)
			c := 0.5
			if u == 0 {
				c = 0.5 / math.Sqrt2
			}
			redScale[s][u] = c * a
		}
	}
}

// Fixed-point constants of the 4-point transform (11 fractional bits: with redBits, sample
// values up to ±512 stay within int32).
const (
	r4bits = 11
	r4c1   = 1892 // cos(π/8)
	r4c2   = 1448 // cos(π/4)
	r4c3   = 784  // cos(3π/8)
)

// idct4 makes 4×4 samples from the 4×4 scaled coefficients in blk (row-major, 4 wide).
func idct4(blk *[64]int32, dst []byte, stride int) {
	var ws [16]int32
	for col := 0; col < 4; col++ {
		f0, f1, f2, f3 := blk[col], blk[4+col], blk[8+col], blk[12+col]
		e0 := f0 + (f2*r4c2)>>r4bits
		e1 := f0 - (f2*r4c2)>>r4bits
		o0 := (f1*r4c1 + f3*r4c3) >> r4bits
		o1 := (f1*r4c3 - f3*r4c1) >> r4bits
		ws[col], ws[12+col] = e0+o0, e0-o0
		ws[4+col], ws[8+col] = e1+o1, e1-o1
	}
	const rnd = 1<<(redBits-1) + 128<<redBits
	for row := 0; row < 4; row++ {
		in := ws[row*4 : row*4+4 : row*4+4]
		out := dst[row*stride : row*stride+4 : row*stride+4]
		e0 := in[0] + (in[2]*r4c2)>>r4bits
		e1 := in[0] - (in[2]*r4c2)>>r4bits
		o0 := (in[1]*r4c1 + in[3]*r4c3) >> r4bits
		o1 := (in[1]*r4c3 - in[3]*r4c1) >> r4bits
		out[0] = clamp8((e0 + o0 + rnd) >> redBits)
		out[3] = clamp8((e0 - o0 + rnd) >> redBits)
		out[1] = clamp8((e1 + o1 + rnd) >> redBits)
		out[2] = clamp8((e1 - o1 + rnd) >> redBits)
	}
}

// idct2 makes 2×2 samples from the 2×2 scaled coefficients in blk (row-major, 2 wide); the
// cos(π/4) of the 2-point transform is folded into the scaled coefficients.
func idct2(blk *[64]int32, dst []byte, stride int) {
	a, b, c, e := blk[0], blk[1], blk[2], blk[3]
	const rnd = 1<<(redBits-1) + 128<<redBits
	r0a, r0b := a+c, b+e // first output row: sum over v of F(u,v), per u
	r1a, r1b := a-c, b-e
	out := dst[:2:2]
	out[0] = clamp8((r0a + r0b + rnd) >> redBits)
	out[1] = clamp8((r0a - r0b + rnd) >> redBits)
	out = dst[stride : stride+2 : stride+2]
	out[0] = clamp8((r1a + r1b + rnd) >> redBits)
	out[1] = clamp8((r1a - r1b + rnd) >> redBits)
}
