package resize

import (
	"bytes"
	"fmt"

	"github.com/r2gate/r2gate/resize/jpegdec"
)

// The default source limits (config max_source_pixels, max_source_size and
// the animation budget).
const (
	// DefaultMaxSourcePixels is the default largest canvas, in pixels, that is
	// decoded: 50 MP.
	DefaultMaxSourcePixels = 50_000_000
	// DefaultMaxSourceBytes is the default largest source object: 50 MiB.
	DefaultMaxSourceBytes = 50 << 20
	// DefaultMaxFrames is the default largest number of animation frames
	// decoded.
	DefaultMaxFrames = 100
	// DefaultMaxTotalFramePixels is the default budget for all of an
	// animation's frames together (the sum of each frame's own rectangle):
	// 100 M pixels, 100 MB as decoded GIF frames.
	DefaultMaxTotalFramePixels = 100_000_000
	// DefaultMaxJPEGScans is the default largest number of scans in a JPEG:
	// a progressive JPEG from libjpeg or mozjpeg has about 10.
	DefaultMaxJPEGScans = 100
)

// DecodeLimits bounds what Decode accepts. Every field's zero value means its
// default; a negative value is invalid (Validate says so, and Decode and
// Probe return Validate's error, which is not a *DecodeError).
type DecodeLimits struct {
	// MaxSourcePixels is the largest canvas (width × height, from the
	// image's header) that is decoded; larger is ErrTooLarge before any
	// pixel is decoded. Default DefaultMaxSourcePixels.
	MaxSourcePixels int64
	// MaxSourceBytes is the largest source, checked from the object's size
	// before its body is read, and again while reading. Default
	// DefaultMaxSourceBytes.
	MaxSourceBytes int64
	// MaxFrames is the most animation frames decoded. An animation with more
	// is not refused: it is decoded as its first frame only (a still), and
	// Source.Stilled says so. Default DefaultMaxFrames.
	MaxFrames int
	// MaxTotalFramePixels bounds the sum of the frames' pixel counts (each
	// frame's own rectangle, from the frame headers, before decoding). An
	// animation over it becomes its first frame, as for MaxFrames. Default
	// DefaultMaxTotalFramePixels.
	MaxTotalFramePixels int64
	// MaxJPEGScans bounds the scans (SOS segments) of a JPEG, counted by
	// walking its markers before decoding: every progressive scan walks
	// the whole image, so a small file with thousands of scans would cost
	// minutes of CPU. More is ErrTooLarge. Default DefaultMaxJPEGScans.
	MaxJPEGScans int
}

// Validate reports a negative limit.
func (l DecodeLimits) Validate() error {
	if l.MaxSourcePixels < 0 || l.MaxSourceBytes < 0 || l.MaxFrames < 0 || l.MaxTotalFramePixels < 0 || l.MaxJPEGScans < 0 {
		return fmt.Errorf("resize: decode limits must not be negative: %+v", l)
	}
	return nil
}

