//go:build !nodynamic

package resize

import (
	"fmt"
	"image"
	"io"
)

// Without the build tag nodynamic this build links no WebP encoder: see
// encode_webp.go for why the only pure-Go lossy WebP encoder,
// github.com/gen2brain/webp, is compiled in only with that tag.

// webpAvailable reports that this build has no WebP encoder.
const webpAvailable = false

// EncodeWebP would write img as a WebP; this build has no WebP encoder (it
// was built without the nodynamic build tag), so it returns
// ErrFormatUnavailable (wrapped).
func EncodeWebP(w io.Writer, img image.Image, quality int) error {
	return fmt.Errorf("resize: encode webp (build with -tags nodynamic): %w", ErrFormatUnavailable)
}
