package resize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"golang.org/x/image/webp"
)

// The kinds of decode failure. Every error Decode and DecodeBytes return for
// the source's content is a *DecodeError whose Kind is one of these, so
// errors.Is(err, ErrCorrupt) and so on tell them apart; DecodeStatus maps
// them to the handler's status. Nothing is written back to the bucket after
// any of them.
var (
	// ErrNotImage: the bytes are not an image format r2gate knows (whatever
	// the name or Content-Type say). HTTP 415.
	ErrNotImage = errors.New("not an image")
	// ErrUnsupported: a known image format this build cannot decode (AVIF,
	// 12-bit or arithmetic-coded JPEG, a 4-channel JPEG without Adobe
	// marker, ...). HTTP 415.
	ErrUnsupported = errors.New("unsupported image format")
	// ErrSVG: the source is an SVG, which is never rasterised; the handler
	// serves it unchanged instead of a variant. It is also an
	// ErrUnsupported, so a handler that does not check answers 415.
	ErrSVG = fmt.Errorf("SVG is served unchanged, never rasterised: %w", ErrUnsupported)
	// ErrCorrupt: a truncated or malformed image. HTTP 422.
	ErrCorrupt = errors.New("corrupt or truncated image")
	// ErrTooLarge: over DecodeLimits (bytes or canvas pixels), refused before
	// the body is read or before any pixel is decoded. HTTP 422, not 413: 413
	// is about the request's own content, and a GET has none; the source
	// object is what cannot be processed.
	ErrTooLarge = errors.New("image over the source limits")
	// ErrDecoderPanic: a decoder panicked on this input; the panic was
	// recovered. HTTP 500, and the handler logs it (DecodeError.Stack) and
	// counts it.
	ErrDecoderPanic = errors.New("image decoder panicked")
)

// DecodeError is a decode failure: its Kind (one of the Err* kinds above),
// the source's format as sniffed, and the underlying cause.
type DecodeError struct {
	// Kind is ErrNotImage, ErrUnsupported, ErrSVG, ErrCorrupt, ErrTooLarge
	// or ErrDecoderPanic.
	Kind error
	// Format is the sniffed format (SourceUnknown when not known yet).
	Format SourceFormat
	// Err is the cause (the decoder's error, the limit passed, the panic
	// value); may be nil.
	Err error
	// Stack is the decoder's stack when Kind is ErrDecoderPanic, for the
	// log; nil otherwise.
	Stack []byte
}