// WithDefaults returns l with every zero field set to its default.
func (l DecodeLimits) WithDefaults() DecodeLimits {
	if l.MaxSourcePixels == 0 {
		l.MaxSourcePixels = DefaultMaxSourcePixels
	}
	if l.MaxSourceBytes == 0 {
		l.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if l.MaxFrames == 0 {
		l.MaxFrames = DefaultMaxFrames
	}
	if l.MaxTotalFramePixels == 0 {
		l.MaxTotalFramePixels = DefaultMaxTotalFramePixels
	}
	if l.MaxJPEGScans == 0 {
		l.MaxJPEGScans = DefaultMaxJPEGScans
	}
	return l
}

// checkSize refuses a source larger than MaxSourceBytes (l has its
// defaults).
func (l DecodeLimits) checkSize(f SourceFormat, size int64) error {
	if size > l.MaxSourceBytes {
		return decodeErr(ErrTooLarge, f, fmt.Errorf("%d bytes, the limit is %d", size, l.MaxSourceBytes))
	}
	return nil
}

// checkCanvas refuses a canvas over MaxSourcePixels, and an empty one (l has
// its defaults). w and h come from a header, so they are not trusted to be
// positive.
func (l DecodeLimits) checkCanvas(f SourceFormat, w, h int) error {
	if w <= 0 || h <= 0 {
		return decodeErr(ErrCorrupt, f, fmt.Errorf("empty canvas %d×%d", w, h))
	}
	if px := int64(w) * int64(h); px > l.MaxSourcePixels || px/int64(w) != int64(h) {
		return decodeErr(ErrTooLarge, f, fmt.Errorf("%d×%d pixels, the limit is %d", w, h, l.MaxSourcePixels))
	}
	return nil
}

// overFrameBudget reports whether an animation of frames frames with
// framePixels pixels in all is over the animation budget (l has its
// defaults).
func (l DecodeLimits) overFrameBudget(frames int, framePixels int64) bool {
	return frames > l.MaxFrames || framePixels > l.MaxTotalFramePixels
}

// decodeCost estimates the bytes DecodeBytes allocates for a source with
// these headers (not counting data itself), from what the decoders
// allocate: the image, plus a progressive JPEG's coefficients, a CMYK
// JPEG's intermediate planes, an interlaced PNG's pass images, a WebP's
// alpha and lossless transform buffers. It errs high.
//
// jpegScale is Decoder.JPEGScale: 0 is image/jpeg at full size (a
// progressive JPEG's coefficients as int32, 4 bytes a sample); 1, 2, 4 or
// 8 is resize/jpegdec at that reduction, whose image has 1/jpegScale² of
// the samples and which keeps only the coefficients that scale needs.
// Formats other than JPEG ignore it.
func decodeCost(info Info, data []byte, jpegScale int) int64 {
	px := int64(info.Width) * int64(info.Height)
	const slack = 256 << 10 // decoder tables, row buffers
	switch info.Format {
	case SourceJPEG:
		samples, comps, progressive := jpegSamples(data, px)
		if jpegScale > 0 {
			// jpegdec: the planes at 1/jpegScale (whole MCUs: up to 16
			// pixels more a side, 2 at 1/8), used as the image for
			// YCbCr and Gray; an RGBA or CMYK image besides for RGB or
			// 4-component files; a progressive JPEG's coefficients,
			// only those the scale needs (int16, (8/scale)² a block) and
			// a 64-bit mask a block.
			w, h := ScaledSize(info.Width, info.Height, jpegScale)
			rpx := int64(w) * int64(h)
			s2 := int64(jpegScale * jpegScale)
			pad := int64(comps) * (16/int64(jpegScale) + 1) * int64(w+h+16/jpegScale)
			cost := samples/s2 + pad
			if comps == 4 || comps == 3 && jpegMaybeRGB(data) {
				cost += 4 * rpx // the CMYK or RGBA image
			}
			if progressive {
				blocks := samples/64 + pad
				cost += blocks * (2*64/s2 + 8)
			}
			return cost + cost/8 + slack
		}
		cost := samples // the planes of the YCbCr or Gray image
		if comps == 4 {
			cost += 8 * px // the CMYK image (and YCCK's RGBA on the way)
		}
		if progressive {
			cost += 4 * samples
		}
		return cost + cost/8 + slack // MCU rounding
	case SourcePNG:
		bpp, interlaced := pngPixelBytes(data)
		cost := bpp * px
		if interlaced {
			cost *= 2
		}
		return cost + cost/8 + 4*bpp*int64(info.Width) + slack
	case SourceGIF:
		return info.FramePixels + 40<<10*int64(info.Frames) + slack // LZW tables per frame
	case SourceWebP:
		return 12*info.FramePixels + slack
	}
	return slack
}

// jpegSamples reads a JPEG's SOF: the samples in all its components
// (subsampling counted), how many components, and whether it is
// progressive. It guesses 3 full components, baseline, if no SOF is found.
func jpegSamples(data []byte, px int64) (samples int64, comps int, progressive bool) {
	for p := 2; p+4 <= len(data) && data[p] == 0xFF; {
		m := data[p+1]
		if m == 0xFF {
			p++
			continue
		}
		if m == 0x01 || m >= 0xD0 && m <= 0xD8 {
			p += 2
			continue
		}
		n := int(data[p+2])<<8 | int(data[p+3])
		if m >= 0xC0 && m <= 0xC2 && p+2+n <= len(data) && n >= 8 {
			sof := data[p+4 : p+2+n]
			comps = int(sof[5])
			if len(sof) < 6+3*comps || comps == 0 {
				break
			}
			hmax, vmax := 1, 1
			for i := 0; i < comps; i++ {
				hv := sof[6+3*i+1]
				hmax, vmax = max(hmax, int(hv>>4)), max(vmax, int(hv&15))
			}
			for i := 0; i < comps; i++ {
				hv := sof[6+3*i+1]
				samples += px * int64(max(int(hv>>4), 1)*max(int(hv&15), 1)) / int64(hmax*vmax)
			}
			return samples, comps, m == 0xC2
		}
		if m == 0xDA || m == 0xD9 || n < 2 {
			break
		}
		p += 2 + n
	}
	return 3 * px, 3, false
}

// pngPixelBytes reads a PNG's IHDR: the bytes a pixel takes in the image
// image/png returns, and whether the PNG is interlaced.
func pngPixelBytes(data []byte) (bpp int64, interlaced bool) {
	if len(data) < 29 {
		return 8, true
	}
	depth, ct := data[24], data[25]
	interlaced = data[28] == 1
	switch {
	case ct == 3 || ct == 0 && depth <= 8:
		return 1, interlaced
	case ct == 0:
		return 2, interlaced
	case depth == 16:
		return 8, interlaced
	}
	return 4, interlaced
}

// jpegScans counts a JPEG's SOS segments, walking its marker segments and
// skipping the entropy-coded data between them (where 0xFF is followed by a
// stuffed 0x00 or a restart marker). It stops counting past max. It reads
// every length within data's bounds and allocates nothing.
func jpegScans(data []byte, max int) int {
	scans := 0
	for p := 2; p+1 < len(data) && scans <= max; {
		if data[p] != 0xFF {
			i := bytes.IndexByte(data[p:], 0xFF)
			if i < 0 {
				break
			}
			p += i
			continue
		}
		m := data[p+1]
		switch {
		case m == 0xFF: // fill byte
			p++
			continue
		case m == 0x00 || m == 0x01 || m >= 0xD0 && m <= 0xD8: // stuffing, TEM, RSTn, SOI
			p += 2
			continue
		case m == 0xD9: // EOI
			return scans
		}
		if p+4 > len(data) {
			break
		}
		n := int(data[p+2])<<8 | int(data[p+3])
		if n < 2 {
			break
		}
		if m == 0xDA {
			scans++
		}
		p += 2 + n
	}
	return scans
}

// jpegMaybeRGB reports whether a 3-component JPEG may hold RGB rather than
// YCbCr, as jpegdec and image/jpeg decide: no JFIF marker, and an Adobe
// marker with transform 0 or components named 'R', 'G', 'B'. It errs
// towards true (a header it cannot read).
func jpegMaybeRGB(data []byte) bool {
	cfg, err := jpegdec.DecodeConfig(data)
	if err != nil {
		return true
	}
	if cfg.Adobe && cfg.AdobeTransform == 0 {
		return true
	}
	jfif := false
	for p := 2; p+4 <= len(data) && data[p] == 0xFF; {
		m := data[p+1]
		n := int(data[p+2])<<8 | int(data[p+3])
		if m == 0xE0 && n >= 7 && p+9 <= len(data) && string(data[p+4:p+9]) == "JFIF\x00" {
			jfif = true
		}
		if m >= 0xC0 && m <= 0xC2 && p+2+n <= len(data) && n >= 17 {
			ids := data[p+10 : p+2+n]
			return !jfif && ids[0] == 'R' && ids[3] == 'G' && ids[6] == 'B'
		}
		if m == 0xDA || n < 2 {
			break
		}
		p += 2 + n
	}
	return true
}
