package resize

import (
	"encoding/binary"
	"image"
	"image/color/palette"
	"os"
	"path/filepath"
	"testing"
)

func TestDecodeLimitsDefaults(t *testing.T) {
	got := DecodeLimits{}.WithDefaults()
	want := DecodeLimits{MaxSourcePixels: 50_000_000, MaxSourceBytes: 50 << 20, MaxFrames: 100, MaxTotalFramePixels: 100_000_000}
	if got != want {
		t.Fatalf("%+v", got)
	}
	if l := (DecodeLimits{MaxFrames: 3}).WithDefaults(); l.MaxFrames != 3 || l.MaxSourcePixels != want.MaxSourcePixels {
		t.Fatalf("%+v", l)
	}
	if err := (DecodeLimits{MaxSourceBytes: -1}).Validate(); err == nil {
		t.Fatal("negative limit accepted")
	}
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeBytesEstimate checks Info.DecodeBytes against what decoding
// really allocates (TotalAlloc counts garbage too, so it bounds the peak).
func TestDecodeBytesEstimate(t *testing.T) {
	const w, h = 512, 384
	pal := image.NewPaletted(image.Rect(0, 0, w, h), palette.WebSafe)
	deep := image.NewNRGBA64(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 216)
		gray.Pix[i] = uint8(i)
	}
	for i := 0; i < len(deep.Pix); i += 8 {
		binary.BigEndian.PutUint64(deep.Pix[i:], uint64(i)*0x0123456789)
	}
	cases := map[string][]byte{
		"jpeg 4:2:0":     srcJPEG(t, srcGradient(w, h, false), 90),
		"jpeg gray":      srcJPEG(t, gray, 90),
		"jpeg cmyk":      cmykJPEG(t, flatCMYK(w, h, [4]uint8{1, 2, 3, 4}), true, 0),
		"jpeg ycck":      ycckJPEG(t, flatCMYK(w, h, [4]uint8{1, 2, 3, 4})),
		"png rgba":       srcPNG(t, srcGradient(w, h, true)),
		"png 16-bit":     srcPNG(t, deep),
		"png palette":    srcPNG(t, pal),
		"png gray":       srcPNG(t, gray),
		"gif 5 frames":   srcGIF(t, w, h, 5, 1),
		"gif 40 frames":  srcGIF(t, w, h, 40, 1),
		"progressive":    readSeed(t, "progressive.jpg"),
		"lossless webp":  readSeed(t, "lossless.webp"),
		"lossy webp":     readSeed(t, "lossy-alpha.webp"),
		"animated webp":  readSeed(t, "animated.webp"),
		"progressive gr": readSeed(t, "progressive-gray.jpg"),
	}
	for _, name := range []string{"alpha.png", "anim.gif"} {
		if data, err := os.ReadFile(filepath.Join(sharedImages, name)); err == nil {
			cases["shared "+name] = data
		}
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			info, err := Probe(data, DecodeLimits{})
			if err != nil {
				t.Fatal(err)
			}
			var derr error
			n := bytesAllocated(func() { _, derr = Decoder{}.DecodeBytes(data) })
			if derr != nil {
				t.Fatal(derr)
			}
			t.Logf("%s %d×%d: estimate %d, allocated %d (%.2f)", name, info.Width, info.Height, info.DecodeBytes, n, float64(info.DecodeBytes)/float64(n))
			if int64(n) > info.DecodeBytes {
				t.Errorf("allocated %d bytes, estimate %d", n, info.DecodeBytes)
			}
		})
	}
}