// Error describes the failure in one line (no stack).
func (e *DecodeError) Error() string {
	s := "resize: decode " + e.Format.String() + ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is matches either.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func decodeErr(kind error, f SourceFormat, cause error) *DecodeError {
	return &DecodeError{Kind: kind, Format: f, Err: cause}
}

// DecodeStatus returns the HTTP status for a decode error: 415 for
// ErrNotImage and ErrUnsupported (ErrSVG included), 422 for ErrCorrupt and
// ErrTooLarge, 500 for ErrDecoderPanic. ok is false for any other error,
// such as a failed read of the body (the handler decides, typically 502).
func DecodeStatus(err error) (status int, ok bool) {
	var de *DecodeError
	if !errors.As(err, &de) {
		return 0, false
	}
	switch {
	case errors.Is(de.Kind, ErrNotImage), errors.Is(de.Kind, ErrUnsupported):
		return http.StatusUnsupportedMediaType, true
	case errors.Is(de.Kind, ErrCorrupt), errors.Is(de.Kind, ErrTooLarge):
		return http.StatusUnprocessableEntity, true
	}
	return http.StatusInternalServerError, true
}

// Disposal is what happens to an animation frame's rectangle before the next
// frame is drawn; the values are GIF's (image/gif's Disposal* constants).
type Disposal uint8

// The disposal methods.
const (
	// DisposalUnspecified behaves as DisposalNone.
	DisposalUnspecified Disposal = 0
	// DisposalNone leaves the frame in place.
	DisposalNone Disposal = 1
	// DisposalBackground clears the frame's rectangle to transparent.
	DisposalBackground Disposal = 2
	// DisposalPrevious restores the rectangle as it was before the frame.
	DisposalPrevious Disposal = 3
)

// SourceFrame is one decoded frame of a Source, as the file stores it.
type SourceFrame struct {
	// Image is the frame's pixels, as the decoder made them (*image.YCbCr,
	// *image.Gray, *image.CMYK for JPEG; *image.NRGBA, *image.Paletted,
	// *image.RGBA64... for PNG; *image.Paletted for GIF; *image.YCbCr or
	// *image.NYCbCrA or *image.NRGBA for WebP). Its Bounds lie within the
	// canvas and, for a GIF or WebP animation frame, may be a sub-rectangle
	// of it: draw
	// frames with Source.Composite or Source.Still.
	//
	// A CMYK or YCCK JPEG is an *image.CMYK holding ink amounts: image/jpeg
	// reads the Adobe APP14 marker, undoes Adobe's inversion (255 = no ink
	// as stored) and converts YCCK, so image/color's CMYK model gives RGB
	// (a naive, not colour-managed conversion; the print profile such
	// files carry is in Source.ICC). A 4-channel JPEG without the Adobe
	// marker is ErrUnsupported.
	Image image.Image
	// Delay is how long the frame shows; 0 for stills.
	Delay time.Duration
	// Disposal is the frame's disposal method (GIF and WebP);
	// DisposalUnspecified for stills.
	Disposal Disposal
	// Overwrite is set for a WebP frame that replaces its rectangle, alpha
	// included, instead of being alpha-blended over the canvas (WebP's "do
	// not blend").
	Overwrite bool
}

// Source is a decoded source image: its frames and what a transform needs to
// know about it. Orientation is not applied yet (see Orient and
// OrientedSize); the ICC profile is not converted.
type Source struct {
	// Format is the sniffed format.
	Format SourceFormat
	// Width and Height are the canvas size as decoded (before
	// orientation): as stored, except for a JPEG decoded at a reduced
	// Scale, whose size is then ScaledSize of the stored one.
	Width, Height int
	// Scale is the reduction the pixels were decoded at: 1, or 2, 4 or 8
	// for a JPEG decoded by shrink-on-load (Decoder.JPEGScale).
	Scale int
	// Frames holds at least one frame.
	Frames []SourceFrame
	// FrameCount is how many frames the file has (from its headers); more
	// than len(Frames) when Stilled.
	FrameCount int
	// Stilled is set when an animation was decoded as its first frame only:
	// Decoder.Still asked for it, or it was over MaxFrames or
	// MaxTotalFramePixels.
	Stilled bool
	// LoopCount is the animation's loop count with image/gif's meaning (0
	// forever, -1 once, n: n+1 times).
	LoopCount int
	// Orientation is the EXIF orientation, 1–8 (1 when absent or broken).
	Orientation int
	// ICC is the embedded ICC profile (JPEG APP2 chunks reassembled, PNG
	// iCCP inflated, WebP ICCP), nil if none; not interpreted.
	ICC []byte
	// EXIF is the raw EXIF block (a TIFF structure, possibly with the
	// "Exif\0\0" prefix), nil if none; kept for metadata=keep or copyright.
	EXIF []byte

	// storedWidth and storedHeight are the size as stored when Scale > 1.
	storedWidth, storedHeight int
}

// Animated reports whether the source has more than one frame to show.
func (s *Source) Animated() bool { return len(s.Frames) > 1 }

// OrientedSize returns the canvas size after Orientation is applied:
// width and height swap for orientations 5–8.
func (s *Source) OrientedSize() (w, h int) {
	if s.Orientation >= 5 && s.Orientation <= 8 {
		return s.Height, s.Width
	}
	return s.Width, s.Height
}

// Info is what Probe learns from a source's headers, without decoding pixels.
type Info struct {
	// Format is the sniffed format.
	Format SourceFormat
	// Width and Height are the canvas size as stored.
	Width, Height int
	// Frames is the number of frames (1 for a still).
	Frames int
	// FramePixels is the sum of the frames' rectangles (Width×Height for a
	// still).
	FramePixels int64
	// DecodeBytes estimates (on the high side) the memory DecodeBytes
	// allocates to decode every frame, for the resize queue's memory
	// budget; the source bytes themselves and Composite's canvas (4 bytes
	// a canvas pixel) are not included. It depends on the codec: about 1.5
	// bytes a pixel for a 4:2:0 baseline JPEG, 7.5 progressive, 8 for a
	// 16-bit PNG, 1 for each GIF frame pixel, up to 12 for WebP. For a
	// JPEG it is image/jpeg's full-size decode (Decoder.JPEGScale 0);
	// Processor.Process asks its queue for the decode it will make, which
	// is much less when shrink-on-load reduces it (1/scale² of the pixels).
	DecodeBytes int64
}

// Decoder decodes sources within its Limits. Its zero value uses the default
// limits and decodes every frame within the animation budget.
type Decoder struct {
	// Limits bounds the sources accepted; zero fields are the defaults.
	Limits DecodeLimits
	// Still decodes an animation's first frame only (anim=false).
	Still bool
	// JPEGScale chooses a JPEG's decoder. 0 (the zero value): image/jpeg at
	// full size. 1, 2, 4 or 8: resize/jpegdec at 1/JPEGScale of the size
	// (shrink-on-load, see JPEGShrink), the Source's Width, Height and
	// Scale then saying what was decoded; a JPEG jpegdec does not support
	// (jpegdec.ErrUnsupported) is decoded by image/jpeg at full size
	// instead (Scale 1), so every JPEG image/jpeg decodes still decodes.
	// Another jpegdec failure is ErrCorrupt. Other formats ignore it; any
	// other value is an error.
	JPEGScale int
	// Workers is the goroutines the scaled JPEG decoder may use for one
	// baseline file with restart markers (its restart intervals are
	// independent); 0 or 1: one.
	Workers int

	// beforeFallback, if set, runs before a JPEG that the scaled decoder
	// does not support is decoded by image/jpeg at full size; an error
	// ends the decode with it (Processor.Process asks its queue for the
	// full decode's memory there).
	beforeFallback func() error

	// beforePixels, if set, runs just before the pixel decoder, inside its
	// panic recovery (tests inject a panicking decoder with it).
	beforePixels func(SourceFormat)
}

// Decode is Decoder{Limits: lim}.Decode(r, size).
func Decode(r io.Reader, size int64, lim DecodeLimits) (*Source, error) {
	return Decoder{Limits: lim}.Decode(r, size)
}

// Decode reads a source of size bytes (its object size; -1 if unknown) from
// r and decodes it. A size over MaxSourceBytes is ErrTooLarge before
// anything is read; the body is read through an io.LimitReader (size bytes,
// or MaxSourceBytes+1 when the size is unknown), and a source that is not a
// known image is refused after its first SniffLen bytes, before a buffer for
// the whole body is allocated. A failed read (including a body shorter than
// size) is returned wrapped and is not a *DecodeError. See DecodeBytes for
// the rest.
func (d Decoder) Decode(r io.Reader, size int64) (*Source, error) {
	lim := d.Limits.WithDefaults()
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	if err := lim.checkSize(SourceUnknown, size); err != nil {
		return nil, err
	}
	limit := size
	if size < 0 {
		limit = lim.MaxSourceBytes + 1
	}
	lr := io.LimitReader(r, limit)
	head := make([]byte, min(limit, SniffLen))
	n, err := io.ReadFull(lr, head)
	switch {
	case err == nil:
	case size < 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		// The whole body was shorter than SniffLen.
		return d.DecodeBytes(head[:n])
	default:
		return nil, fmt.Errorf("resize: read source (%d bytes): %w", size, err)
	}
	if f := Sniff(head); f == SourceUnknown || f == SourceSVG || f == SourceAVIF {
		return nil, formatErr(f)
	}
	if size < 0 {
		rest, err := io.ReadAll(lr)
		if err != nil {
			return nil, fmt.Errorf("resize: read source: %w", err)
		}
		data := append(head, rest...)
		if err := lim.checkSize(Sniff(data), int64(len(data))); err != nil {
			return nil, err
		}
		return d.DecodeBytes(data)
	}
	data := make([]byte, size)
	copy(data, head)
	if _, err := io.ReadFull(lr, data[len(head):]); err != nil {
		return nil, fmt.Errorf("resize: read source (%d bytes): %w", size, err)
	}
	return d.DecodeBytes(data)
}

// formatErr is the error for a format that is never decoded.
func formatErr(f SourceFormat) *DecodeError {
	switch f {
	case SourceSVG:
		return decodeErr(ErrSVG, f, nil)
	case SourceUnknown:
		return decodeErr(ErrNotImage, f, nil)
	}
	return decodeErr(ErrUnsupported, f, nil)
}

// Probe sniffs data (a whole source) and reads its headers: the format, the
// canvas, and for a GIF the frames, found by walking its blocks. It checks
// MaxSourceBytes and MaxSourcePixels and decodes no pixel, allocating
// nothing in proportion to the declared size, so a few-KB file declaring
// 100000×100000 is refused at once. Its errors are *DecodeError; a panic in
// a header decoder is recovered as ErrDecoderPanic.
func Probe(data []byte, lim DecodeLimits) (info Info, err error) {
	lim = lim.WithDefaults()
	if err := lim.Validate(); err != nil {
		return Info{}, err
	}
	defer recoverDecoder(&err, data)
	return probe(data, lim)
}

// recoverDecoder turns a panic in a decoder (the standard library's,
// x/image's or this package's container walkers) into ErrDecoderPanic in
// *err. It must be deferred directly.
func recoverDecoder(err *error, data []byte) {
	if v := recover(); v != nil {
		*err = &DecodeError{Kind: ErrDecoderPanic, Format: Sniff(data), Err: fmt.Errorf("%v", v), Stack: debug.Stack()}
	}
}

func probe(data []byte, lim DecodeLimits) (Info, error) {
	f := Sniff(data)
	if err := lim.checkSize(f, int64(len(data))); err != nil {
		return Info{}, err
	}
	info := Info{Format: f, Frames: 1}
	// Canvases the decoders' own header checks refuse as malformed or
	// unsupported (a PNG side over 2^31-1, a WebP canvas over 2^31-1
	// pixels) are over the limit first: ErrTooLarge, like any bomb.
	if w, h, ok := rawCanvas(f, data); ok {
		if err := lim.checkCanvas(f, w, h); err != nil && errors.Is(err, ErrTooLarge) {
			return Info{}, err
		}
	}
	var cfg image.Config
	var err error
	switch f {
	case SourceJPEG:
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
		if n := jpegScans(data, lim.MaxJPEGScans); err == nil && n > lim.MaxJPEGScans {
			return Info{}, decodeErr(ErrTooLarge, f, fmt.Errorf("more than %d scans", lim.MaxJPEGScans))
		}
	case SourcePNG:
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case SourceWebP:
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
		if err == nil && webpAnimated(data) {
			info.Frames = 0
			_, err = walkWebPAnimation(data, cfg.Width, cfg.Height, func(f webpFrame) error {
				info.Frames++
				info.FramePixels += int64(f.rect.Dx()) * int64(f.rect.Dy())
				return nil
			})
		}
	case SourceGIF:
		var h gifHeader
		h, err = scanGIF(data)
		cfg.Width, cfg.Height = h.width, h.height
		info.Frames, info.FramePixels = h.frames, h.framePixels
	default:
		return Info{}, formatErr(f)
	}
	if err != nil {
		return Info{}, decoderErr(f, err)
	}
	if err := lim.checkCanvas(f, cfg.Width, cfg.Height); err != nil {
		return Info{}, err
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	if info.FramePixels == 0 {
		info.FramePixels = int64(cfg.Width) * int64(cfg.Height)
	}
	info.DecodeBytes = decodeCost(info, data, 0)
	return info, nil
}

// rawCanvas reads the canvas size a PNG's IHDR or a WebP's VP8X declares,
// straight from the bytes (ok false if the header is not there).
func rawCanvas(f SourceFormat, data []byte) (w, h int, ok bool) {
	switch {
	case f == SourcePNG && len(data) >= 24 && string(data[12:16]) == "IHDR":
		return int(binary.BigEndian.Uint32(data[16:])), int(binary.BigEndian.Uint32(data[20:])), true
	case f == SourceWebP && len(data) >= 30 && string(data[12:16]) == "VP8X":
		le24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
		return 1 + le24(data[24:]), 1 + le24(data[27:]), true
	}
	return 0, 0, false
}

// decoderErr classifies a decoder's error: the standard decoders'
// UnsupportedError is ErrUnsupported, anything else ErrCorrupt.
func decoderErr(f SourceFormat, err error) *DecodeError {
	var ju jpeg.UnsupportedError
	var pu png.UnsupportedError
	if errors.As(err, &ju) || errors.As(err, &pu) {
		return decodeErr(ErrUnsupported, f, err)
	}
	return decodeErr(ErrCorrupt, f, err)
}

// DecodeBytes decodes a whole source held in memory (it is not modified,
// and the Source does not alias it). It probes the headers first (see
// Probe), then decodes the pixels: every frame of an animation within
// MaxFrames and MaxTotalFramePixels, else (or with d.Still) the first frame
// only. The EXIF orientation and ICC profile are read from the container. A
// panic in a decoder (headers, metadata or pixels) is recovered and returned
// as ErrDecoderPanic.
func (d Decoder) DecodeBytes(data []byte) (src *Source, err error) {
	lim := d.Limits.WithDefaults()
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	switch d.JPEGScale {
	case 0, 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("resize: JPEG decode scale %d is not 0, 1, 2, 4 or 8", d.JPEGScale)
	}
	defer func() {
		if err != nil {
			src = nil
		}
	}()
	defer recoverDecoder(&err, data)
	info, err := probe(data, lim)
	if err != nil {
		return nil, err
	}
	meta := readMetadata(info.Format, data)
	src = &Source{
		Format:      info.Format,
		Width:       info.Width,
		Height:      info.Height,
		Scale:       1,
		FrameCount:  info.Frames,
		Orientation: 1,
		ICC:         bytes.Clone(meta.icc),
		EXIF:        bytes.Clone(meta.exif),
	}
	if meta.exif != nil {
		if o, err := ExifOrientation(meta.exif); err == nil {
			src.Orientation = o
		}
	}
	all := info.Frames > 1 && !d.Still && !lim.overFrameBudget(info.Frames, info.FramePixels)
	src.Stilled = info.Frames > 1 && !all
	if err := d.decodePixels(src, data, all); err != nil {
		return nil, err
	}
	return src, nil
}

// decodePixels fills src.Frames.
func (d Decoder) decodePixels(src *Source, data []byte, all bool) (err error) {
	if d.beforePixels != nil {
		d.beforePixels(src.Format)
	}
	r := bytes.NewReader(data)
	var img image.Image
	switch src.Format {
	case SourceJPEG:
		if d.JPEGScale > 0 {
			lim := d.Limits.WithDefaults()
			if ok, err := decodeScaledJPEG(src, data, d.JPEGScale, lim, d.Workers); ok || err != nil {
				return err
			}
			if d.beforeFallback != nil {
				if err := d.beforeFallback(); err != nil {
					return err
				}
			}
		}
		img, err = jpeg.Decode(r)
	case SourcePNG:
		img, err = png.Decode(r)
	case SourceWebP:
		if webpAnimated(data) {
			return decodeWebPAnimation(src, data, all)
		}
		if img, err = webp.Decode(r); err == nil {
			img = webpToRGB(img) // lossy WebP is limited-range Y'CbCr
		}
	case SourceGIF:
		if all {
			return decodeGIFAll(src, r)
		}
		img, err = gif.Decode(r)
	default:
		return formatErr(src.Format)
	}
	if err != nil {
		return decoderErr(src.Format, err)
	}
	// A GIF frame may be empty (it only waits); any other image covers the
	// canvas its header declared.
	if !img.Bounds().In(image.Rect(0, 0, src.Width, src.Height)) || img.Bounds().Empty() && src.Format != SourceGIF {
		return decodeErr(ErrCorrupt, src.Format, fmt.Errorf("decoded %v, header said %d×%d", img.Bounds(), src.Width, src.Height))
	}
	src.Frames = []SourceFrame{{Image: img}}
	return nil
}

// decodeGIFAll decodes every frame of an animated GIF (within the budget
// already checked from its headers).
func decodeGIFAll(src *Source, r io.Reader) error {
	g, err := gif.DecodeAll(r)
	if err != nil {
		return decoderErr(src.Format, err)
	}
	if len(g.Image) != src.FrameCount {
		return decodeErr(ErrCorrupt, src.Format, fmt.Errorf("decoded %d frames, the headers have %d", len(g.Image), src.FrameCount))
	}
	canvas := image.Rect(0, 0, src.Width, src.Height)
	src.Frames = make([]SourceFrame, len(g.Image))
	for i, m := range g.Image {
		if !m.Rect.In(canvas) {
			return decodeErr(ErrCorrupt, src.Format, fmt.Errorf("frame %d at %v outside the canvas", i, m.Rect))
		}
		src.Frames[i] = SourceFrame{Image: m, Delay: time.Duration(g.Delay[i]) * 10 * time.Millisecond, Disposal: Disposal(g.Disposal[i])}
	}
	src.LoopCount = g.LoopCount
	return nil
}
