package jpegdec

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"sync"
	"testing"
)

var (
	benchOnce sync.Once
	benchJPEG []byte
)

// benchFile is a generated 4000×3000 4:2:0 quality-85 JPEG (image/jpeg's encoder), about
// 3 MB like a 12 MP photo.
func benchFile(b *testing.B) []byte {
	benchOnce.Do(func() { benchJPEG = encodeStd(b, synthNoise(4000, 3000, 3, 4), 85) })
	return benchJPEG
}

// BenchmarkDecode compares image/jpeg's full decode with Decode at each scale.
func BenchmarkDecode(b *testing.B) {
	data := benchFile(b)
	b.Run("image-jpeg", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, s := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("scale-%d", s), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data, s, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
