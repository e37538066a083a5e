package resize

import (
	"context"
	"errors"
	"testing"
)

// processLimits keep every fuzzed resize small and fast.
var processLimits = DecodeLimits{MaxSourcePixels: 1 << 18, MaxSourceBytes: 1 << 20, MaxFrames: 4, MaxTotalFramePixels: 1 << 19}

// FuzzProcess runs the whole pipeline (probe, shrink-on-load, decode,
// colour, orientation, resample, encode) on hostile bytes with hostile
// options: an error is always a kind the handler maps to a 4xx (a
// *DecodeError with a status, or a refused format), never a 500 nor a
// panic; a result has the size the bounds allow, decodes as what it
// claims to be at that size, and the memory used stays bounded by the
// limits (decompression bombs are refused before they cost anything).
func FuzzProcess(f *testing.F) {
	queries := []string{"w=8", "w=4&h=4&fit=cover", "w=2&format=png", "h=3&fit=pad&background=%23ff000080", "w=16&anim=false", "w=8&format=gif", "w=8&q=10&format=jpeg", "w=8&fit=crop&h=2&gravity=0.1x0.9"}
	for i, s := range decodeSeeds(f) {
		f.Add(s, queries[i%len(queries)], "image/webp,*/*")
	}
	p := &Processor{Parser: mustParser(f, Config{Limits: Limits{MaxWidth: 64, MaxHeight: 64}}), Limits: processLimits, MaxWidth: 64, MaxHeight: 64, Workers: 2}
	f.Fuzz(func(t *testing.T, data []byte, query, accept string) {
		o, err := p.Parser.ParseQuery(query)
		if err != nil || o.IsZero() {
			return
		}
		var res *Result
		allocated := bytesAllocated(func() { res, err = p.Process(context.Background(), data, o, accept) })
		if allocated > 96<<20 {
			t.Fatalf("a %d-byte source with %q allocated %d MiB", len(data), query, allocated>>20)
		}
		if err != nil {
			var de *DecodeError
			switch {
			case errors.Is(err, ErrFormatRefused):
			case errors.As(err, &de):
				if de.Kind == ErrDecoderPanic {
					t.Fatalf("a decoder panicked (recovered): %v\n%s", err, de.Stack)
				}
				if s, ok := DecodeStatus(err); !ok || s < 400 || s >= 500 {
					t.Fatalf("status %d (%v) for %v", s, ok, err)
				}
			default:
				t.Fatalf("%q on %d bytes: an error the handler answers 500: %v", query, len(data), err)
			}
			return
		}
		if res.Width < 1 || res.Height < 1 || res.Width > 64 || res.Height > 64 {
			t.Fatalf("%q gave %d×%d, bounds 64×64", query, res.Width, res.Height)
		}
		if o.Width > 0 && res.Width > o.Width && o.Fit != FitPad {
			t.Fatalf("%q gave width %d", query, res.Width)
		}
		info, err := Probe(res.Body, DecodeLimits{})
		if err != nil {
			t.Fatalf("%q: the %s output does not probe: %v", query, res.Format, err)
		}
		if info.Width != res.Width || info.Height != res.Height || info.Format.Output() != res.Format {
			t.Fatalf("%q: result says %v %d×%d, the bytes are %v %d×%d", query, res.Format, res.Width, res.Height, info.Format, info.Width, info.Height)
		}
	})
}
