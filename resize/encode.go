package resize

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"sync"
	"time"

	"github.com/r2gate/r2gate/resize/jpegenc"
)

// ErrFormatUnavailable is the error (wrapped, test with errors.Is) for an
// output format this build has no encoder for: AVIF, and WebP unless built
// with the tag nodynamic (see EncodeWebP). Negotiate never picks such a
// format; an explicit format=webp or format=avif does reach it, and the
// caller decides the answer (for example 415, or the source's own format).
var ErrFormatUnavailable = errors.New("no encoder for this output format in this build")

// CanEncode reports whether this build can encode f: JPEG, PNG and GIF (the
// standard library's encoders), and WebP when built with the tag nodynamic
// (EncodeWebP). AVIF is not available yet; FormatOriginal and FormatAuto
// are not concrete formats.
func CanEncode(f Format) bool {
	switch f {
	case FormatJPEG, FormatPNG, FormatGIF:
		return true
	case FormatWebP:
		return webpAvailable
	}
	return false
}

// Encode writes img to w as f. quality applies to JPEG and WebP (1–100; 0:
// DefaultQuality; WebP at 100 is lossless); PNG is lossless and GIF is
// quantised to 256 colours. See EncodeJPEG, EncodePNG, EncodeGIF and
// EncodeWebP. f must be concrete (resolve
// FormatOriginal and FormatAuto with Negotiate first). No metadata is
// written: the output carries no EXIF, XMP or ICC profile (pixels are
// expected in sRGB, which is what untagged images mean).
func Encode(w io.Writer, img image.Image, f Format, quality int) error {
	return encode(w, img, f, quality, 1)
}

// encode is Encode with the JPEG encoder on up to workers goroutines.
func encode(w io.Writer, img image.Image, f Format, quality, workers int) error {
	switch f {
	case FormatJPEG:
		return encodeJPEG(w, img, quality, workers)
	case FormatPNG:
		return EncodePNG(w, img)
	case FormatGIF:
		return EncodeGIF(w, Animation{Frames: []Frame{{Image: img}}})
	case FormatWebP:
		return EncodeWebP(w, img, quality)
	case FormatAVIF:
		return fmt.Errorf("resize: encode %v: %w", f, ErrFormatUnavailable)
	}
	return fmt.Errorf("resize: encode: %q is not a concrete output format", f.String())
}

// EncodeJPEG writes img as a baseline JPEG (4:2:0) at quality (clamped to
// 1–100; 0: DefaultQuality). JPEG has no alpha: an image that is not opaque
// is flattened onto DefaultBackground first, as a safety net; the pipeline
// should already have composited it onto the request's background with
// Transform and Background(o, FormatJPEG), so that the result is opaque.
//
// The encoder is resize/jpegenc (4:2:0, one restart interval per row of
// 16 pixels, rows encoded in parallel by encode's workers): a 4:2:0 YCbCr
// or a Gray image is written as it is, an RGBA one is converted to 4:2:0
// first (each pixel's Cb and Cr averaged over 2×2, as image/jpeg does);
// anything jpegenc refuses goes to image/jpeg.
func EncodeJPEG(w io.Writer, img image.Image, quality int) error {
	return encodeJPEG(w, img, quality, 1)
}

// encodeJPEG is EncodeJPEG on up to workers goroutines.
func encodeJPEG(w io.Writer, img image.Image, quality, workers int) error {
	if quality == 0 {
		quality = DefaultQuality
	}
	quality = min(max(quality, 1), 100)
	switch m := img.(type) {
	case *image.NRGBA:
		if m.Opaque() {
			// Opaque straight and premultiplied alpha are the same bytes.
			img = &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
		} else {
			img = Flatten(m, DefaultBackground)
		}
	case *image.YCbCr, *image.Gray:
	default:
		if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
			img = Flatten(img, DefaultBackground)
		}
	}
	if m, ok := img.(*image.RGBA); ok {
		img = rgbaToYCbCr420(m)
	}
	err := jpegenc.Encode(w, img, quality, workers)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jpegenc.ErrUnsupported) {
		return fmt.Errorf("resize: encode jpeg: %w", err)
	}
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: quality}); err != nil {
		return fmt.Errorf("resize: encode jpeg: %w", err)
	}
	return nil
}

// pngBuffers reuses the PNG encoder's compression buffers across encodes.
type pngBuffers struct{ pool sync.Pool }

// Get returns a buffer from the pool, or nil (the encoder allocates one).
func (p *pngBuffers) Get() *png.EncoderBuffer {
	b, _ := p.pool.Get().(*png.EncoderBuffer)
	return b
}

// Put returns a buffer to the pool.
func (p *pngBuffers) Put(b *png.EncoderBuffer) { p.pool.Put(b) }

