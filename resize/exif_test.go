package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"testing"
)

func TestExifOrientation(t *testing.T) {
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for o := uint16(1); o <= 8; o++ {
			tiff := tiffOrientation(bo, o)
			for _, data := range [][]byte{tiff, append([]byte(exifPrefix), tiff...)} {
				got, err := ExifOrientation(data)
				if err != nil || got != int(o) {
					t.Fatalf("%v orientation %d: got %d, %v", bo, o, got, err)
				}
			}
		}
	}
}

func TestExifOrientationRefusesBrokenData(t *testing.T) {
	good := tiffOrientation(binary.LittleEndian, 6)
	patch := func(off int, b ...byte) []byte {
		d := bytes.Clone(good)
		copy(d[off:], b)
		return d
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"prefix only", []byte(exifPrefix)},
		{"short header", good[:7]},
		{"no TIFF magic", patch(0, 'X', 'X')},
		{"IFD0 offset past the end", patch(4, 0xFF, 0xFF, 0, 0)},
		{"IFD0 offset huge", patch(4, 0xFF, 0xFF, 0xFF, 0xFF)},
		{"IFD0 offset inside the header", patch(4, 2, 0, 0, 0)},
		{"IFD0 count past the end", patch(8, 0xFF, 0xFF)},
		{"IFD0 cut in its entries", good[:8+2+12+6]},
		{"orientation 0", patch(8+2+12+8, 0, 0)},
		{"orientation 9", patch(8+2+12+8, 9, 0)},
		{"orientation of type LONG", patch(8+2+12+2, 4, 0)},
		{"orientation with count 0", patch(8+2+12+4, 0, 0, 0, 0)},
		{"no orientation tag", patch(8+2+12, 0x13, 0x01)},
		{"no entries", patch(8, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if o, err := ExifOrientation(tt.data); err == nil {
				t.Fatalf("orientation %d, want an error", o)
			}
		})
	}
	if _, err := ExifOrientation(patch(8+2+12, 0x13, 0x01)); !errors.Is(err, errNoOrientation) {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestDecodeReadsOrientation(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
		want int
	}{
		{"jpeg little-endian 6", exifJPEG(t, 20, 10, binary.LittleEndian, 6), 6},
		{"jpeg big-endian 8", exifJPEG(t, 20, 10, binary.BigEndian, 8), 8},
		{"jpeg big-endian 3", exifJPEG(t, 20, 10, binary.BigEndian, 3), 3},
		{"jpeg broken exif is 1", jpegWithSegments(srcJPEG(t, srcGradient(20, 10, false), 80), jpegSegment{0xE1, []byte(exifPrefix + "MM\x00*\xff\xff\xff\xff")}), 1},
		{"jpeg xmp app1 is not exif", jpegWithSegments(srcJPEG(t, srcGradient(20, 10, false), 80), jpegSegment{0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>")}), 1},
		{"png eXIf 5", pngWithChunks(srcPNG(t, srcGradient(20, 10, false)), pngChunk("eXIf", tiffOrientation(binary.BigEndian, 5))), 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := decodeBytes(t, tt.data)
			if src.Orientation != tt.want {
				t.Fatalf("orientation %d, want %d", src.Orientation, tt.want)
			}
			w, h := src.OrientedSize()
			if tt.want >= 5 && (w != 10 || h != 20) || tt.want < 5 && (w != 20 || h != 10) {
				t.Fatalf("oriented size %d×%d", w, h)
			}
			if tt.want != 1 && len(src.EXIF) == 0 {
				t.Fatal("EXIF not kept")
			}
		})
	}
}

// iccChunk is one JPEG APP2 ICC_PROFILE chunk.
func iccChunk(seq, count byte, data string) jpegSegment {
	return jpegSegment{0xE2, append([]byte("ICC_PROFILE\x00"), append([]byte{seq, count}, data...)...)}
}

func TestDecodeReadsICC(t *testing.T) {
	jpg := srcJPEG(t, srcGradient(8, 8, false), 80)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write([]byte("a PNG profile"))
	_ = zw.Close()
	iccp := append([]byte("Display P3\x00\x00"), z.Bytes()...)
	bomb := func() []byte {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		_, _ = zw.Write(make([]byte, MaxICCBytes+1))
		_ = zw.Close()
		return append([]byte("big\x00\x00"), z.Bytes()...)
	}()
	for _, tt := range []struct {
		name string
		data []byte
		want string // "" for no profile
	}{
		{"jpeg one chunk", jpegWithSegments(jpg, iccChunk(1, 1, "profile")), "profile"},
		{"jpeg chunks out of order", jpegWithSegments(jpg, iccChunk(2, 3, "BB"), iccChunk(3, 3, "CC"), iccChunk(1, 3, "AA")), "AABBCC"},
		{"jpeg chunk missing", jpegWithSegments(jpg, iccChunk(1, 3, "AA"), iccChunk(3, 3, "CC")), ""},
		{"jpeg chunk repeated", jpegWithSegments(jpg, iccChunk(1, 2, "AA"), iccChunk(1, 2, "AA"), iccChunk(2, 2, "BB")), ""},
		{"jpeg counts disagree", jpegWithSegments(jpg, iccChunk(1, 2, "AA"), iccChunk(2, 3, "BB")), ""},
		{"jpeg sequence 0", jpegWithSegments(jpg, iccChunk(0, 1, "AA")), ""},
		{"jpeg sequence past count", jpegWithSegments(jpg, iccChunk(2, 1, "AA")), ""},
		{"png iCCP", pngWithChunks(srcPNG(t, srcGradient(8, 8, false)), pngChunk("iCCP", iccp)), "a PNG profile"},
		{"png iCCP bomb is dropped", pngWithChunks(srcPNG(t, srcGradient(8, 8, false)), pngChunk("iCCP", bomb)), ""},
		{"png iCCP broken is dropped", pngWithChunks(srcPNG(t, srcGradient(8, 8, false)), pngChunk("iCCP", []byte("x\x00\x00garbage"))), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := decodeBytes(t, tt.data)
			if string(src.ICC) != tt.want {
				t.Fatalf("ICC %q, want %q", src.ICC, tt.want)
			}
		})
	}
}
