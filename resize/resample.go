package resize

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/bits"
	"sync"
)

// MaxWorkers bounds the goroutines one Transform uses, whatever the caller
// asks.
const MaxWorkers = 64

// minBandRows is the fewest output rows worth a goroutine of their own.
const minBandRows = 16

// Transform resamples the rectangle g.Src of src (relative to
// src.Bounds().Min) to g.Dst on a new canvas of size g.Canvas, composited
// over bg, and returns the canvas. Canvas pixels outside g.Dst (padding) are
// bg. Use bg = color.NRGBA{} (transparent) to keep the alpha channel as it
// is (PNG, GIF), and an opaque colour (DefaultBackground, white, unless the
// request names one) to flatten the image (JPEG): the result is then opaque.
// A translucent bg is composited under the image, and the result keeps the
// combined alpha.
//
// The filter is Catmull-Rom (the bicubic with B=0, C=1/2), separable, scaled
// to the reduction when downscaling so every source pixel contributes, with
// taps past the crop's edges dropped and the rest renormalised (so a crop
// never bleeds pixels from outside g.Src, and a uniform colour stays exactly
// that colour). A reduction of 4× or more on a side is first a box average
// by an integer factor that leaves Catmull-Rom a 2–4× reduction (libvips's
// shrink-then-reduce: about four times faster on a large photo, and within
// one level on average of filtering the source directly). A side whose
// length does not change is copied, not filtered.
//
// Alpha: resampling is done on premultiplied values (colour times alpha), in
// float32 with 8-bit input precision, so transparent pixels add no colour
// and edges against transparency get no dark fringe. The result is stored
// with straight alpha (*image.NRGBA, which the PNG and GIF encoders write
// without conversion): each pixel's colour is the premultiplied sum divided
// by its alpha, rounded to nearest. Overshoot of the filter's negative lobes
// is clamped (alpha to [0,255], colour to [0,alpha] before dividing).
//
// The work runs on up to workers goroutines (at least 1, at most
// MaxWorkers, and fewer for small outputs), each taking one band of output
// rows; the result does not depend on workers: every pixel is computed by
// the same operations in the same order whatever the split.
//
// An error means a geometry that does not fit src or is empty.
func Transform(src image.Image, g Geometry, bg color.NRGBA, workers int) (*image.NRGBA, error) {
	return transformPlanned(src, g, bg, workers, shrinkAndTaps)
}

// transformPlanned is Transform with the box shrink and taps stride chosen by
// plan (tests compare shrinkAndTaps with no shrink).
func transformPlanned(src image.Image, g Geometry, bg color.NRGBA, workers int, plan func(sn, dn int) (k, n int)) (*image.NRGBA, error) {
	b := src.Bounds()
	sr := g.Src.Add(b.Min)
	canvas := image.Rectangle{Max: g.Canvas}
	switch {
	case g.Src.Empty() || g.Dst.Empty():
		return nil, fmt.Errorf("resize: transform: empty geometry %+v", g)
	case !sr.In(b):
		return nil, fmt.Errorf("resize: transform: source rectangle %v is outside the image %v", sr, b)
	case !g.Dst.In(canvas):
		return nil, fmt.Errorf("resize: transform: destination %v is outside the %v canvas", g.Dst, g.Canvas)
	case g.Canvas.X > MaxDimension || g.Canvas.Y > MaxDimension:
		return nil, fmt.Errorf("resize: transform: canvas %v is over %d px a side", g.Canvas, MaxDimension)
	}
	dst := image.NewNRGBA(canvas)
	if g.Dst != canvas && bg != (color.NRGBA{}) {
		fillNRGBA(dst, bg)
	}
	fetch := rowFetcher(src)
	dw, dh := g.Dst.Dx(), g.Dst.Dy()
	xt := makeTaps(sr.Dx(), dw, plan)
	yt := makeTaps(sr.Dy(), dh, plan)
	bgp := premultiply(bg)

	workers = min(max(workers, 1), MaxWorkers, (dh+minBandRows-1)/minBandRows)
	band := func(y0, y1 int) {
		r := resampler{
			src: sr, fetch: fetch, xt: &xt, yt: &yt, bg: bgp,
			row:  make([]float32, 4*sr.Dx()),
			hmid: make([]float32, 4*xt.mid),
			vacc: make([]float32, 4*xt.mid),
			ring: make([]float32, yt.n*4*dw),
			ringRow: func() []int {
				s := make([]int, yt.n)
				for i := range s {
					s[i] = -1
				}
				return s
			}(),
			acc: make([]float32, 4*dw),
		}
		for y := y0; y < y1; y++ {
			off := dst.PixOffset(g.Dst.Min.X, g.Dst.Min.Y+y)
			r.outputRow(y, dst.Pix[off:off+4*dw])
		}
	}
	if workers == 1 {
		band(0, dh)
		return dst, nil
	}
	var wg sync.WaitGroup
	for i := range workers {
		y0, y1 := dh*i/workers, dh*(i+1)/workers
		wg.Go(func() { band(y0, y1) })
	}
	wg.Wait()
	return dst, nil
}

