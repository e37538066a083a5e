// Package jpegdec is r2gate's own JPEG decoder. It decodes baseline and progressive JPEGs at
// 1/1, 1/2, 1/4 or 1/8 scale through scaled inverse DCTs (shrink-on-load): at 1/8 only the DC
// coefficient of each block is used, at 1/4 the top-left 2×2 coefficients, at 1/2 the top-left
// 4×4, so the work and the memory after entropy decoding shrink with the scale.
//
// It is written from ITU T.81. Anything it does not do (arithmetic coding, 12-bit samples,
// hierarchical or lossless frames, DNL, unusual sampling factors) is reported as ErrUnsupported
// so that the caller can fall back to image/jpeg.
package jpegdec

import (
	"errors"
	"fmt"
	"image"
)

// Limits bound what Decode accepts, checked from the headers before any pixel buffer is allocated.
type Limits struct {
	// MaxPixels bounds the full-size width×height declared by the frame header; zero: no bound.
	MaxPixels int64
	// MaxScans bounds the number of scans (SOS markers) decoded; zero: no bound. Each scan
	// walks the whole image, so this bounds the time a progressive file can take.
	MaxScans int
	// Workers, above 1, lets Decode split a baseline scan with restart markers into that
	// many runs of restart intervals decoded in parallel; zero or 1: one goroutine.
	Workers int
}

// Config is what DecodeConfig reads from the headers: full-size width, height, components,
// progressive, subsampling.
type Config struct {
	Width, Height, Components int
	// Progressive is true for SOF2 frames.
	Progressive bool
	// Adobe is true when an Adobe APP14 marker precedes the frame; AdobeTransform is its
	// transform flag (0: none/RGB/CMYK, 1: YCbCr, 2: YCCK).
	Adobe          bool
	AdobeTransform int
	// Subsampling is the chroma subsampling of a 3- or 4-component frame that Decode supports
	// (image.YCbCrSubsampleRatio444 for 1 component).
	Subsampling image.YCbCrSubsampleRatio
}

// ErrUnsupported is returned (wrapped) when the file uses something this decoder does not do
// (arithmetic coding, 12-bit samples, hierarchical/lossless frames, DNL, odd sampling factors):
// the caller falls back to image/jpeg.
var ErrUnsupported = errors.New("jpegdec: unsupported JPEG feature")

// ErrInternal wraps a panic of the decoder itself, recovered: a bug of this
// decoder rather than of the file, so the caller should fall back to
// another decoder as for ErrUnsupported.
var ErrInternal = errors.New("jpegdec: internal error")

// catchPanics turns a panic inside Decode into an error: the last guard on untrusted input.
// The fuzz test turns it off so that a panic fails with its stack.
var catchPanics = true

// errTruncated is returned (wrapped) when the entropy-coded data ends before the image does.
var errTruncated = errors.New("jpegdec: truncated data")

func unsupported(what string) error { return fmt.Errorf("%w: %s", ErrUnsupported, what) }

func corrupt(format string, args ...any) error {
	return fmt.Errorf("jpegdec: invalid JPEG: "+format, args...)
}

// Marker codes (T.81 table B.1).
const (
	mSOF0 = 0xC0
	mSOF1 = 0xC1
	mSOF2 = 0xC2
	mDHT  = 0xC4
	mDAC  = 0xCC
	mRST0 = 0xD0
	mRST7 = 0xD7
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDQT  = 0xDB
	mDNL  = 0xDC
	mDRI  = 0xDD
	mAPP0 = 0xE0
	mAPPE = 0xEE
	mTEM  = 0x01
)

// DecodeConfig reads the headers of data up to the frame header.
func DecodeConfig(data []byte) (cfg Config, err error) {
	if catchPanics {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", ErrInternal, r)
			}
		}()
	}
	d := &decoder{data: data, scale: 1, configOnly: true}
	if err := d.run(); err != nil {
		return Config{}, err
	}
	return d.cfg, nil
}

// Decode decodes data at 1/scale (scale 1, 2, 4 or 8): the result is
// ceil(W/scale)×ceil(H/scale). It returns *image.YCbCr (3 components, subsampling
// 4:4:4/4:2:2/4:2:0/4:4:0/4:1:1/4:1:0 as the file has, with the chroma planes scaled alike),
// *image.Gray (1 component), *image.RGBA (3 components marked RGB by an Adobe transform 0 or
// by component ids 'R','G','B', as image/jpeg does) or *image.CMYK (4 components; Adobe
// inverted CMYK and YCCK converted like image/jpeg does).
//
// A file that ends before its EOI marker (a truncated file) is an error, as with image/jpeg,
// even when the scans it holds are complete; a marker met inside a scan ends that scan's
// data early (the rest of the scan decodes as zero coefficients), and a missing or misnumbered
// restart marker resyncs on the next one, as libjpeg does.
func Decode(data []byte, scale int, lim Limits) (img image.Image, err error) {
	if catchPanics {
		defer func() {
			if r := recover(); r != nil {
				img, err = nil, fmt.Errorf("%w: %v", ErrInternal, r)
			}
		}()
	}
	switch scale {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("jpegdec: scale %d is not 1, 2, 4 or 8", scale)
	}
	d := &decoder{data: data, scale: scale, lim: lim, bsz: 8 / scale}
	if err := d.run(); err != nil {
		return nil, err
	}
	return d.finish()
}
