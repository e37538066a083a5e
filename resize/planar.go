package resize

import (
	"image"
	"image/color"
	"sync"
)

// transformYCbCr is Transform for an opaque Y'CbCr still (what the JPEG
// decoders return for a colour photo) when the output fills its canvas (no
// padding): each plane is resampled on its own, the chroma planes at their
// own resolution, and the result is a 4:2:0 *image.YCbCr of size g.Canvas,
// which the JPEG encoder takes as it is and the WebP path converts once, at
// the output size. A 4:2:0 source has 1.5 samples a pixel where the RGBA
// path has 4 channels, so this is about 2.5 times less work, and the source
// is never converted to RGB. It reports false, and does nothing, for a
// layout or geometry it does not handle; the caller then uses Transform.
//
// Y'CbCr is a linear function of gamma-encoded R'G'B', so filtering the
// planes is filtering R'G'B' (what Transform does, and libvips), up to the
// clamping of out-of-gamut values, which happens here once, on the output.
// The chroma planes are sited as JFIF says (centred between their luma
// samples): output chroma sample i is centred on output luma position
// 2i+1, mapped to the source like the luma.
//
// Like Transform, every output sample is computed by the same operations in
// the same order whatever workers is, so the bytes are the same on every
// node.
//
// orient is the EXIF orientation the caller turns the result by afterwards
// (Orient; 1: none). With an odd output side along an axis the orientation
// flips, the output chroma samples are centred one luma position earlier,
// so that after the flip they sit where JFIF puts them in the image as
// shown (chroma sample i on luma 2i+1, counted from the shown edge).
func transformYCbCr(m *image.YCbCr, g Geometry, orient, workers int) (*image.YCbCr, bool) {
	hs, vs, ok := subsampling(m.SubsampleRatio)
	canvas := image.Rectangle{Max: g.Canvas}
	if !ok || m.Rect.Min != (image.Point{}) || g.Dst != canvas || g.Src.Empty() || g.Dst.Empty() ||
		!g.Src.In(m.Rect) || g.Canvas.X > MaxDimension || g.Canvas.Y > MaxDimension {
		return nil, false
	}
	dst := image.NewYCbCr(canvas, image.YCbCrSubsampleRatio420)
	dw, dh := g.Canvas.X, g.Canvas.Y
	cw, ch := (dw+1)/2, (dh+1)/2
	cx0 := g.Src.Min.X / hs
	cy0 := g.Src.Min.Y / vs
	luma := planeJob{src: m.Y, stride: m.YStride, x0: g.Src.Min.X, y0: g.Src.Min.Y, dst: dst.Y, dstStride: dst.YStride}
	luma.xt, luma.w = planeTaps(g.Src.Min.X, g.Src.Dx(), dw, 1, 1, m.Rect.Dx(), 0)
	luma.yt, luma.h = planeTaps(g.Src.Min.Y, g.Src.Dy(), dh, 1, 1, m.Rect.Dy(), 0)
	cb := planeJob{src: m.Cb, stride: m.CStride, x0: cx0, y0: cy0, dst: dst.Cb, dstStride: dst.CStride}
	var sx, sy float64 // the chroma centres' shift, in output luma positions
	if dw%2 == 1 && (orient == 2 || orient == 3 || orient == 7 || orient == 8) {
		sx = -1
	}
	if dh%2 == 1 && (orient == 3 || orient == 4 || orient == 6 || orient == 7) {
		sy = -1
	}
	cb.xt, cb.w = planeTaps(g.Src.Min.X, g.Src.Dx(), dw, hs, 2, (m.Rect.Dx()+hs-1)/hs, sx)
	cb.yt, cb.h = planeTaps(g.Src.Min.Y, g.Src.Dy(), dh, vs, 2, (m.Rect.Dy()+vs-1)/vs, sy)
	cr := cb
	cr.src, cr.dst = m.Cr, dst.Cr
	if len(cb.xt.start) != cw || len(cb.yt.start) != ch {
		return nil, false // cannot happen: planeTaps sizes the output plane
	}
	workers = min(max(workers, 1), MaxWorkers)
	var wg sync.WaitGroup
	for _, p := range []*planeJob{&luma, &cb, &cr} {
		rows := len(p.yt.start)
		n := min(workers, max(rows/minBandRows, 1))
		for i := range n {
			y0, y1 := rows*i/n, rows*(i+1)/n
			if n == 1 {
				p.band(y0, y1)
				continue
			}
			wg.Go(func() { p.band(y0, y1) })
		}
		wg.Wait()
	}
	return dst, true
}