// TransformBytes estimates the memory a Transform with geometry g on
// workers goroutines allocates: the canvas plus each worker's row buffers.
// It does not count the source image, which the caller already holds.
func TransformBytes(g Geometry, workers int) int64 {
	workers = min(max(workers, 1), MaxWorkers)
	canvas := 4 * int64(g.Canvas.X) * int64(g.Canvas.Y)
	dw := int64(g.Dst.Dx())
	_, ytaps := shrinkAndTaps(g.Src.Dy(), g.Dst.Dy())
	_, xtaps := shrinkAndTaps(g.Src.Dx(), g.Dst.Dx())
	perWorker := 16 * (3*int64(g.Src.Dx()) + (int64(ytaps)+1)*dw)
	weights := 12 * (int64(g.Dst.Dx())*int64(xtaps) + int64(g.Dst.Dy())*int64(ytaps))
	return canvas + weights + int64(workers)*perWorker
}

// DefaultBackground is the colour a JPEG is flattened onto when the request
// names none: opaque white, as Cloudflare does.
var DefaultBackground = color.NRGBA{R: 255, G: 255, B: 255, A: 255}

// Background returns the colour to pass to Transform for o encoded as out:
// o's background when it names one; otherwise DefaultBackground for JPEG
// (which has no alpha) and transparent for the other formats, which keep
// the alpha channel. An explicit background applies to every format: it is
// composited under transparent pixels and fills padding (Cloudflare's
// "background" option).
func Background(o Options, out Format) color.NRGBA {
	if c, ok := o.BackgroundColor(); ok {
		return c
	}
	if out == FormatJPEG {
		return DefaultBackground
	}
	return color.NRGBA{}
}

// fillNRGBA sets every pixel of m to c.
func fillNRGBA(m *image.NRGBA, c color.NRGBA) {
	px := [4]uint8{c.R, c.G, c.B, c.A}
	for y := 0; y < m.Rect.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+4*m.Rect.Dx()]
		for i := 0; i < len(row); i += 4 {
			copy(row[i:i+4], px[:])
		}
	}
}

// premultiply returns c's premultiplied channels as 0–255 floats.
func premultiply(c color.NRGBA) [4]float32 {
	a := float32(c.A)
	return [4]float32{float32(c.R) * a / 255, float32(c.G) * a / 255, float32(c.B) * a / 255, a}
}

// taps are one axis's filter: first a box shrink by k (each intermediate
// pixel j is the mean of source pixels j*k ... j*k+k-1, the last bin
// possibly shorter; k = 1: none), then Catmull-Rom: output index i reads
// intermediate indices start[i] ... start[i]+count[i]-1 with weights
// w[i*n : i*n+count[i]].
type taps struct {
	k     int // box shrink factor, ≥ 1
	mid   int // intermediate length: ceil(source length / k)
	n     int // stride of w: the most taps any output index has
	start []int32
	count []int32
	w     []float32
}

