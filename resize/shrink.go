package resize

import (
	"errors"
	"fmt"
	"image"
)

// Shrink-on-load: a JPEG is decoded at 1/2, 1/4 or 1/8 of its size by
// resize/jpegdec (scaled inverse DCTs; 1/8 is each block's DC term) when the
// output needs no more, and the transform resamples the rest. Most of a
// large photo's decode is then never done.

// JPEGScales are the reductions a JPEG can be decoded at, largest first.
var JPEGScales = [...]int{8, 4, 2, 1}

// JPEGShrink returns the largest JPEG decode reduction s (8, 4, 2 or 1) for
// geometry g, planned on the full-size oriented source: the reduced source
// region, g.Src's width and height divided by s, still has at least as many
// pixels as g.Dst along both axes, so the transform only reduces (or copies)
// after the scaled decode, never enlarges. Planning in oriented coordinates
// accounts for EXIF orientations that swap the axes; a crop counts its
// region, not the whole source.
func JPEGShrink(g Geometry) int {
	sw, sh := int64(g.Src.Dx()), int64(g.Src.Dy())
	dw, dh := int64(g.Dst.Dx()), int64(g.Dst.Dy())
	for _, s := range JPEGScales {
		if sw >= int64(s)*dw && sh >= int64(s)*dh {
			return s
		}
	}
	return 1
}

// ShrinkOnLoad returns the Decoder.JPEGScale for making the variant o of
// the source data, whose headers Probe read into info, within maxW×maxH
// (as PlanGeometry): for a JPEG, JPEGShrink of the geometry planned on the
// full-size source as its EXIF orientation shows it (1 when that geometry
// cannot be planned); 0 (not a JPEG: nothing to choose) otherwise.
func ShrinkOnLoad(data []byte, info Info, o Options, maxW, maxH int) int {
	if info.Format != SourceJPEG {
		return 0
	}
	w, h := info.Width, info.Height
	if orient := jpegOrientation(data); orient >= 5 && orient <= 8 {
		w, h = h, w
	}
	g, err := PlanGeometry(w, h, o, maxW, maxH)
	if err != nil {
		return 1
	}
	return JPEGShrink(g)
}

// ScaledSize is the size of a w×h JPEG decoded at 1/scale: each side divided
// by scale, rounded up (a partial block still gives a pixel).
func ScaledSize(w, h, scale int) (int, int) {
	scale = max(scale, 1)
	return (w + scale - 1) / scale, (h + scale - 1) / scale
}

// ScaleGeometry maps g, planned on a full-size fw×fh (oriented) source, to
// the same source decoded at 1/scale, rw×rh (oriented, ScaledSize): the
// canvas and the destination are unchanged, the source rectangle is divided
// by scale and rounded to the nearest reduced pixel (halves up), an edge on
// the source's border staying on it, never empty and within rw×rh. So crop
// offsets and gravity keep their place to within half a reduced pixel.
func ScaleGeometry(g Geometry, scale, fw, fh, rw, rh int) Geometry {
	if scale <= 1 {
		return g
	}
	axis := func(lo, hi, full, reduced int) (int, int) {
		l := min((lo+scale/2)/scale, reduced-1)
		h := (hi + scale/2) / scale
		if hi >= full {
			h = reduced
		}
		h = min(max(h, l+1), reduced)
		return l, h
	}
	x0, x1 := axis(g.Src.Min.X, g.Src.Max.X, fw, rw)
	y0, y1 := axis(g.Src.Min.Y, g.Src.Max.Y, fh, rh)
	g.Src = image.Rect(x0, y0, x1, y1)
	return g
}

// jpegOrientation reads a JPEG's EXIF orientation from its APP1 segment
// (1 when there is none or it is broken), as DecodeBytes does.
func jpegOrientation(data []byte) int {
	if m := jpegMetadata(data); m.exif != nil {
		if o, err := ExifOrientation(m.exif); err == nil {
			return o
		}
	}
	return 1
}

// errScaledUnsupported is what the scaled decoder returns for a JPEG it does
// not decode (jpegdec.ErrUnsupported): the standard decoder then decodes it
// at full size.
var errScaledUnsupported = jpegdecUnsupported

// errScaledInternal is the scaled decoder's own failure (a recovered
// panic): a bug of that decoder, not of the file, so the standard decoder
// decodes the file instead, as for errScaledUnsupported.
var errScaledInternal = jpegdecInternal

// scaledJPEG decodes a JPEG at 1/scale within the limits; it is the
// scaled decoder (jpegdec.Decode), replaced in tests.
var scaledJPEG = jpegdecDecode

// decodeScaledJPEG decodes data at 1/scale with the scaled decoder (a
// baseline file with restart markers on up to workers goroutines) into
// src.Frames and sets src.Width, src.Height and src.Scale to the decoded
// size and scale. ok is false, with src untouched, when the scaled decoder
// does not support the file or fails on its own (a recovered panic, an
// image of the wrong size): the caller decodes it with image/jpeg. Any
// other failure of the scaled decoder is the file's (ErrCorrupt, or
// ErrTooLarge for a limit it enforces).
func decodeScaledJPEG(src *Source, data []byte, scale int, lim DecodeLimits, workers int) (ok bool, err error) {
	img, err := scaledJPEG(data, scale, lim.MaxSourcePixels, lim.MaxJPEGScans, max(workers, 1))
	switch {
	case errors.Is(err, errScaledUnsupported), errors.Is(err, errScaledInternal):
		return false, nil
	case err != nil:
		return false, decodeErr(ErrCorrupt, src.Format, fmt.Errorf("scaled decode 1/%d: %w", scale, err))
	}
	w, h := ScaledSize(src.Width, src.Height, scale)
	if img.Bounds() != image.Rect(0, 0, w, h) {
		return false, nil // the scaled decoder's bug: the standard decoder decodes it
	}
	src.storedWidth, src.storedHeight = src.Width, src.Height
	src.Width, src.Height, src.Scale = w, h, scale
	src.Frames = []SourceFrame{{Image: img}}
	return true, nil
}

// PlanGeometry returns the geometry of resizing s as o asks, for
// TransformSource: PlanGeometry on the oriented stored size (so a crop,
// gravity or rounding does not depend on the decode's scale), mapped to the
// decoded pixels by ScaleGeometry when s was decoded at a reduced Scale.
func (s *Source) PlanGeometry(o Options, maxW, maxH int) (Geometry, error) {
	scale := max(s.Scale, 1)
	fw, fh := s.storedWidth, s.storedHeight
	if fw == 0 || fh == 0 || scale == 1 {
		fw, fh = s.Width*scale, s.Height*scale
	}
	if s.Orientation >= 5 && s.Orientation <= 8 {
		fw, fh = fh, fw
	}
	g, err := PlanGeometry(fw, fh, o, maxW, maxH)
	if err != nil {
		return Geometry{}, err
	}
	rw, rh := s.OrientedSize()
	return ScaleGeometry(g, scale, fw, fh, rw, rh), nil
}
