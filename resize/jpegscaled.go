package resize

import (
	"image"

	"github.com/r2gate/r2gate/resize/jpegdec"
)

// jpegdecUnsupported is jpegdec's error for a file it does not decode.
var jpegdecUnsupported = jpegdec.ErrUnsupported

// jpegdecInternal is jpegdec's error for a panic of its own, recovered.
var jpegdecInternal = jpegdec.ErrInternal

// jpegdecDecode is jpegdec.Decode with the source limits, splitting a
// baseline scan with restart markers over up to workers goroutines.
func jpegdecDecode(data []byte, scale int, maxPixels int64, maxScans, workers int) (image.Image, error) {
	return jpegdec.Decode(data, scale, jpegdec.Limits{MaxPixels: maxPixels, MaxScans: maxScans, Workers: workers})
}
