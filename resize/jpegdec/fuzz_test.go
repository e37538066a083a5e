package jpegdec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds mutated JPEGs to Decode at every scale: it must never panic, must keep to
// its limits and must return an image of the size the header declares.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata", "../testdata"} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add(encodeStd(f, synth(40, 24, 1), 60))
	catchPanics = false
	f.Cleanup(func() { catchPanics = true })
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxPixels: 1 << 20, MaxScans: 50, Workers: len(data) % 3}
		cfg, cerr := DecodeConfig(data)
		for _, scale := range []int{1, 2, 4, 8} {
			img, err := Decode(data, scale, lim)
			if err != nil {
				if img != nil {
					t.Fatalf("1/%d: an image with the error %v", scale, err)
				}
				continue
			}
			if cerr != nil {
				t.Fatalf("1/%d decoded but DecodeConfig failed: %v", scale, cerr)
			}
			if int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
				t.Fatalf("%dx%d decoded past MaxPixels", cfg.Width, cfg.Height)
			}
			b := img.Bounds()
			if b.Dx() != (cfg.Width+scale-1)/scale || b.Dy() != (cfg.Height+scale-1)/scale {
				t.Fatalf("1/%d of %dx%d is %v", scale, cfg.Width, cfg.Height, b)
			}
			_ = img.At(b.Max.X-1, b.Max.Y-1) // the planes cover the image
		}
	})
}
