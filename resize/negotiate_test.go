package resize

import "testing"

const (
	chromeAccept = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	safariAccept = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
	oldAccept    = "image/png,image/*;q=0.8,*/*;q=0.5"
)

func TestNegotiate(t *testing.T) {
	all := func(Format) bool { return true }
	noAVIF := func(f Format) bool { return f != FormatAVIF }
	auto := Options{Format: FormatAuto}
	tests := []struct {
		name    string
		o       Options
		accept  string
		source  Format
		allowed func(Format) bool
		want    Format
	}{
		{"chrome gets avif when allowed", auto, chromeAccept, FormatJPEG, all, FormatAVIF},
		{"chrome gets webp when avif is not allowed", auto, chromeAccept, FormatJPEG, noAVIF, FormatWebP},
		{"safari gets webp", auto, safariAccept, FormatJPEG, all, FormatWebP},
		{"wildcards do not accept webp or avif", auto, "image/*,*/*", FormatPNG, all, FormatPNG},
		{"an old browser keeps the source format", auto, oldAccept, FormatJPEG, all, FormatJPEG},
		{"no accept keeps the source format", auto, "", FormatGIF, all, FormatGIF},
		{"avif q=0 is refused, webp taken", auto, "image/avif;q=0, image/webp", FormatJPEG, all, FormatWebP},
		{"webp q=0 is refused", auto, "image/webp;q=0", FormatJPEG, all, FormatJPEG},
		{"q=0.000 is refused", auto, "image/webp;q=0.000", FormatJPEG, all, FormatJPEG},
		{"media types ignore case", auto, "IMAGE/WEBP", FormatJPEG, all, FormatWebP},
		{"a tiny q still accepts", auto, "image/webp;q=0.001", FormatJPEG, all, FormatWebP},
		{"a q over 1 is malformed", auto, "image/webp;q=1.5", FormatJPEG, all, FormatJPEG},
		{"a non-numeric q is malformed", auto, "image/webp;q=abc", FormatJPEG, all, FormatJPEG},
		{"spaces around parameters", auto, "text/html , image/webp ; Q = 0.5", FormatJPEG, all, FormatWebP},
		{"a longer type is not webp", auto, "image/webpx,image/avif2", FormatJPEG, all, FormatJPEG},
		{"the highest q of a repeated type counts", auto, "image/webp;q=0,image/webp;q=0.5", FormatJPEG, all, FormatWebP},
		{"nil allowed allows all", auto, chromeAccept, FormatJPEG, nil, FormatAVIF},
		{"explicit png ignores accept", Options{Format: FormatPNG}, chromeAccept, FormatJPEG, all, FormatPNG},
		{"explicit webp works without accept", Options{Format: FormatWebP}, "", FormatJPEG, all, FormatWebP},
		{"original is the source", Options{Width: 10}, chromeAccept, FormatGIF, all, FormatGIF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := negotiate(tt.o, tt.accept, tt.source, tt.allowed, all); got != tt.want {
				t.Errorf("negotiate(%v, %q, %v) = %v, want %v", tt.o.Format, tt.accept, tt.source, got, tt.want)
			}
		})
	}
}

// TestNegotiateThisBuild checks Negotiate with this build's encoders: it
// never picks WebP or AVIF for format=auto, and a source it cannot encode
// becomes PNG. (With the nodynamic build tag WebP can be encoded: Chrome's
// Accept then gets WebP for format=auto, and a WebP source stays WebP.)
func TestNegotiateThisBuild(t *testing.T) {
	auto := Options{Format: FormatAuto}
	tests := []struct {
		name   string
		o      Options
		source Format
		want   Format
	}{
		{"auto keeps a jpeg source", auto, FormatJPEG, FormatJPEG},
		{"auto keeps a gif source", auto, FormatGIF, FormatGIF},
		{"auto of a webp source is png", auto, FormatWebP, FormatPNG},
		{"original of a webp source is png", Options{}, FormatWebP, FormatPNG},
		{"original of an avif source is png", Options{}, FormatAVIF, FormatPNG},
		{"explicit webp is kept (Encode refuses it)", Options{Format: FormatWebP}, FormatJPEG, FormatWebP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Negotiate(tt.o, chromeAccept, tt.source, func(Format) bool { return true })
			want := tt.want
			if webpBuilt && (tt.o.Format == FormatAuto || tt.source == FormatWebP) {
				want = FormatWebP
			}
			if got != want {
				t.Errorf("Negotiate(%v, chrome, %v) = %v, want %v", tt.o.Format, tt.source, got, want)
			}
			if tt.o.Format == FormatAuto && !CanEncode(got) {
				t.Errorf("auto picked %v, which this build cannot encode", got)
			}
		})
	}
}

func TestParseQValue(t *testing.T) {
	for s, want := range map[string]int{
		"0": 0, "0.": 0, "0.5": 500, "0.05": 50, "0.001": 1, "1": 1000, "1.": 1000, "1.0": 1000, "1.000": 1000,
		"1.001": -1, "0.1234": -1, ".5": -1, "2": -1, "": -1, "0,5": -1, "-0": -1, "0.5x": -1, "01": -1,
	} {
		if got := parseQValue(s); got != want {
			t.Errorf("parseQValue(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestAcceptsIsBounded(t *testing.T) {
	long := ""
	for range 100 {
		long += "text/plain,"
	}
	if Accepts(long+"image/webp", "image/webp") {
		t.Error("a media range after the first 64 was read")
	}
	if !Accepts("text/plain,image/webp", "image/webp") {
		t.Error("image/webp not accepted")
	}
}
