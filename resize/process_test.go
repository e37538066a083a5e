package resize

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

func procNew(t *testing.T, cfg Config, q *Queue) *Processor {
	t.Helper()
	p, err := NewParser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Processor{Parser: p, Queue: q, Workers: 2}
}

func procOptions(t *testing.T, p *Processor, query string) Options {
	t.Helper()
	o, err := p.Parser.ParseQuery(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return o
}

func TestProcessResizesAJPEG(t *testing.T) {
	p := procNew(t, Config{}, nil)
	res, err := p.Process(context.Background(), srcJPEG(t, srcGradient(400, 300, false), 90), procOptions(t, p, "w=100"), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("the variant is not a JPEG: %v", err)
	}
	if res.Format != FormatJPEG || res.ContentType != "image/jpeg" || m.Bounds().Dx() != 100 || m.Bounds().Dy() != 75 ||
		res.Width != 100 || res.Height != 75 || res.Frames != 1 || !res.ColorManaged {
		t.Errorf("result %+v (body %v), want a 100×75 JPEG", *res, m.Bounds())
	}
}

func TestProcessFlattensAlphaForJPEG(t *testing.T) {
	p := procNew(t, Config{}, nil)
	in := image.NewNRGBA(image.Rect(0, 0, 64, 32)) // fully transparent
	draw.Draw(in, image.Rect(0, 0, 32, 32), image.NewUniform(color.NRGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	res, err := p.Process(context.Background(), srcPNG(t, in), procOptions(t, p, "w=32&format=jpeg"), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.At(28, 8); !nearColor(got, color.RGBA{255, 255, 255, 255}, 8) {
		t.Errorf("a transparent pixel became %v, want white", got)
	}
	if got := m.At(4, 8); !nearColor(got, color.RGBA{255, 0, 0, 255}, 24) {
		t.Errorf("an opaque red pixel became %v", got)
	}
}

func TestProcessKeepsAlphaInPNG(t *testing.T) {
	p := procNew(t, Config{}, nil)
	res, err := p.Process(context.Background(), srcPNG(t, srcGradient(80, 40, true)), procOptions(t, p, "w=40"), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(res.Body))
	if err != nil || res.Format != FormatPNG {
		t.Fatalf("%v, format %v", err, res.Format)
	}
	if _, _, _, a := m.At(0, 10).RGBA(); a > 0x1000 {
		t.Errorf("the left edge (alpha 0 in the source) has alpha %d", a>>8)
	}
}

func TestProcessAppliesEXIFOrientation(t *testing.T) {
	// Upright 32×16 with a red block top-left; stored turned (orientation
	// 6 and 8) with EXIF saying so: the variant is upright, 16 px wide.
	v := image.NewRGBA(image.Rect(0, 0, 32, 16))
	draw.Draw(v, v.Rect, image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(v, image.Rect(0, 0, 8, 8), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	p := procNew(t, Config{}, nil)
	for _, o := range []int{6, 8} {
		jpg := jpegWithSegments(srcJPEG(t, storedFor(v, o), 95), jpegSegment{0xE1, append([]byte(exifPrefix), tiffOrientation(binaryOrder(o), uint16(o))...)})
		res, err := p.Process(context.Background(), jpg, procOptions(t, p, "w=16"), "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := jpeg.Decode(bytes.NewReader(res.Body))
		if err != nil {
			t.Fatal(err)
		}
		if m.Bounds().Dx() != 16 || m.Bounds().Dy() != 8 {
			t.Errorf("orientation %d: variant %v, want 16×8 (upright)", o, m.Bounds())
		}
		if got := m.At(1, 1); !nearColor(got, color.RGBA{255, 0, 0, 255}, 40) {
			t.Errorf("orientation %d: top-left %v, want the red marker", o, got)
		}
	}
}

func TestProcessConvertsDisplayP3ToSRGB(t *testing.T) {
	in := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(in.Pix); i += 4 {
		copy(in.Pix[i:], []uint8{128, 64, 200, 255})
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(iccTestP3())
	_ = zw.Close()
	file := pngWithChunks(srcPNG(t, in), pngChunk("iCCP", append([]byte("Display P3\x00\x00"), z.Bytes()...)))
	p := procNew(t, Config{}, nil)
	res, err := p.Process(context.Background(), file, procOptions(t, p, "w=8"), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	// (128, 64, 200) in Display P3 is about (138, 59, 207) in sRGB (see
	// colorconv_test.go for the reference computation).
	if got := m.At(4, 4); !res.ColorManaged || !nearColor(got, color.RGBA{138, 59, 207, 255}, 2) {
		t.Errorf("P3 (128,64,200) became %v (colour managed %v), want about (138,59,207)", got, res.ColorManaged)
	}
}

func TestProcessKeepsAnimationFrames(t *testing.T) {
	p := procNew(t, Config{}, nil)
	src := srcGIF(t, 40, 20, 5, gif.DisposalNone)
	res, err := p.Process(context.Background(), src, procOptions(t, p, "w=20"), "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(bytes.NewReader(res.Body))
	if err != nil || len(g.Image) != 5 || res.Frames != 5 || g.Config.Width != 20 {
		t.Fatalf("animated variant: %v, %d frames, %+v", err, len(g.Image), g.Config)
	}
	still, err := p.Process(context.Background(), src, procOptions(t, p, "w=20&anim=false"), "")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := gif.DecodeAll(bytes.NewReader(still.Body)); err != nil || len(g.Image) != 1 {
		t.Errorf("anim=false: %v, %d frames, want 1", err, len(g.Image))
	}
}

func TestProcessNegotiatesTheFormat(t *testing.T) {
	p := procNew(t, Config{}, nil)
	src := srcJPEG(t, srcGradient(64, 32, false), 90)
	res, err := p.Process(context.Background(), src, procOptions(t, p, "w=32&format=auto"), "image/avif,image/webp,*/*")
	if err != nil {
		t.Fatal(err)
	}
	want := FormatJPEG // without a WebP encoder: the source's own
	if CanEncode(FormatWebP) {
		want = FormatWebP
	}
	if res.Format != want || res.ContentType != want.ContentType() {
		t.Errorf("format=auto with WebP accepted gave %v (%s), want %v", res.Format, res.ContentType, want)
	}
	res, err = p.Process(context.Background(), src, procOptions(t, p, "w=32&format=auto"), "image/*,*/*")
	if err != nil || res.Format != FormatJPEG {
		t.Errorf("format=auto with only wildcards: %v, %v; want the source's JPEG", res, err)
	}
	if !CanEncode(FormatWebP) {
		if _, err := p.Process(context.Background(), src, procOptions(t, p, "w=32&format=webp"), ""); !errors.Is(err, ErrFormatRefused) {
			t.Errorf("format=webp without an encoder: %v, want ErrFormatRefused", err)
		}
	}
}

func TestProcessRefusesBadSourcesBeforeTheQueue(t *testing.T) {
	q := NewQueue(1, 0, 0, 0)
	release, err := q.Acquire(context.Background(), 1) // the queue is busy
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	p := procNew(t, Config{}, q)
	o := procOptions(t, p, "w=10")
	// A PNG header declaring 100000×100000 pixels: refused from the header.
	bomb := srcPNG(t, image.NewNRGBA(image.Rect(0, 0, 1, 1)))
	bomb[16], bomb[17], bomb[18], bomb[19] = 0, 1, 0x86, 0xA0
	bomb[20], bomb[21], bomb[22], bomb[23] = 0, 1, 0x86, 0xA0
	for name, tc := range map[string]struct {
		src    []byte
		status int
	}{
		"a decompression bomb":      {bomb, 422},
		"text behind an image name": {[]byte("<html>not an image</html>"), 415},
		"an SVG":                    {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 415},
		"a truncated JPEG":          {srcJPEG(t, srcGradient(64, 64, false), 90)[:300], 422},
	} {
		_, err := p.Process(context.Background(), tc.src, o, "")
		if status, ok := DecodeStatus(err); !ok || status != tc.status {
			t.Errorf("%s: %v (status %d), want %d", name, err, status, tc.status)
		}
	}
	// A good source waits for the busy queue, which holds nobody else.
	if _, err := p.Process(context.Background(), srcPNG(t, srcGradient(20, 20, false)), o, ""); !errors.Is(err, ErrQueueFull) {
		t.Errorf("a resize behind a full queue: %v, want ErrQueueFull", err)
	}
}