// pngEncoder is shared: png.Encoder is safe for concurrent use once built,
// and its BufferPool is a sync.Pool.
var pngEncoder = &png.Encoder{CompressionLevel: png.DefaultCompression, BufferPool: &pngBuffers{}}

// EncodePNG writes img as a PNG, keeping its alpha channel (8-bit RGBA, or
// RGB when img is opaque). The compression level is zlib's default (6): a
// variant is made once and served many times, so its size matters more
// than the few milliseconds BestSpeed would save.
func EncodePNG(w io.Writer, img image.Image) error {
	if y, ok := img.(*image.YCbCr); ok {
		img = ycbcrToNRGBA(y) // the encoder would call At for every pixel
	}
	if err := pngEncoder.Encode(w, img); err != nil {
		return fmt.Errorf("resize: encode png: %w", err)
	}
	return nil
}

// Flatten returns img composited over bg as an opaque image (a translucent
// bg is first composited over DefaultBackground). It is what JPEG output
// needs; Transform does the same in one pass while resampling.
func Flatten(img image.Image, bg color.NRGBA) *image.RGBA {
	if bg.A != 255 {
		a := uint32(bg.A)
		mix := func(c uint8) uint8 { return uint8((uint32(c)*a + 255*(255-a) + 127) / 255) }
		bg = color.NRGBA{R: mix(bg.R), G: mix(bg.G), B: mix(bg.B), A: 255}
	}
	b := img.Bounds()
	g := Geometry{Canvas: b.Size(), Dst: image.Rectangle{Max: b.Size()}, Src: image.Rectangle{Max: b.Size()}}
	out, err := Transform(img, g, bg, 1)
	if err != nil { // cannot happen: the geometry is the image's own
		out = image.NewNRGBA(image.Rectangle{Max: b.Size()})
		fillNRGBA(out, bg)
	}
	return &image.RGBA{Pix: out.Pix, Stride: out.Stride, Rect: out.Rect}
}

// Frame is one frame of an animation, as a full canvas: every frame has the
// animation's size and shows the whole picture at that moment (the decoder
// composes a GIF's or WebP's partial frames and disposal methods into full
// canvases before resizing), so every frame can be resized on one Geometry.
type Frame struct {
	// Image is the frame's picture.
	Image image.Image
	// Delay is how long the frame shows; GIF rounds it to hundredths of a
	// second.
	Delay time.Duration
}

// Animation is a sequence of full-canvas frames. It is how the decoder's
// output for an animated source meets the encoder: decode, then
// TransformAnimation with the Geometry planned from the canvas size, then
// EncodeGIF. (With anim=false or over the frame budget the caller uses the
// first frame as a still image instead.)
type Animation struct {
	// Frames are the frames in order; all of one size.
	Frames []Frame
	// LoopCount is as in image/gif: 0 loops forever, -1 plays once, n > 0
	// plays n+1 times.
	LoopCount int
}

// TransformAnimation resizes every frame of a with Transform on the same
// geometry and background, one frame after another, each on up to workers
// goroutines; the delays and loop count are kept.
func TransformAnimation(a Animation, g Geometry, bg color.NRGBA, workers int) (Animation, error) {
	out := Animation{Frames: make([]Frame, len(a.Frames)), LoopCount: a.LoopCount}
	for i, f := range a.Frames {
		m, err := Transform(f.Image, g, bg, workers)
		if err != nil {
			return Animation{}, fmt.Errorf("resize: frame %d: %w", i, err)
		}
		out.Frames[i] = Frame{Image: m, Delay: f.Delay}
	}
	return out, nil
}

