//go:build !nodynamic

package resize

import (
	"bytes"
	"errors"
	"testing"
)

// webpBuilt says whether this test binary has a WebP encoder (the tag
// nodynamic); tests shared by both builds use it for what differs.
const webpBuilt = false

func TestEncodeWebPUnavailable(t *testing.T) {
	if CanEncode(FormatWebP) {
		t.Error("CanEncode(FormatWebP) without the nodynamic tag")
	}
	src := gradient(4, 4)
	if err := EncodeWebP(&bytes.Buffer{}, src, 85); !errors.Is(err, ErrFormatUnavailable) {
		t.Errorf("EncodeWebP = %v, want ErrFormatUnavailable", err)
	}
	if err := Encode(&bytes.Buffer{}, src, FormatWebP, 85); !errors.Is(err, ErrFormatUnavailable) {
		t.Errorf("Encode(webp) = %v, want ErrFormatUnavailable", err)
	}
	if got := Negotiate(Options{Format: FormatAuto}, chromeAccept, FormatJPEG, nil); got != FormatJPEG {
		t.Errorf("Negotiate(auto, chrome) = %v, want the source's jpeg", got)
	}
}
