package resize

import (
	"fmt"
	"image"
)

// Geometry is where a resize takes its pixels from and puts them: the
// rectangle Src of the source (in source pixels, with the source's top-left
// corner at 0,0) is resampled to the rectangle Dst of an output canvas of
// size Canvas. Canvas pixels outside Dst (only with FitPad) are background.
type Geometry struct {
	// Canvas is the output image's size.
	Canvas image.Point
	// Dst is where the resampled Src lands on the canvas; it is inside
	// image.Rectangle{Max: Canvas} and never empty.
	Dst image.Rectangle
	// Src is the part of the source that survives (all of it unless the fit
	// mode crops); it is inside the source's bounds and never empty.
	Src image.Rectangle
}

// Identity reports whether g copies the whole sw×sh source unchanged: no
// crop, no scaling, no padding.
func (g Geometry) Identity(sw, sh int) bool {
	full := image.Rect(0, 0, sw, sh)
	return g.Src == full && g.Dst == full && g.Canvas == full.Max
}

// PlanGeometry computes the geometry of resizing an sw×sh source as o asks
// (o.Width, o.Height with dpr already folded in, o.Fit, o.Gravity), never
// producing a canvas wider than maxW or taller than maxH (0 or less:
// MaxDimension). The semantics are Cloudflare's:
//
//   - FitScaleDown fits the source inside the box keeping its aspect ratio,
//     never enlarging it: a source that already fits keeps its size.
//   - FitContain fits the source inside the box, enlarging it if needed.
//   - FitCover scales the source (up or down) to fill the box and crops what
//     overflows, keeping the part o.Gravity names.
//   - FitCrop is FitCover that never enlarges: the scale is at most 1, so in
//     a dimension where the source is smaller than the box the output is the
//     source's size there, and only the overflowing dimension is cropped. A
//     source smaller than the box in both dimensions is kept as it is.
//   - FitPad fits the source inside the box as FitContain does, then extends
//     the canvas to the box, the image placed by o.Gravity (centre by
//     default); the caller fills the rest with the background.
//
// With only a width (or only a height) the other side follows the aspect
// ratio: every mode then fits the source to that one side (FitCover and
// FitPad as FitContain, FitCrop as FitScaleDown), bounded by the maximum on
// the free side. With neither, the source keeps its size unless it is over
// the maximum, in which case it is scaled down to fit it. The box itself is
// cut to the maximum first.
//
// Rounding: the side that constrains a fit is exact and the other side is
// rounded to the nearest pixel (halves up), never below 1 px, so a very
// thin source gives a 1 px wide or high output rather than none. A cover
// crop's source rectangle is rounded to whole source pixels the same way, so
// its aspect ratio matches the box to within one source pixel. Gravity
// places a crop (or a padded image) so that the gravity point lands as near
// the middle of the output as the source allows; the offset is rounded to
// the nearest pixel. All arithmetic is on integers: the same inputs give the
// same geometry on every machine.
//
// An error means a source size that is not positive or is over
// MaxSourceDimension: the decoder should have refused it.
func PlanGeometry(sw, sh int, o Options, maxW, maxH int) (Geometry, error) {
	if sw < 1 || sh < 1 || sw > MaxSourceDimension || sh > MaxSourceDimension {
		return Geometry{}, fmt.Errorf("resize: plan geometry: source size %d×%d is not in [1,%d]", sw, sh, MaxSourceDimension)
	}
	if maxW < 1 || maxW > MaxDimension {
		maxW = MaxDimension
	}
	if maxH < 1 || maxH > MaxDimension {
		maxH = MaxDimension
	}
	bw, bh := min(o.Width, maxW), min(o.Height, maxH)
	fit := o.Fit
	if bw <= 0 || bh <= 0 {
		// One side or none: fit to the given side, bounded by the maximum on
		// the other. Without an enlarging mode and a side, this is
		// scale-down inside the maximum.
		switch {
		case bw <= 0 && bh <= 0:
			fit = FitScaleDown
		case fit == FitCover || fit == FitPad:
			fit = FitContain
		case fit == FitCrop:
			fit = FitScaleDown
		}
		if bw <= 0 {
			bw = maxW
		}
		if bh <= 0 {
			bh = maxH
		}
	}
	full := image.Rect(0, 0, sw, sh)
	switch fit {
	case FitContain:
		w, h := fitInside(sw, sh, bw, bh)
		return Geometry{Canvas: image.Pt(w, h), Dst: image.Rect(0, 0, w, h), Src: full}, nil
	case FitCover:
		return cover(sw, sh, bw, bh, o.Gravity), nil
	case FitCrop:
		// Cover scales by max(bw/sw, bh/sh); crop only when that is < 1.
		if int64(bw)*int64(sh) < int64(bh)*int64(sw) {
			if bh < sh { // height scale is the larger and below 1
				return cover(sw, sh, bw, bh, o.Gravity), nil
			}
		} else if bw < sw {
			return cover(sw, sh, bw, bh, o.Gravity), nil
		}
		// Scale 1: keep source pixels, crop the overflowing side.
		w, h := min(sw, bw), min(sh, bh)
		x, y := gravityOffset(sw-w, sh-h, sw, sh, o.Gravity)
		return Geometry{Canvas: image.Pt(w, h), Dst: image.Rect(0, 0, w, h), Src: image.Rect(x, y, x+w, y+h)}, nil
	case FitPad:
		w, h := fitInside(sw, sh, bw, bh)
		// The padded image sits at the gravity point: its share of the free
		// space on each side.
		x, y := gravityOffset(bw-w, bh-h, bw, bh, o.Gravity)
		return Geometry{Canvas: image.Pt(bw, bh), Dst: image.Rect(x, y, x+w, y+h), Src: full}, nil
	default: // FitScaleDown
		w, h := sw, sh
		if sw > bw || sh > bh {
			w, h = fitInside(sw, sh, bw, bh)
		}
		return Geometry{Canvas: image.Pt(w, h), Dst: image.Rect(0, 0, w, h), Src: full}, nil
	}
}

