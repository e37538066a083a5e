package resize

import (
	"errors"
	"image"
	"image/draw"
)

// Composite calls fn for each frame in order with the whole canvas as it
// shows while that frame is displayed: every earlier frame drawn over a
// transparent canvas, with their disposal methods applied. canvas is one
// *image.RGBA reused for every call: fn must not keep it (copy or resize it
// instead). Composite stops at fn's first error and returns it. Memory: one
// canvas, plus one copy of a frame's rectangle while a DisposalPrevious
// frame shows.
func (s *Source) Composite(fn func(i int, canvas *image.RGBA) error) error {
	canvas := image.NewRGBA(image.Rect(0, 0, s.Width, s.Height))
	var saved *image.RGBA
	for i, f := range s.Frames {
		r := f.Image.Bounds().Intersect(canvas.Rect)
		if f.Disposal == DisposalPrevious {
			saved = image.NewRGBA(r)
			draw.Draw(saved, r, canvas, r.Min, draw.Src)
		}
		op := draw.Over
		if f.Overwrite {
			op = draw.Src
		}
		draw.Draw(canvas, r, f.Image, r.Min, op)
		if err := fn(i, canvas); err != nil {
			return err
		}
		switch f.Disposal {
		case DisposalBackground:
			draw.Draw(canvas, r, image.Transparent, image.Point{}, draw.Src)
		case DisposalPrevious:
			draw.Draw(canvas, r, saved, r.Min, draw.Src)
		}
	}
	return nil
}

// Still returns the first frame as a whole image of the canvas's size: the
// decoded image itself when it covers the canvas (every still JPEG, PNG and
// WebP, and most GIFs; no copy), else the frame drawn on a transparent
// canvas. A GIF's background colour is ignored, as browsers do.
func (s *Source) Still() image.Image {
	first := s.Frames[0].Image
	if first.Bounds() == image.Rect(0, 0, s.Width, s.Height) {
		return first
	}
	var still image.Image
	_ = s.Composite(func(i int, canvas *image.RGBA) error {
		still = canvas
		return errStop
	})
	return still
}

// errStop ends Composite after the first frame in Still.
var errStop = errors.New("stop")
