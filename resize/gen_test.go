package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Generators for the test images: every unit test makes its own.

// srcGradient is a w×h NRGBA image with a colour gradient and, when alpha, a
// horizontal alpha ramp.
func srcGradient(w, h int, alpha bool) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if alpha {
				a = uint8(x * 255 / max(w-1, 1))
			}
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), 128, a})
		}
	}
	return m
}

func srcPNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func srcJPEG(t testing.TB, m image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// srcGIF makes a w×h GIF of n frames: frame 0 covers the canvas in
// palette colour 1, each later frame i is a 2×2 square of colour i+1 at
// (i, i) with the given disposal (frame 0's is DisposalNone).
func srcGIF(t testing.TB, w, h, n int, disposal byte) []byte {
	t.Helper()
	g := &gif.GIF{LoopCount: 0}
	pal := color.Palette(palette.Plan9[:64])
	for i := 0; i < n; i++ {
		r := image.Rect(0, 0, w, h)
		if i > 0 {
			r = image.Rect(i, i, i+2, i+2)
		}
		m := image.NewPaletted(r, pal)
		for j := range m.Pix {
			m.Pix[j] = uint8(i + 1)
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 10*(i+1))
		if i == 0 {
			g.Disposal = append(g.Disposal, gif.DisposalNone)
		} else {
			g.Disposal = append(g.Disposal, disposal)
		}
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegWithSegments inserts marker segments (marker, payload) right after a
// JPEG's SOI.
func jpegWithSegments(jpg []byte, segs ...jpegSegment) []byte {
	out := append([]byte{}, jpg[:2]...)
	for _, s := range segs {
		out = append(out, 0xFF, s.marker)
		out = binary.BigEndian.AppendUint16(out, uint16(len(s.payload)+2))
		out = append(out, s.payload...)
	}
	return append(out, jpg[2:]...)
}

type jpegSegment struct {
	marker  byte
	payload []byte
}

// pngChunk returns one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// pngWithChunks inserts chunks right after a PNG's IHDR (8 + 25 bytes).
func pngWithChunks(p []byte, chunks ...[]byte) []byte {
	out := append([]byte{}, p[:33]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[33:]...)
}

// pngHeader is a PNG signature and IHDR declaring w×h 8-bit RGBA, with a
// tiny IDAT and IEND: a decompression bomb's header.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 4096))
	_ = zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegHeader is a small real JPEG whose SOF0 is patched to declare w×h.
func jpegHeader(t testing.TB, w, h uint16) []byte {
	t.Helper()
	j := srcJPEG(t, srcGradient(16, 16, false), 50)
	for p := 2; p+9 < len(j); {
		if j[p] != 0xFF {
			t.Fatal("lost in the JPEG")
		}
		n := int(binary.BigEndian.Uint16(j[p+2:]))
		if j[p+1] == 0xC0 {
			binary.BigEndian.PutUint16(j[p+5:], h)
			binary.BigEndian.PutUint16(j[p+7:], w)
			return j
		}
		p += 2 + n
	}
	t.Fatal("no SOF0")
	return nil
}

// tiffOrientation is a TIFF structure (as in an EXIF block) in byte order
// bo whose IFD0 has a few tags, the Orientation among them.
func tiffOrientation(bo binary.AppendByteOrder, orientation uint16) []byte {
	var b []byte
	if bo == binary.LittleEndian {
		b = []byte("II*\x00")
	} else {
		b = []byte("MM\x00*")
	}
	b = bo.AppendUint32(b, 8)
	entries := []struct {
		tag, typ uint16
		count    uint32
		value    uint32
	}{
		{0x010F, 2, 4, 0}, // Make, ASCII, offset (not followed)
		{0x0112, 3, 1, 0}, // Orientation
		{0x011A, 5, 1, 0}, // XResolution, RATIONAL, offset
		{0x8769, 4, 1, 0}, // Exif IFD pointer
	}
	b = bo.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = bo.AppendUint16(b, e.tag)
		b = bo.AppendUint16(b, e.typ)
		b = bo.AppendUint32(b, e.count)
		if e.tag == 0x0112 {
			b = bo.AppendUint16(b, orientation)
			b = append(b, 0, 0)
		} else {
			b = bo.AppendUint32(b, e.value)
		}
	}
	return bo.AppendUint32(b, 0) // no IFD1
}

// exifJPEG is a w×h JPEG with an APP1 Exif segment carrying orientation.
func exifJPEG(t testing.TB, w, h int, bo binary.AppendByteOrder, orientation uint16) []byte {
	return jpegWithSegments(srcJPEG(t, srcGradient(w, h, false), 90),
		jpegSegment{0xE1, append([]byte(exifPrefix), tiffOrientation(bo, orientation)...)})
}
