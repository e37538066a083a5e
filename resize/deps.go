package resize

// The image pipeline (decode, transform, encode; not built yet) resamples
// with golang.org/x/image/draw and decodes WebP with golang.org/x/image:
// the standard library's sibling, pure Go, kept by the Go team.
import (
	_ "golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)
