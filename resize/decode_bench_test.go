package resize

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecode decodes the shared photographs when they are present
// (../../shared/testdata/images: the 17.9 MP baseline and progressive
// JPEGs, the RGBA PNG, the animated GIF), and generated images always. It
// reports the decode's estimate (Info.DecodeBytes) beside B/op.
func BenchmarkDecode(b *testing.B) {
	type input struct {
		name string
		data []byte
	}
	inputs := []input{
		{"generated-2000x1500.jpg", srcJPEG(b, srcGradient(2000, 1500, false), 90)},
		{"generated-2000x1500.png", srcPNG(b, srcGradient(2000, 1500, true))},
		{"generated-anim-640x480.gif", srcGIF(b, 640, 480, 20, 1)},
	}
	for _, name := range []string{"big-baseline.jpg", "big.jpg", "alpha.png", "anim.gif"} {
		if data, err := os.ReadFile(filepath.Join(sharedImages, name)); err == nil {
			inputs = append(inputs, input{name, data})
		}
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			info, err := Probe(in.data, DecodeLimits{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (Decoder{}).DecodeBytes(in.data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(info.DecodeBytes), "estimate-B")
		})
	}
}

// BenchmarkOrient turns a decoded 2000×1500 JPEG (YCbCr: converted first)
// and an NRGBA image of the same size for orientation 6.
func BenchmarkOrient(b *testing.B) {
	src, err := Decoder{}.DecodeBytes(srcJPEG(b, srcGradient(2000, 1500, false), 90))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ycbcr", func(b *testing.B) {
		for b.Loop() {
			Orient(src.Still(), 6)
		}
	})
	nrgba := srcGradient(2000, 1500, false)
	b.Run("nrgba", func(b *testing.B) {
		for b.Loop() {
			Orient(nrgba, 6)
		}
	})
}
