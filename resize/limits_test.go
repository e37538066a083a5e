package resize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color/palette"
	"os"
	"path/filepath"
	"testing"
)

func TestDecodeLimitsDefaults(t *testing.T) {
	got := DecodeLimits{}.WithDefaults()
	want := DecodeLimits{MaxSourcePixels: 50_000_000, MaxSourceBytes: 50 << 20, MaxFrames: 100, MaxTotalFramePixels: 100_000_000, MaxJPEGScans: 100}
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

// manyScans repeats a baseline JPEG's scan (SOS segment and entropy-coded
// data) n times: a stand-in for a progressive JPEG with n scans.
func manyScans(t testing.TB, n int) []byte {
	j := srcJPEG(t, srcGradient(64, 64, false), 80)
	sos := bytes.Index(j, []byte{0xFF, 0xDA})
	if sos < 0 {
		t.Fatal("no SOS")
	}
	scan := j[sos : len(j)-2]
	out := append([]byte{}, j[:sos]...)
	for i := 0; i < n; i++ {
		out = append(out, scan...)
	}
	return append(out, 0xFF, 0xD9)
}

func TestJPEGScanLimit(t *testing.T) {
	if got := jpegScans(manyScans(t, 7), 100); got != 7 {
		t.Fatalf("counted %d scans, want 7", got)
	}
	if got := jpegScans(readSeed(t, "progressive.jpg"), 100); got < 5 || got > 20 {
		t.Fatalf("progressive seed: %d scans", got)
	}
	if got := jpegScans(manyScans(t, 1000), 100); got != 101 {
		t.Fatalf("counting did not stop past the limit: %d", got)
	}
	bomb := manyScans(t, 101)
	_, err := Probe(bomb, DecodeLimits{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("101 scans: %v", err)
	}
	if _, err := Probe(bomb, DecodeLimits{MaxJPEGScans: 101}); err != nil {
		t.Fatalf("101 scans under a limit of 101: %v", err)
	}
	if _, err := Probe(manyScans(t, 100), DecodeLimits{}); err != nil {
		t.Fatalf("100 scans: %v", err)
	}
	// Markers and lengths at the very end are read within bounds.
	for _, tail := range [][]byte{{0xFF}, {0xFF, 0xDA}, {0xFF, 0xDA, 0}, {0xFF, 0xDA, 0, 1}, {0xFF, 0xDA, 0xFF, 0xFF}} {
		jpegScans(append([]byte{0xFF, 0xD8}, tail...), 100)
	}
}
