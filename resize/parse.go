package resize

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// MaxDimension bounds any output width or height, whatever the limits say.
const MaxDimension = 10000

// DefaultQuality is the encoder quality when neither the request nor
// Config.Quality sets one.
const DefaultQuality = 85

// DefaultFormats are the explicit output formats allowed when Limits.Formats
// is empty. AVIF is opt-in: its encoder is slow.
var DefaultFormats = []Format{FormatJPEG, FormatPNG, FormatWebP, FormatGIF}

// Limits bounds what a request may ask for. They are checked by the parsers,
// so a request outside them is refused before any bucket work.
type Limits struct {
	// Widths, when not empty, is the list of allowed output widths (after
	// dpr); any other width is refused, and so is a height without a width
	// (else heights alone would be an unbounded set of variants).
	Widths []int
	// MaxWidth bounds the output width; 0: MaxDimension.
	MaxWidth int
	// MaxHeight bounds the output height; 0: MaxDimension.
	MaxHeight int
	// Formats are the explicit output formats allowed (format=webp and so on);
	// empty: DefaultFormats. format=auto is always allowed: it only ever picks
	// an allowed format or the source's own.
	Formats []Format
	// Heights, Qualities and Backgrounds bound the other open-ended options
	// when Widths is set, so that a route's variants of one object are a
	// set the config fixes, whatever clients ask (each new variant is a
	// resize and an object written to the bucket): a height (after dpr)
	// must be one of Heights (none listed: no height), a quality the
	// configured one or one of Qualities, a background one of Backgrounds
	// (as #rrggbb or #rrggbbaa), and a crop's focal point (gravity=XxY) is
	// refused; the named gravities, fits, formats, anim and metadata are
	// small fixed sets. Without Widths (a route that requires signed URLs,
	// whose signature covers the options) any value within the other
	// bounds is accepted.
	Heights     []int
	Qualities   []int
	Backgrounds []string
}

// Config configures a Parser.
type Config struct {
	// Limits bounds what requests may ask for.
	Limits Limits
	// Quality is the encoder quality used when a request sets none, 1–100;
	// 0: DefaultQuality. A request's q equal to it is the same variant as no q.
	Quality int
}

// Parser parses resize options from request URLs under one Config. It is
// immutable once built and safe for concurrent use.
type Parser struct {
	widths    []int // sorted, no duplicates
	heights   []int // sorted, no duplicates
	qualities []int // sorted, no duplicates; the default quality excluded
	bgs       []string
	maxWidth  int
	maxHeight int
	formats   [len(formatNames)]bool
	quality   int
}

// NewParser checks cfg and returns a Parser for it.
func NewParser(cfg Config) (*Parser, error) {
	p := &Parser{
		maxWidth:  cfg.Limits.MaxWidth,
		maxHeight: cfg.Limits.MaxHeight,
		quality:   cfg.Quality,
	}
	if p.maxWidth == 0 {
		p.maxWidth = MaxDimension
	}
	if p.maxHeight == 0 {
		p.maxHeight = MaxDimension
	}
	if p.maxWidth < 1 || p.maxWidth > MaxDimension {
		return nil, fmt.Errorf("resize: max_width %d is not in [1,%d]", cfg.Limits.MaxWidth, MaxDimension)
	}
	if p.maxHeight < 1 || p.maxHeight > MaxDimension {
		return nil, fmt.Errorf("resize: max_height %d is not in [1,%d]", cfg.Limits.MaxHeight, MaxDimension)
	}
	for _, w := range cfg.Limits.Widths {
		if w < 1 || w > p.maxWidth {
			return nil, fmt.Errorf("resize: allowed width %d is not in [1,%d] (max_width)", w, p.maxWidth)
		}
	}
	p.widths = slices.Compact(slices.Sorted(slices.Values(cfg.Limits.Widths)))
	for _, h := range cfg.Limits.Heights {
		if h < 1 || h > p.maxHeight {
			return nil, fmt.Errorf("resize: allowed height %d is not in [1,%d] (max_height)", h, p.maxHeight)
		}
	}
	p.heights = slices.Compact(slices.Sorted(slices.Values(cfg.Limits.Heights)))
	for _, q := range cfg.Limits.Qualities {
		if q < 1 || q > 100 {
			return nil, fmt.Errorf("resize: allowed quality %d is not in [1,100]", q)
		}
	}
	p.qualities = slices.Compact(slices.Sorted(slices.Values(cfg.Limits.Qualities)))
	for _, b := range cfg.Limits.Backgrounds {
		if !strings.HasPrefix(b, "#") && !strings.Contains(b, "(") {
			b = "#" + b // a Caddyfile token cannot start with # (a comment)
		}
		c, err := parseColor(b)
		if err != nil {
			return nil, fmt.Errorf("resize: allowed background %q: %w", b, err)
		}
		p.bgs = append(p.bgs, canonicalColor(c))
	}
	formats := cfg.Limits.Formats
	if len(formats) == 0 {
		formats = DefaultFormats
	}
	for _, f := range formats {
		if f <= FormatAuto || int(f) >= len(formatNames) {
			return nil, fmt.Errorf("resize: %v is not an output format to allow", f)
		}
		p.formats[f] = true
	}
	p.formats[FormatAuto] = true
	if p.quality == 0 {
		p.quality = DefaultQuality
	}
	if p.quality < 1 || p.quality > 100 {
		return nil, fmt.Errorf("resize: quality %d is not in [1,100]", cfg.Quality)
	}
	return p, nil
}

