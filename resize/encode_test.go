package resize

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
	"time"
)

// gradient returns an opaque w×h image with smooth colour ramps.
func gradient(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return m
}

func encodeBytes(t *testing.T, img image.Image, f Format, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, img, f, q); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEncodeJPEG(t *testing.T) {
	src := gradient(120, 80)
	data := encodeBytes(t, src, FormatJPEG, 0)
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Bounds() != src.Bounds() {
		t.Fatalf("decoded %v, want %v", m.Bounds(), src.Bounds())
	}
	var sum, n float64
	for y := 0; y < 80; y++ {
		for x := 0; x < 120; x++ {
			r, g, b, _ := m.At(x, y).RGBA()
			c := src.NRGBAAt(x, y)
			for _, d := range []float64{float64(r>>8) - float64(c.R), float64(g>>8) - float64(c.G), float64(b>>8) - float64(c.B)} {
				sum += d * d
				n++
			}
		}
	}
	if rmse := sum / n; rmse > 9 {
		t.Errorf("mean squared error %.1f at the default quality", rmse)
	}
	if !bytes.Equal(data, encodeBytes(t, src, FormatJPEG, DefaultQuality)) {
		t.Error("quality 0 is not DefaultQuality")
	}
	if lo, hi := len(encodeBytes(t, src, FormatJPEG, 10)), len(encodeBytes(t, src, FormatJPEG, 98)); lo >= hi {
		t.Errorf("q=10 gives %d bytes, q=98 %d", lo, hi)
	}
}

func TestEncodeJPEGFlattensAlphaOntoWhite(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 32, 32)) // all transparent
	m, err := jpeg.Decode(bytes.NewReader(encodeBytes(t, src, FormatJPEG, 90)))
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			if r, g, b, _ := m.At(x, y).RGBA(); r>>8 < 250 || g>>8 < 250 || b>>8 < 250 {
				t.Fatalf("pixel (%d,%d) = %d,%d,%d, want white", x, y, r>>8, g>>8, b>>8)
			}
		}
	}
}

func TestEncodePNGKeepsAlpha(t *testing.T) {
	src := noise(64, 48, 11)
	m, err := png.Decode(bytes.NewReader(encodeBytes(t, src, FormatPNG, 0)))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := m.(*image.NRGBA)
	if !ok {
		t.Fatalf("decoded a %T", m)
	}
	// Straight-alpha bytes survive exactly, except colour under alpha 0.
	for i := 0; i < len(src.Pix); i += 4 {
		if src.Pix[i+3] != 0 && !bytes.Equal(got.Pix[i:i+4], src.Pix[i:i+4]) {
			t.Fatalf("pixel %d: %v, want %v", i/4, got.Pix[i:i+4], src.Pix[i:i+4])
		}
	}
}

