// Command resizebench makes one variant of one source file with r2gate's
// resize library, once, the way a visitor's first request for a new variant
// does (decode, plan, transform, encode), and prints how long it took. It is
// meant to run as its own process, under /usr/bin/time, so that its peak RSS
// is that of one resize (bench/resize.sh compares it with vips thumbnail).
//
//	resizebench [flags] SOURCE OPTIONS
//
// OPTIONS is the query form of a variant, as in photo.jpg?w=400 ("w=400",
// "w=1600&q=80&format=png"), parsed by resize.Parser with the default limits.
// The output format is the one OPTIONS names, else the source's own (-format
// overrides both). The quality is OPTIONS' q, else resize.DefaultQuality.
//
// The pipeline (the default) is what resize.Processor.Process does: the
// file read into memory, resize.Probe and resize.ShrinkOnLoad (the JPEG
// decode's reduction for this variant), resize.Decoder.DecodeBytes with that
// JPEGScale (shrink-on-load by resize/jpegdec; what resize.Decode does with
// a bucket object's body and size, with the read timed apart),
// Source.PlanGeometry (planned on the full-size oriented source, mapped to
// the decoded one), resize.TransformSource with -workers goroutines
// (default: the number of CPUs) and resize.Background for the output
// format, and resize.EncodeAnimation. With -prev it is the previous
// pipeline, before shrink-on-load: the same with image/jpeg decoding every
// JPEG at full size (Decoder.JPEGScale 0, Processor.StdJPEG). With -std it
// is instead Go's standard path for
// JPEG: image/jpeg decode, golang.org/x/image/draw's CatmullRom scale (one
// goroutine, no box pre-shrink, no EXIF orientation) into an *image.RGBA of
// the size PlanGeometry gives, image/jpeg encode at the same quality.
//
// It prints one line on stdout:
//
//	wall_ms=612.3 read_ms=3.1 decode_ms=520.4 transform_ms=61.0 encode_ms=27.8 out=400x225 bytes=23456 format=jpeg workers=2 path=r2gate scale=8
//
// path is r2gate, prev or std; scale the JPEG decode's reduction (1 for
// prev, std and non-JPEG sources). -cpuprofile FILE writes a CPU profile of
// the whole run (go tool pprof).
//
// wall_ms is from the start of main to the end of the encode (the process's
// own start-up is not in it; /usr/bin/time sees that too). With -v it also
// prints the Go heap's figures on stderr (total allocated, heap obtained
// from the OS, number of GCs). The output is written to -o, or discarded.
// A format this build cannot encode (WebP, AVIF) exits with status 3.
//
// This package is a benchmark tool: nothing imports it.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/image/draw"

	"github.com/r2gate/r2gate/resize"
)

// exitUnavailable is the exit status for an output format without encoder.
const exitUnavailable = 3

// config is what the flags and arguments ask for.
type config struct {
	src     string
	query   string
	format  string
	workers int
	out     string
	std     bool
	prev    bool
	verbose bool
	profile string
}

// result is one run's figures.
type result struct {
	read, decode, transform, encode time.Duration
	size                            image.Point
	bytes                           int64
	format                          resize.Format
	workers                         int
	scale                           int
}

// countWriter counts the bytes written to w.
type countWriter struct {
	w io.Writer
	n int64
}

// Write writes p to the underlying writer and counts it.
func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func main() {
	start := time.Now()
	var cfg config
	flag.StringVar(&cfg.format, "format", "", "output format (jpeg, png, gif, webp, avif); default: OPTIONS' format, else the source's")
	flag.IntVar(&cfg.workers, "workers", runtime.NumCPU(), "goroutines for the transform (resize.TransformSource)")
	flag.StringVar(&cfg.out, "o", "", "write the output to this file (default: discard it)")
	flag.BoolVar(&cfg.std, "std", false, "Go's standard path instead: image/jpeg + x/image/draw CatmullRom + image/jpeg")
	flag.BoolVar(&cfg.prev, "prev", false, "the previous pipeline: image/jpeg decodes JPEGs at full size (no shrink-on-load)")
	flag.StringVar(&cfg.profile, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.BoolVar(&cfg.verbose, "v", false, "also print the Go heap's figures on stderr")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: resizebench [flags] SOURCE OPTIONS   (OPTIONS e.g. w=400)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	cfg.src, cfg.query = flag.Arg(0), flag.Arg(1)
	if cfg.std && cfg.prev {
		fmt.Fprintln(os.Stderr, "resizebench: -std and -prev are different pipelines: give one")
		os.Exit(2)
	}
	if cfg.profile != "" {
		f, err := os.Create(cfg.profile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "resizebench: -cpuprofile: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "resizebench: -cpuprofile: %v\n", err)
			os.Exit(1)
		}
	}

	res, err := run(cfg)
	wall := time.Since(start)
	if cfg.profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "resizebench: %v\n", err)
		if errors.Is(err, resize.ErrFormatUnavailable) {
			os.Exit(exitUnavailable)
		}
		os.Exit(1)
	}
	path := "r2gate"
	switch {
	case cfg.std:
		path = "std"
	case cfg.prev:
		path = "prev"
	}
	fmt.Printf("wall_ms=%.1f read_ms=%.1f decode_ms=%.1f transform_ms=%.1f encode_ms=%.1f out=%dx%d bytes=%d format=%v workers=%d path=%s scale=%d\n",
		ms(wall), ms(res.read), ms(res.decode), ms(res.transform), ms(res.encode),
		res.size.X, res.size.Y, res.bytes, res.format, res.workers, path, max(res.scale, 1))
	if cfg.verbose {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(os.Stderr, "resizebench: heap: total allocated %.1f MiB, obtained from the OS %.1f MiB, in use %.1f MiB, %d GCs (pauses %.1f ms), GOGC=%q GOMEMLIMIT=%q\n",
			mib(m.TotalAlloc), mib(m.HeapSys), mib(m.HeapInuse), m.NumGC, float64(m.PauseTotalNs)/1e6,
			os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
	}
}

