package resize

import "strings"

// maxAcceptLen bounds how much of an Accept header Negotiate reads; browsers
// send about a hundred bytes.
const maxAcceptLen = 4096

// maxAcceptRanges bounds the media ranges Negotiate reads from one header.
const maxAcceptRanges = 64

// Negotiate returns the concrete output format for o: o.Format when it names
// one (format=webp stays webp whatever Accept says, even when this build
// cannot encode it: Encode then returns ErrFormatUnavailable), else the
// source's own format for FormatOriginal, and for FormatAuto: AVIF when
// allowed(FormatAVIF), CanEncode(FormatAVIF) and accept accepts image/avif;
// else WebP under the same conditions; else the source's format. allowed is
// the route's format rule (Parser.Allowed); nil allows every format.
//
// For FormatOriginal and FormatAuto, a source format this build cannot
// encode (AVIF; WebP without the nodynamic build tag) gives FormatPNG
// instead: lossless and keeping alpha, so nothing of the source is lost but
// size.
//
// Accept is parsed as RFC 9110 says: comma-separated media ranges with
// parameters, names compared without case, q-values from 0 to 1 (a missing
// q is 1; q=0 means "not acceptable"; a malformed q makes the range count as
// absent). A format is accepted only when its own type is listed with q > 0:
// the wildcards image/* and */*, which every browser sends, do not count,
// since they do not mean the client decodes WebP or AVIF. When a type is
// listed more than once the highest q counts.
//
// The result depends only on o, the formats accepted, source and allowed,
// never on the raw header: the caller keys its cache on the result (and
// sends Vary: Accept on every answer where o.Format is FormatAuto).
func Negotiate(o Options, accept string, source Format, allowed func(Format) bool) Format {
	return negotiate(o, accept, source, allowed, CanEncode)
}

// negotiate is Negotiate with the encoders available given by canEncode.
func negotiate(o Options, accept string, source Format, allowed, canEncode func(Format) bool) Format {
	orSource := func() Format {
		if canEncode(source) {
			return source
		}
		return FormatPNG
	}
	switch o.Format {
	case FormatOriginal:
		return orSource()
	case FormatAuto:
	default:
		return o.Format
	}
	ok := func(f Format, mime string) bool {
		return (allowed == nil || allowed(f)) && canEncode(f) && acceptsType(accept, mime)
	}
	switch {
	case ok(FormatAVIF, "image/avif"):
		return FormatAVIF
	case ok(FormatWebP, "image/webp"):
		return FormatWebP
	}
	return orSource()
}

// Accepts reports whether the Accept header value accept lists the media
// type mime (such as "image/webp") itself with a q-value above 0; see
// Negotiate for the parsing rules.
func Accepts(accept, mime string) bool { return acceptsType(accept, mime) }

// acceptsType implements Accepts.
func acceptsType(accept, mime string) bool {
	if len(accept) > maxAcceptLen {
		accept = accept[:maxAcceptLen]
	}
	best := -1 // thousandths; -1: not listed
	for i := 0; accept != "" && i < maxAcceptRanges; i++ {
		var r string
		r, accept, _ = strings.Cut(accept, ",")
		typ, params, _ := strings.Cut(r, ";")
		if !strings.EqualFold(strings.TrimSpace(typ), mime) {
			continue
		}
		q := 1000
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			name, value, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(name), "q") {
				q = parseQValue(strings.TrimSpace(value))
				break // parameters after q are accept-ext, not media type parameters
			}
		}
		best = max(best, q)
	}
	return best > 0
}

// parseQValue parses an RFC 9110 weight ("0", "0.5", "1.000") into
// thousandths, or -1 when it is malformed.
func parseQValue(s string) int {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return -1
	}
	whole := int(s[0] - '0')
	if len(s) == 1 {
		return whole * 1000
	}
	if s[1] != '.' {
		return -1
	}
	q := 0
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if whole == 1 {
		if q != 0 {
			return -1 // above 1
		}
		return 1000
	}
	return q
}
