package jpegdec

import (
	"errors"
	"os"
	"runtime"
	"testing"
)

func TestTruncatedIsAnError(t *testing.T) {
	for name, data := range corpus(t) {
		// Cut points through the headers, the entropy-coded data and the EOI.
		step := max(len(data)/97, 1)
		for cut := 0; cut < len(data); cut += step {
			for _, scale := range []int{1, 8} {
				img, err := Decode(data[:cut], scale, Limits{})
				if err == nil {
					t.Fatalf("%s cut at %d of %d, 1/%d: no error (%T)", name, cut, len(data), scale, img)
				}
				if img != nil {
					t.Fatalf("%s cut at %d: an image with the error %v", name, cut, err)
				}
			}
		}
		if _, err := Decode(data[:len(data)-1], 1, Limits{}); err == nil {
			t.Errorf("%s without the last byte of its EOI: no error", name)
		}
	}
}

func TestCorruptDataDoesNotPanic(t *testing.T) {
	for name, data := range corpus(t) {
		sos := markerOffset(data, mSOS)
		if sos < 0 {
			t.Fatalf("%s: no SOS", name)
		}
		// Flip bytes throughout the entropy-coded data: any result but a panic (Decode's
		// recover would turn one into an "internal error") is fine.
		for i := sos + 20; i < len(data)-2; i += max((len(data)-sos)/31, 1) {
			bad := append([]byte(nil), data...)
			bad[i] ^= 0x5A
			bad[i+1] ^= 0xC3
			for _, scale := range []int{1, 2, 4, 8} {
				_, err := Decode(bad, scale, Limits{})
				if err != nil && isInternal(err) {
					t.Fatalf("%s corrupted at %d, 1/%d: %v", name, i, scale, err)
				}
			}
		}
	}
}

func isInternal(err error) bool {
	return err != nil && len(err.Error()) > 24 && err.Error()[:24] == "jpegdec: internal error:"
}

func TestCorruptRestartMarkers(t *testing.T) {
	data, err := os.ReadFile("testdata/s420-restart-rows.jpg")
	if err != nil {
		t.Fatal(err)
	}
	// Renumber every restart marker (RST0 → RST5, …) and drop one altogether: the decoder
	// resyncs on whatever restart marker comes and still makes a whole image.
	bad := append([]byte(nil), data...)
	n := 0
	for i := markerOffset(bad, mSOS); i+1 < len(bad); i++ {
		if bad[i] == 0xFF && bad[i+1] >= mRST0 && bad[i+1] <= mRST7 {
			bad[i+1] = mRST0 + (bad[i+1]-mRST0+5)&7
			n++
			if n == 3 {
				bad[i+1] = 0x00 // no longer a marker: that interval runs into the next
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d restart markers", n)
	}
	for _, scale := range []int{1, 8} {
		img, err := Decode(bad, scale, Limits{})
		if err != nil {
			t.Fatalf("1/%d: %v", scale, err)
		}
		if img.Bounds().Dx() != (128+scale-1)/scale {
			t.Fatalf("1/%d: %v", scale, img.Bounds())
		}
	}
}

func TestUnsupported(t *testing.T) {
	arith, err := os.ReadFile("testdata/unsupported/arithmetic.jpg")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("testdata/s444.jpg")
	if err != nil {
		t.Fatal(err)
	}
	sof := markerOffset(base, mSOF0)
	with := func(f func(b []byte)) []byte {
		b := append([]byte(nil), base...)
		f(b)
		return b
	}
	cases := map[string][]byte{
		"arithmetic coding": arith,
		"12-bit samples":    with(func(b []byte) { b[sof+4] = 12 }),
		"lossless frame":    with(func(b []byte) { b[sof+1] = 0xC3 }),
		"height from DNL":   with(func(b []byte) { b[sof+5], b[sof+6] = 0, 0 }),
		"chroma sampled more than luma": with(func(b []byte) {
			b[sof+11] = 0x11 // Y 1x1 (components start at sof+10: id, hv, tq)
			b[sof+14] = 0x22 // Cb 2x2
			b[sof+17] = 0x22 // Cr 2x2
		}),
		"two components": with(func(b []byte) { b[sof+9] = 2 }),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(data, 1, Limits{})
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v, want ErrUnsupported", err)
			}
		})
	}
}

