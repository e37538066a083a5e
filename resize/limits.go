package resize

import "fmt"

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
)

// DecodeLimits bounds what Decode accepts. Every field's zero value means its
// default; a negative value is invalid (Decode fails with ErrTooLarge for
// every source, which is never what a config wants: check with Validate).
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
}

// Validate reports a negative limit.
func (l DecodeLimits) Validate() error {
	if l.MaxSourcePixels < 0 || l.MaxSourceBytes < 0 || l.MaxFrames < 0 || l.MaxTotalFramePixels < 0 {
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
