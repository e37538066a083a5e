package resize

import (
	"encoding/binary"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"testing"
)

// storedFor returns the image a camera stores for the upright image v under
// EXIF orientation o, built from the EXIF definition of the tag (where the
// stored 0th row and 0th column lie in the upright picture), independently
// of Orient's own table.
func storedFor(v *image.RGBA, o int) *image.RGBA {
	vw, vh := v.Rect.Dx(), v.Rect.Dy()
	// side of the upright image that the stored row 0 and column 0 are
	rowSide, colSide := map[int][2]string{
		1: {"top", "left"}, 2: {"top", "right"}, 3: {"bottom", "right"}, 4: {"bottom", "left"},
		5: {"left", "top"}, 6: {"right", "top"}, 7: {"right", "bottom"}, 8: {"left", "bottom"},
	}[o][0], map[int][2]string{
		1: {"top", "left"}, 2: {"top", "right"}, 3: {"bottom", "right"}, 4: {"bottom", "left"},
		5: {"left", "top"}, 6: {"right", "top"}, 7: {"right", "bottom"}, 8: {"left", "bottom"},
	}[o][1]
	sw, sh := vw, vh
	if rowSide == "left" || rowSide == "right" {
		sw, sh = vh, vw
	}
	s := image.NewRGBA(image.Rect(0, 0, sw, sh))
	for sy := 0; sy < sh; sy++ {
		for sx := 0; sx < sw; sx++ {
			var vx, vy int
			switch rowSide {
			case "top":
				vy = sy
			case "bottom":
				vy = vh - 1 - sy
			case "left":
				vx = sy
			case "right":
				vx = vw - 1 - sy
			}
			switch colSide {
			case "left":
				vx = sx
			case "right":
				vx = vw - 1 - sx
			case "top":
				vy = sx
			case "bottom":
				vy = vh - 1 - sx
			}
			s.Set(sx, sy, v.At(vx, vy))
		}
	}
	return s
}

// upright is a 5×3 image whose every pixel is distinct, with a red marker
// at the top-left.
func upright() *image.RGBA {
	v := image.NewRGBA(image.Rect(0, 0, 5, 3))
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			v.Set(x, y, color.RGBA{0, uint8(40 * x), uint8(80 * y), 255})
		}
	}
	v.Set(0, 0, color.RGBA{255, 0, 0, 255})
	return v
}

func TestOrient(t *testing.T) {
	v := upright()
	red := color.RGBA{255, 0, 0, 255}
	// Every image type Orient handles, converted from the stored RGBA.
	types := map[string]func(*image.RGBA) image.Image{
		"RGBA":  func(m *image.RGBA) image.Image { return m },
		"NRGBA": func(m *image.RGBA) image.Image { return convert(image.NewNRGBA(m.Rect), m) },
		"RGBA64": func(m *image.RGBA) image.Image {
			return convert(image.NewRGBA64(m.Rect), m)
		},
		"NRGBA64":  func(m *image.RGBA) image.Image { return convert(image.NewNRGBA64(m.Rect), m) },
		"CMYK":     func(m *image.RGBA) image.Image { return convert(image.NewCMYK(m.Rect), m) },
		"Paletted": func(m *image.RGBA) image.Image { return convert(image.NewPaletted(m.Rect, palette.Plan9), m) },
		"YCbCr (generic path)": func(m *image.RGBA) image.Image {
			y := image.NewYCbCr(m.Rect, image.YCbCrSubsampleRatio444)
			for py := m.Rect.Min.Y; py < m.Rect.Max.Y; py++ {
				for px := m.Rect.Min.X; px < m.Rect.Max.X; px++ {
					c := m.RGBAAt(px, py)
					yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
					y.Y[y.YOffset(px, py)], y.Cb[y.COffset(px, py)], y.Cr[y.COffset(px, py)] = yy, cb, cr
				}
			}
			return y
		},
		"sub-image with an offset origin": func(m *image.RGBA) image.Image {
			big := image.NewRGBA(image.Rect(-3, -2, m.Rect.Dx()+4, m.Rect.Dy()+5))
			r := m.Rect.Add(image.Pt(1, 2))
			draw.Draw(big, r, m, m.Rect.Min, draw.Src)
			return big.SubImage(r)
		},
	}
	for name, conv := range types {
		for o := 1; o <= 8; o++ {
			stored := conv(storedFor(v, o))
			got := Orient(stored, o)
			wantRect := image.Rect(0, 0, 5, 3)
			if got.Bounds() != wantRect {
				if o != 1 || got.Bounds().Size() != wantRect.Size() {
					t.Fatalf("%s orientation %d: bounds %v, want %v", name, o, got.Bounds(), wantRect)
				}
			}
			if o >= 5 && stored.Bounds().Dx() != 3 {
				t.Fatalf("%s orientation %d: the stored image is %v, dimensions should be swapped", name, o, stored.Bounds())
			}
			min := got.Bounds().Min
			tol := 0
			if name != "RGBA" && name != "NRGBA" && name != "RGBA64" && name != "NRGBA64" && name != "sub-image with an offset origin" {
				tol = 40 // lossy colour models: compare against the model's own rendering
			}
			if !nearColor(got.At(min.X, min.Y), red, tol) {
				t.Errorf("%s orientation %d: top-left %v, want the red marker", name, o, got.At(min.X, min.Y))
			}
			for y := 0; y < 3; y++ {
				for x := 0; x < 5; x++ {
					want := conv(v).At(conv(v).Bounds().Min.X+x, conv(v).Bounds().Min.Y+y)
					if c := got.At(min.X+x, min.Y+y); !nearColor(c, want, 2) {
						t.Fatalf("%s orientation %d: (%d,%d) = %v, want %v", name, o, x, y, c, want)
					}
				}
			}
		}
	}
}

