package resize

import (
	"strings"
	"testing"
)

// FuzzNegotiate: whatever Accept header a client sends, format=auto picks
// AVIF or WebP only when the route allows it, the build can encode it and
// the header lists its type itself with q > 0 (never from a wildcard),
// else the source's own format; explicit formats are kept; and the header
// parser obeys RFC 9110's "highest q wins" for a type listed twice.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
		"image/webp;q=0", "IMAGE/WEBP ; Q=0.5", "image/webp;q=1.0001", "image/webp;q=.5", "image/webp;level=1;q=0;x=1",
		"image/*", "*/*", "image/webp;q=0,image/webp;q=0.1", "text/html,," + strings.Repeat(",", 70) + "image/webp",
		"image/avif;q=0.000",
	} {
		f.Add(s, uint8(FormatAuto), uint8(FormatJPEG), uint8(0xff))
	}
	// Only the first maxAcceptLen bytes are read (checked here, not by
	// the fuzzer: inputs that long make its minimisation crawl).
	if acceptsType(strings.Repeat(" ", maxAcceptLen-5)+",image/webp", "image/webp") ||
		!acceptsType(strings.Repeat(" ", maxAcceptLen-11)+",image/webp", "image/webp") {
		f.Fatal("the Accept header is not cut at maxAcceptLen")
	}
	f.Fuzz(func(t *testing.T, accept string, format, source, allowMask uint8) {
		if len(accept) > 2*maxAcceptLen {
			return
		}
		o := Options{Format: Format(format % uint8(len(formatNames)))}
		src := Format(2 + source%5) // a concrete source format
		allowed := func(f Format) bool { return allowMask&(1<<f) != 0 }
		all := func(Format) bool { return true }
		for _, canEncode := range []func(Format) bool{all, CanEncode} {
			got := negotiate(o, accept, src, allowed, canEncode)
			orSource := src
			if !canEncode(src) {
				orSource = FormatPNG
			}
			switch o.Format {
			case FormatOriginal:
				if got != orSource {
					t.Fatalf("original of %v gave %v", src, got)
				}
			case FormatAuto:
				switch got {
				case FormatAVIF, FormatWebP:
					mime := "image/" + got.String()
					if got != orSource && (!allowed(got) || !canEncode(got) || !acceptsType(accept, mime)) {
						t.Fatalf("auto gave %v for Accept %q (allowed %v)", got, accept, allowed(got))
					}
				default:
					if got != orSource {
						t.Fatalf("auto gave %v, want the source's %v", got, orSource)
					}
				}
			default:
				if got != o.Format {
					t.Fatalf("explicit %v gave %v", o.Format, got)
				}
			}
		}
		for _, mime := range []string{"image/webp", "image/avif"} {
			ok := acceptsType(accept, mime)
			if ok && !strings.Contains(strings.ToLower(accept), mime) {
				t.Fatalf("Accept %q accepts %s without naming it", accept, mime)
			}
			if len(accept) > maxAcceptLen-64 || strings.Count(accept, ",") > maxAcceptRanges-4 {
				continue
			}
			// Adding the type with q=0 changes nothing; with q=1, it is
			// accepted; wildcards never count.
			if acceptsType(accept+","+mime+";q=0", mime) != ok {
				t.Fatalf("Accept %q: adding %s;q=0 changed the answer from %v", accept, mime, ok)
			}
			if !acceptsType(accept+", "+strings.ToUpper(mime), mime) {
				t.Fatalf("Accept %q plus %s does not accept it", accept, mime)
			}
			if !ok && acceptsType(accept+",image/*,*/*;q=1", mime) {
				t.Fatalf("Accept %q plus wildcards accepts %s", accept, mime)
			}
		}
	})
}
