package resize

import (
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"testing"
)

// The standard library cannot encode CMYK JPEGs, so these tests build them:
// each of the four channels is encoded by image/jpeg as a grayscale JPEG,
// and the four entropy-coded scans are put together into one 4-component
// baseline JPEG with one non-interleaved scan per component (allowed by the
// JPEG standard and read by image/jpeg). All four use image/jpeg's fixed
// luminance quantisation and Huffman tables, taken from the first.

// flatCMYK is a w×h CMYK image of one ink mix.
func flatCMYK(w, h int, ink [4]uint8) *image.CMYK {
	m := image.NewCMYK(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		copy(m.Pix[i:i+4], ink[:])
	}
	return m
}

// cmykJPEG encodes m as a CMYK JPEG the way Adobe writes them (every
// channel inverted: 255 is no ink) with an APP14 Adobe marker of the given
// transform (0: CMYK) when adobe.
func cmykJPEG(t testing.TB, m *image.CMYK, adobe bool, transform byte) []byte {
	t.Helper()
	var planes [4]*image.Gray
	for c := range planes {
		planes[c] = image.NewGray(m.Rect)
		for i := range planes[c].Pix {
			planes[c].Pix[i] = 255 - m.Pix[4*i+c]
		}
	}
	return stitchJPEG(t, planes, adobe, transform)
}

// ycckJPEG encodes m as an Adobe YCCK JPEG: the first three channels are
// the YCbCr of (C, M, Y) read as RGB, the fourth is the inverted K (what
// libjpeg's ycck_cmyk_convert undoes).
func ycckJPEG(t testing.TB, m *image.CMYK) []byte {
	t.Helper()
	var planes [4]*image.Gray
	for c := range planes {
		planes[c] = image.NewGray(m.Rect)
	}
	for i := 0; i < len(m.Pix)/4; i++ {
		y, cb, cr := color.RGBToYCbCr(m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2])
		planes[0].Pix[i], planes[1].Pix[i], planes[2].Pix[i] = y, cb, cr
		planes[3].Pix[i] = 255 - m.Pix[4*i+3]
	}
	return stitchJPEG(t, planes, true, 2)
}

// stitchJPEG builds the 4-component JPEG from four grayscale encodings.
func stitchJPEG(t testing.TB, planes [4]*image.Gray, adobe bool, transform byte) []byte {
	t.Helper()
	var tables []byte // DQT and DHT segments of the first plane
	var scans [4][]byte
	b := planes[0].Rect
	for c, p := range planes {
		j := srcJPEG(t, p, 100)
		pos := 2
		for {
			marker := j[pos+1]
			n := int(binary.BigEndian.Uint16(j[pos+2:]))
			if marker == 0xDA {
				scans[c] = j[pos+2+n : len(j)-2] // up to EOI
				break
			}
			if c == 0 && (marker == 0xDB || marker == 0xC4) {
				tables = append(tables, j[pos:pos+2+n]...)
			}
			pos += 2 + n
		}
	}
	out := []byte{0xFF, 0xD8}
	if adobe {
		out = append(out, 0xFF, 0xEE, 0, 14)
		out = append(out, "Adobe"...)
		out = append(out, 0, 100, 0, 0, 0, 0, transform)
	}
	out = append(out, tables...)
	sof := []byte{0xFF, 0xC0, 0, 8 + 3*4, 8, byte(b.Dy() >> 8), byte(b.Dy()), byte(b.Dx() >> 8), byte(b.Dx()), 4}
	for c := 0; c < 4; c++ {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	out = append(out, sof...)
	for c := 0; c < 4; c++ {
		out = append(out, 0xFF, 0xDA, 0, 8, 1, byte(c+1), 0x00, 0, 63, 0)
		out = append(out, scans[c]...)
	}
	return append(out, 0xFF, 0xD9)
}

func TestCMYKJPEG(t *testing.T) {
	// Ink mixes and the sRGB the naive conversion gives (image/color's
	// CMYK model: r = (255-c)(255-k)/255).
	mixes := []struct {
		name string
		ink  [4]uint8
		want color.RGBA
	}{
		{"no ink is white", [4]uint8{0, 0, 0, 0}, color.RGBA{255, 255, 255, 255}},
		{"full black", [4]uint8{0, 0, 0, 255}, color.RGBA{0, 0, 0, 255}},
		{"cyan", [4]uint8{255, 0, 0, 0}, color.RGBA{0, 255, 255, 255}},
		{"magenta and yellow make red", [4]uint8{0, 255, 255, 0}, color.RGBA{255, 0, 0, 255}},
		{"half black", [4]uint8{0, 0, 0, 128}, color.RGBA{127, 127, 127, 255}},
		{"mixed", [4]uint8{40, 80, 160, 30}, color.RGBA{190, 154, 81, 255}},
	}
	for _, form := range []struct {
		name   string
		encode func(*image.CMYK) []byte
	}{
		{"adobe inverted cmyk", func(m *image.CMYK) []byte { return cmykJPEG(t, m, true, 0) }},
		{"adobe ycck", func(m *image.CMYK) []byte { return ycckJPEG(t, m) }},
	} {
		for _, mix := range mixes {
			t.Run(form.name+"/"+mix.name, func(t *testing.T) {
				src := decodeBytes(t, form.encode(flatCMYK(16, 16, mix.ink)))
				m, ok := src.Still().(*image.CMYK)
				if !ok {
					t.Fatalf("decoded a %T, want *image.CMYK", src.Still())
				}
				// The ink comes back as it was (not inverted) ...
				got := m.CMYKAt(8, 8)
				for c, v := range [4]uint8{got.C, got.M, got.Y, got.K} {
					if absDiff(int(v)-int(mix.ink[c])) > 3 {
						t.Fatalf("ink %v, want %v", got, mix.ink)
					}
				}
				// ... and converting to RGBA gives the colour.
				rgba := image.NewRGBA(m.Rect)
				draw.Draw(rgba, rgba.Rect, m, image.Point{}, draw.Src)
				if !nearColor(rgba.At(8, 8), mix.want, 4) {
					t.Fatalf("RGBA %v, want %v", rgba.At(8, 8), mix.want)
				}
			})
		}
	}
}