// TransformSource resizes a decoded source on geometry g, which the caller
// plans from s.OrientedSize() (Source.PlanGeometry): every frame is turned
// upright for s.Orientation (Orient) and resized with Transform; a still is
// resized as stored (the geometry mapped to it) and its output turned
// upright, so the source is never copied. A source with one
// frame, or any source when still is set (anim=false), gives a one-frame
// Animation of its first frame (Source.Still); an animation gives one frame
// per source frame, each the whole canvas as it shows at that frame
// (Source.Composite applies the disposal methods), with its delay, and the
// source's loop count. Memory: the source, one canvas, and the resized
// frames.
//
// out is the format the result is for: a JPEG or WebP output of a Y'CbCr
// still that fills its canvas is resampled plane by plane into a 4:2:0
// *image.YCbCr (transformYCbCr), since both formats store 4:2:0 anyway;
// every other case gives *image.NRGBA frames.
func TransformSource(s *Source, g Geometry, out Format, bg color.NRGBA, workers int, still bool) (Animation, error) {
	if len(s.Frames) == 0 {
		return Animation{}, errors.New("resize: transform source: no frames")
	}
	if still || !s.Animated() {
		// A still is resampled as stored and its output oriented: the
		// source is never copied (a 12 MP photo's rotated RGBA copy is
		// 96 MiB and more time than the resampling).
		img := s.Still()
		sg := storedGeometry(g, s.Orientation, img.Bounds().Dx(), img.Bounds().Dy())
		var m image.Image
		if y, ok := img.(*image.YCbCr); ok && (out == FormatJPEG || out == FormatWebP) {
			if r, ok := transformYCbCr(y, sg, s.Orientation, workers); ok {
				m = r
			}
		}
		if m == nil {
			out, err := Transform(img, sg, bg, workers)
			if err != nil {
				return Animation{}, fmt.Errorf("resize: transform source: %w", err)
			}
			m = out
		}
		return Animation{Frames: []Frame{{Image: Orient(m, s.Orientation)}}}, nil
	}
	anim := Animation{Frames: make([]Frame, 0, len(s.Frames)), LoopCount: s.LoopCount}
	err := s.Composite(func(i int, canvas *image.RGBA) error {
		m, err := Transform(Orient(canvas, s.Orientation), g, bg, workers)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		anim.Frames = append(anim.Frames, Frame{Image: m, Delay: s.Frames[i].Delay})
		return nil
	})
	if err != nil {
		return Animation{}, fmt.Errorf("resize: transform source: %w", err)
	}
	return anim, nil
}

// EncodeAnimation writes a as f: every frame for GIF (EncodeGIF), the first
// frame for the still formats (Encode, with the JPEG encoder on up to
// workers goroutines), since this build has no animated WebP encoder.
func EncodeAnimation(w io.Writer, a Animation, f Format, quality, workers int) error {
	if len(a.Frames) == 0 {
		return errors.New("resize: encode: no frames")
	}
	if f == FormatGIF {
		return EncodeGIF(w, a)
	}
	return encode(w, a.Frames[0].Image, f, quality, workers)
}

// EncodeGIF writes a as a GIF: one frame for a still, an animation
// otherwise. Every frame is quantised to one palette made for the frames
// (median cut, up to 256 colours, or 255 and a transparent one; an image
// with that few colours keeps them) and dithered with Floyd-Steinberg (see
// ditherer). GIF transparency is one bit: a pixel less than half opaque
// becomes transparent, any other is drawn opaque with its colour.
//
// An animation with no transparent pixel is written as differences: after
// the first frame, a pixel byte-identical to the one before it is left
// transparent (the previous frame shows through, and it is not dithered
// again) and each frame is cropped to the pixels that change, so a still
// background costs nothing after the first frame. An animation with
// transparent pixels is written in whole frames that dispose to the
// background, so that a pixel can become transparent again.
//
// An empty animation or frames of different sizes are an error.
func EncodeGIF(w io.Writer, a Animation) error {
	if len(a.Frames) == 0 {
		return errors.New("resize: encode gif: no frames")
	}
	size := a.Frames[0].Image.Bounds().Size()
	frames := make([]*image.NRGBA, len(a.Frames))
	images := make([]image.Image, len(a.Frames))
	transparent := false
	for i, f := range a.Frames {
		if got := f.Image.Bounds().Size(); got != size {
			return fmt.Errorf("resize: encode gif: frame %d is %v, frame 0 is %v", i, got, size)
		}
		frames[i] = asNRGBA(f.Image)
		images[i] = frames[i]
		transparent = transparent || hasTransparent(frames[i])
	}
	diff := len(frames) > 1 && !transparent
	tIndex := -1 // the transparent colour's index; -1: none
	var pal color.Palette
	if transparent || diff {
		pal = medianCut(images, 255)
		tIndex = len(pal)
		pal = append(pal, color.NRGBA{})
	} else {
		pal = medianCut(images, 256)
	}
	opaque := pal
	if tIndex >= 0 {
		opaque = pal[:tIndex]
	}
	d := newDitherer(opaque)
	g := &gif.GIF{LoopCount: a.LoopCount}
	if len(frames) == 1 {
		g.LoopCount = 0
	}
	full := image.Rectangle{Max: size}
	for i, f := range frames {
		pm := image.NewPaletted(full, pal)
		var skip []bool
		switch {
		case transparent:
			skip = alphaMask(f)
		case diff && i > 0:
			skip = sameMask(f, frames[i-1])
		}
		d.draw(pm, f, skip, uint8(max(tIndex, 0)))
		if diff && i > 0 {
			pm = pm.SubImage(changed(skip, size)).(*image.Paletted)
		}
		g.Image = append(g.Image, pm)
		g.Delay = append(g.Delay, int((a.Frames[i].Delay+5*time.Millisecond)/(10*time.Millisecond)))
		disposal := byte(gif.DisposalNone)
		if transparent {
			disposal = gif.DisposalBackground
		}
		g.Disposal = append(g.Disposal, disposal)
	}
	if len(frames) > 1 || transparent {
		g.Config = image.Config{ColorModel: pal, Width: size.X, Height: size.Y}
		if transparent {
			g.BackgroundIndex = byte(tIndex)
		}
	}
	if err := gif.EncodeAll(w, g); err != nil {
		return fmt.Errorf("resize: encode gif: %w", err)
	}
	return nil
}

