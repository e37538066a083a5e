package resize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func decodeBytes(t *testing.T, data []byte) *Source {
	t.Helper()
	src, err := Decoder{}.DecodeBytes(data)
	if err != nil {
		t.Fatalf("DecodeBytes: %v", err)
	}
	return src
}

// nearColor reports whether two colours are within tol on every 8-bit channel.
func nearColor(a, b color.Color, tol int) bool {
	ar, ag, ab, aa := a.RGBA()
	br, bg, bb, ba := b.RGBA()
	d := func(x, y uint32) bool { return absDiff(int(x>>8)-int(y>>8)) <= tol }
	return d(ar, br) && d(ag, bg) && d(ab, bb) && d(aa, ba)
}

func absDiff(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestDecodeFormats(t *testing.T) {
	grad := srcGradient(40, 30, false)
	alpha := srcGradient(40, 30, true)
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	deep := image.NewNRGBA64(image.Rect(0, 0, 40, 30))
	pal := image.NewPaletted(image.Rect(0, 0, 40, 30), palette.WebSafe)
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			gray.SetGray(x, y, color.Gray{uint8(x * 6)})
			deep.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 1600), uint16(y * 2100), 0x1234, 0x8000})
			pal.SetColorIndex(x, y, uint8((x+y)%216))
		}
	}
	tests := []struct {
		name   string
		data   []byte
		format SourceFormat
		want   image.Image // compared at a few points, with tol
		tol    int
	}{
		{"jpeg baseline colour", srcJPEG(t, grad, 95), SourceJPEG, grad, 12},
		{"jpeg grayscale", srcJPEG(t, gray, 95), SourceJPEG, gray, 6},
		{"png 8-bit", srcPNG(t, grad), SourcePNG, grad, 0},
		{"png alpha", srcPNG(t, alpha), SourcePNG, alpha, 0},
		{"png 16-bit with alpha", srcPNG(t, deep), SourcePNG, deep, 0},
		{"png palette", srcPNG(t, pal), SourcePNG, pal, 0},
		{"png gray", srcPNG(t, gray), SourcePNG, gray, 0},
		{"gif still", srcGIF(t, 40, 30, 1, 0), SourceGIF, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := decodeBytes(t, tt.data)
			if src.Format != tt.format || src.Width != 40 || src.Height != 30 || len(src.Frames) != 1 || src.FrameCount != 1 || src.Stilled || src.Animated() {
				t.Fatalf("got %v %d×%d frames %d/%d stilled %v", src.Format, src.Width, src.Height, len(src.Frames), src.FrameCount, src.Stilled)
			}
			if src.Orientation != 1 || src.ICC != nil || src.EXIF != nil {
				t.Fatalf("orientation %d, icc %d bytes, exif %d bytes", src.Orientation, len(src.ICC), len(src.EXIF))
			}
			still := src.Still()
			if still.Bounds() != image.Rect(0, 0, 40, 30) {
				t.Fatalf("still bounds %v", still.Bounds())
			}
			if tt.want == nil {
				return
			}
			for _, p := range []image.Point{{0, 0}, {39, 0}, {20, 15}, {0, 29}, {39, 29}} {
				if got, want := still.At(p.X, p.Y), tt.want.At(p.X, p.Y); !nearColor(got, want, tt.tol) {
					t.Errorf("pixel %v = %v, want %v (±%d)", p, got, want, tt.tol)
				}
			}
		})
	}
}