func TestEncodeGIFStill(t *testing.T) {
	src := halves(40, 20, red, blue, false)
	m, err := gif.Decode(bytes.NewReader(encodeBytes(t, src, FormatGIF, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Bounds() != src.Bounds() {
		t.Fatalf("decoded %v", m.Bounds())
	}
	check := func(x, y int, want color.NRGBA) {
		if c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA); !near(c, want, 40) {
			t.Errorf("pixel (%d,%d) = %v, want about %v", x, y, c, want)
		}
	}
	check(5, 10, red)
	check(35, 10, blue)
}

func TestEncodeGIFTransparency(t *testing.T) {
	src := halves(40, 20, red, color.NRGBA{0, 255, 0, 100}, false) // right half under half opaque
	m, err := gif.Decode(bytes.NewReader(encodeBytes(t, src, FormatGIF, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			_, _, _, a := m.At(x, y).RGBA()
			if wantOpaque := x < 20; (a == 0xffff) != wantOpaque || (a != 0 && a != 0xffff) {
				t.Fatalf("pixel (%d,%d) alpha %#x", x, y, a)
			}
		}
	}
}

func TestEncodeGIFAnimation(t *testing.T) {
	colours := []color.NRGBA{red, green, blue}
	delays := []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, time.Second}
	var a Animation
	for i, c := range colours {
		a.Frames = append(a.Frames, Frame{Image: halves(90, 60, c, c, false), Delay: delays[i]})
	}
	a.LoopCount = 2
	g := plan(t, 90, 60, Options{Width: 30})
	small, err := TransformAnimation(a, g, transparent, 2)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := EncodeGIF(&b, small); err != nil {
		t.Fatal(err)
	}
	out, err := gif.DecodeAll(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Image) != 3 || out.LoopCount != 2 {
		t.Fatalf("%d frames, loop count %d", len(out.Image), out.LoopCount)
	}
	for i, want := range []int{10, 25, 100} {
		if out.Delay[i] != want {
			t.Errorf("frame %d delay %d, want %d", i, out.Delay[i], want)
		}
		if b := out.Image[i].Bounds(); b != image.Rect(0, 0, 30, 20) {
			t.Errorf("frame %d is %v", i, b)
		}
		if c := color.NRGBAModel.Convert(out.Image[i].At(15, 10)).(color.NRGBA); !near(c, colours[i], 40) {
			t.Errorf("frame %d colour %v, want about %v", i, c, colours[i])
		}
	}
}

func TestEncodeGIFRefusesBadAnimations(t *testing.T) {
	var b bytes.Buffer
	if err := EncodeGIF(&b, Animation{}); err == nil {
		t.Error("no frames: no error")
	}
	a := Animation{Frames: []Frame{{Image: noise(4, 4, 1)}, {Image: noise(5, 4, 1)}}}
	if err := EncodeGIF(&b, a); err == nil {
		t.Error("frames of two sizes: no error")
	}
	if _, err := TransformAnimation(Animation{Frames: []Frame{{Image: noise(4, 4, 1)}}}, plan(t, 8, 8, Options{}), transparent, 1); err == nil {
		t.Error("a geometry larger than the frame: no error")
	}
}

func TestEncodeUnavailableFormats(t *testing.T) {
	src := noise(4, 4, 1)
	// WebP: TestEncodeWebPUnavailable, or the nodynamic build's TestEncodeWebP*.
	for _, f := range []Format{FormatAVIF} {
		if err := Encode(&bytes.Buffer{}, src, f, 0); !errors.Is(err, ErrFormatUnavailable) {
			t.Errorf("Encode(%v) = %v, want ErrFormatUnavailable", f, err)
		}
		if CanEncode(f) {
			t.Errorf("CanEncode(%v)", f)
		}
	}
	for _, f := range []Format{FormatOriginal, FormatAuto} {
		if err := Encode(&bytes.Buffer{}, src, f, 0); err == nil || errors.Is(err, ErrFormatUnavailable) {
			t.Errorf("Encode(%v) = %v, want a not-concrete error", f, err)
		}
		if CanEncode(f) {
			t.Errorf("CanEncode(%v)", f)
		}
	}
	for _, f := range []Format{FormatJPEG, FormatPNG, FormatGIF} {
		if !CanEncode(f) {
			t.Errorf("!CanEncode(%v)", f)
		}
	}
}

func TestFlattenTranslucentBackground(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 2)) // transparent
	m := Flatten(src, color.NRGBA{0, 0, 0, 128})  // half-opaque black over white
	for i := 0; i < len(m.Pix); i += 4 {
		if p := m.Pix[i : i+4]; p[3] != 255 || p[0] < 126 || p[0] > 128 {
			t.Fatalf("pixel %d = %v, want opaque grey 127", i/4, p)
		}
	}
}

func TestBackground(t *testing.T) {
	if got := Background(Options{}, FormatJPEG); got != DefaultBackground {
		t.Errorf("jpeg default %v", got)
	}
	if got := Background(Options{}, FormatPNG); got != (color.NRGBA{}) {
		t.Errorf("png default %v", got)
	}
	if got := Background(Options{Background: "#102030"}, FormatPNG); got != (color.NRGBA{0x10, 0x20, 0x30, 255}) {
		t.Errorf("explicit %v", got)
	}
}

