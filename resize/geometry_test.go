package resize

import (
	"image"
	"math/rand/v2"
	"testing"
)

func TestPlanGeometry(t *testing.T) {
	r := image.Rect
	pt := image.Pt
	left := Gravity{Mode: GravityLeft}
	right := Gravity{Mode: GravityRight}
	top := Gravity{Mode: GravityTop}
	bottom := Gravity{Mode: GravityBottom}
	point := func(x, y uint16) Gravity { return Gravity{Mode: GravityPoint, X: x, Y: y} }
	tests := []struct {
		name       string
		sw, sh     int
		o          Options
		maxW, maxH int
		want       Geometry
	}{
		{"scale-down shrinks to the width", 800, 600, Options{Width: 400}, 0, 0,
			Geometry{pt(400, 300), r(0, 0, 400, 300), r(0, 0, 800, 600)}},
		{"scale-down never enlarges", 200, 100, Options{Width: 400}, 0, 0,
			Geometry{pt(200, 100), r(0, 0, 200, 100), r(0, 0, 200, 100)}},
		{"scale-down fits inside a box", 800, 600, Options{Width: 400, Height: 400}, 0, 0,
			Geometry{pt(400, 300), r(0, 0, 400, 300), r(0, 0, 800, 600)}},
		{"scale-down height only keeps the aspect", 800, 600, Options{Height: 300}, 0, 0,
			Geometry{pt(400, 300), r(0, 0, 400, 300), r(0, 0, 800, 600)}},
		{"scale-down width only is bounded by max height", 100, 10000, Options{Width: 50}, 0, 1000,
			Geometry{pt(10, 1000), r(0, 0, 10, 1000), r(0, 0, 100, 10000)}},
		{"contain enlarges into the box", 200, 100, Options{Width: 400, Height: 400, Fit: FitContain}, 0, 0,
			Geometry{pt(400, 200), r(0, 0, 400, 200), r(0, 0, 200, 100)}},
		{"contain height only enlarges to it", 200, 100, Options{Height: 300, Fit: FitContain}, 0, 0,
			Geometry{pt(600, 300), r(0, 0, 600, 300), r(0, 0, 200, 100)}},
		{"contain width only is bounded by max height", 100, 200, Options{Width: 1000, Fit: FitContain}, 0, 500,
			Geometry{pt(250, 500), r(0, 0, 250, 500), r(0, 0, 100, 200)}},
		{"cover crops a wide source around the centre", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(100, 0, 700, 600)}},
		{"cover gravity left keeps the left columns", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: left}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(0, 0, 600, 600)}},
		{"cover gravity right keeps the right columns", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: right}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(200, 0, 800, 600)}},
		{"cover gravity top on a wide source centres horizontally", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: top}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(100, 0, 700, 600)}},
		{"cover gravity top keeps the top rows", 600, 800, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: top}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(0, 0, 600, 600)}},
		{"cover gravity bottom keeps the bottom rows", 600, 800, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: bottom}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(0, 200, 600, 800)}},
		{"cover gravity auto on a tall source", 600, 800, Options{Width: 300, Height: 300, Fit: FitCover}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(0, 100, 600, 700)}},
		{"cover point 0x0 is the top-left edge", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: point(0, 0)}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(0, 0, 600, 600)}},
		{"cover point 1x1 is the right edge", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: point(1000, 1000)}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(200, 0, 800, 600)}},
		{"cover point 0.6 centres the crop on it", 800, 600, Options{Width: 300, Height: 300, Fit: FitCover, Gravity: point(600, 500)}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(180, 0, 780, 600)}},
		{"cover enlarges a small source", 100, 50, Options{Width: 200, Height: 200, Fit: FitCover}, 0, 0,
			Geometry{pt(200, 200), r(0, 0, 200, 200), r(25, 0, 75, 50)}},
		{"cover width only is contain", 800, 600, Options{Width: 400, Fit: FitCover}, 0, 0,
			Geometry{pt(400, 300), r(0, 0, 400, 300), r(0, 0, 800, 600)}},
		{"cover width only may enlarge", 200, 100, Options{Width: 400, Fit: FitCover}, 0, 0,
			Geometry{pt(400, 200), r(0, 0, 400, 200), r(0, 0, 200, 100)}},
		{"crop of a larger source is cover", 800, 600, Options{Width: 300, Height: 300, Fit: FitCrop}, 0, 0,
			Geometry{pt(300, 300), r(0, 0, 300, 300), r(100, 0, 700, 600)}},
		{"crop of a smaller source keeps it", 200, 100, Options{Width: 400, Height: 400, Fit: FitCrop}, 0, 0,
			Geometry{pt(200, 100), r(0, 0, 200, 100), r(0, 0, 200, 100)}},
		{"crop smaller in one side crops the other unscaled", 1000, 200, Options{Width: 400, Height: 400, Fit: FitCrop}, 0, 0,
			Geometry{pt(400, 200), r(0, 0, 400, 200), r(300, 0, 700, 200)}},
		{"crop unscaled honours gravity", 1000, 200, Options{Width: 400, Height: 400, Fit: FitCrop, Gravity: left}, 0, 0,
			Geometry{pt(400, 200), r(0, 0, 400, 200), r(0, 0, 400, 200)}},
		{"crop smaller in width, taller than the box", 200, 1000, Options{Width: 400, Height: 400, Fit: FitCrop, Gravity: bottom}, 0, 0,
			Geometry{pt(200, 400), r(0, 0, 200, 400), r(0, 600, 200, 1000)}},
		{"crop width only never enlarges", 200, 100, Options{Width: 400, Fit: FitCrop}, 0, 0,
			Geometry{pt(200, 100), r(0, 0, 200, 100), r(0, 0, 200, 100)}},
		{"pad centres a wide image in the box", 800, 600, Options{Width: 400, Height: 400, Fit: FitPad}, 0, 0,
			Geometry{pt(400, 400), r(0, 50, 400, 350), r(0, 0, 800, 600)}},
		{"pad enlarges like contain", 100, 50, Options{Width: 400, Height: 400, Fit: FitPad}, 0, 0,
			Geometry{pt(400, 400), r(0, 100, 400, 300), r(0, 0, 100, 50)}},
		{"pad gravity left", 600, 800, Options{Width: 400, Height: 400, Fit: FitPad, Gravity: left}, 0, 0,
			Geometry{pt(400, 400), r(0, 0, 300, 400), r(0, 0, 600, 800)}},
		{"pad gravity right", 600, 800, Options{Width: 400, Height: 400, Fit: FitPad, Gravity: right}, 0, 0,
			Geometry{pt(400, 400), r(100, 0, 400, 400), r(0, 0, 600, 800)}},
		{"pad width only has no padding", 800, 600, Options{Width: 400, Fit: FitPad}, 0, 0,
			Geometry{pt(400, 300), r(0, 0, 400, 300), r(0, 0, 800, 600)}},
		{"no box keeps the source", 800, 600, Options{Quality: 50}, 0, 0,
			Geometry{pt(800, 600), r(0, 0, 800, 600), r(0, 0, 800, 600)}},
		{"no box scales a source over the maximum down", 3000, 1000, Options{}, 1000, 0,
			Geometry{pt(1000, 333), r(0, 0, 1000, 333), r(0, 0, 3000, 1000)}},
		{"the box is cut to the maximum", 800, 600, Options{Width: 2000, Height: 2000, Fit: FitContain}, 1000, 1000,
			Geometry{pt(1000, 750), r(0, 0, 1000, 750), r(0, 0, 800, 600)}},
		{"cover box cut to the maximum", 800, 600, Options{Width: 2000, Height: 1000, Fit: FitCover}, 1000, 0,
			Geometry{pt(1000, 1000), r(0, 0, 1000, 1000), r(100, 0, 700, 600)}},
		{"a thin source never gives 0 px", 10000, 1, Options{Width: 100}, 0, 0,
			Geometry{pt(100, 1), r(0, 0, 100, 1), r(0, 0, 10000, 1)}},
		{"a thin cover crop keeps 1 source px", 1, 10000, Options{Width: 100, Height: 100, Fit: FitCover}, 0, 0,
			Geometry{pt(100, 100), r(0, 0, 100, 100), r(0, 5000, 1, 5001)}},
		{"rounding: 1.33 rounds down", 3, 2, Options{Width: 2}, 0, 0,
			Geometry{pt(2, 1), r(0, 0, 2, 1), r(0, 0, 3, 2)}},
		{"rounding: 1.5 rounds up", 4, 3, Options{Width: 2}, 0, 0,
			Geometry{pt(2, 2), r(0, 0, 2, 2), r(0, 0, 4, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanGeometry(tt.sw, tt.sh, tt.o, tt.maxW, tt.maxH)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PlanGeometry(%d, %d, %+v) = %+v, want %+v", tt.sw, tt.sh, tt.o, got, tt.want)
			}
		})
	}
}

