package resize

import (
	"encoding/binary"
	"errors"
	"image"
	"image/color/palette"
	"os"
	"path/filepath"
	"testing"
)

// fuzzLimits are small, so every input the fuzzer makes decodes fast and
// the memory bound below is tight.
var fuzzLimits = DecodeLimits{MaxSourcePixels: 1 << 20, MaxSourceBytes: 1 << 20, MaxFrames: 16, MaxTotalFramePixels: 2 << 20}

// decodeSeeds are small real images of every kind Decode reads: generated
// here, and the seeds in testdata/ made with libjpeg and libwebp (see
// testdata/gen/README.md).
func decodeSeeds(t testing.TB) [][]byte {
	pal := image.NewPaletted(image.Rect(0, 0, 16, 12), palette.WebSafe)
	deep := image.NewNRGBA64(image.Rect(0, 0, 16, 12))
	gray := image.NewGray(image.Rect(0, 0, 16, 12))
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 216)
		gray.Pix[i] = uint8(i * 3)
	}
	for i := 0; i < len(deep.Pix); i += 8 {
		binary.BigEndian.PutUint64(deep.Pix[i:], uint64(i)*0x0123456789)
	}
	seeds := [][]byte{
		srcJPEG(t, srcGradient(16, 12, false), 75),
		srcJPEG(t, gray, 75),
		exifJPEG(t, 16, 12, binary.BigEndian, 6),
		jpegWithSegments(srcJPEG(t, srcGradient(16, 12, false), 75), iccChunk(1, 2, "AA"), iccChunk(2, 2, "BB")),
		cmykJPEG(t, flatCMYK(16, 16, [4]uint8{10, 20, 30, 40}), true, 0),
		ycckJPEG(t, flatCMYK(16, 16, [4]uint8{10, 20, 30, 40})),
		srcPNG(t, srcGradient(16, 12, false)),
		srcPNG(t, srcGradient(16, 12, true)),
		srcPNG(t, deep),
		srcPNG(t, pal),
		srcPNG(t, gray),
		pngWithChunks(srcPNG(t, srcGradient(16, 12, false)), pngChunk("eXIf", tiffOrientation(binary.LittleEndian, 8))),
		srcGIF(t, 16, 12, 4, 2),
		srcGIF(t, 16, 12, 3, 3),
		srcGIF(t, 16, 12, 1, 0),
		pngHeader(100000, 100000),
		jpegHeader(t, 9000, 9000),
		manyScans(t, 12),
		[]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var src *Source
		var err error
		allocated := bytesAllocated(func() { src, err = Decoder{Limits: fuzzLimits}.DecodeBytes(data) })
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("not a *DecodeError: %v", err)
			}
			switch de.Kind {
			case ErrNotImage, ErrUnsupported, ErrSVG, ErrCorrupt, ErrTooLarge:
			case ErrDecoderPanic:
				t.Fatalf("a decoder panicked (recovered): %v\n%s", err, de.Stack)
			default:
				t.Fatalf("unknown kind %v", de.Kind)
			}
			if _, ok := DecodeStatus(err); !ok {
				t.Fatalf("no status for %v", err)
			}
			return
		}
		checkDecoded(t, src, fuzzLimits)
		// Memory is bounded by the limits, and by Info.DecodeBytes (plus
		// what the probe itself allocates: the header walk's buffers).
		info, err := Probe(data, fuzzLimits)
		if err != nil {
			t.Fatalf("decoded, but Probe fails: %v", err)
		}
		if bound := info.DecodeBytes + 64<<10; int64(allocated) > bound {
			t.Fatalf("decoding %d bytes (%v %d×%d, %d frames) allocated %d bytes, over the estimate %d", len(data), src.Format, src.Width, src.Height, len(src.Frames), allocated, info.DecodeBytes)
		}
	})
}

// framePixels is the sum of the frames' rectangles.
func framePixels(src *Source) int64 {
	var n int64
	for _, f := range src.Frames {
		n += int64(f.Image.Bounds().Dx()) * int64(f.Image.Bounds().Dy())
	}
	return n
}