// MaxSourceDimension bounds a source's width and height for PlanGeometry
// (far above any source limit, and small enough that no product of two
// sizes overflows).
const MaxSourceDimension = 1 << 20

// fitInside returns the largest size with sw×sh's aspect ratio that fits in
// bw×bh: the constraining side exact, the other rounded, at least 1.
func fitInside(sw, sh, bw, bh int) (int, int) {
	if int64(bw)*int64(sh) <= int64(bh)*int64(sw) {
		return bw, scaleSide(sh, bw, sw) // width constrains
	}
	return scaleSide(sw, bh, sh), bh
}

// scaleSide returns n×num/den rounded half up, at least 1.
func scaleSide(n, num, den int) int {
	v := (2*int64(n)*int64(num) + int64(den)) / (2 * int64(den))
	return int(max(v, 1))
}

// cover fills bw×bh from the source, cropping the source to the box's
// aspect ratio around the gravity point.
func cover(sw, sh, bw, bh int, g Gravity) Geometry {
	cw, ch := sw, sh
	if int64(bw)*int64(sh) >= int64(bh)*int64(sw) {
		ch = min(sh, scaleSide(bh, sw, bw)) // width fills: crop the height
	} else {
		cw = min(sw, scaleSide(bw, sh, bh)) // height fills: crop the width
	}
	x, y := gravityOffset(sw-cw, sh-ch, sw, sh, g)
	return Geometry{
		Canvas: image.Pt(bw, bh),
		Dst:    image.Rect(0, 0, bw, bh),
		Src:    image.Rect(x, y, x+cw, y+ch),
	}
}

// gravityOffset returns where a window starts on each axis given the free
// space (fx, fy ≥ 0) and the full lengths (w, h) the gravity point refers
// to: the window is centred on the point as far as the free space allows.
// Sides put the window against that edge (and centre it on the other axis).
func gravityOffset(fx, fy, w, h int, g Gravity) (int, int) {
	px, py := 500, 500 // thousandths
	switch g.Mode {
	case GravityLeft:
		px = 0
	case GravityRight:
		px = 1000
	case GravityTop:
		py = 0
	case GravityBottom:
		py = 1000
	case GravityPoint:
		px, py = int(g.X), int(g.Y)
	}
	return pointOffset(fx, w, px), pointOffset(fy, h, py)
}

// pointOffset places a window of length n-free inside n so that the point
// at p thousandths of n is as near the window's middle as possible.
func pointOffset(free, n, p int) int {
	if free <= 0 {
		return 0
	}
	win := int64(n - free)
	// point - win/2, in halves of thousandths, rounded half up.
	num := 2*int64(n)*int64(p) - win*1000
	if num <= 0 {
		return 0
	}
	return int(min((num+1000)/2000, int64(free)))
}
