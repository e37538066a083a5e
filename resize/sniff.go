package resize

import (
	"bytes"
	"strconv"
)

// SourceFormat is a source image's format as its first bytes say, whatever
// the object's name or Content-Type claim.
type SourceFormat uint8

// The source formats Sniff tells apart.
const (
	// SourceUnknown is anything Sniff does not recognise: not an image to
	// r2gate (ErrNotImage).
	SourceUnknown SourceFormat = iota
	// SourceJPEG is a JPEG (starts FF D8 FF).
	SourceJPEG
	// SourcePNG is a PNG (the 8-byte PNG signature).
	SourcePNG
	// SourceGIF is a GIF87a or GIF89a, possibly animated.
	SourceGIF
	// SourceWebP is a RIFF WEBP container (lossy, lossless or extended).
	SourceWebP
	// SourceSVG is an SVG document: served unchanged, never rasterised
	// (Decode answers ErrSVG).
	SourceSVG
	// SourceAVIF is an ISO-BMFF file with an avif or avis brand: recognised,
	// but no decoder is built in (ErrUnsupported).
	SourceAVIF
)

var sourceNames = [...]string{"unknown", "jpeg", "png", "gif", "webp", "svg", "avif"}

// String returns the format's short name, such as "jpeg".
func (f SourceFormat) String() string {
	if int(f) < len(sourceNames) {
		return sourceNames[f]
	}
	return "source(" + strconv.Itoa(int(f)) + ")"
}

// Output returns the output Format that keeps the source's own format
// (FormatJPEG for SourceJPEG, and so on), and FormatOriginal for SVG and
// unknown sources, which are never encoded.
func (f SourceFormat) Output() Format {
	switch f {
	case SourceJPEG:
		return FormatJPEG
	case SourcePNG:
		return FormatPNG
	case SourceGIF:
		return FormatGIF
	case SourceWebP:
		return FormatWebP
	case SourceAVIF:
		return FormatAVIF
	}
	return FormatOriginal
}

// ContentType returns the format's media type, "" for SourceUnknown.
func (f SourceFormat) ContentType() string {
	switch f {
	case SourceJPEG:
		return "image/jpeg"
	case SourcePNG:
		return "image/png"
	case SourceGIF:
		return "image/gif"
	case SourceWebP:
		return "image/webp"
	case SourceSVG:
		return "image/svg+xml"
	case SourceAVIF:
		return "image/avif"
	}
	return ""
}

// SniffLen is how many leading bytes Sniff looks at; fewer are fine, more
// are ignored. An SVG whose <svg> element starts later than this (behind a
// long comment or doctype) is not recognised.
const SniffLen = 1024

// Sniff returns the format of the image whose first bytes are head (the first
// SniffLen bytes of the object, or all of it if shorter). It reads the
// magic numbers only; it never trusts a file name.
func Sniff(head []byte) SourceFormat {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return SourceJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return SourcePNG
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return SourceGIF
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return SourceWebP
	case len(head) >= 12 && string(head[4:8]) == "ftyp" && (string(head[8:12]) == "avif" || string(head[8:12]) == "avis"):
		return SourceAVIF
	case isSVG(head):
		return SourceSVG
	}
	return SourceUnknown
}

// isSVG reports whether head is the start of an XML document whose first
// element is svg: an optional UTF-8 byte-order mark, then any whitespace,
// XML declarations or processing instructions, comments and doctype, then
// "<svg" (or a prefixed "<x:svg") followed by a space, "/" or ">".
func isSVG(head []byte) bool {
	b := bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			i := bytes.Index(b, []byte("?>"))
			if i < 0 {
				return false
			}
			b = b[i+2:]
		case bytes.HasPrefix(b, []byte("<!--")):
			i := bytes.Index(b[4:], []byte("-->"))
			if i < 0 {
				return false
			}
			b = b[4+i+3:]
		case hasPrefixFold(b, "<!DOCTYPE"):
			i := bytes.IndexByte(b, '>')
			if i < 0 {
				return false
			}
			b = b[i+1:]
		case bytes.HasPrefix(b, []byte("<")):
			name := b[1:]
			end := bytes.IndexAny(name, " \t\r\n/>")
			if end < 0 {
				return false
			}
			name = name[:end]
			if i := bytes.IndexByte(name, ':'); i >= 0 {
				name = name[i+1:]
			}
			return string(name) == "svg"
		default:
			return false
		}
	}
}

// hasPrefixFold is bytes.HasPrefix ignoring ASCII case in prefix.
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}
