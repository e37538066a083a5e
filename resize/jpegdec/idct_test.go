package jpegdec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refIDCT is the T.81 A.3.3 inverse DCT in floating point, level-shifted, not clamped.
func refIDCT(f *[64]float64) (out [64]float64) {
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			s := 0.0
			for v := 0; v < 8; v++ {
				for u := 0; u < 8; u++ {
					cu, cv := 1.0, 1.0
					if u == 0 {
						cu = 1 / math.Sqrt2
					}
					if v == 0 {
						cv = 1 / math.Sqrt2
					}
					s += cu * cv * f[v*8+u] * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(v)*math.Pi/16)
				}
			}
			out[y*8+x] = s/4 + 128
		}
	}
	return out
}

// TestIDCTs checks every transform against the floating-point definition: the 8×8 one
// sample by sample, the reduced ones against the mean of each s×s group of the full-size
// samples for blocks whose coefficients all lie in the kept corner (where they are exact
// but for rounding).
func TestIDCTs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []int{1, 2, 4, 8} {
		n := 8 / s
		d := &decoder{scale: s, bsz: n}
		for i := range d.quant[0] {
			d.quant[0][i] = 1
		}
		var mul [64]int32
		d.multipliers(0, &mul)
		worst := 0.0
		for iter := 0; iter < 2000; iter++ {
			var f [64]float64
			for k := 0; k < 64; k++ {
				z := zigzag[k]
				if keepIdx[s][k] < 0 {
					continue
				}
				amp := 300.0 / float64(1+k)
				if k == 0 {
					amp = 900
				}
				f[z] = math.Round((rng.Float64()*2 - 1) * amp)
			}
			ref := refIDCT(&f)
			d.blk = [64]int32{}
			for k := 0; k < 64; k++ {
				if j := keepIdx[s][k]; j >= 0 {
					d.blk[j] = int32(f[zigzag[k]]) * mul[k]
				}
			}
			c := &component{bw: 1, bh: 1, stride: n, plane: make([]byte, n*n)}
			d.transform(c, 0, 0)
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					m := 0.0
					for yy := y * s; yy < y*s+s; yy++ {
						for xx := x * s; xx < x*s+s; xx++ {
							m += ref[yy*8+xx]
						}
					}
					m = math.Min(math.Max(m/float64(s*s), 0), 255)
					worst = math.Max(worst, math.Abs(float64(c.plane[y*n+x])-m))
				}
			}
		}
		t.Logf("scale 1/%d: worst error %.3f", s, worst)
		if worst > 1.01 {
			t.Errorf("scale 1/%d: error %.3f against the floating-point transform", s, worst)
		}
	}
}

func TestZigzag(t *testing.T) {
	// Walk the anti-diagonals, alternating direction, as T.81 figure A.6 draws it.
	k := 0
	for sum := 0; sum < 15; sum++ {
		for i := 0; i <= sum; i++ {
			r := i
			if sum%2 == 0 {
				r = sum - i
			}
			c := sum - r
			if r > 7 || c > 7 {
				continue
			}
			if zigzag[k] != r*8+c {
				t.Fatalf("zigzag[%d] = %d, want %d", k, zigzag[k], r*8+c)
			}
			k++
		}
	}
}