// catmullRom is the Catmull-Rom cubic (B=0, C=1/2), support [-2, 2].
func catmullRom(x float64) float64 {
	x = math.Abs(x)
	// Every product is rounded on its own (the conversions), here and in
	// the other sums of products in this file: the compiler may otherwise
	// fuse a*b+c into one FMA instruction on some architectures (arm64
	// does, amd64 does not), and the same variant must have the same bytes
	// on every node, since its ETag is derived from the source and the
	// options alone.
	switch {
	case x < 1:
		p := float64(float64(float64(1.5*x)-2.5) * x)
		return float64(p*x) + 1
	case x < 2:
		p := float64(float64(float64(-0.5*x)+2.5) * x)
		return float64(float64(p-4)*x) + 2
	}
	return 0
}

// shrinkAndTaps returns the box shrink factor and the taps stride makeTaps
// uses for sn source pixels to dn outputs. A reduction by s ≥ 4 is first
// box-shrunk by k = ⌊s/2⌋, leaving Catmull-Rom a reduction in [2, 4): the
// box is cheap (one add per source pixel) and at that residual the filter
// still sees at least two intermediate pixels per output, so the result is
// as sharp and nearly as alias-free as filtering the source directly (this
// is libvips's shrink-then-reduce).
func shrinkAndTaps(sn, dn int) (k, n int) {
	if sn == dn || dn < 1 {
		return 1, 1
	}
	return shrinkFor(float64(sn) / float64(dn))
}

// shrinkFor is shrinkAndTaps for a reduction by scale (source pixels per
// output pixel).
func shrinkFor(scale float64) (k, n int) {
	k = max(int(scale/2), 1)
	if scale < 4 {
		k = 1
	}
	support := 2 * max(scale/float64(k), 1)
	return k, 2*int(math.Ceil(support)) + 1
}

// makeTaps computes the filter that resamples sn source pixels to dn, with
// the box shrink and stride plan gives (shrinkAndTaps).
func makeTaps(sn, dn int, plan func(sn, dn int) (k, n int)) taps {
	k, n := plan(sn, dn)
	mid := (sn + k - 1) / k
	t := taps{k: k, mid: mid, n: n, start: make([]int32, dn), count: make([]int32, dn)}
	t.w = make([]float32, dn*t.n)
	if sn == dn {
		for i := range dn {
			t.start[i], t.count[i], t.w[i] = int32(i), 1, 1
		}
		return t
	}
	scale := float64(sn) / float64(dn) / float64(k) // in intermediate pixels
	t.weigh(scale, func(i int) float64 {
		// The output pixel's centre in source indices, then in intermediate
		// ones (bin j's centre is source index j*k + (k-1)/2).
		return (float64((float64(i)+0.5)*scale*float64(k)) - 0.5 - float64(float64(k-1)/2)) / float64(k)
	})
	return t
}

// weigh fills t's weights: output index i is centred on intermediate index
// centre(i) (fractional), and scale is the intermediate pixels per output
// pixel. Catmull-Rom, widened by scale when downscaling; taps outside
// 0 … t.mid-1 are dropped and the rest renormalised.
func (t *taps) weigh(scale float64, centre func(i int) float64) {
	fs := max(scale, 1) // the kernel widens when downscaling
	support := 2 * fs
	sn := t.mid
	for i := range t.start {
		c := centre(i)
		lo := max(int(math.Ceil(c-support)), 0)
		hi := min(int(math.Floor(c+support)), sn-1, lo+t.n-1)
		lo = min(lo, sn-1) // a centre past the end (a chroma plane's edge) keeps the last pixel
		hi = max(hi, lo)
		ws := t.w[i*t.n : i*t.n+hi-lo+1]
		var sum float64
		for j := range ws {
			v := catmullRom((float64(lo+j) - c) / fs)
			ws[j] = float32(v)
			sum += v
		}
		if sum <= 0 { // the nearest pixel
			clear(ws)
			lo = min(max(int(math.Round(c)), 0), sn-1)
			ws = t.w[i*t.n : i*t.n+1]
			ws[0], hi = 1, lo
		} else {
			for j := range ws {
				ws[j] = float32(float64(ws[j]) / sum)
			}
		}
		t.start[i], t.count[i] = int32(lo), int32(hi-lo+1)
	}
}