func TestDecodeAnimatedGIF(t *testing.T) {
	data := srcGIF(t, 12, 10, 5, 1) // DisposalNone
	src := decodeBytes(t, data)
	if src.Format != SourceGIF || !src.Animated() || len(src.Frames) != 5 || src.FrameCount != 5 || src.Stilled {
		t.Fatalf("got %v frames %d/%d stilled %v", src.Format, len(src.Frames), src.FrameCount, src.Stilled)
	}
	for i, f := range src.Frames {
		if want := time.Duration(i+1) * 100 * time.Millisecond; f.Delay != want || f.Disposal != DisposalNone {
			t.Errorf("frame %d: delay %v disposal %d, want %v and 1", i, f.Delay, f.Disposal, want)
		}
	}
	pal := palette.Plan9
	n := 0
	err := src.Composite(func(i int, canvas *image.RGBA) error {
		n++
		if canvas.Rect != image.Rect(0, 0, 12, 10) {
			t.Fatalf("canvas %v", canvas.Rect)
		}
		// Frame i's square is at (i, i); with DisposalNone the earlier
		// squares stay, and the background frame shows elsewhere.
		for j := 1; j <= i; j++ {
			if got := canvas.At(j+1, j+1); !nearColor(got, pal[j+1], 0) && j == i {
				t.Errorf("frame %d: (%d,%d) = %v, want %v", i, j+1, j+1, got, pal[j+1])
			}
		}
		if got := canvas.At(11, 0); !nearColor(got, pal[1], 0) {
			t.Errorf("frame %d: background pixel %v, want %v", i, got, pal[1])
		}
		return nil
	})
	if err != nil || n != 5 {
		t.Fatalf("Composite: %v after %d frames", err, n)
	}

	t.Run("still asked for", func(t *testing.T) {
		src, err := Decoder{Still: true}.DecodeBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.Frames) != 1 || src.FrameCount != 5 || !src.Stilled || src.Animated() {
			t.Fatalf("frames %d/%d stilled %v", len(src.Frames), src.FrameCount, src.Stilled)
		}
	})
	t.Run("over MaxFrames is a still", func(t *testing.T) {
		src, err := Decoder{Limits: DecodeLimits{MaxFrames: 4}}.DecodeBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.Frames) != 1 || src.FrameCount != 5 || !src.Stilled {
			t.Fatalf("frames %d/%d stilled %v", len(src.Frames), src.FrameCount, src.Stilled)
		}
	})
	t.Run("over MaxTotalFramePixels is a still", func(t *testing.T) {
		// 120 + 4×4 = 136 frame pixels.
		src, err := Decoder{Limits: DecodeLimits{MaxTotalFramePixels: 135}}.DecodeBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.Frames) != 1 || !src.Stilled {
			t.Fatalf("frames %d stilled %v", len(src.Frames), src.Stilled)
		}
		src, err = Decoder{Limits: DecodeLimits{MaxTotalFramePixels: 136}}.DecodeBytes(data)
		if err != nil || len(src.Frames) != 5 {
			t.Fatalf("at the budget: %v, %d frames", err, len(src.Frames))
		}
	})
}

