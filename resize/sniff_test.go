package resize

import "testing"

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head string
		want SourceFormat
	}{
		{"jpeg", "\xFF\xD8\xFF\xE0\x00\x10JFIF", SourceJPEG},
		{"png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", SourcePNG},
		{"gif87a", "GIF87a\x01\x00", SourceGIF},
		{"gif89a", "GIF89a\x01\x00", SourceGIF},
		{"webp", "RIFF\x24\x00\x00\x00WEBPVP8 ", SourceWebP},
		{"avif", "\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", SourceAVIF},
		{"svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`, SourceSVG},
		{"svg after declaration, comment and doctype", "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n<svg>", SourceSVG},
		{"prefixed svg", `<svg:svg xmlns:svg="http://www.w3.org/2000/svg">`, SourceSVG},
		{"xml that is not svg", `<?xml version="1.0"?><html><svg/></html>`, SourceUnknown},
		{"svg-like name", `<svgfoo>`, SourceUnknown},
		{"unterminated comment", `<!-- <svg>`, SourceUnknown},
		{"html", "<!DOCTYPE html><html>", SourceUnknown},
		{"text", "hello", SourceUnknown},
		{"empty", "", SourceUnknown},
		{"short jpeg", "\xFF\xD8", SourceUnknown},
		{"riff that is not webp", "RIFF\x24\x00\x00\x00WAVEfmt ", SourceUnknown},
		{"heic", "\x00\x00\x00\x18ftypheic", SourceUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff([]byte(tt.head)); got != tt.want {
				t.Fatalf("Sniff(%q) = %v, want %v", tt.head, got, tt.want)
			}
		})
	}
}

func TestSniffLooksAtSniffLenBytesOnly(t *testing.T) {
	long := "<!--" + string(make([]byte, SniffLen)) + "--><svg>"
	if got := Sniff([]byte(long)); got != SourceUnknown {
		t.Fatalf("an <svg> past SniffLen is %v, want unknown", got)
	}
}

func TestSourceFormatNames(t *testing.T) {
	for f := SourceUnknown; f <= SourceAVIF; f++ {
		if f.String() == "" || f.String()[0] == 's' && f != SourceSVG {
			t.Errorf("%d has name %q", f, f.String())
		}
		if (f.ContentType() == "") != (f == SourceUnknown) {
			t.Errorf("%v has content type %q", f, f.ContentType())
		}
	}
	if SourceJPEG.Output() != FormatJPEG || SourceWebP.Output() != FormatWebP || SourceSVG.Output() != FormatOriginal {
		t.Error("Output mapping is wrong")
	}
	if got := SourceFormat(99).String(); got != "source(99)" {
		t.Errorf("unknown format name %q", got)
	}
}