// resampler is one worker's state: a ring of horizontally resampled
// intermediate rows (after the vertical box shrink), so each source row is
// fetched and filtered once per band.
type resampler struct {
	src     image.Rectangle // the crop, in src coordinates
	fetch   fetchFunc
	xt, yt  *taps
	bg      [4]float32
	row     []float32 // one fetched source row of the crop, premultiplied
	hmid    []float32 // a source row after the horizontal box shrink
	vacc    []float32 // the sum of the source rows of one vertical box bin
	ring    []float32 // yt.n horizontally resampled rows, 4*dw floats each
	ringRow []int     // which intermediate row each ring slot holds; -1: none
	acc     []float32 // the output row being summed
}

// outputRow computes output row y (relative to Dst) into out (4 bytes per
// pixel, straight alpha).
func (r *resampler) outputRow(y int, out []uint8) {
	clear(r.acc)
	acc := r.acc
	w4 := len(acc)
	start, count := int(r.yt.start[y]), int(r.yt.count[y])
	ws := r.yt.w[y*r.yt.n : y*r.yt.n+count]
	for k, wk := range ws {
		j := start + k
		slot := j % r.yt.n
		line := r.ring[slot*w4 : slot*w4+w4]
		if r.ringRow[slot] != j {
			r.filterRow(j, line)
			r.ringRow[slot] = j
		}
		for x := range acc {
			acc[x] += float32(wk * line[x])
		}
	}
	store(out, acc, r.bg)
}

// filterRow makes intermediate row j (the mean of its vertical box bin of
// source rows, each box-shrunk horizontally) and resamples it horizontally
// into line.
func (r *resampler) filterRow(j int, line []float32) {
	var row []float32
	if k := r.yt.k; k == 1 {
		row = r.shrinkRow(r.src.Min.Y + j)
	} else {
		y0, y1 := r.src.Min.Y+j*k, min(r.src.Min.Y+(j+1)*k, r.src.Max.Y)
		acc := r.vacc
		copy(acc, r.shrinkRow(y0))
		for y := y0 + 1; y < y1; y++ {
			for x, v := range r.shrinkRow(y) {
				acc[x] += v
			}
		}
		inv := 1 / float32(y1-y0)
		for x := range acc {
			acc[x] *= inv
		}
		row = acc
	}
	xt := r.xt
	for i := 0; i < len(line)/4; i++ {
		s := 4 * int(xt.start[i])
		ws := xt.w[i*xt.n : i*xt.n+int(xt.count[i])]
		p := row[s : s+4*len(ws)]
		var cr, cg, cb, ca float32
		for k, wk := range ws {
			q := p[4*k : 4*k+4 : 4*k+4]
			cr += float32(wk * q[0])
			cg += float32(wk * q[1])
			cb += float32(wk * q[2])
			ca += float32(wk * q[3])
		}
		o := line[4*i : 4*i+4 : 4*i+4]
		o[0], o[1], o[2], o[3] = cr, cg, cb, ca
	}
}

// shrinkRow fetches source row y of the crop and returns it box-shrunk
// horizontally (4*xt.mid floats; the fetched row itself when xt.k is 1).
// The slice is valid until the next call.
func (r *resampler) shrinkRow(y int) []float32 {
	r.fetch(r.src.Min.X, r.src.Max.X, y, r.row)
	k := r.xt.k
	if k == 1 {
		return r.row
	}
	row, out := r.row, r.hmid
	n := len(row) / 4
	for b := 0; b < len(out)/4; b++ {
		x0, x1 := b*k, min((b+1)*k, n)
		p := row[4*x0 : 4*x1]
		var cr, cg, cb, ca float32
		for i := 0; i+3 < len(p); i += 4 {
			q := p[i : i+4 : i+4]
			cr += q[0]
			cg += q[1]
			cb += q[2]
			ca += q[3]
		}
		inv := 1 / float32(x1-x0)
		o := out[4*b : 4*b+4 : 4*b+4]
		o[0], o[1], o[2], o[3] = cr*inv, cg*inv, cb*inv, ca*inv
	}
	return out
}

