package resize

import (
	"cmp"
	"image"
	"image/color"
	"math"
	"slices"
)

// maxPaletteSamples bounds the pixels medianCut reads, over all frames: it
// samples evenly spaced rows beyond that.
const maxPaletteSamples = 1 << 20

// medianCut returns a palette of at most n colours (1–256) for the pixels of
// frames that are at least half opaque, by median cut over a histogram of
// 5 bits per channel: the box of colours with the most pixels times the
// longest side is split at its pixel median along that side, until there
// are n boxes or none can be split; each colour is its box's mean. An image
// with n or fewer distinct colours (to 5 bits) keeps them exactly. Integer
// arithmetic and a total order on ties make the result the same on every
// machine. Without any opaque pixel it returns black alone.
func medianCut(frames []image.Image, n int) color.Palette {
	var h histogram
	total := 0
	for _, f := range frames {
		b := f.Bounds()
		total += b.Dx() * b.Dy()
	}
	step := 1 // sample one row in step
	if total > maxPaletteSamples {
		step = (total + maxPaletteSamples - 1) / maxPaletteSamples
	}
	for _, f := range frames {
		h.add(f, step)
	}
	var cells []cell
	for i, c := range h.count {
		if c > 0 {
			cells = append(cells, cell{key: uint16(i), count: c})
		}
	}
	if len(cells) == 0 {
		return color.Palette{color.NRGBA{A: 255}}
	}
	boxes := []box{newBox(cells)}
	for len(boxes) < n {
		best, bestScore := -1, uint64(0)
		for i, bx := range boxes {
			if s := bx.score(); s > bestScore {
				best, bestScore = i, s
			}
		}
		if best < 0 {
			break // every box is one colour
		}
		a, b := boxes[best].split()
		boxes[best] = a
		boxes = append(boxes, b)
	}
	pal := make(color.Palette, len(boxes))
	for i, bx := range boxes {
		var r, g, b, c uint64
		for _, cl := range bx.cells {
			r += uint64(h.r[cl.key])
			g += uint64(h.g[cl.key])
			b += uint64(h.b[cl.key])
			c += uint64(cl.count)
		}
		pal[i] = color.NRGBA{R: uint8((r + c/2) / c), G: uint8((g + c/2) / c), B: uint8((b + c/2) / c), A: 255}
	}
	return pal
}

// histogram counts pixels per 5-bit-per-channel colour, with the sums of
// their 8-bit channels for the means.
type histogram struct {
	count, r, g, b [1 << 15]uint32
}

// add counts every step-th row of m's pixels that are at least half opaque
// (their straight colour).
func (h *histogram) add(m image.Image, step int) {
	b := m.Bounds()
	put := func(r, g, bl uint8) {
		k := uint16(r>>3)<<10 | uint16(g>>3)<<5 | uint16(bl>>3)
		h.count[k]++
		h.r[k] += uint32(r)
		h.g[k] += uint32(g)
		h.b[k] += uint32(bl)
	}
	for y := b.Min.Y; y < b.Max.Y; y += step {
		if n, ok := m.(*image.NRGBA); ok {
			row := n.Pix[n.PixOffset(b.Min.X, y):]
			row = row[:4*b.Dx()]
			for i := 0; i+3 < len(row); i += 4 {
				if row[i+3] >= 128 {
					put(row[i], row[i+1], row[i+2])
				}
			}
			continue
		}
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
			if c.A >= 128 {
				put(c.R, c.G, c.B)
			}
		}
	}
}

// cell is one histogram colour: key is its 5-bit r<<10|g<<5|b.
type cell struct {
	key   uint16
	count uint32
}

// channel returns the cell's 5-bit value on axis 0 (red), 1 or 2.
func (c cell) channel(axis int) uint16 { return c.key >> (10 - 5*axis) & 31 }

// box is a set of cells, with its pixel count and the axis and length of
// its longest side.
type box struct {
	cells  []cell
	pixels uint64
	axis   int
	length uint16
}

func newBox(cells []cell) box {
	bx := box{cells: cells}
	lo, hi := [3]uint16{31, 31, 31}, [3]uint16{}
	for _, c := range cells {
		bx.pixels += uint64(c.count)
		for a := range 3 {
			v := c.channel(a)
			lo[a], hi[a] = min(lo[a], v), max(hi[a], v)
		}
	}
	for a := range 3 {
		if l := hi[a] - lo[a]; l > bx.length {
			bx.axis, bx.length = a, l
		}
	}
	return bx
}