// Allowed reports whether f may be produced on this route: the source's own
// format always, format=auto always, other formats when Limits.Formats (or
// DefaultFormats) lists them. format=auto negotiation picks among these.
func (p *Parser) Allowed(f Format) bool {
	return f == FormatOriginal || (int(f) < len(p.formats) && p.formats[f])
}

// Quality returns the encoder quality for o: its own or the configured
// default.
func (p *Parser) Quality(o Options) int {
	if o.Quality > 0 {
		return o.Quality
	}
	return p.quality
}

// Error is a refused resize option. Every Error is the client's fault: the
// handler answers 400.
type Error struct {
	// Option is the option's name as the request spelled it.
	Option string
	// Value is the value as the request gave it (cut to a bounded length in
	// Error()).
	Value string
	// Reason says what is wrong.
	Reason string
}

// Error describes the refusal, for a 400 body and logs.
func (e *Error) Error() string {
	v := e.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	if e.Option == "" {
		return "resize: " + e.Reason
	}
	return fmt.Sprintf("resize: %s=%q: %s", e.Option, v, e.Reason)
}

// option identifies an option whatever its spelling.
type option uint8

const (
	optWidth option = iota
	optHeight
	optFit
	optQuality
	optFormat
	optDPR
	optGravity
	optBackground
	optAnim
	optMetadata
	optOnError
	numOptions
)

// queryNames are the query form's option names. Any other query parameter is
// not a resize option.
var queryNames = map[string]option{
	"w": optWidth, "h": optHeight, "fit": optFit, "q": optQuality,
	"format": optFormat, "dpr": optDPR, "gravity": optGravity,
	"background": optBackground, "anim": optAnim, "metadata": optMetadata,
}

// ParseQuery parses the query form from a URL's raw (still escaped) query,
// such as "w=400&q=80&v=3". Parameters that are not resize options are
// ignored, even when malformed. A resize option with a malformed or
// out-of-range value, given twice, or outside the limits is an *Error.
func (p *Parser) ParseQuery(rawQuery string) (Options, error) {
	b := builder{p: p}
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			continue // cannot be an option name
		}
		opt, ok := queryNames[name]
		if !ok {
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return Options{}, &Error{Option: name, Value: rawValue, Reason: "bad escape"}
		}
		if err := b.set(opt, name, value); err != nil {
			return Options{}, err
		}
	}
	return b.finish()
}

// builder collects one request's options, then normalises and checks them.
type builder struct {
	p      *Parser
	seen   [numOptions]bool
	o      Options
	dpr    int // thousandths; 0: not set
	redir  bool
	gotAny bool
}

