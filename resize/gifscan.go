package resize

import (
	"errors"
	"fmt"
)

// gifHeader is what scanGIF learns from a GIF's block structure without
// decoding any pixel.
type gifHeader struct {
	width, height int
	frames        int
	framePixels   int64 // sum of the frames' rectangles
}

var errGIFTruncated = errors.New("truncated GIF")

// scanGIF walks a GIF's blocks (header, logical screen, colour tables,
// extensions, image descriptors and their data sub-blocks) to count the
// frames and their pixels. It allocates nothing in proportion to the input
// and reads every length within data's bounds. A frame outside the logical
// screen is corrupt (image/gif refuses it too).
func scanGIF(data []byte) (gifHeader, error) {
	var h gifHeader
	if len(data) < 13 {
		return h, errGIFTruncated
	}
	h.width = int(data[6]) | int(data[7])<<8
	h.height = int(data[8]) | int(data[9])<<8
	p := 13
	if flags := data[10]; flags&0x80 != 0 {
		p += 3 << ((flags & 7) + 1)
	}
	// skipSubBlocks moves p past a sequence of data sub-blocks and its
	// zero-length terminator.
	skipSubBlocks := func() error {
		for {
			if p >= len(data) {
				return errGIFTruncated
			}
			n := int(data[p])
			p++
			if n == 0 {
				return nil
			}
			p += n
		}
	}
	for {
		if p >= len(data) {
			return h, errGIFTruncated
		}
		switch data[p] {
		case 0x21: // extension: label, then sub-blocks
			p += 2
			if err := skipSubBlocks(); err != nil {
				return h, err
			}
		case 0x2C: // image descriptor
			if p+10 > len(data) {
				return h, errGIFTruncated
			}
			left := int(data[p+1]) | int(data[p+2])<<8
			top := int(data[p+3]) | int(data[p+4])<<8
			w := int(data[p+5]) | int(data[p+6])<<8
			fh := int(data[p+7]) | int(data[p+8])<<8
			flags := data[p+9]
			if left+w > h.width || top+fh > h.height {
				return h, fmt.Errorf("GIF frame %d (%d,%d %d×%d) outside the %d×%d screen", h.frames, left, top, w, fh, h.width, h.height)
			}
			h.frames++
			h.framePixels += int64(w) * int64(fh)
			p += 10
			if flags&0x80 != 0 {
				p += 3 << ((flags & 7) + 1)
			}
			p++ // LZW minimum code size
			if err := skipSubBlocks(); err != nil {
				return h, err
			}
		case 0x3B: // trailer
			if h.frames == 0 {
				return h, errors.New("GIF without frames")
			}
			return h, nil
		default:
			return h, fmt.Errorf("unknown GIF block 0x%02x at offset %d", data[p], p)
		}
	}
}