// score is how much splitting bx is worth; 0: it cannot be split.
func (bx box) score() uint64 {
	if len(bx.cells) < 2 || bx.length == 0 {
		return 0
	}
	return bx.pixels * uint64(bx.length)
}

// split cuts bx in two at the pixel median of its longest side.
func (bx box) split() (box, box) {
	a := bx.axis
	slices.SortFunc(bx.cells, func(x, y cell) int {
		if c := cmp.Compare(x.channel(a), y.channel(a)); c != 0 {
			return c
		}
		return cmp.Compare(x.key, y.key)
	})
	half := bx.pixels / 2
	var seen uint64
	i := 0
	for ; i < len(bx.cells)-1; i++ {
		seen += uint64(bx.cells[i].count)
		if seen >= half {
			break
		}
	}
	// Cut at the boundary between two different values on the axis that is
	// nearest after the median (else before it): equal values stay in one
	// box, and both boxes are non-empty (the axis has a length, so such a
	// boundary exists).
	v := func(j int) uint16 { return bx.cells[j].channel(a) }
	cut := i + 1
	for cut < len(bx.cells) && v(cut) == v(cut-1) {
		cut++
	}
	if cut == len(bx.cells) {
		for cut = i; cut > 1 && v(cut) == v(cut-1); cut-- {
		}
	}
	cut = min(max(cut, 1), len(bx.cells)-1)
	return newBox(bx.cells[:cut:cut]), newBox(bx.cells[cut:])
}

// ditherer maps colours to an opaque palette with Floyd-Steinberg error
// diffusion. Nearest colours are looked up per cell of 6 bits a channel
// (the nearest entry to the cell's centre, found once per cell by a full
// search), so a frame costs a few operations a pixel instead of a search of
// the palette; the diffused error makes up for the cell's rounding.
type ditherer struct {
	pal   [][3]int32
	cells []int16 // 1<<18 cells; -1: not looked up yet
}

func newDitherer(pal color.Palette) *ditherer {
	d := &ditherer{pal: make([][3]int32, len(pal)), cells: make([]int16, 1<<18)}
	for i, c := range pal {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		d.pal[i] = [3]int32{int32(n.R), int32(n.G), int32(n.B)}
	}
	for i := range d.cells {
		d.cells[i] = -1
	}
	return d
}

// nearest returns the palette index for the colour r, g, b (each 0–255).
func (d *ditherer) nearest(r, g, b int32) uint8 {
	k := r>>2<<12 | g>>2<<6 | b>>2
	if v := d.cells[k]; v >= 0 {
		return uint8(v)
	}
	cr, cg, cb := r>>2<<2|2, g>>2<<2|2, b>>2<<2|2
	best, bestD := 0, int32(math.MaxInt32)
	for i, p := range d.pal {
		dr, dg, db := p[0]-cr, p[1]-cg, p[2]-cb
		if dist := dr*dr + dg*dg + db*db; dist < bestD {
			best, bestD = i, dist
		}
	}
	d.cells[k] = int16(best)
	return uint8(best)
}

// draw quantises the straight colours of src (all of it) into dst, which
// has src's size at the origin; a pixel for which skip is true gets
// skipIndex and diffuses no error.
func (d *ditherer) draw(dst *image.Paletted, src *image.NRGBA, skip []bool, skipIndex uint8) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	// Errors in sixteenths, for this row and the next, with a pixel of
	// margin on each side.
	cur, next := make([]int32, 3*(w+2)), make([]int32, 3*(w+2))
	for y := 0; y < h; y++ {
		row := src.Pix[y*src.Stride : y*src.Stride+4*w]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+w]
		for x := 0; x < w; x++ {
			if skip != nil && skip[y*w+x] {
				out[x] = skipIndex
				continue
			}
			e := cur[3*(x+1) : 3*(x+1)+3 : 3*(x+1)+3]
			r := clampByte(int32(row[4*x]) + (e[0]+8)>>4)
			g := clampByte(int32(row[4*x+1]) + (e[1]+8)>>4)
			b := clampByte(int32(row[4*x+2]) + (e[2]+8)>>4)
			i := d.nearest(r, g, b)
			out[x] = i
			p := d.pal[i]
			for c, v := range [3]int32{r - p[0], g - p[1], b - p[2]} {
				cur[3*(x+2)+c] += 7 * v
				next[3*x+c] += 3 * v
				next[3*(x+1)+c] += 5 * v
				next[3*(x+2)+c] += v
			}
		}
		cur, next = next, cur
		clear(next)
	}
}

// clampByte clamps v to [0, 255].
func clampByte(v int32) int32 { return min(max(v, 0), 255) }