// TestBombRefusedBeforeAllocating: a tiny file declaring 60000×60000 is refused from its
// header, and so is any frame beyond Limits.MaxPixels or MaxScans.
func TestBombRefusedBeforeAllocating(t *testing.T) {
	base, err := os.ReadFile("testdata/s444.jpg")
	if err != nil {
		t.Fatal(err)
	}
	sof := markerOffset(base, mSOF0)
	bomb := append([]byte(nil), base...)
	bomb[sof+5], bomb[sof+6] = 60000>>8, 60000&255 // height
	bomb[sof+7], bomb[sof+8] = 60000>>8, 60000&255 // width
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = Decode(bomb, 1, Limits{})
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("60000x60000 in a 20 KB file decoded")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("allocated %d bytes before refusing it", got)
	}
	allocs := testing.AllocsPerRun(10, func() { _, _ = Decode(bomb, 8, Limits{}) })
	if allocs > 20 {
		t.Fatalf("%.0f allocations for a refused file", allocs)
	}

	cfg, err := DecodeConfig(bomb)
	if err != nil || cfg.Width != 60000 || cfg.Height != 60000 {
		t.Fatalf("DecodeConfig: %+v, %v", cfg, err)
	}
	if _, err := Decode(base, 1, Limits{MaxPixels: 128*96 - 1}); err == nil {
		t.Fatal("MaxPixels one below the frame: decoded")
	}
	if _, err := Decode(base, 1, Limits{MaxPixels: 128 * 96}); err != nil {
		t.Fatalf("MaxPixels equal to the frame: %v", err)
	}
	prog, err := os.ReadFile("testdata/prog420.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(prog, 1, Limits{MaxScans: 3}); err == nil {
		t.Fatal("a 10-scan progressive file decoded with MaxScans 3")
	}
	if _, err := Decode(prog, 1, Limits{MaxScans: 10}); err != nil {
		t.Fatalf("MaxScans 10: %v", err)
	}
}

func TestDecodeConfig(t *testing.T) {
	for name, want := range map[string]Config{
		"s422.jpg":          {Width: 128, Height: 96, Components: 3, Subsampling: 1},
		"prog411-odd.jpg":   {Width: 37, Height: 23, Components: 3, Progressive: true, Subsampling: 4},
		"gray-prog-odd.jpg": {Width: 37, Height: 23, Components: 1, Progressive: true},
		"ycck.jpg":          {Width: 128, Height: 96, Components: 4, Adobe: true, AdobeTransform: 2, Subsampling: 2},
		"cmyk.jpg":          {Width: 128, Height: 96, Components: 4, Adobe: true},
	} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeConfig(data)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, want)
		}
	}
}

func TestBadScale(t *testing.T) {
	if _, err := Decode(nil, 3, Limits{}); err == nil {
		t.Fatal("scale 3 accepted")
	}
}

// markerOffset is the offset of the first marker m (its 0xFF), or -1.
func markerOffset(b []byte, m byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0xFF && b[i+1] == m {
			return i
		}
	}
	return -1
}

// TestProgressiveKeepsOnlyWhatTheScaleNeeds: a progressive decode at 1/8 stores one
// coefficient and a nonzero mask per block instead of 64 coefficients, and its planes are
// 1/64 the size, so it allocates a small fraction of a full-scale decode.
func TestProgressiveKeepsOnlyWhatTheScaleNeeds(t *testing.T) {
	data, err := os.ReadFile("testdata/prog444.jpg")
	if err != nil {
		t.Fatal(err)
	}
	tiny, err := os.ReadFile("testdata/gray-prog-odd.jpg")
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(data []byte, scale int) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Decode(data, scale, Limits{}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	// The decoder's own state (its Huffman lookup tables, some 50 KB) is the same for any
	// file: measure it on a 37×23 one and leave it out.
	fixed := alloc(tiny, 8)
	full, eighth := alloc(data, 1), alloc(data, 8)
	// Per block at 1/1: 128 bytes of coefficients, 8 of mask, 64 of samples; at 1/8: 2, 8, 1.
	t.Logf("allocated %d bytes at 1/1, %d at 1/8, %d for any decode", full, eighth, fixed)
	if (eighth-min(fixed, eighth))*8 > full-min(fixed, full) {
		t.Fatalf("1/8 allocated %d bytes, 1/1 %d (both less %d): want less than an eighth", eighth, full, fixed)
	}
}
