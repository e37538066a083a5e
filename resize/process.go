package resize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Processor makes variants: the whole pipeline from a source object's bytes
// to the encoded variant, within the decode limits and the queue's bounds.
// It is safe for concurrent use.
type Processor struct {
	// Parser gives the allowed formats and the default quality.
	Parser *Parser
	// Limits bound the sources decoded; zero fields are the defaults.
	Limits DecodeLimits
	// Queue admits resizes; nil: no admission control (tests, tools).
	Queue *Queue
	// Workers is the goroutines one resize uses; default 1. The queue's
	// concurrency times Workers is the most CPU resizing takes.
	Workers int
	// MaxWidth and MaxHeight bound any output; 0: MaxDimension.
	MaxWidth, MaxHeight int
}

// Result is a variant made by Process.
type Result struct {
	// Body is the encoded variant.
	Body []byte
	// Format and ContentType say what Body is.
	Format      Format
	ContentType string
	// Width and Height are the variant's size; Frames its frame count.
	Width, Height, Frames int
	// ColorManaged is false when the source's ICC profile could not be
	// converted to sRGB (a LUT-based or CMYK profile): its pixels were used
	// as they are.
	ColorManaged bool
}

// ErrFormatRefused is returned for an explicit output format that this
// route does not allow or this build cannot encode (format=webp without
// the nodynamic build tag): the handler answers 415.
var ErrFormatRefused = errors.New("resize: output format not available")

// Process makes the variant o of the source src (the whole object). accept
// is the request's Accept header, read only for format=auto. The source is
// probed first: a malformed, unsupported or oversized source is refused
// (a *DecodeError, see DecodeStatus) before the queue is asked and before
// any pixel is decoded. Then the resize waits for the queue
// (ErrQueueFull, ErrQueueTimeout, or ctx's error), is decoded, converted
// to sRGB when it carries an ICC profile, oriented, resized and encoded.
func (p *Processor) Process(ctx context.Context, src []byte, o Options, accept string) (*Result, error) {
	workers := max(p.Workers, 1)
	info, err := Probe(src, p.Limits)
	if err != nil {
		return nil, err
	}
	if info.Format == SourceSVG {
		return nil, &DecodeError{Kind: ErrSVG, Format: info.Format, Err: errors.New("SVG is served as it is")}
	}
	out := Negotiate(o, accept, info.Format.Output(), p.Parser.Allowed)
	if !CanEncode(out) || (o.Format == out && !p.Parser.Allowed(out)) {
		return nil, fmt.Errorf("%w: %s", ErrFormatRefused, out)
	}

	// The memory the resize will hold: the source's bytes and the decode,
	// plus the transform for either orientation (EXIF is read at decode
	// time).
	held := int64(len(src)) + info.DecodeBytes
	cost := held
	for _, wh := range [2][2]int{{info.Width, info.Height}, {info.Height, info.Width}} {
		if g, err := PlanGeometry(wh[0], wh[1], o, p.MaxWidth, p.MaxHeight); err == nil {
			cost = max(cost, held+TransformBytes(g, workers))
		}
	}
	if p.Queue != nil {
		release, err := p.Queue.Acquire(ctx, cost)
		if err != nil {
			return nil, err
		}
		defer release()
	}

	s, err := Decoder{Limits: p.Limits, Still: o.Still}.DecodeBytes(src)
	if err != nil {
		return nil, err
	}
	managed := true
	if len(s.ICC) > 0 {
		for i := range s.Frames {
			img, _, err := ToSRGB(s.Frames[i].Image, s.ICC, workers)
			if err != nil {
				managed = false // see Result.ColorManaged
				break
			}
			s.Frames[i].Image = img
		}
	}
	w, h := s.OrientedSize()
	g, err := PlanGeometry(w, h, o, p.MaxWidth, p.MaxHeight)
	if err != nil {
		return nil, &DecodeError{Kind: ErrTooLarge, Format: s.Format, Err: err}
	}
	anim, err := TransformSource(s, g, Background(o, out), workers, o.Still)
	if err != nil {
		return nil, fmt.Errorf("resize: transform: %w", err)
	}
	var buf bytes.Buffer
	if err := EncodeAnimation(&buf, anim, out, p.Parser.Quality(o)); err != nil {
		return nil, fmt.Errorf("resize: encode %s: %w", out, err)
	}
	frames := len(anim.Frames)
	if out != FormatGIF {
		frames = 1 // still formats take the first frame
	}
	return &Result{
		Body: buf.Bytes(), Format: out, ContentType: out.ContentType(),
		Width: g.Canvas.X, Height: g.Canvas.Y, Frames: frames, ColorManaged: managed,
	}, nil
}

// ContentType returns the media type of an output format ("" for
// FormatOriginal and FormatAuto, which name none).
func (f Format) ContentType() string {
	for _, s := range [...]SourceFormat{SourceJPEG, SourcePNG, SourceGIF, SourceWebP, SourceAVIF} {
		if s.Output() == f {
			return s.ContentType()
		}
	}
	return ""
}
