package resize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
)

// PipelineVersion names the bytes the pipeline makes: it changes whenever
// the same source, options and quality would give a different output
// (a new resampler, encoder or colour handling), and it is part of a
// variant's ETag. 2: the planar resampler and resize/jpegenc (issue 11);
// 1 before.
const PipelineVersion = 2

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
	// StdJPEG turns shrink-on-load off: JPEGs are decoded by image/jpeg at
	// full size, as before resize/jpegdec (benchmarks and tests compare
	// the two). By default a JPEG is decoded by jpegdec at the largest
	// reduction the output allows (JPEGShrink).
	StdJPEG bool
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
	// DecodeScale is the reduction the source was decoded at: 2, 4 or 8
	// for a JPEG decoded by shrink-on-load, else 1.
	DecodeScale int
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
//
// A JPEG is decoded by shrink-on-load (unless StdJPEG): at the largest
// reduction 1/2, 1/4 or 1/8 that still leaves at least the output's pixels
// in the region used (ShrinkOnLoad), by resize/jpegdec, and the queue is
// asked for that decode's memory; the geometry is planned on the full-size
// source and mapped to the reduced one (Source.PlanGeometry). A JPEG
// jpegdec does not support is decoded by image/jpeg at full size, after
// the queue admitted that decode's memory too.
func (p *Processor) Process(ctx context.Context, src []byte, o Options, accept string) (*Result, error) {
	v, err := p.transform(ctx, src, o, accept)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := EncodeAnimation(&buf, v.anim, v.out, p.Parser.Quality(o), max(p.Workers, 1)); err != nil {
		return nil, fmt.Errorf("resize: encode %s: %w", v.out, err)
	}
	frames := len(v.anim.Frames)
	if v.out != FormatGIF {
		frames = 1 // still formats take the first frame
	}
	return &Result{
		Body: buf.Bytes(), Format: v.out, ContentType: v.out.ContentType(),
		Width: v.canvas.X, Height: v.canvas.Y, Frames: frames, ColorManaged: v.managed,
		DecodeScale: v.scale,
	}, nil
}

// transformed is a variant before encoding.
type transformed struct {
	anim    Animation
	out     Format
	canvas  image.Point
	managed bool
	scale   int
}

// transform is Process up to the encoder (tests compare its pixels).
func (p *Processor) transform(ctx context.Context, src []byte, o Options, accept string) (*transformed, error) {
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

	// JPEG: shrink-on-load (ShrinkOnLoad); the geometry is mapped to the
	// reduced source after the decode (Source.PlanGeometry).
	scale, orient := 0, 1
	if info.Format == SourceJPEG {
		orient = jpegOrientation(src)
		if !p.StdJPEG {
			scale = ShrinkOnLoad(src, info, o, p.MaxWidth, p.MaxHeight)
		}
	}

	// The memory the resize will hold: the source's bytes and the decode,
	// plus the transform (for either orientation when it is not known
	// before decoding).
	costAt := func(scale int) int64 {
		held := int64(len(src)) + decodeCost(info, src, scale)
		sizes := [][2]int{{info.Width, info.Height}, {info.Height, info.Width}}
		if info.Format == SourceJPEG {
			w, h := ScaledSize(info.Width, info.Height, max(scale, 1))
			sizes = [][2]int{{w, h}}
			if orient >= 5 && orient <= 8 {
				sizes[0] = [2]int{h, w}
			}
		}
		cost := held
		for _, wh := range sizes {
			if g, err := PlanGeometry(wh[0], wh[1], o, p.MaxWidth, p.MaxHeight); err == nil {
				cost = max(cost, held+TransformBytes(g, workers))
			}
		}
		return cost
	}
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	acquire := func(cost int64) error {
		if p.Queue == nil {
			return nil
		}
		if release != nil {
			release()
			release = nil
		}
		r, err := p.Queue.Acquire(ctx, cost)
		if err != nil {
			return err
		}
		release = r
		return nil
	}
	if err := acquire(costAt(scale)); err != nil {
		return nil, err
	}

	dec := Decoder{Limits: p.Limits, Still: o.Still, JPEGScale: scale, Workers: workers}
	if scale > 1 {
		// A JPEG the scaled decoder does not support is decoded at full
		// size: the queue is asked for that memory first.
		dec.beforeFallback = func() error { return acquire(costAt(0)) }
	}
	s, err := dec.DecodeBytes(src)
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
	g, err := p.plan(s, o)
	if err != nil {
		return nil, err
	}
	anim, err := TransformSource(s, g, out, Background(o, out), workers, o.Still)
	if err != nil {
		return nil, fmt.Errorf("resize: transform: %w", err)
	}
	return &transformed{anim: anim, out: out, canvas: g.Canvas, managed: managed, scale: max(s.Scale, 1)}, nil
}

// plan is s.PlanGeometry, its error a DecodeError (ErrTooLarge).
func (p *Processor) plan(s *Source, o Options) (Geometry, error) {
	g, err := s.PlanGeometry(o, p.MaxWidth, p.MaxHeight)
	if err != nil {
		return Geometry{}, &DecodeError{Kind: ErrTooLarge, Format: s.Format, Err: err}
	}
	return g, nil
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