// asNRGBA returns m as an *image.NRGBA with its origin at (0, 0), converting
// (a copy) only when it is not one already.
func asNRGBA(m image.Image) *image.NRGBA {
	switch n := m.(type) {
	case *image.NRGBA:
		if n.Rect.Min == (image.Point{}) {
			return n
		}
	case *image.YCbCr:
		return ycbcrToNRGBA(n)
	}
	b := m.Bounds()
	n := image.NewNRGBA(image.Rectangle{Max: b.Size()})
	draw.Draw(n, n.Rect, m, b.Min, draw.Src)
	return n
}

// alphaMask marks the pixels of m less than half opaque.
func alphaMask(m *image.NRGBA) []bool {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	mask := make([]bool, w*h)
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for x := range w {
			mask[y*w+x] = row[4*x+3] < 128
		}
	}
	return mask
}

// sameMask marks the pixels of m byte-identical to those of prev (of the
// same size).
func sameMask(m, prev *image.NRGBA) []bool {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	mask := make([]bool, w*h)
	for y := range h {
		a := m.Pix[y*m.Stride : y*m.Stride+4*w]
		b := prev.Pix[y*prev.Stride : y*prev.Stride+4*w]
		for x := range w {
			mask[y*w+x] = [4]uint8(a[4*x:4*x+4]) == [4]uint8(b[4*x:4*x+4])
		}
	}
	return mask
}

// changed returns the smallest rectangle holding every pixel not marked in
// same (size.X pixels a row); a 1×1 rectangle at the origin when none is.
func changed(same []bool, size image.Point) image.Rectangle {
	r := image.Rectangle{Min: size}
	for y := range size.Y {
		for x := range size.X {
			if !same[y*size.X+x] {
				r.Min.X, r.Min.Y = min(r.Min.X, x), min(r.Min.Y, y)
				r.Max.X, r.Max.Y = max(r.Max.X, x+1), max(r.Max.Y, y+1)
			}
		}
	}
	if r.Empty() {
		return image.Rect(0, 0, 1, 1)
	}
	return r
}

// hasTransparent reports whether some pixel of m is less than half opaque.
func hasTransparent(m image.Image) bool {
	if n, ok := m.(*image.NRGBA); ok {
		for i := 3; i < len(n.Pix); i += 4 {
			if n.Pix[i] < 128 {
				return true
			}
		}
		return false
	}
	if o, ok := m.(interface{ Opaque() bool }); ok && o.Opaque() {
		return false
	}
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := m.At(x, y).RGBA(); a < 0x8000 {
				return true
			}
		}
	}
	return false
}

// storedGeometry maps g, planned on a source shown with EXIF orientation o
// (2–8; others: g itself), to the source as stored (sw×sh) and an output
// canvas as stored: Orient(Transform(stored, storedGeometry(g, ...)), o) is
// the canvas g describes.
func storedGeometry(g Geometry, o, sw, sh int) Geometry {
	if o < 2 || o > 8 {
		return g
	}
	cw, ch := g.Canvas.X, g.Canvas.Y
	if o >= 5 {
		cw, ch = ch, cw
	}
	return Geometry{
		Canvas: image.Pt(cw, ch),
		Dst:    storedRect(g.Dst, o, cw, ch),
		Src:    storedRect(g.Src, o, sw, sh),
	}
}

// storedRect maps r, a rectangle of an image shown with orientation o
// (2–8), to the image as stored, w×h (see orientPix: shown pixel (x, y) is
// stored pixel (w-1-x, y) for 2, and so on).
func storedRect(r image.Rectangle, o, w, h int) image.Rectangle {
	x0, y0, x1, y1 := r.Min.X, r.Min.Y, r.Max.X, r.Max.Y
	switch o {
	case 2:
		return image.Rect(w-x1, y0, w-x0, y1)
	case 3:
		return image.Rect(w-x1, h-y1, w-x0, h-y0)
	case 4:
		return image.Rect(x0, h-y1, x1, h-y0)
	case 5:
		return image.Rect(y0, x0, y1, x1)
	case 6:
		return image.Rect(y0, h-x1, y1, h-x0)
	case 7:
		return image.Rect(w-y1, h-x1, w-y0, h-x0)
	case 8:
		return image.Rect(w-y1, x0, w-y0, x1)
	}
	return r
}
