//go:build unix

package jpegdec

import (
	"bytes"
	"image/jpeg"
	"syscall"
	"testing"
	"time"
)

// BenchmarkInterleaved decodes the benchmark file with image/jpeg and at each scale in turn,
// round after round, and reports the CPU time (user+system, from getrusage) of each: on a
// shared, busy machine CPU time and interleaving keep the ratios fair where wall time
// would not.
func BenchmarkInterleaved(b *testing.B) {
	data := benchFile(b)
	names := []string{"image-jpeg", "scale-1", "scale-2", "scale-4", "scale-8"}
	cpu := make([]time.Duration, len(names))
	var rounds int
	for b.Loop() {
		for i := range names {
			t0 := cpuTime()
			var err error
			if i == 0 {
				_, err = jpeg.Decode(bytes.NewReader(data))
			} else {
				_, err = Decode(data, 1<<(i-1), Limits{})
			}
			if err != nil {
				b.Fatal(err)
			}
			cpu[i] += cpuTime() - t0
		}
		rounds++
	}
	for i, n := range names {
		b.ReportMetric(float64(cpu[i].Milliseconds())/float64(rounds), n+"-cpu-ms/op")
		if i > 0 {
			b.ReportMetric(float64(cpu[0])/float64(cpu[i]), n+"-speedup")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