// store composites premultiplied acc over bg and writes it to out with
// straight alpha.
func store(out []uint8, acc []float32, bg [4]float32) {
	for i := 0; i+3 < len(acc) && i+3 < len(out); i += 4 {
		a := min(max(acc[i+3], 0), 255)
		cr := min(max(acc[i], 0), a)
		cg := min(max(acc[i+1], 0), a)
		cb := min(max(acc[i+2], 0), a)
		if bg[3] > 0 {
			inv := 1 - a/255
			cr += float32(bg[0] * inv)
			cg += float32(bg[1] * inv)
			cb += float32(bg[2] * inv)
			a += float32(bg[3] * inv)
		}
		o := out[i : i+4 : i+4]
		switch {
		case a <= 0:
			o[0], o[1], o[2], o[3] = 0, 0, 0, 0
		case a >= 255:
			o[0], o[1], o[2], o[3] = to8(cr), to8(cg), to8(cb), 255
		default:
			f := 255 / a
			o[0], o[1], o[2], o[3] = to8(float32(cr*f)), to8(float32(cg*f)), to8(float32(cb*f)), to8(a)
		}
	}
}

// to8 rounds a 0–255 float to a byte, clamping.
func to8(v float32) uint8 {
	if v >= 254.5 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v + 0.5)
}

// fetchFunc writes the pixels x0..x1-1 of row y of an image into dst as
// premultiplied 0–255 floats, four per pixel.
type fetchFunc func(x0, x1, y int, dst []float32)

// rowFetcher returns the fastest fetchFunc for src's concrete type: the
// decoders' types (YCbCr, Gray, CMYK, Paletted, NRGBA, RGBA, NYCbCrA) are
// read directly, anything else through RGBA64At or At.
func rowFetcher(src image.Image) fetchFunc {
	switch m := src.(type) {
	case *image.RGBA:
		return func(x0, x1, y int, dst []float32) {
			p := m.Pix[m.PixOffset(x0, y):]
			p = p[:4*(x1-x0)]
			for i, v := range p {
				dst[i] = float32(v)
			}
		}
	case *image.NRGBA:
		return func(x0, x1, y int, dst []float32) {
			p := m.Pix[m.PixOffset(x0, y):]
			p = p[:4*(x1-x0)]
			for i := 0; i+3 < len(p); i += 4 {
				q := p[i : i+4 : i+4]
				d := dst[i : i+4 : i+4]
				a := float32(q[3])
				if q[3] == 255 {
					d[0], d[1], d[2], d[3] = float32(q[0]), float32(q[1]), float32(q[2]), 255
					continue
				}
				f := a / 255
				d[0], d[1], d[2], d[3] = float32(q[0])*f, float32(q[1])*f, float32(q[2])*f, a
			}
		}
	case *image.Gray:
		return func(x0, x1, y int, dst []float32) {
			p := m.Pix[m.PixOffset(x0, y):]
			p = p[:x1-x0]
			for i, v := range p {
				d := dst[4*i : 4*i+4 : 4*i+4]
				f := float32(v)
				d[0], d[1], d[2], d[3] = f, f, f, 255
			}
		}
	case *image.CMYK:
		return func(x0, x1, y int, dst []float32) {
			p := m.Pix[m.PixOffset(x0, y):]
			p = p[:4*(x1-x0)]
			for i := 0; i+3 < len(p); i += 4 {
				r, g, b := color.CMYKToRGB(p[i], p[i+1], p[i+2], p[i+3])
				d := dst[i : i+4 : i+4]
				d[0], d[1], d[2], d[3] = float32(r), float32(g), float32(b), 255
			}
		}
	case *image.Paletted:
		var table [256][4]float32
		for i, c := range m.Palette {
			if i >= len(table) {
				break
			}
			r, g, b, a := c.RGBA()
			table[i] = [4]float32{float32(r) / 257, float32(g) / 257, float32(b) / 257, float32(a) / 257}
		}
		return func(x0, x1, y int, dst []float32) {
			p := m.Pix[m.PixOffset(x0, y):]
			p = p[:x1-x0]
			for i, v := range p {
				copy(dst[4*i:4*i+4], table[v][:])
			}
		}
	case *image.YCbCr:
		if f := ycbcrFetcher(m, nil); f != nil {
			return f
		}
	case *image.NYCbCrA:
		if f := ycbcrFetcher(&m.YCbCr, m); f != nil {
			return f
		}
	}
	if m, ok := src.(image.RGBA64Image); ok {
		return func(x0, x1, y int, dst []float32) {
			for x := x0; x < x1; x++ {
				c := m.RGBA64At(x, y)
				d := dst[4*(x-x0) : 4*(x-x0)+4 : 4*(x-x0)+4]
				d[0], d[1], d[2], d[3] = float32(c.R)/257, float32(c.G)/257, float32(c.B)/257, float32(c.A)/257
			}
		}
	}
	return func(x0, x1, y int, dst []float32) {
		for x := x0; x < x1; x++ {
			r, g, b, a := src.At(x, y).RGBA()
			d := dst[4*(x-x0) : 4*(x-x0)+4 : 4*(x-x0)+4]
			d[0], d[1], d[2], d[3] = float32(r)/257, float32(g)/257, float32(b)/257, float32(a)/257
		}
	}
}