func TestCompositeDisposal(t *testing.T) {
	pal := palette.Plan9
	for _, tt := range []struct {
		name     string
		disposal byte
		// colour at (1,1) (frame 1's square) while frame 2 shows
		want color.Color
	}{
		{"none keeps the frame", 1, pal[2]},
		{"background clears to transparent", 2, color.RGBA{}},
		{"previous restores", 3, pal[1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := decodeBytes(t, srcGIF(t, 8, 8, 3, tt.disposal))
			var got color.Color
			_ = src.Composite(func(i int, canvas *image.RGBA) error {
				if i == 2 {
					got = canvas.At(1, 1)
				}
				return nil
			})
			if !nearColor(got, tt.want, 0) {
				t.Fatalf("(1,1) during frame 2 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStillOfSubFrameGIF(t *testing.T) {
	// A still whose only frame covers part of the canvas is drawn on a
	// transparent canvas of the full size.
	m := image.NewPaletted(image.Rect(2, 2, 4, 4), palette.Plan9)
	for i := range m.Pix {
		m.Pix[i] = 5
	}
	var b bytes.Buffer
	if err := srcGIFCanvas(&b, m, 8, 6); err != nil {
		t.Fatal(err)
	}
	src := decodeBytes(t, b.Bytes())
	s := src.Still()
	if s.Bounds() != image.Rect(0, 0, 8, 6) || !nearColor(s.At(3, 3), palette.Plan9[5], 0) || !nearColor(s.At(0, 0), color.RGBA{}, 0) {
		t.Fatalf("still %v: (3,3)=%v (0,0)=%v", s.Bounds(), s.At(3, 3), s.At(0, 0))
	}
}

func TestDecodeErrors(t *testing.T) {
	jpg := srcJPEG(t, srcGradient(64, 64, false), 90)
	pngData := srcPNG(t, srcGradient(64, 64, false))
	gifData := srcGIF(t, 16, 16, 3, 0)
	badCRC := bytes.Clone(pngData)
	badCRC[len(badCRC)-20] ^= 0xFF // inside the IDAT
	cmykNoAdobe := cmykJPEG(t, flatCMYK(16, 16, [4]uint8{0, 0, 0, 0}), false, 0)
	tests := []struct {
		name   string
		data   []byte
		kind   error
		status int
	}{
		{"text", []byte("hello, world"), ErrNotImage, 415},
		{"html behind an image name", []byte("<!DOCTYPE html><html><body>404</body></html>"), ErrNotImage, 415},
		{"empty", nil, ErrNotImage, 415},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), ErrSVG, 415},
		{"avif", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00mif1avif"), ErrUnsupported, 415},
		{"truncated jpeg", jpg[:len(jpg)/2], ErrCorrupt, 422},
		{"jpeg header only", jpg[:200], ErrCorrupt, 422},
		{"jpeg magic only", jpg[:3], ErrCorrupt, 422},
		{"truncated png", pngData[:len(pngData)/2], ErrCorrupt, 422},
		{"png with a bad crc", badCRC, ErrCorrupt, 422},
		{"truncated gif", gifData[:len(gifData)-10], ErrCorrupt, 422},
		{"gif without trailer", gifData[:len(gifData)-1], ErrCorrupt, 422},
		{"cmyk jpeg without adobe marker", cmykNoAdobe, ErrUnsupported, 415},
		{"webp magic only", []byte("RIFF\x04\x00\x00\x00WEBP"), ErrCorrupt, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decoder{}.DecodeBytes(tt.data)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if status, ok := DecodeStatus(err); !ok || status != tt.status {
				t.Fatalf("status %d %v, want %d", status, ok, tt.status)
			}
			// The reader form agrees.
			_, err = Decode(bytes.NewReader(tt.data), int64(len(tt.data)), DecodeLimits{})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Decode: err = %v, want %v", err, tt.kind)
			}
			_, err = Decode(bytes.NewReader(tt.data), -1, DecodeLimits{})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Decode of unknown size: err = %v, want %v", err, tt.kind)
			}
		})
	}
}

// failReader fails the test if it is read.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("the body was read")
	return 0, io.EOF
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecodeReader(t *testing.T) {
	jpg := srcJPEG(t, srcGradient(32, 16, false), 80)
	t.Run("known size", func(t *testing.T) {
		src, err := Decode(bytes.NewReader(jpg), int64(len(jpg)), DecodeLimits{})
		if err != nil || src.Width != 32 || src.Height != 16 {
			t.Fatalf("%v %+v", err, src)
		}
	})
	t.Run("bytes past the size are not read", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(jpg), failReader{t})
		if _, err := Decode(r, int64(len(jpg)), DecodeLimits{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("over MaxSourceBytes is refused before reading", func(t *testing.T) {
		_, err := Decode(failReader{t}, 51<<20, DecodeLimits{})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
		if s, _ := DecodeStatus(err); s != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", s)
		}
		_, err = Decode(failReader{t}, int64(len(jpg)), DecodeLimits{MaxSourceBytes: int64(len(jpg)) - 1})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown size over MaxSourceBytes", func(t *testing.T) {
		_, err := Decode(bytes.NewReader(jpg), -1, DecodeLimits{MaxSourceBytes: 100})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
		if _, err := Decode(bytes.NewReader(jpg), -1, DecodeLimits{MaxSourceBytes: int64(len(jpg))}); err != nil {
			t.Fatalf("at the limit: %v", err)
		}
	})
	t.Run("a non-image is refused after its first bytes", func(t *testing.T) {
		for _, size := range []int64{10 << 20, -1} {
			var err error
			n := bytesAllocated(func() {
				r := io.MultiReader(strings.NewReader(strings.Repeat("x", SniffLen)), failReader{t})
				_, err = Decode(r, size, DecodeLimits{})
			})
			if !errors.Is(err, ErrNotImage) {
				t.Fatalf("size %d: err = %v", size, err)
			}
			if n > 64<<10 {
				t.Fatalf("size %d: allocated %d bytes", size, n)
			}
		}
	})
	t.Run("an image shorter than SniffLen of unknown size", func(t *testing.T) {
		small := srcPNG(t, srcGradient(2, 2, false))
		if len(small) >= SniffLen {
			t.Fatalf("%d bytes", len(small))
		}
		if src, err := Decode(bytes.NewReader(small), -1, DecodeLimits{}); err != nil || src.Width != 2 {
			t.Fatalf("%v", err)
		}
	})
	t.Run("a short body is a read error, not a decode error", func(t *testing.T) {
		_, err := Decode(bytes.NewReader(jpg), int64(len(jpg))+10, DecodeLimits{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
		if _, ok := DecodeStatus(err); ok {
			t.Fatalf("DecodeStatus claims %v", err)
		}
	})
	t.Run("a failing body", func(t *testing.T) {
		boom := errors.New("connection reset")
		for _, size := range []int64{100, -1} {
			_, err := Decode(errReader{boom}, size, DecodeLimits{})
			if !errors.Is(err, boom) {
				t.Fatalf("size %d: err = %v", size, err)
			}
			if _, ok := DecodeStatus(err); ok {
				t.Fatalf("DecodeStatus claims %v", err)
			}
		}
	})
	t.Run("negative limits", func(t *testing.T) {
		if _, err := Decode(bytes.NewReader(jpg), int64(len(jpg)), DecodeLimits{MaxFrames: -1}); err == nil {
			t.Fatal("no error")
		}
		if _, err := Probe(jpg, DecodeLimits{MaxSourcePixels: -1}); err == nil {
			t.Fatal("no error")
		}
	})
}

// bytesAllocated returns how many bytes fn allocated (process-wide: no test
// here runs in parallel).
func bytesAllocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestBombsAreRefusedWithoutAllocating(t *testing.T) {
	webpBomb := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	webpBomb = append(webpBomb, 0x9F, 0x86, 0x01, 0x9F, 0x86, 0x01) // 100000×100000
	binary.LittleEndian.PutUint32(webpBomb[4:], uint32(len(webpBomb)-8))
	vp8lBomb := []byte("RIFF\x12\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2f\xff\xff\xff\x0f\x00") // 16384×16384
	vp8Bomb := readSeed(t, "lossy.webp")
	if string(vp8Bomb[12:16]) != "VP8 " || string(vp8Bomb[23:26]) != "\x9d\x01\x2a" {
		t.Fatal("lossy.webp is not a simple VP8 file")
	}
	vp8Bomb = append([]byte{}, vp8Bomb...)
	copy(vp8Bomb[26:], []byte{0xff, 0x3f, 0xff, 0x3f}) // 16383×16383
	gifBomb := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x4c\x01\x00;")
	tests := []struct {
		name string
		data []byte
	}{
		{"png 100000×100000", pngHeader(100000, 100000)},
		{"png 2^31-1 square", pngHeader(1<<31-1, 1<<31-1)},
		{"png 8000×8000 (64 MP)", pngHeader(8000, 8000)},
		{"jpeg 65000×65000", jpegHeader(t, 65000, 65000)},
		{"jpeg 8000×7000", jpegHeader(t, 8000, 7000)},
		{"webp 100000×100000", webpBomb},
		{"gif 65535×65535", gifBomb},
		{"webp lossless 16384×16384", vp8lBomb},
		{"webp lossy 16383×16383", vp8Bomb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > 4096 {
				t.Fatalf("the bomb is %d bytes", len(tt.data))
			}
			var err error
			n := bytesAllocated(func() {
				for i := 0; i < 10; i++ {
					_, err = Decode(bytes.NewReader(tt.data), int64(len(tt.data)), DecodeLimits{})
				}
			})
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if n > 1<<20 {
				t.Fatalf("10 refusals allocated %d bytes", n)
			}
			t.Logf("%v; 10 refusals allocated %d bytes", err, n)
		})
	}
	t.Run("the same dimensions are decoded under a higher limit", func(t *testing.T) {
		// The limit, not the header check, refused them: 8000×7000 passes
		// the header check at 60 MP and fails in the pixel decoder.
		_, err := Decoder{Limits: DecodeLimits{MaxSourcePixels: 60_000_000}}.DecodeBytes(jpegHeader(t, 8000, 7000))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt (the scan data is for 16×16)", err)
		}
	})
}

func TestDecodePanicIsRecovered(t *testing.T) {
	d := Decoder{beforePixels: func(SourceFormat) { panic("decoder bug") }}
	for _, data := range [][]byte{srcJPEG(t, srcGradient(8, 8, false), 80), srcPNG(t, srcGradient(8, 8, true)), srcGIF(t, 8, 8, 2, 0)} {
		_, err := d.DecodeBytes(data)
		if !errors.Is(err, ErrDecoderPanic) {
			t.Fatalf("err = %v", err)
		}
		var de *DecodeError
		if !errors.As(err, &de) || len(de.Stack) == 0 || !strings.Contains(err.Error(), "decoder bug") {
			t.Fatalf("no stack or value in %v", err)
		}
		if s, ok := DecodeStatus(err); !ok || s != 500 {
			t.Fatalf("status %d %v", s, ok)
		}
	}
}

func TestProbe(t *testing.T) {
	info, err := Probe(srcGIF(t, 12, 10, 5, 0), DecodeLimits{})
	if info.DecodeBytes <= 0 {
		t.Errorf("no decode cost in %+v", info)
	}
	info.DecodeBytes = 0
	if err != nil || info != (Info{Format: SourceGIF, Width: 12, Height: 10, Frames: 5, FramePixels: 120 + 4*4}) {
		t.Fatalf("%v %+v", err, info)
	}
	info, err = Probe(srcPNG(t, srcGradient(7, 3, true)), DecodeLimits{})
	info.DecodeBytes = 0
	if err != nil || info != (Info{Format: SourcePNG, Width: 7, Height: 3, Frames: 1, FramePixels: 21}) {
		t.Fatalf("%v %+v", err, info)
	}
}

// sharedImages is the folder of real photos shared between sessions; the
// tests that use it assert when the files are present and pass without
// them.
var sharedImages = filepath.Join("..", "..", "shared", "testdata", "images")

func TestSharedPhotos(t *testing.T) {
	want := map[string]Info{
		"big.jpg":          {Format: SourceJPEG, Width: 5640, Height: 3172, Frames: 1, FramePixels: 5640 * 3172},
		"big-baseline.jpg": {Format: SourceJPEG, Width: 5640, Height: 3172, Frames: 1, FramePixels: 5640 * 3172},
		"alpha.png":        {Format: SourcePNG, Width: 2140, Height: 1200, Frames: 1, FramePixels: 2140 * 1200},
		"anim.gif":         {Format: SourceGIF, Width: 660, Height: 666, Frames: 45},
	}
	for name, w := range want {
		data, err := os.ReadFile(filepath.Join(sharedImages, name))
		if errors.Is(err, os.ErrNotExist) {
			t.Logf("%s not present: nothing to check", name)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := Probe(data, DecodeLimits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "anim.gif" {
			w.FramePixels = info.FramePixels // offset sub-frames: less than 45 canvases
			if info.FramePixels <= 0 || info.FramePixels > 45*660*666 {
				t.Errorf("%s: frame pixels %d", name, info.FramePixels)
			}
		}
		info.DecodeBytes = 0
		if info != w {
			t.Errorf("%s: %+v, want %+v", name, info, w)
		}
		if name == "big.jpg" && readMetadata(SourceJPEG, data).exif == nil {
			t.Errorf("%s: no EXIF found", name)
		}
		if name == "anim.gif" {
			src, err := Decoder{}.DecodeBytes(data)
			if err != nil || len(src.Frames) != 45 {
				t.Fatalf("%s: %v", name, err)
			}
			frames := 0
			_ = src.Composite(func(int, *image.RGBA) error { frames++; return nil })
			if frames != 45 {
				t.Errorf("%s: composited %d frames", name, frames)
			}
		}
	}
}

// srcGIFCanvas encodes one frame m on a w×h canvas.
func srcGIFCanvas(w io.Writer, m *image.Paletted, cw, ch int) error {
	return gif.EncodeAll(w, &gif.GIF{Image: []*image.Paletted{m}, Delay: []int{0}, Config: image.Config{ColorModel: m.Palette, Width: cw, Height: ch}})
}

func TestRecoverDecoderCoversHeadersToo(t *testing.T) {
	// Probe and DecodeBytes defer recoverDecoder around all their work;
	// this is that deferral with a header decoder that panics.
	png := srcPNG(t, srcGradient(4, 4, false))
	err := func() (err error) {
		defer recoverDecoder(&err, png)
		panic("header decoder bug")
	}()
	var de *DecodeError
	if !errors.As(err, &de) || de.Kind != ErrDecoderPanic || de.Format != SourcePNG || len(de.Stack) == 0 {
		t.Fatalf("%v", err)
	}
}

func TestEmptyGIFFrame(t *testing.T) {
	// A 4×4 GIF whose only frame is 0×0 at (1,1) (legal: it draws
	// nothing): a transparent canvas.
	g := []byte("GIF89a\x04\x00\x04\x00\x00\x00\x00")
	g = append(g, 0x2C, 1, 0, 1, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 255, 255, 255, 2, 1, 0x2C, 0, 0x3B)
	for _, d := range []Decoder{{}, {Still: true}} {
		src, err := d.DecodeBytes(g)
		if err != nil {
			t.Fatal(err)
		}
		s := src.Still()
		if s.Bounds() != image.Rect(0, 0, 4, 4) || !nearColor(s.At(1, 1), color.RGBA{}, 0) {
			t.Fatalf("still %v, (1,1) = %v", s.Bounds(), s.At(1, 1))
		}
	}
	// The same with a second, real frame is an animation whose first
	// frame is empty.
	two := append(append([]byte{}, g[:len(g)-1]...), 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80, 0, 0, 0, 255, 255, 255, 2, 2, 0x4C, 0x01, 0, 0x3B)
	src, err := Decoder{}.DecodeBytes(two)
	if err != nil || len(src.Frames) != 2 {
		t.Fatalf("%v", err)
	}
}
