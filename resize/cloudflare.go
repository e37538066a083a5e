package resize

import (
	"net/url"
	"strings"
)

// CloudflarePrefix starts every Cloudflare-form path.
const CloudflarePrefix = "/cdn-cgi/image/"

// cloudflareNames are Cloudflare's option names and aliases that r2gate
// supports. Any other name is an error in this form.
var cloudflareNames = map[string]option{
	"width": optWidth, "w": optWidth,
	"height": optHeight, "h": optHeight,
	"fit":     optFit,
	"quality": optQuality, "q": optQuality,
	"format": optFormat, "f": optFormat,
	"dpr":     optDPR,
	"gravity": optGravity, "g": optGravity,
	"background": optBackground,
	"anim":       optAnim,
	"metadata":   optMetadata,
	"onerror":    optOnError,
}

// maxCloudflareOptions bounds the options segment's entries (there are only
// eleven distinct options, so more is always an error).
const maxCloudflareOptions = 16

// Request is a parsed Cloudflare-form URL.
type Request struct {
	// Options is the canonical variant asked for.
	Options Options
	// Source is the source object's URL path, percent-decoded, starting with
	// one "/" (for example "/images/a b.jpg"): map it to an object key as any
	// request path.
	Source string
	// EscapedSource is Source as the request spelled it (still escaped), for
	// a redirect to the source.
	EscapedSource string
	// RedirectOnError is onerror=redirect: a failed resize is answered with a
	// redirect to the source rather than an error. It is not part of the
	// variant (it changes no output byte).
	RedirectOnError bool
}

// IsCloudflare reports whether the URL path is a Cloudflare-form path.
func IsCloudflare(escapedPath string) bool {
	return strings.HasPrefix(escapedPath, CloudflarePrefix)
}

// ParseCloudflare parses /cdn-cgi/image/<options>/<source> from a URL's
// escaped path (r.URL.EscapedPath()). The options are comma-separated
// name=value pairs with Cloudflare's names and aliases (width/w, height/h,
// fit, quality/q, format/f, dpr, gravity/g, background, anim, metadata,
// onerror=redirect); commas inside rgb()/rgba() belong to the colour. At
// least one option is required; an unknown option, a repeated one (aliases
// included), a bad value or one outside the limits is an *Error. The source
// must be a path in this site: an absolute URL (https://other/x.jpg), a
// protocol-relative one (//other/x.jpg), a ".." segment or an empty source is
// refused; r2gate never fetches other hosts.
func (p *Parser) ParseCloudflare(escapedPath string) (Request, error) {
	rest, ok := strings.CutPrefix(escapedPath, CloudflarePrefix)
	if !ok {
		return Request{}, &Error{Reason: "not a " + CloudflarePrefix + " path"}
	}
	segment, source, ok := strings.Cut(rest, "/")
	if !ok || source == "" {
		return Request{}, &Error{Reason: "no source path after the options"}
	}
	if segment == "" {
		return Request{}, &Error{Reason: "no options (at least one is needed)"}
	}
	req := Request{EscapedSource: "/" + source}
	if err := checkSource(req.EscapedSource); err != nil {
		return Request{}, err
	}
	decoded, err := url.PathUnescape(req.EscapedSource)
	if err != nil {
		return Request{}, &Error{Reason: "source path has a bad escape"}
	}
	if err := checkSource(decoded); err != nil {
		return Request{}, err
	}
	req.Source = decoded

	b := builder{p: p}
	entries := splitOptions(segment)
	if len(entries) > maxCloudflareOptions {
		return Request{}, &Error{Reason: "too many options"}
	}
	for _, entry := range entries {
		rawName, rawValue, hasEq := strings.Cut(entry, "=")
		name, err1 := url.PathUnescape(rawName)
		value, err2 := url.PathUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return Request{}, &Error{Option: rawName, Value: rawValue, Reason: "bad escape"}
		}
		if !hasEq {
			return Request{}, &Error{Option: name, Reason: "needs name=value"}
		}
		opt, ok := cloudflareNames[name]
		if !ok {
			return Request{}, &Error{Option: name, Value: value, Reason: "not a supported option"}
		}
		if err := b.set(opt, name, value); err != nil {
			return Request{}, err
		}
	}
	req.Options, err = b.finish()
	if err != nil {
		return Request{}, err
	}
	req.RedirectOnError = b.redir
	return req, nil
}

// splitOptions splits the options segment at commas outside parentheses, so
// background=rgba(0,0,0,0.5) stays one entry.
func splitOptions(segment string) []string {
	var entries []string
	depth, start := 0, 0
	for i := 0; i < len(segment); i++ {
		switch segment[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				entries = append(entries, segment[start:i])
				start = i + 1
			}
		}
		if len(entries) > maxCloudflareOptions {
			return entries
		}
	}
	return append(entries, segment[start:])
}

// checkSource refuses a source that is not a plain path in this site. It is
// run on the escaped and on the decoded source, so an escaped slash or colon
// does not slip through.
func checkSource(path string) error {
	// path starts with "/"; what follows it is what the request named.
	rest := path[1:]
	if rest == "" {
		return &Error{Reason: "empty source path"}
	}
	if rest[0] == '/' || rest[0] == '\\' {
		return &Error{Reason: "the source must be a path in this site, not another host"}
	}
	first, _, _ := strings.Cut(rest, "/")
	if hasScheme(first) {
		return &Error{Reason: "the source must be a path in this site, not an absolute URL"}
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == ".." {
			return &Error{Reason: "the source path may not contain .."}
		}
	}
	if strings.ContainsRune(path, 0) {
		return &Error{Reason: "the source path may not contain NUL"}
	}
	return nil
}

// hasScheme reports whether a first path segment reads as a URL scheme
// ("https:", "http:", "data:", ...): letters, digits, '+', '-', '.' starting
// with a letter and ending in the segment's only ':'. A key such as
// "photo:1.jpg" is not a scheme (the colon is not last).
func hasScheme(seg string) bool {
	name, ok := strings.CutSuffix(seg, ":")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