func TestPlanGeometryRefusesBadSources(t *testing.T) {
	for _, s := range [][2]int{{0, 10}, {10, 0}, {-1, 5}, {MaxSourceDimension + 1, 1}} {
		if _, err := PlanGeometry(s[0], s[1], Options{Width: 10}, 0, 0); err == nil {
			t.Errorf("PlanGeometry(%d, %d) gave no error", s[0], s[1])
		}
	}
}

// TestPlanGeometryInvariants checks, over many pseudo-random inputs, what
// every geometry must satisfy: non-empty rectangles inside the canvas and
// the source, a canvas within the box and the maximum, the aspect ratio kept
// (to within rounding), and no enlarging where the mode forbids it.
func TestPlanGeometryInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	side := func() int {
		switch rng.IntN(4) {
		case 0:
			return 1 + rng.IntN(4)
		case 1:
			return 1 + rng.IntN(20000)
		default:
			return 1 + rng.IntN(3000)
		}
	}
	for i := 0; i < 20000; i++ {
		sw, sh := side(), side()
		o := Options{Fit: Fit(rng.IntN(5))}
		if rng.IntN(4) > 0 {
			o.Width = 1 + rng.IntN(MaxDimension)
		}
		if rng.IntN(4) > 0 {
			o.Height = 1 + rng.IntN(MaxDimension)
		}
		switch rng.IntN(6) {
		case 0:
			o.Gravity = Gravity{Mode: GravityMode(rng.IntN(5))}
		case 1:
			o.Gravity = Gravity{Mode: GravityPoint, X: uint16(rng.IntN(1001)), Y: uint16(rng.IntN(1001))}
		}
		maxW, maxH := 0, 0
		if rng.IntN(2) == 0 {
			maxW, maxH = 1+rng.IntN(5000), 1+rng.IntN(5000)
		}
		g, err := PlanGeometry(sw, sh, o, maxW, maxH)
		if err != nil {
			t.Fatal(err)
		}
		fail := func(why string) {
			t.Fatalf("PlanGeometry(%d, %d, %+v, %d, %d) = %+v: %s", sw, sh, o, maxW, maxH, g, why)
		}
		mw, mh := maxW, maxH
		if mw == 0 {
			mw, mh = MaxDimension, MaxDimension
		}
		canvas := image.Rectangle{Max: g.Canvas}
		switch {
		case g.Dst.Empty() || g.Src.Empty():
			fail("empty rectangle")
		case !g.Dst.In(canvas):
			fail("Dst outside the canvas")
		case !g.Src.In(image.Rect(0, 0, sw, sh)):
			fail("Src outside the source")
		case g.Canvas.X > mw || g.Canvas.Y > mh:
			fail("canvas over the maximum")
		case o.Width > 0 && g.Canvas.X > o.Width, o.Height > 0 && g.Canvas.Y > o.Height:
			fail("canvas over the box")
		}
		if o.Fit == FitScaleDown || o.Fit == FitCrop {
			if g.Dst.Dx() > g.Src.Dx() || g.Dst.Dy() > g.Src.Dy() {
				fail("enlarged in a mode that never enlarges")
			}
		}
		if o.Fit != FitPad && g.Dst != canvas {
			fail("Dst is not the whole canvas without padding")
		}
		// Aspect: Dst/Src scales on the two axes agree to within one pixel
		// of rounding on each side: |dw*sh' - dh*sw'| <= sw' + sh' (scaled).
		dw, dh := int64(g.Dst.Dx()), int64(g.Dst.Dy())
		cw, ch := int64(g.Src.Dx()), int64(g.Src.Dy())
		if d := dw*ch - dh*cw; d > cw+ch+max(dw, dh) || -d > cw+ch+max(dw, dh) {
			fail("aspect ratio not kept")
		}
	}
}