// ycbcrFetcher reads a YCbCr image (with straight alpha from alpha when it
// is not nil) row by row, or returns nil for a layout it does not know
// (then the generic path reads it).
func ycbcrFetcher(m *image.YCbCr, alpha *image.NYCbCrA) fetchFunc {
	fh, fv, ok := subsampling(m.SubsampleRatio)
	if !ok {
		return nil
	}
	hs, vs := uint(bits.TrailingZeros(uint(fh))), uint(bits.TrailingZeros(uint(fv))) // chroma subsampling shifts
	if m.Rect.Min.X < 0 || m.Rect.Min.Y < 0 {
		return nil // shifts would not match COffset's division
	}
	mx, my := m.Rect.Min.X, m.Rect.Min.Y
	return func(x0, x1, y int, dst []float32) {
		yrow := m.Y[m.YOffset(x0, y):]
		yrow = yrow[:x1-x0]
		cbase := (y>>vs - my>>vs) * m.CStride
		var arow []uint8
		if alpha != nil {
			arow = alpha.A[alpha.AOffset(x0, y):]
			arow = arow[:x1-x0]
		}
		var cr, cg, cb float32 // chroma terms of the current chroma sample
		last := -1
		for i, yy := range yrow {
			if ci := cbase + (x0+i)>>hs - mx>>hs; ci != last {
				cr, cg, cb = chroma(m.Cb[ci], m.Cr[ci])
				last = ci
			}
			y := float32(yy)
			d := dst[4*i : 4*i+4 : 4*i+4]
			r, g, b := clamp255(y+cr), clamp255(y+cg), clamp255(y+cb)
			if arow == nil || arow[i] == 255 {
				d[0], d[1], d[2], d[3] = r, g, b, 255
				continue
			}
			a := float32(arow[i])
			f := a / 255
			d[0], d[1], d[2], d[3] = r*f, g*f, b*f, a
		}
	}
}

// chroma returns what Cb and Cr add to Y for R, G and B: the JFIF (full
// range BT.601) conversion image/jpeg and color.YCbCrToRGB use, in float
// (which keeps the fraction color.YCbCrToRGB rounds away).
func chroma(cb, cr uint8) (float32, float32, float32) {
	fb, fr := float32(cb)-128, float32(cr)-128
	return 1.402 * fr, float32(-0.344136*fb) - float32(0.714136*fr), 1.772 * fb
}

// clamp255 clamps v to [0, 255].
func clamp255(v float32) float32 {
	// min and max compile without branches; comparisons would be
	// mispredicted on noisy images (twice the time on random pixels).
	return min(max(v, 0), 255)
}
