package jpegdec

import (
	"image"
	"os"
	"testing"
)

// TestWorkersMatchSerial: decoding restart intervals in parallel gives exactly the serial
// result, and files whose restart markers are damaged still decode (serially).
func TestWorkersMatchSerial(t *testing.T) {
	for _, name := range []string{"s420-restart-rows.jpg", "s444-restart-7mcu.jpg", "s440-odd-restart.jpg", "prog422-restart.jpg", "s444.jpg"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		damaged := append([]byte(nil), data...)
		if i := markerOffset(damaged[markerOffset(damaged, mSOS):], mRST0+2); i >= 0 {
			damaged[markerOffset(damaged, mSOS)+i+1] = mRST0 + 5
		}
		before := parallelScans.Load()
		for _, in := range [][]byte{data, damaged} {
			for _, scale := range []int{1, 2, 4, 8} {
				serial, err := Decode(in, scale, Limits{})
				if err != nil {
					t.Fatalf("%s 1/%d: %v", name, scale, err)
				}
				for _, w := range []int{2, 3, 16} {
					par, err := Decode(in, scale, Limits{Workers: w})
					if err != nil {
						t.Fatalf("%s 1/%d, %d workers: %v", name, scale, w, err)
					}
					if !samePixels(serial, par) {
						t.Errorf("%s 1/%d: %d workers differ from one", name, scale, w)
					}
				}
			}
		}
		split := parallelScans.Load() - before
		if want := name[0] == 's' && name != "s444.jpg"; (split > 0) != want {
			t.Errorf("%s: %d scans split, want some: %v", name, split, want)
		}
	}
}

func samePixels(a, b image.Image) bool {
	_, pa := channels(a)
	_, pb := channels(b)
	if a.Bounds() != b.Bounds() || len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if pa[i] != pb[i] {
			return false
		}
	}
	return true
}
