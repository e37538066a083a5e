package resize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"time"

	"golang.org/x/image/webp"
)

// Animated WebP. golang.org/x/image/webp decodes still WebPs (lossy,
// lossless, alpha) but not animations, so this file walks the RIFF
// container's ANMF chunks itself (WebP container specification: each ANMF
// holds a frame's offset, size, duration, blending and disposal, then an
// optional ALPH chunk and a VP8 or VP8L bitstream) and decodes each frame's
// bitstream with x/image/webp, wrapped in a minimal container of its own.

// webpFrame is one ANMF chunk, its payload aliasing the source.
type webpFrame struct {
	rect     image.Rectangle // on the canvas
	duration time.Duration
	dispose  bool   // dispose to background after showing
	noBlend  bool   // overwrite the rectangle instead of alpha-blending
	alph     []byte // ALPH chunk payload, or nil
	vp8      []byte // VP8 chunk payload (lossy), or nil
	vp8l     []byte // VP8L chunk payload (lossless), or nil
}

// webpAnimated reports whether data (a WebP) has the VP8X animation flag.
func webpAnimated(data []byte) bool {
	return len(data) >= 21 && string(data[12:16]) == "VP8X" && data[20]&0x02 != 0
}

// walkWebPAnimation calls fn for every ANMF frame of an animated WebP with
// a w×h canvas, in order, and returns the ANIM loop count (0: forever). It
// allocates nothing per frame; every length is checked against data. A
// frame outside the canvas, or one without a bitstream, is an error, and so
// is an animation without frames.
func walkWebPAnimation(data []byte, w, h int, fn func(webpFrame) error) (loops int, err error) {
	canvas := image.Rect(0, 0, w, h)
	frames := 0
	for p := 12; p+8 <= len(data); {
		typ := string(data[p : p+4])
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		if n > int64(len(data)-p-8) {
			return 0, errors.New("WebP chunk runs past the end")
		}
		body := data[p+8 : p+8+int(n)]
		p += 8 + int(n) + int(n&1)
		switch typ {
		case "ANIM":
			if len(body) < 6 {
				return 0, errors.New("short ANIM chunk")
			}
			loops = int(binary.LittleEndian.Uint16(body[4:]))
		case "ANMF":
			f, err := parseANMF(body)
			if err != nil {
				return 0, fmt.Errorf("WebP frame %d: %w", frames, err)
			}
			if !f.rect.In(canvas) {
				return 0, fmt.Errorf("WebP frame %d at %v outside the %d×%d canvas", frames, f.rect, w, h)
			}
			frames++
			if err := fn(f); err != nil {
				return 0, err
			}
		}
	}
	if frames == 0 {
		return 0, errors.New("animated WebP without frames")
	}
	return loops, nil
}

// parseANMF reads one ANMF chunk's payload.
func parseANMF(b []byte) (webpFrame, error) {
	if len(b) < 16 {
		return webpFrame{}, errors.New("short ANMF chunk")
	}
	u24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	x, y := 2*u24(b[0:]), 2*u24(b[3:])
	f := webpFrame{
		rect:     image.Rect(x, y, x+1+u24(b[6:]), y+1+u24(b[9:])),
		duration: time.Duration(u24(b[12:])) * time.Millisecond,
		dispose:  b[15]&0x01 != 0,
		noBlend:  b[15]&0x02 != 0,
	}
	for p := 16; p+8 <= len(b); {
		typ := string(b[p : p+4])
		n := int64(binary.LittleEndian.Uint32(b[p+4:]))
		if n > int64(len(b)-p-8) {
			return webpFrame{}, errors.New("ANMF sub-chunk runs past the frame")
		}
		body := b[p+8 : p+8+int(n)]
		p += 8 + int(n) + int(n&1)
		switch typ {
		case "ALPH":
			f.alph = body
		case "VP8 ":
			f.vp8 = body
		case "VP8L":
			f.vp8l = body
		}
		if f.vp8 != nil || f.vp8l != nil {
			return f, nil
		}
	}
	return webpFrame{}, errors.New("frame without a VP8 or VP8L bitstream")
}

// decode decodes the frame's bitstream (wrapped in a still WebP container)
// and places the image at the frame's offset on the canvas.
func (f webpFrame) decode() (image.Image, error) {
	var body []byte
	chunk := func(typ string, payload []byte) {
		body = append(body, typ...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(payload)))
		body = append(body, payload...)
		if len(payload)%2 == 1 {
			body = append(body, 0)
		}
	}
	w, h := f.rect.Dx(), f.rect.Dy()
	switch {
	case f.vp8l != nil:
		chunk("VP8L", f.vp8l)
	case f.alph != nil:
		vp8x := []byte{0x10, 0, 0, 0, byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
		chunk("VP8X", vp8x)
		chunk("ALPH", f.alph)
		chunk("VP8 ", f.vp8)
	default:
		chunk("VP8 ", f.vp8)
	}
	riff := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)+4))...)
	riff = append(append(riff, "WEBP"...), body...)
	m, err := webp.Decode(bytes.NewReader(riff))
	if err != nil {
		return nil, err
	}
	if m.Bounds() != image.Rect(0, 0, w, h) {
		return nil, fmt.Errorf("frame decoded to %v, its header says %d×%d", m.Bounds(), w, h)
	}
	m = webpToRGB(m) // lossy frames are limited-range Y'CbCr
	// Offsets are even, so moving a subsampled YCbCr keeps its chroma
	// aligned.
	switch m := m.(type) {
	case *image.YCbCr:
		m.Rect = f.rect
	case *image.NYCbCrA:
		m.Rect = f.rect
	case *image.NRGBA:
		m.Rect = f.rect
	case *image.RGBA:
		m.Rect = f.rect
	default:
		return nil, fmt.Errorf("frame decoded to an unexpected %T", m)
	}
	return m, nil
}

// decodeWebPAnimation fills src.Frames with every frame of an animated WebP
// (or the first only when !all).
func decodeWebPAnimation(src *Source, data []byte, all bool) error {
	loops, err := walkWebPAnimation(data, src.Width, src.Height, func(f webpFrame) error {
		if !all && len(src.Frames) == 1 {
			return nil
		}
		m, err := f.decode()
		if err != nil {
			return fmt.Errorf("WebP frame %d: %w", len(src.Frames), err)
		}
		d := DisposalNone
		if f.dispose {
			d = DisposalBackground
		}
		src.Frames = append(src.Frames, SourceFrame{Image: m, Delay: f.duration, Disposal: d, Overwrite: f.noBlend})
		return nil
	})
	if err != nil {
		return decoderErr(src.Format, err)
	}
	// WebP counts plays (0 forever), image/gif restarts (-1 once).
	switch {
	case loops == 0:
		src.LoopCount = 0
	case loops == 1:
		src.LoopCount = -1
	default:
		src.LoopCount = loops - 1
	}
	return nil
}