// checkDecoded asserts what every decoded Source promises.
func checkDecoded(t *testing.T, src *Source, lim DecodeLimits) {
	t.Helper()
	canvas := image.Rect(0, 0, src.Width, src.Height)
	if canvas.Empty() || int64(src.Width)*int64(src.Height) > lim.MaxSourcePixels {
		t.Fatalf("canvas %v over the limit", canvas)
	}
	if len(src.Frames) < 1 || len(src.Frames) > max(1, lim.MaxFrames) || len(src.Frames) > src.FrameCount {
		t.Fatalf("%d frames of %d", len(src.Frames), src.FrameCount)
	}
	if len(src.Frames) > 1 && framePixels(src) > lim.MaxTotalFramePixels {
		t.Fatalf("%d frame pixels", framePixels(src))
	}
	if src.Stilled != (src.FrameCount > len(src.Frames)) {
		t.Fatalf("stilled %v with %d of %d frames", src.Stilled, len(src.Frames), src.FrameCount)
	}
	for i, f := range src.Frames {
		if b := f.Image.Bounds(); !b.In(canvas) || b.Empty() && src.Format != SourceGIF {
			t.Fatalf("frame %d at %v, canvas %v", i, b, canvas)
		}
	}
	if src.Orientation < 1 || src.Orientation > 8 {
		t.Fatalf("orientation %d", src.Orientation)
	}
	if len(src.ICC) > MaxICCBytes {
		t.Fatalf("ICC of %d bytes", len(src.ICC))
	}
	still := src.Still()
	if still.Bounds() != canvas {
		t.Fatalf("still %v, canvas %v", still.Bounds(), canvas)
	}
	w, h := src.OrientedSize()
	if b := Orient(still, src.Orientation).Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("oriented %v, want %d×%d", b, w, h)
	}
	n := 0
	if err := src.Composite(func(i int, c *image.RGBA) error {
		if i != n || c.Rect != canvas {
			t.Fatalf("composite call %d for frame %d on %v", n, i, c.Rect)
		}
		n++
		return nil
	}); err != nil || n != len(src.Frames) {
		t.Fatalf("composite: %v after %d frames", err, n)
	}
}

func TestDecodeSeeds(t *testing.T) {
	// Every seed decodes (but the bombs and the SVG), within the fuzz limits.
	for i, s := range decodeSeeds(t) {
		src, err := Decoder{Limits: fuzzLimits}.DecodeBytes(s)
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrSVG) {
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		checkDecoded(t, src, fuzzLimits)
	}
}

func FuzzEXIF(f *testing.F) {
	for o := uint16(0); o <= 9; o++ {
		f.Add(tiffOrientation(binary.LittleEndian, o))
		f.Add(append([]byte(exifPrefix), tiffOrientation(binary.BigEndian, o)...))
	}
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"))
	f.Add([]byte("II*\x00\xff\xff\xff\xff"))
	jpg := srcJPEG(f, srcGradient(8, 8, false), 50)
	f.Fuzz(func(t *testing.T, exif []byte) {
		o, err := ExifOrientation(exif)
		if err == nil && (o < 1 || o > 8) {
			t.Fatalf("orientation %d without an error", o)
		}
		// The container walkers take the same bytes as any segment or
		// chunk, and as a whole container after the signature.
		for _, data := range [][]byte{
			jpegWithSegments(jpg, jpegSegment{0xE1, append([]byte(exifPrefix), exif...)}),
			append([]byte("\xFF\xD8"), exif...),
			append([]byte("\x89PNG\r\n\x1a\n"), exif...),
			append([]byte("RIFF\x00\x00\x00\x00WEBP"), exif...),
		} {
			for _, format := range []SourceFormat{SourceJPEG, SourcePNG, SourceWebP} {
				m := readMetadata(format, data)
				if len(m.icc) > MaxICCBytes {
					t.Fatalf("ICC of %d bytes", len(m.icc))
				}
			}
		}
		if seg := append([]byte(exifPrefix), exif...); len(seg) <= 0xFFFF-2 {
			src, err := Decoder{}.DecodeBytes(jpegWithSegments(jpg, jpegSegment{0xE1, seg}))
			if err != nil {
				t.Fatal(err)
			}
			o, _ := ExifOrientation(seg)
			if want := max(o, 1); src.Orientation != want {
				t.Fatalf("decoded orientation %d, parser says %d", src.Orientation, want)
			}
		}
	})
}