// run makes the variant cfg asks for and returns its figures.
func run(cfg config) (result, error) {
	parser, err := resize.NewParser(resize.Config{})
	if err != nil {
		return result{}, fmt.Errorf("parser: %w", err)
	}
	opts, err := parser.ParseQuery(cfg.query)
	if err != nil {
		return result{}, fmt.Errorf("options %q: %w", cfg.query, err)
	}
	if cfg.format != "" {
		f, err := resize.ParseFormat(strings.ToLower(cfg.format))
		if err != nil {
			return result{}, fmt.Errorf("-format: %w", err)
		}
		opts.Format = f
	}
	var out io.Writer = io.Discard
	if cfg.out != "" {
		f, err := os.Create(cfg.out)
		if err != nil {
			return result{}, fmt.Errorf("output: %w", err)
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 1<<16)
		defer bw.Flush()
		out = bw
	}
	cw := &countWriter{w: out}
	var res result
	if cfg.std {
		res, err = runStd(cfg, parser, opts, cw)
	} else {
		res, err = runR2gate(cfg, parser, opts, cw)
	}
	res.bytes = cw.n
	return res, err
}

// runR2gate is the r2gate pipeline: Probe, ShrinkOnLoad, DecodeBytes,
// Source.PlanGeometry, TransformSource, EncodeAnimation (with cfg.prev: no
// shrink-on-load).
func runR2gate(cfg config, parser *resize.Parser, opts resize.Options, w io.Writer) (result, error) {
	res := result{workers: cfg.workers}
	t := time.Now()
	data, err := os.ReadFile(cfg.src)
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	res.read = time.Since(t)

	// Decode(f, size) would read the file into one buffer of size bytes and
	// call DecodeBytes on it: the same work, with the read timed apart.
	t = time.Now()
	scale := 0
	if !cfg.prev {
		info, err := resize.Probe(data, resize.DecodeLimits{})
		if err != nil {
			return res, fmt.Errorf("probe %s: %w", cfg.src, err)
		}
		scale = resize.ShrinkOnLoad(data, info, opts, 0, 0)
	}
	src, err := resize.Decoder{Still: opts.Still, JPEGScale: scale, Workers: cfg.workers}.DecodeBytes(data)
	if err != nil {
		return res, fmt.Errorf("decode %s: %w", cfg.src, err)
	}
	res.decode = time.Since(t)
	res.scale = src.Scale

	res.format = resize.Negotiate(opts, "", src.Format.Output(), parser.Allowed)
	if !resize.CanEncode(res.format) {
		return res, fmt.Errorf("encode %v: %w", res.format, resize.ErrFormatUnavailable)
	}
	t = time.Now()
	g, err := src.PlanGeometry(opts, 0, 0)
	if err != nil {
		return res, fmt.Errorf("plan: %w", err)
	}
	anim, err := resize.TransformSource(src, g, res.format, resize.Background(opts, res.format), cfg.workers, opts.Still)
	if err != nil {
		return res, fmt.Errorf("transform: %w", err)
	}
	res.transform = time.Since(t)
	res.size = g.Canvas

	t = time.Now()
	if err := resize.EncodeAnimation(w, anim, res.format, parser.Quality(opts), cfg.workers); err != nil {
		return res, fmt.Errorf("encode: %w", err)
	}
	res.encode = time.Since(t)
	return res, nil
}

// runStd is Go's standard path: image/jpeg decode, x/image/draw CatmullRom
// scale, image/jpeg encode. JPEG sources and output only.
func runStd(cfg config, parser *resize.Parser, opts resize.Options, w io.Writer) (result, error) {
	res := result{workers: 1, format: resize.FormatJPEG}
	if opts.Format != resize.FormatOriginal && opts.Format != resize.FormatJPEG {
		return res, fmt.Errorf("-std makes JPEG only, not %v", opts.Format)
	}
	t := time.Now()
	data, err := os.ReadFile(cfg.src)
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	res.read = time.Since(t)

	t = time.Now()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return res, fmt.Errorf("decode %s: %w", cfg.src, err)
	}
	res.decode = time.Since(t)

	t = time.Now()
	b := img.Bounds()
	g, err := resize.PlanGeometry(b.Dx(), b.Dy(), opts, 0, 0)
	if err != nil {
		return res, fmt.Errorf("plan: %w", err)
	}
	dst := image.NewRGBA(image.Rectangle{Max: g.Canvas})
	draw.CatmullRom.Scale(dst, g.Dst, img, g.Src.Add(b.Min), draw.Src, nil)
	res.transform = time.Since(t)
	res.size = g.Canvas

	t = time.Now()
	if err := jpeg.Encode(w, dst, &jpeg.Options{Quality: parser.Quality(opts)}); err != nil {
		return res, fmt.Errorf("encode: %w", err)
	}
	res.encode = time.Since(t)
	return res, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mib is n bytes in MiB.
func mib(n uint64) float64 { return float64(n) / (1 << 20) }