func TestTransformSourceStillIsOriented(t *testing.T) {
	// Orientation 6 (rotate 90° clockwise): the left half ends up on top.
	s := &Source{Format: SourceJPEG, Width: 40, Height: 20, Orientation: 6, FrameCount: 1,
		Frames: []SourceFrame{{Image: halves(40, 20, red, blue, false)}}}
	w, h := s.OrientedSize()
	g := plan(t, w, h, Options{Width: 10})
	a, err := TransformSource(s, g, FormatPNG, transparent, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Frames) != 1 {
		t.Fatalf("%d frames", len(a.Frames))
	}
	m := a.Frames[0].Image.(*image.NRGBA)
	if m.Bounds() != image.Rect(0, 0, 10, 20) {
		t.Fatalf("bounds %v", m.Bounds())
	}
	if c := m.NRGBAAt(5, 2); !near(c, red, 1) {
		t.Errorf("top %v, want red", c)
	}
	if c := m.NRGBAAt(5, 17); !near(c, blue, 1) {
		t.Errorf("bottom %v, want blue", c)
	}
}

func TestTransformSourceAnimation(t *testing.T) {
	// Frame 0 fills the canvas red; frame 1 draws a blue square on its
	// left half only: composited, frame 1 shows blue left, red right.
	pal := color.Palette{red, blue}
	f0 := image.NewPaletted(image.Rect(0, 0, 40, 20), pal)
	f1 := image.NewPaletted(image.Rect(0, 0, 20, 20), pal)
	for i := range f1.Pix {
		f1.Pix[i] = 1
	}
	s := &Source{Format: SourceGIF, Width: 40, Height: 20, Orientation: 1, FrameCount: 2, LoopCount: 3,
		Frames: []SourceFrame{
			{Image: f0, Delay: 200 * time.Millisecond, Disposal: DisposalNone},
			{Image: f1, Delay: 300 * time.Millisecond, Disposal: DisposalNone},
		}}
	g := plan(t, 40, 20, Options{Width: 20})
	a, err := TransformSource(s, g, FormatPNG, transparent, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Frames) != 2 || a.LoopCount != 3 || a.Frames[1].Delay != 300*time.Millisecond {
		t.Fatalf("%d frames, loop %d", len(a.Frames), a.LoopCount)
	}
	m := a.Frames[1].Image.(*image.NRGBA)
	if c := m.NRGBAAt(2, 5); !near(c, blue, 1) {
		t.Errorf("frame 1 left %v, want blue", c)
	}
	if c := m.NRGBAAt(17, 5); !near(c, red, 1) {
		t.Errorf("frame 1 right %v, want red (from frame 0)", c)
	}
	if c := a.Frames[0].Image.(*image.NRGBA).NRGBAAt(2, 5); !near(c, red, 1) {
		t.Errorf("frame 0 left %v, want red", c)
	}
	// anim=false: the first frame only.
	still, err := TransformSource(s, g, FormatPNG, transparent, 1, true)
	if err != nil || len(still.Frames) != 1 {
		t.Fatalf("still: %d frames, %v", len(still.Frames), err)
	}
	var b bytes.Buffer
	if err := EncodeAnimation(&b, a, FormatGIF, 0, 1); err != nil {
		t.Fatal(err)
	}
	out, err := gif.DecodeAll(&b)
	if err != nil || len(out.Image) != 2 {
		t.Fatalf("gif: %v", err)
	}
	b.Reset()
	if err := EncodeAnimation(&b, a, FormatPNG, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if err := EncodeAnimation(&b, a, FormatAVIF, 0, 1); !errors.Is(err, ErrFormatUnavailable) {
		t.Errorf("avif: %v", err)
	}
}