// subsampling returns the horizontal and vertical chroma subsampling
// factors of r, or false for a ratio it does not know.
func subsampling(r image.YCbCrSubsampleRatio) (hs, vs int, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 1, 1, true
	case image.YCbCrSubsampleRatio422:
		return 2, 1, true
	case image.YCbCrSubsampleRatio420:
		return 2, 2, true
	case image.YCbCrSubsampleRatio440:
		return 1, 2, true
	case image.YCbCrSubsampleRatio411:
		return 4, 1, true
	case image.YCbCrSubsampleRatio410:
		return 4, 2, true
	}
	return 0, 0, false
}

// planeTaps returns the filter of one axis of one plane: the source crop is
// luma positions lo … lo+n-1, the output dn luma positions; the source plane
// has one sample per srcSub luma positions (planeLen samples in all) and
// the output plane one per dstSub. The taps index the plane from
// lo/srcSub, and the output plane has ⌈dn/dstSub⌉ samples. The box
// pre-shrink and the taps stride follow the plane's own reduction, as
// shrinkAndTaps does for Transform. shift moves the output samples'
// centres by that many output luma positions.
func planeTaps(lo, n, dn, srcSub, dstSub, planeLen int, shift float64) (t taps, sn int) {
	p0 := lo / srcSub
	p1 := min((lo+n+srcSub-1)/srcSub, planeLen)
	sn = p1 - p0
	on := (dn + dstSub - 1) / dstSub
	ratio := float64(n) / float64(dn)                         // source luma per output luma
	scale := float64(float64(dstSub)*ratio) / float64(srcSub) // source plane samples per output one
	k, stride := shrinkFor(scale)
	mid := (sn + k - 1) / k
	t = taps{k: k, mid: mid, n: stride, start: make([]int32, on), count: make([]int32, on)}
	t.w = make([]float32, on*stride)
	t.weigh(scale/float64(k), func(i int) float64 {
		// Output sample i's centre in output luma positions, in source luma
		// positions, in source plane indices from p0, then in intermediate
		// ones (bin j's centre is index j*k + (k-1)/2).
		lumaPos := float64(lo) + float64(float64(float64(float64(i)+0.5)*float64(dstSub))+shift)*ratio
		c := lumaPos/float64(srcSub) - float64(p0) - 0.5
		return (c - float64(float64(k-1)/2)) / float64(k)
	})
	return t, sn
}

// planeJob is the resampling of one plane: the w×h source samples from
// (x0, y0) of src, output into dst; xt and yt are planeTaps' filters.
type planeJob struct {
	src       []uint8
	stride    int
	x0, y0    int
	w, h      int
	xt, yt    taps
	dst       []uint8
	dstStride int
}

// band computes output rows y0 … y1-1 with its own ring of horizontally
// filtered intermediate rows.
func (p *planeJob) band(y0, y1 int) {
	dw := len(p.xt.start)
	r := planeResampler{
		job:  p,
		row:  make([]float32, p.xt.mid),
		vacc: make([]float32, p.xt.mid),
		ring: make([]float32, p.yt.n*dw),
		slot: make([]int, p.yt.n),
		acc:  make([]float32, dw),
	}
	for i := range r.slot {
		r.slot[i] = -1
	}
	for y := y0; y < y1; y++ {
		r.outputRow(y, p.dst[y*p.dstStride:y*p.dstStride+dw])
	}
}

// planeResampler is one band's state (the single-channel resampler).
type planeResampler struct {
	job  *planeJob
	row  []float32 // a source row after the horizontal box shrink
	vacc []float32 // the mean of one vertical box bin of such rows
	ring []float32 // yt.n horizontally filtered rows
	slot []int     // which intermediate row each ring slot holds; -1: none
	acc  []float32 // the output row being summed
}

// outputRow computes output row y into out.
func (r *planeResampler) outputRow(y int, out []uint8) {
	yt := &r.job.yt
	dw := len(r.acc)
	clear(r.acc)
	acc := r.acc
	start, count := int(yt.start[y]), int(yt.count[y])
	for k, wk := range yt.w[y*yt.n : y*yt.n+count] {
		j := start + k
		s := j % yt.n
		line := r.ring[s*dw : s*dw+dw]
		if r.slot[s] != j {
			r.filterRow(j, line)
			r.slot[s] = j
		}
		for x, v := range line {
			acc[x] += float32(wk * v)
		}
	}
	for x, v := range acc {
		out[x] = to8(v)
	}
}

