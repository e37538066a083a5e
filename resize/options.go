package resize

import (
	"image/color"
	"strconv"
	"strings"
)

// Options is one canonical variant: what a request asks of an image. Its zero
// value asks for nothing (serve the original). The parsers only return
// normalised Options (defaults held as zero values, dpr already folded into
// Width and Height, fields without effect cleared), so two requests for the
// same variant give equal Options and compare equal with ==.
type Options struct {
	// Width is the output width in pixels, dpr included; 0: not set.
	Width int
	// Height is the output height in pixels, dpr included; 0: not set.
	Height int
	// Fit says how the image meets the Width×Height box; default
	// FitScaleDown. It is cleared when neither Width nor Height is set.
	Fit Fit
	// Quality is the encoder quality, 1–100; 0 means the configured default
	// (85 unless Config.Quality says otherwise). An explicit value equal to
	// the default is held as 0.
	Quality int
	// Format is the output format; default FormatOriginal (the source's own).
	Format Format
	// Gravity says which part survives a crop; default GravityAuto. It is
	// cleared unless Fit is FitCover or FitCrop, the modes that crop.
	Gravity Gravity
	// Background is the colour under transparent pixels and around a padded
	// image, as lowercase "#rrggbb" or "#rrggbbaa" (the alpha only when not
	// ff); "": the default (white when flattening to JPEG, transparent padding
	// otherwise). An explicit colour is kept even if it equals the default.
	Background string
	// Still is anim=false: an animated source becomes its first frame.
	Still bool
	// Metadata says which metadata the output keeps; default MetadataNone
	// (everything is stripped but what colour needs: an ICC profile is
	// converted to sRGB rather than dropped).
	Metadata Metadata
}

// IsZero reports whether o asks for no change at all, so the original object
// is served as it is.
func (o Options) IsZero() bool { return o == Options{} }

// BackgroundColor returns Background as a colour, and false when Background
// is the default.
func (o Options) BackgroundColor() (color.NRGBA, bool) {
	if o.Background == "" {
		return color.NRGBA{}, false
	}
	c, err := parseColor(o.Background)
	if err != nil {
		return color.NRGBA{}, false
	}
	return c, true
}

// Canonical returns the variant's canonical form: a URL query string with the
// query form's names in alphabetical order (anim, background, fit, format,
// gravity, h, metadata, q, w), defaults left out and values in one spelling,
// for example "w=400" or "fit=cover&h=300&w=400". It is "" when o.IsZero().
// Values are query-escaped (only background's "#" needs it: "%23"). The
// canonical string is valid input for both parsers: ParseQuery gives o back,
// and so does ParseCloudflare with "&" replaced by ",".
func (o Options) Canonical() string {
	var b strings.Builder
	add := func(name, value string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	if o.Still {
		add("anim", "false")
	}
	if o.Background != "" {
		add("background", "%23"+strings.TrimPrefix(o.Background, "#"))
	}
	if o.Fit != FitScaleDown {
		add("fit", o.Fit.String())
	}
	if o.Format != FormatOriginal {
		add("format", o.Format.String())
	}
	if o.Gravity != (Gravity{}) {
		add("gravity", o.Gravity.String())
	}
	if o.Height > 0 {
		add("h", strconv.Itoa(o.Height))
	}
	if o.Metadata != MetadataNone {
		add("metadata", o.Metadata.String())
	}
	if o.Quality > 0 {
		add("q", strconv.Itoa(o.Quality))
	}
	if o.Width > 0 {
		add("w", strconv.Itoa(o.Width))
	}
	return b.String()
}

// Fit is how an image is fitted to the requested box, with Cloudflare's
// semantics.
type Fit uint8

// The fit modes.
const (
	// FitScaleDown fits the image inside the box, never enlarging it (the
	// default).
	FitScaleDown Fit = iota
	// FitContain fits the image inside the box, enlarging it if needed.
	FitContain
	// FitCover fills the box, cropping what overflows (see Gravity).
	FitCover
	// FitCrop is FitCover that never enlarges: a source smaller than the box
	// is cropped but not scaled up.
	FitCrop
	// FitPad fits the image inside the box, then extends it to the box with
	// Background.
	FitPad
)

// enumName returns names[i], or kind(i) for a value outside the table.
func enumName(names []string, i int, kind string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return kind + "(" + strconv.Itoa(i) + ")"
}

var fitNames = [...]string{"scale-down", "contain", "cover", "crop", "pad"}

// String returns the fit mode's URL name, such as "scale-down".
func (f Fit) String() string {
	return enumName(fitNames[:], int(f), "fit")
}

// Format is an output image format.
type Format uint8

// The output formats. Which explicit ones a route allows is Limits.Formats.
const (
	// FormatOriginal keeps the source's own format (the default).
	FormatOriginal Format = iota
	// FormatAuto picks AVIF or WebP from the request's Accept header, when
	// allowed, else the source's format.
	FormatAuto
	FormatJPEG
	FormatPNG
	FormatWebP
	FormatGIF
	FormatAVIF
)

var formatNames = [...]string{"", "auto", "jpeg", "png", "webp", "gif", "avif"}

// String returns the format's URL name, such as "webp"; "" for
// FormatOriginal.
func (f Format) String() string {
	return enumName(formatNames[:], int(f), "format")
}

// ParseFormat returns the output format named name: auto, jpeg, png, webp,
// gif or avif.
func ParseFormat(name string) (Format, error) {
	for i, n := range formatNames {
		if n != "" && n == name {
			return Format(i), nil
		}
	}
	return 0, &Error{Option: "format", Value: name, Reason: "not one of auto, jpeg, png, webp, gif, avif"}
}

// Metadata is which metadata an output keeps.
type Metadata uint8

// The metadata choices.
const (
	// MetadataNone strips all metadata but what colour needs (the default).
	MetadataNone Metadata = iota
	// MetadataCopyright keeps the copyright and artist tags only.
	MetadataCopyright
	// MetadataKeep keeps the metadata (EXIF orientation is applied, not kept).
	MetadataKeep
)

var metadataNames = [...]string{"none", "copyright", "keep"}

// String returns the choice's URL name, such as "copyright".
func (m Metadata) String() string {
	return enumName(metadataNames[:], int(m), "metadata")
}

// GravityMode is the kind of a Gravity.
type GravityMode uint8

// The gravity modes.
const (
	// GravityAuto crops around the centre (the default; a smarter choice may
	// come later, under the same name).
	GravityAuto GravityMode = iota
	// GravityLeft keeps the left edge.
	GravityLeft
	// GravityRight keeps the right edge.
	GravityRight
	// GravityTop keeps the top edge.
	GravityTop
	// GravityBottom keeps the bottom edge.
	GravityBottom
	// GravityPoint keeps the point (X, Y) as close to the centre as the crop
	// allows.
	GravityPoint
)

var gravityNames = [...]string{"auto", "left", "right", "top", "bottom"}

// Gravity says which part of an image survives a crop. Its zero value is
// GravityAuto.
type Gravity struct {
	// Mode is the kind of gravity.
	Mode GravityMode
	// X and Y are the point of a GravityPoint in thousandths of the width and
	// height from the top-left corner, 0–1000 (URL 0.5 is 500); 0 for the
	// other modes.
	X, Y uint16
}

// String returns the gravity's URL form: a side name, "auto", or "XxY" with X
// and Y as decimals in [0,1] such as "0.25x0.5".
func (g Gravity) String() string {
	if g.Mode == GravityPoint {
		return formatMilli(int(g.X)) + "x" + formatMilli(int(g.Y))
	}
	return enumName(gravityNames[:], int(g.Mode), "gravity")
}
