package resize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The seeds in testdata/ were made with libjpeg-turbo and libwebp (see
// testdata/gen/): every pixel (x, y) is (10x, 15y, 128), and the images
// with alpha are opaque on the left half and alpha 64 on the right.

func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func seedColour(x, y int, alpha bool) color.NRGBA {
	c := color.NRGBA{uint8(10 * x), uint8(15 * y), 128, 255}
	if alpha && x >= 12 {
		c.A = 64
	}
	return c
}

func TestDecodeSeedFiles(t *testing.T) {
	for _, tt := range []struct {
		file   string
		format SourceFormat
		alpha  bool
		gray   bool
		tol    int
	}{
		{"progressive.jpg", SourceJPEG, false, false, 14},
		{"progressive-gray.jpg", SourceJPEG, false, true, 6},
		{"lossy.webp", SourceWebP, false, false, 10},
		{"lossy-alpha.webp", SourceWebP, true, false, 10},
		{"lossless.webp", SourceWebP, true, false, 0},
	} {
		t.Run(tt.file, func(t *testing.T) {
			src := decodeBytes(t, readSeed(t, tt.file))
			if src.Format != tt.format || src.Width != 24 || src.Height != 16 || len(src.Frames) != 1 {
				t.Fatalf("%v %d×%d %d frames", src.Format, src.Width, src.Height, len(src.Frames))
			}
			m := src.Still()
			for _, p := range []image.Point{{1, 1}, {6, 8}, {10, 14}, {14, 2}, {22, 13}} {
				want := seedColour(p.X, p.Y, tt.alpha)
				if tt.gray {
					want = color.NRGBA{uint8(10 * p.X), uint8(10 * p.X), uint8(10 * p.X), 255}
				}
				got := color.NRGBAModel.Convert(m.At(p.X, p.Y)).(color.NRGBA)
				if absDiff(int(got.A)-int(want.A)) > 1 || !nearColor(got, want, tt.tol) {
					t.Errorf("%v = %v, want %v ±%d", p, got, want, tt.tol)
				}
			}
		})
	}
}

func TestDecodeLibjpegCMYK(t *testing.T) {
	// Written by libjpeg as Photoshop does (inverted CMYK with an Adobe
	// marker): cyan ink on the left, black ink on the right.
	for _, file := range []string{"adobe-cmyk.jpg", "adobe-ycck.jpg"} {
		t.Run(file, func(t *testing.T) {
			src := decodeBytes(t, readSeed(t, file))
			if _, ok := src.Still().(*image.CMYK); !ok {
				t.Fatalf("decoded a %T", src.Still())
			}
			for _, c := range []struct {
				x    int
				want color.Color
			}{{3, color.RGBA{0, 255, 255, 255}}, {20, color.RGBA{0, 0, 0, 255}}} {
				if got := src.Still().At(c.x, 8); !nearColor(got, c.want, 6) {
					t.Errorf("(%d,8) = %v, want %v", c.x, got, c.want)
				}
			}
		})
	}
}

func TestDecodeAnimatedWebP(t *testing.T) {
	data := readSeed(t, "animated.webp")
	info, err := Probe(data, DecodeLimits{})
	info.DecodeBytes = 0
	if err != nil || info != (Info{Format: SourceWebP, Width: 24, Height: 16, Frames: 2, FramePixels: 24*16 + 64}) {
		t.Fatalf("%v %+v", err, info)
	}
	src := decodeBytes(t, data)
	if !src.Animated() || len(src.Frames) != 2 || src.LoopCount != 0 {
		t.Fatalf("%d frames, loop %d", len(src.Frames), src.LoopCount)
	}
	if f := src.Frames[1]; f.Image.Bounds() != image.Rect(8, 4, 16, 12) || f.Delay != 100*time.Millisecond {
		t.Fatalf("frame 1 at %v for %v", f.Image.Bounds(), f.Delay)
	}
	red := color.RGBA{255, 0, 0, 255}
	_ = src.Composite(func(i int, c *image.RGBA) error {
		inside, outside := c.At(10, 6), c.At(2, 2)
		if i == 1 && !nearColor(inside, red, 0) || i == 0 && nearColor(inside, red, 0) {
			t.Errorf("frame %d: (10,6) = %v", i, inside)
		}
		if !nearColor(outside, seedColour(2, 2, true), 1) {
			t.Errorf("frame %d: (2,2) = %v", i, outside)
		}
		return nil
	})
	still, err := Decoder{Still: true}.DecodeBytes(data)
	if err != nil || len(still.Frames) != 1 || !still.Stilled || still.FrameCount != 2 {
		t.Fatalf("still: %v", err)
	}
	over, err := Decoder{Limits: DecodeLimits{MaxFrames: 1}}.DecodeBytes(data)
	if err != nil || len(over.Frames) != 1 || !over.Stilled {
		t.Fatalf("over budget: %v", err)
	}
}

func TestAnimatedWebPErrors(t *testing.T) {
	data := readSeed(t, "animated.webp")
	// The first ANMF chunk starts after RIFF(12) + VP8X(18) + ANIM(14).
	const anmf = 12 + 18 + 14
	if string(data[anmf:anmf+4]) != "ANMF" {
		t.Fatalf("no ANMF at %d", anmf)
	}
	patch := func(off int, b ...byte) []byte {
		d := append([]byte{}, data...)
		copy(d[off:], b)
		return d
	}
	for _, tt := range []struct {
		name string
		data []byte
		kind error
	}{
		{"frame outside the canvas", patch(anmf+8, 10), ErrCorrupt},                   // x = 20, width 24
		{"frame larger than its bitstream", patch(anmf+8+6, 30), ErrCorrupt},          // width 31
		{"chunk length past the end", patch(anmf+4, 0xff, 0xff, 0xff, 0), ErrCorrupt}, // ANMF size
		{"no frames", bytes.ReplaceAll(data, []byte("ANMF"), []byte("XNMF")), ErrCorrupt},
		{"truncated", data[:len(data)-20], ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := (Decoder{}).DecodeBytes(tt.data); !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
		})
	}
}