func (b *builder) set(opt option, name, value string) error {
	if b.seen[opt] {
		return &Error{Option: name, Value: value, Reason: "given more than once"}
	}
	b.seen[opt] = true
	b.gotAny = true
	bad := func(reason string) error { return &Error{Option: name, Value: value, Reason: reason} }
	switch opt {
	case optWidth, optHeight:
		n, err := parseWhole(value)
		if err != nil || n < 1 || n > MaxDimension {
			return bad(fmt.Sprintf("not a whole number in [1,%d]", MaxDimension))
		}
		if opt == optWidth {
			b.o.Width = n
		} else {
			b.o.Height = n
		}
	case optFit:
		i := slices.Index(fitNames[:], value)
		if i < 0 {
			return bad("not one of scale-down, contain, cover, crop, pad")
		}
		b.o.Fit = Fit(i)
	case optQuality:
		n, err := parseWhole(value)
		if err != nil || n < 1 || n > 100 {
			return bad("not a whole number in [1,100]")
		}
		b.o.Quality = n
	case optFormat:
		f, err := ParseFormat(value)
		if err != nil {
			return bad("not one of auto, jpeg, png, webp, gif, avif")
		}
		if !b.p.Allowed(f) {
			return bad("not an output format allowed here")
		}
		b.o.Format = f
	case optDPR:
		m, err := parseMilli(value)
		if err != nil || m < 1000 || m > 3000 {
			return bad("not a decimal in [1,3]")
		}
		b.dpr = m
	case optGravity:
		g, err := parseGravity(value)
		if err != nil {
			return bad(err.Error())
		}
		b.o.Gravity = g
	case optBackground:
		c, err := parseColor(value)
		if err != nil {
			return bad(err.Error())
		}
		b.o.Background = canonicalColor(c)
	case optAnim:
		switch value {
		case "true":
		case "false":
			b.o.Still = true
		default:
			return bad("not true or false")
		}
	case optMetadata:
		i := slices.Index(metadataNames[:], value)
		if i < 0 {
			return bad("not one of none, copyright, keep")
		}
		b.o.Metadata = Metadata(i)
	case optOnError:
		if value != "redirect" {
			return bad("only onerror=redirect is known")
		}
		b.redir = true
	}
	return nil
}

// parseGravity parses auto, left, right, top, bottom, or XxY with X and Y
// decimals in [0,1].
func parseGravity(s string) (Gravity, error) {
	if i := slices.Index(gravityNames[:], s); i >= 0 {
		return Gravity{Mode: GravityMode(i)}, nil
	}
	xs, ys, ok := strings.Cut(s, "x")
	if !ok {
		return Gravity{}, errors.New("not auto, left, right, top, bottom or XxY")
	}
	x, err1 := parseMilli(xs)
	y, err2 := parseMilli(ys)
	if err1 != nil || err2 != nil || x > 1000 || y > 1000 {
		return Gravity{}, errors.New("XxY needs X and Y decimals in [0,1]")
	}
	return Gravity{Mode: GravityPoint, X: uint16(x), Y: uint16(y)}, nil
}

// finish folds dpr into the sizes, drops defaults and options without effect,
// and checks the limits.
func (b *builder) finish() (Options, error) {
	o := b.o
	if b.dpr > 0 {
		// Round half up; the sizes are at most MaxDimension and dpr 3000, so
		// nothing overflows.
		if o.Width > 0 {
			o.Width = (o.Width*b.dpr + 500) / 1000
		}
		if o.Height > 0 {
			o.Height = (o.Height*b.dpr + 500) / 1000
		}
	}
	if o.Width == 0 && o.Height == 0 {
		o.Fit = FitScaleDown // no box: nothing to fit
	}
	if o.Fit != FitCover && o.Fit != FitCrop {
		o.Gravity = Gravity{} // only the cropping modes use it
	}
	if o.Quality == b.p.quality {
		o.Quality = 0
	}
	if o.Width > b.p.maxWidth {
		return Options{}, &Error{Reason: fmt.Sprintf("output width %d is over the maximum %d", o.Width, b.p.maxWidth)}
	}
	if o.Height > b.p.maxHeight {
		return Options{}, &Error{Reason: fmt.Sprintf("output height %d is over the maximum %d", o.Height, b.p.maxHeight)}
	}
	if len(b.p.widths) > 0 {
		if o.Width == 0 && o.Height > 0 {
			return Options{}, &Error{Reason: "a height needs a width from the allowed widths"}
		}
		if _, ok := slices.BinarySearch(b.p.widths, o.Width); o.Width > 0 && !ok {
			return Options{}, &Error{Reason: fmt.Sprintf("output width %d is not an allowed width", o.Width)}
		}
		if _, ok := slices.BinarySearch(b.p.heights, o.Height); o.Height > 0 && !ok {
			return Options{}, &Error{Reason: fmt.Sprintf("output height %d is not an allowed height", o.Height)}
		}
		if _, ok := slices.BinarySearch(b.p.qualities, o.Quality); o.Quality > 0 && !ok {
			return Options{}, &Error{Reason: fmt.Sprintf("quality %d is not an allowed quality", o.Quality)}
		}
		if o.Background != "" && !slices.Contains(b.p.bgs, o.Background) {
			return Options{}, &Error{Reason: fmt.Sprintf("background %s is not an allowed background", o.Background)}
		}
		if o.Gravity.Mode == GravityPoint {
			return Options{}, &Error{Reason: "a focal point (gravity=XxY) needs a route with signed URLs"}
		}
	}
	return o, nil
}