func convert[M draw.Image](dst M, src image.Image) M {
	draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
	return dst
}

func TestOrientLeavesOtherValuesAlone(t *testing.T) {
	v := upright()
	for _, o := range []int{-1, 0, 1, 9, 255} {
		if got := Orient(v, o); got != image.Image(v) {
			t.Errorf("orientation %d returned a new image", o)
		}
	}
}

func TestOrientGray(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(g.Pix, []uint8{1, 2, 3, 4, 5, 6})
	// 1 2 3      rotated 90° clockwise:  4 1
	// 4 5 6                              5 2
	//                                    6 3
	got := Orient(g, 6).(*image.Gray)
	if got.Rect != image.Rect(0, 0, 2, 3) || string(got.Pix) != string([]uint8{4, 1, 5, 2, 6, 3}) {
		t.Fatalf("%v %v", got.Rect, got.Pix)
	}
	g16 := image.NewGray16(g.Rect)
	a := image.NewAlpha(g.Rect)
	a16 := image.NewAlpha16(g.Rect)
	for i, v := range g.Pix {
		g16.Pix[2*i+1], a.Pix[i], a16.Pix[2*i+1] = v, v, v
	}
	if m := Orient(g16, 8).(*image.Gray16); m.Gray16At(0, 0).Y != 3 || m.Gray16At(1, 2).Y != 4 {
		t.Fatalf("gray16 %v", m.Pix)
	}
	if m := Orient(a, 3).(*image.Alpha); string(m.Pix) != string([]uint8{6, 5, 4, 3, 2, 1}) {
		t.Fatalf("alpha %v", m.Pix)
	}
	if m := Orient(a16, 2).(*image.Alpha16); m.Alpha16At(0, 0).A != 3 {
		t.Fatalf("alpha16 %v", m.Pix)
	}
}

func TestDecodedJPEGOrientsUpright(t *testing.T) {
	// The upright picture: 32×16, an 8×8 red block at the top-left, a blue
	// one at the top-right, grey elsewhere. The camera stores it turned
	// for each orientation and says so in EXIF.
	v := image.NewRGBA(image.Rect(0, 0, 32, 16))
	draw.Draw(v, v.Rect, image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(v, image.Rect(0, 0, 8, 8), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	draw.Draw(v, image.Rect(24, 0, 32, 8), image.NewUniform(color.RGBA{0, 0, 255, 255}), image.Point{}, draw.Src)
	for o := 1; o <= 8; o++ {
		stored := storedFor(v, o)
		jpg := jpegWithSegments(srcJPEG(t, stored, 95), jpegSegment{0xE1, append([]byte(exifPrefix), tiffOrientation(binaryOrder(o), uint16(o))...)})
		src := decodeBytes(t, jpg)
		if src.Orientation != o {
			t.Fatalf("orientation %d read as %d", o, src.Orientation)
		}
		if w, h := src.OrientedSize(); w != 32 || h != 16 {
			t.Fatalf("orientation %d: oriented size %d×%d", o, w, h)
		}
		up := Orient(src.Still(), src.Orientation)
		if up.Bounds() != v.Rect {
			t.Fatalf("orientation %d: upright bounds %v", o, up.Bounds())
		}
		for _, c := range []struct {
			x, y int
			want color.RGBA
		}{{3, 3, color.RGBA{255, 0, 0, 255}}, {28, 3, color.RGBA{0, 0, 255, 255}}, {16, 12, color.RGBA{128, 128, 128, 255}}} {
			if got := up.At(c.x, c.y); !nearColor(got, c.want, 24) {
				t.Errorf("orientation %d: (%d,%d) = %v, want %v", o, c.x, c.y, got, c.want)
			}
		}
	}
}

// binaryOrder alternates the EXIF byte order between orientations.
func binaryOrder(o int) binary.AppendByteOrder {
	if o%2 == 0 {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