// webpExtended rewraps a simple lossless WebP (one VP8L chunk) as an
// extended one with the given extra chunks after the bitstream.
func webpExtended(t *testing.T, simple []byte, flags byte, extra ...[]byte) []byte {
	t.Helper()
	if string(simple[12:16]) != "VP8L" {
		t.Fatal("not a simple lossless WebP")
	}
	w, h := 24, 16
	body := []byte("VP8X\x0a\x00\x00\x00")
	body = append(body, flags, 0, 0, 0, byte(w-1), 0, 0, byte(h-1), 0, 0)
	body = append(body, simple[12:]...)
	for _, c := range extra {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)+4))...)
	return append(append(out, "WEBP"...), body...)
}

func riffChunk(typ string, payload []byte) []byte {
	out := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))...)
	out = append(out, payload...)
	if len(payload)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func TestWebPMetadata(t *testing.T) {
	simple := readSeed(t, "lossless.webp")
	for _, tt := range []struct {
		name   string
		data   []byte
		orient int
		icc    string
	}{
		{"exif chunk", webpExtended(t, simple, 0x18, riffChunk("EXIF", tiffOrientation(binary.BigEndian, 7))), 7, ""},
		{"exif chunk with prefix", webpExtended(t, simple, 0x18, riffChunk("EXIF", append([]byte(exifPrefix), tiffOrientation(binary.LittleEndian, 2)...))), 2, ""},
		{"icc chunk", webpExtended(t, simple, 0x30, riffChunk("ICCP", []byte("odd profile"))), 1, "odd profile"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := decodeBytes(t, tt.data)
			if src.Orientation != tt.orient || string(src.ICC) != tt.icc {
				t.Fatalf("orientation %d, icc %q", src.Orientation, src.ICC)
			}
		})
	}
}