// filterRow makes intermediate row j (the mean of its vertical bin of
// source rows, each box-shrunk horizontally) and filters it horizontally
// into line.
func (r *planeResampler) filterRow(j int, line []float32) {
	p := r.job
	k := p.yt.k
	var row []float32
	if k == 1 {
		row = r.shrinkRow(p.y0 + j)
	} else {
		y0 := p.y0 + j*k
		y1 := min(y0+k, p.y0+p.h) // the last bin may be short
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
	xt := &p.xt
	for i := range line {
		s := int(xt.start[i])
		ws := xt.w[i*xt.n : i*xt.n+int(xt.count[i])]
		src := row[s : s+len(ws)]
		// Four sums, so that the additions do not wait on each other (a
		// single chain of dependent float adds is the loop's bottleneck).
		var v0, v1, v2, v3 float32
		k := 0
		for ; k+4 <= len(ws); k += 4 {
			w4, s4 := ws[k:k+4:k+4], src[k:k+4:k+4]
			v0 += float32(w4[0] * s4[0])
			v1 += float32(w4[1] * s4[1])
			v2 += float32(w4[2] * s4[2])
			v3 += float32(w4[3] * s4[3])
		}
		for ; k < len(ws); k++ {
			v0 += float32(ws[k] * src[k])
		}
		line[i] = (v0 + v1) + (v2 + v3)
	}
}

// shrinkRow returns source row y (plane coordinates) of the crop as floats,
// box-shrunk horizontally by xt.k; valid until the next call.
func (r *planeResampler) shrinkRow(y int) []float32 {
	p := r.job
	k := p.xt.k
	n := p.w
	src := p.src[y*p.stride+p.x0 : y*p.stride+p.x0+n]
	out := r.row
	if k == 1 {
		for i, v := range src {
			out[i] = float32(v)
		}
		return out
	}
	for b := range out {
		x0, x1 := b*k, min((b+1)*k, n)
		var s int
		for _, v := range src[x0:x1] {
			s += int(v)
		}
		out[b] = float32(s) / float32(x1-x0)
	}
	return out
}

// ycbcrToNRGBA converts m to an opaque *image.NRGBA at the origin, with
// color.YCbCrToRGB's rounding (as image/draw does for *image.RGBA).
func ycbcrToNRGBA(m *image.YCbCr) *image.NRGBA {
	b := m.Rect
	n := image.NewNRGBA(image.Rectangle{Max: b.Size()})
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := n.Pix[(y-b.Min.Y)*n.Stride:]
		for x := b.Min.X; x < b.Max.X; x++ {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			p := row[4*(x-b.Min.X) : 4*(x-b.Min.X)+4 : 4*(x-b.Min.X)+4]
			p[0], p[1], p[2], p[3] = r, g, bl, 255
		}
	}
	return n
}

// orientYCbCr is Orient for a 4:2:0 *image.YCbCr at the origin (what
// transformYCbCr makes): each plane is turned on its own, and the result is
// 4:2:0 again (the chroma planes' sizes follow the luma's). Other layouts
// report false.
func orientYCbCr(m *image.YCbCr, o int) (*image.YCbCr, bool) {
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || m.Rect.Min != (image.Point{}) {
		return nil, false
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dr := image.Rect(0, 0, w, h)
	if o >= 5 {
		dr = image.Rect(0, 0, h, w)
	}
	d := image.NewYCbCr(dr, image.YCbCrSubsampleRatio420)
	orientPix(d.Y, d.YStride, m.Y, m.YStride, w, h, 1, o)
	cw, ch := (w+1)/2, (h+1)/2
	orientPix(d.Cb, d.CStride, m.Cb, m.CStride, cw, ch, 1, o)
	orientPix(d.Cr, d.CStride, m.Cr, m.CStride, cw, ch, 1, o)
	return d, true
}

// rgbaToYCbCr420 converts an opaque m to a 4:2:0 *image.YCbCr at the
// origin: each pixel's Y', Cb and Cr as color.RGBToYCbCr gives them, Cb and
// Cr then averaged over each 2×2 block (what image/jpeg's encoder does).
func rgbaToYCbCr420(m *image.RGBA) *image.YCbCr {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	d := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	cw := (w + 1) / 2
	sumB := make([]int32, cw)
	sumR := make([]int32, cw)
	cnt := make([]int32, cw)
	for y := range h {
		row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		row = row[:4*w]
		ys := d.Y[y*d.YStride : y*d.YStride+w]
		for x := range w {
			p := row[4*x : 4*x+3 : 4*x+3]
			yy, cb, cr := color.RGBToYCbCr(p[0], p[1], p[2])
			ys[x] = yy
			sumB[x/2] += int32(cb)
			sumR[x/2] += int32(cr)
			cnt[x/2]++
		}
		if y%2 == 1 || y == h-1 {
			c := (y / 2) * d.CStride
			for i := range cw {
				n := cnt[i]
				d.Cb[c+i] = uint8((sumB[i] + n/2) / n)
				d.Cr[c+i] = uint8((sumR[i] + n/2) / n)
			}
			clear(sumB)
			clear(sumR)
			clear(cnt)
		}
	}
	return d
}
