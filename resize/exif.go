package resize

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// exifPrefix starts a JPEG APP1 Exif segment (and, from some writers, a WebP
// EXIF chunk or a PNG eXIf chunk) before the TIFF header.
const exifPrefix = "Exif\x00\x00"

// tagOrientation is the TIFF/EXIF Orientation tag, in IFD0.
const tagOrientation = 0x0112

// typeShort is the TIFF SHORT field type (unsigned 16-bit).
const typeShort = 3

var errNoOrientation = errors.New("exif: no orientation tag")

// ExifOrientation returns the Orientation (1–8) of the EXIF data in exif: a
// TIFF structure (header "II*\0" or "MM\0*", then IFD0), optionally preceded
// by the "Exif\0\0" prefix of a JPEG APP1 segment. It is written from the
// TIFF 6.0 and EXIF 2.3 specifications: both byte orders, and every offset
// and count checked against len(exif) before it is used, so any input is
// safe. It returns an error when the structure is broken or the tag is
// missing, or its value is outside 1–8; the caller then treats the image as
// orientation 1 (a broken EXIF block never fails a decode).
func ExifOrientation(exif []byte) (int, error) {
	if len(exif) >= len(exifPrefix) && string(exif[:len(exifPrefix)]) == exifPrefix {
		exif = exif[len(exifPrefix):]
	}
	if len(exif) < 8 {
		return 0, errors.New("exif: TIFF header truncated")
	}
	var bo binary.ByteOrder
	switch string(exif[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0, errors.New("exif: no TIFF header")
	}
	ifd := uint64(bo.Uint32(exif[4:8]))
	n := uint64(len(exif))
	if ifd < 8 || ifd+2 > n {
		return 0, fmt.Errorf("exif: IFD0 offset %d outside %d bytes", ifd, n)
	}
	count := uint64(bo.Uint16(exif[ifd:]))
	entries := ifd + 2
	if entries+12*count > n {
		return 0, fmt.Errorf("exif: IFD0 of %d entries runs past %d bytes", count, n)
	}
	for i := uint64(0); i < count; i++ {
		e := exif[entries+12*i : entries+12*i+12]
		if bo.Uint16(e[0:2]) != tagOrientation {
			continue
		}
		if typ, cnt := bo.Uint16(e[2:4]), bo.Uint32(e[4:8]); typ != typeShort || cnt < 1 {
			return 0, fmt.Errorf("exif: orientation of type %d count %d, want SHORT", typ, cnt)
		}
		// A single SHORT sits in the first two bytes of the value field,
		// in the file's byte order.
		o := int(bo.Uint16(e[8:10]))
		if o < 1 || o > 8 {
			return 0, fmt.Errorf("exif: orientation %d outside 1–8", o)
		}
		return o, nil
	}
	return 0, errNoOrientation
}
