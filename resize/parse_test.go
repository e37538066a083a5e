package resize

import (
	"errors"
	"strings"
	"testing"
)

func mustParser(t testing.TB, cfg Config) *Parser {
	t.Helper()
	p, err := NewParser(cfg)
	if err != nil {
		t.Fatalf("NewParser: %v", err)
	}
	return p
}

func TestParseQuery(t *testing.T) {
	p := mustParser(t, Config{})
	tests := []struct {
		name      string
		query     string
		want      Options
		canonical string
	}{
		{"no query asks for nothing", "", Options{}, ""},
		{"width only", "w=400", Options{Width: 400}, "w=400"},
		{"cache buster is ignored", "w=400&v=3", Options{Width: 400}, "w=400"},
		{"only a cache buster asks for nothing", "v=3", Options{}, ""},
		{"signed URL parameters are ignored", "w=400&sig=abc&exp=123&kid=k1&verify=1-2&token=t", Options{Width: 400}, "w=400"},
		{"malformed unrelated parameter is ignored", "x=%zz&w=400&;=;", Options{Width: 400}, "w=400"},
		{"long names are not query options", "width=400&quality=10", Options{}, ""},
		{"q=85 is the default and drops out", "w=400&q=85", Options{Width: 400}, "w=400"},
		{"other qualities are kept", "w=400&q=80", Options{Width: 400, Quality: 80}, "q=80&w=400"},
		{"dpr folds into width", "w=400&dpr=2", Options{Width: 800}, "w=800"},
		{"dpr folds into both sizes", "w=400&h=300&dpr=2", Options{Width: 800, Height: 600}, "h=600&w=800"},
		{"fractional dpr rounds half up", "w=401&dpr=1.5", Options{Width: 602}, "w=602"},
		{"dpr alone asks for nothing", "dpr=2", Options{}, ""},
		{"dpr 1 changes nothing", "w=400&dpr=1", Options{Width: 400}, "w=400"},
		{"canonical order is alphabetical", "w=400&h=300&fit=cover", Options{Width: 400, Height: 300, Fit: FitCover}, "fit=cover&h=300&w=400"},
		{"scale-down is the default fit", "w=400&fit=scale-down", Options{Width: 400}, "w=400"},
		{"fit without a box drops out", "fit=cover&format=webp", Options{Format: FormatWebP}, "format=webp"},
		{"gravity needs a cropping fit", "w=400&gravity=left", Options{Width: 400}, "w=400"},
		{"gravity side with cover", "w=400&h=400&fit=cover&gravity=left", Options{Width: 400, Height: 400, Fit: FitCover, Gravity: Gravity{Mode: GravityLeft}}, "fit=cover&gravity=left&h=400&w=400"},
		{"gravity point is canonicalised", "w=4&fit=crop&gravity=0.50x.250", Options{Width: 4, Fit: FitCrop, Gravity: Gravity{Mode: GravityPoint, X: 500, Y: 250}}, "fit=crop&gravity=0.5x0.25&w=4"},
		{"gravity point rounds to thousandths", "w=4&fit=crop&gravity=0.3333x1", Options{Width: 4, Fit: FitCrop, Gravity: Gravity{Mode: GravityPoint, X: 333, Y: 1000}}, "fit=crop&gravity=0.333x1&w=4"},
		{"gravity auto is the default", "w=4&fit=crop&gravity=auto", Options{Width: 4, Fit: FitCrop}, "fit=crop&w=4"},
		{"short hex background is expanded and lowered", "w=4&background=%23FA0", Options{Width: 4, Background: "#ffaa00"}, "background=%23ffaa00&w=4"},
		{"opaque alpha drops out of the colour", "background=%23112233ff", Options{Background: "#112233"}, "background=%23112233"},
		{"hex alpha is kept", "background=%2311223380", Options{Background: "#11223380"}, "background=%2311223380"},
		{"rgba background", "background=rgba(255,%200,0,0.5)", Options{Background: "#ff000080"}, "background=%23ff000080"},
		{"rgb background", "background=RGB(1,2,3)", Options{Background: "#010203"}, "background=%23010203"},
		{"anim=false makes a still", "anim=false", Options{Still: true}, "anim=false"},
		{"anim=true is the default", "w=4&anim=true", Options{Width: 4}, "w=4"},
		{"metadata none is the default", "w=4&metadata=none", Options{Width: 4}, "w=4"},
		{"metadata keep", "metadata=keep", Options{Metadata: MetadataKeep}, "metadata=keep"},
		{"format auto", "format=auto&w=4", Options{Width: 4, Format: FormatAuto}, "format=auto&w=4"},
		{"onerror is not a query option", "w=4&onerror=redirect", Options{Width: 4}, "w=4"},
		{"escaped option name counts", "%77=400", Options{Width: 400}, "w=400"},
		{"leading zeros are one width", "w=0400", Options{Width: 400}, "w=400"},
		{"everything", "anim=false&background=%23000&fit=cover&format=webp&gravity=top&h=2&metadata=copyright&q=1&w=3",
			Options{Still: true, Background: "#000000", Fit: FitCover, Format: FormatWebP, Gravity: Gravity{Mode: GravityTop}, Height: 2, Metadata: MetadataCopyright, Quality: 1, Width: 3},
			"anim=false&background=%23000000&fit=cover&format=webp&gravity=top&h=2&metadata=copyright&q=1&w=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			if got != tt.want {
				t.Fatalf("ParseQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
			if c := got.Canonical(); c != tt.canonical {
				t.Fatalf("Canonical() = %q, want %q", c, tt.canonical)
			}
			if got.IsZero() != (tt.canonical == "") {
				t.Fatalf("IsZero() = %v for canonical %q", got.IsZero(), tt.canonical)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	p := mustParser(t, Config{})
	tests := []struct {
		name  string
		query string
	}{
		{"repeated option is an error", "w=400&w=400"},
		{"empty width is an error", "w="},
		{"width without a value is an error", "w"},
		{"zero width is an error", "w=0"},
		{"negative width is an error", "w=-4"},
		{"signed width is an error", "w=%2B4"},
		{"width over the hard cap is an error", "w=10001"},
		{"width with a unit is an error", "w=400px"},
		{"width past dpr over the maximum is an error", "w=5000&dpr=3"},
		{"quality 0 is an error", "q=0"},
		{"quality over 100 is an error", "q=101"},
		{"quality by name is an error", "q=high"},
		{"dpr below 1 is an error", "w=4&dpr=0.5"},
		{"dpr over 3 is an error", "w=4&dpr=3.01"},
		{"dpr in exponent form is an error", "w=4&dpr=1e0"},
		{"dpr NaN is an error", "w=4&dpr=NaN"},
		{"unknown fit is an error", "fit=fill"},
		{"fit in capitals is an error", "fit=COVER"},
		{"unknown format is an error", "format=tiff"},
		{"avif is opt-in", "format=avif"},
		{"gravity face is an error", "gravity=face"},
		{"gravity over 1 is an error", "gravity=1.5x0"},
		{"gravity with one number is an error", "gravity=0.5"},
		{"named background is an error", "background=red"},
		{"background without escape is cut by the browser, bare hex is an error", "background=ff0000"},
		{"bad hex digit is an error", "background=%23ggg"},
		{"five hex digits is an error", "background=%2312345"},
		{"rgb channel over 255 is an error", "background=rgb(256,0,0)"},
		{"rgb percent is an error", "background=rgb(100%25,0,0)"},
		{"rgba alpha over 1 is an error", "background=rgba(0,0,0,2)"},
		{"anim yes is an error", "anim=yes"},
		{"unknown metadata is an error", "metadata=all"},
		{"bad escape in an option value is an error", "w=%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := p.ParseQuery(tt.query)
			if err == nil {
				t.Fatalf("ParseQuery(%q) = %+v, want an error", tt.query, o)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *resize.Error", err)
			}
			if !strings.HasPrefix(err.Error(), "resize: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	p := mustParser(t, Config{Limits: Limits{
		Widths:      []int{800, 400, 400, 1600},
		MaxWidth:    2000,
		MaxHeight:   1000,
		Formats:     []Format{FormatWebP, FormatAVIF},
		Heights:     []int{1000, 300},
		Qualities:   []int{85},
		Backgrounds: []string{"FF0000", "#00ff0080"},
	}, Quality: 75})
	tests := []struct {
		name  string
		query string
		want  Options
		ok    bool
	}{
		{"allowed width", "w=400", Options{Width: 400}, true},
		{"other widths are an error", "w=500", Options{}, false},
		{"allowed width after dpr", "w=400&dpr=2", Options{Width: 800}, true},
		{"dpr lands off the allowed widths", "w=400&dpr=1.5", Options{}, false},
		{"height with an allowed width", "w=400&h=1000", Options{Width: 400, Height: 1000}, true},
		{"height over max_height is an error", "w=400&h=1001", Options{}, false},
		{"height alone is an error with a widths list", "h=300", Options{}, false},
		{"allowed width over max_width is refused by NewParser, so 1600 passes", "w=1600", Options{Width: 1600}, true},
		{"width over max_width is an error", "w=2400", Options{}, false},
		{"allowed format", "format=avif", Options{Format: FormatAVIF}, true},
		{"format not in the list is an error", "format=jpeg", Options{}, false},
		{"auto is always allowed", "format=auto", Options{Format: FormatAuto}, true},
		{"the configured quality drops out", "w=400&q=75", Options{Width: 400}, true},
		{"85 is not the default here", "w=400&q=85", Options{Width: 400, Quality: 85}, true},
		{"no resize is not limited", "v=1", Options{}, true},
		// The other open-ended options come from lists too (each new
		// variant is a resize and an object written to the bucket).
		{"height not in the list", "w=400&h=999", Options{}, false},
		{"allowed height after dpr", "w=400&h=150&dpr=2", Options{Width: 800, Height: 300}, true},
		{"quality not in the list", "w=400&q=84", Options{}, false},
		{"allowed background", "w=400&background=%23f00", Options{Width: 400, Background: "#ff0000"}, true},
		{"allowed translucent background", "w=400&background=%2300FF0080", Options{Width: 400, Background: "#00ff0080"}, true},
		{"background not in the list", "w=400&background=%23fe0000", Options{}, false},
		{"a focal point", "w=400&h=300&fit=cover&gravity=0.5x0.5", Options{}, false},
		{"a named gravity", "w=400&h=300&fit=cover&gravity=left", Options{Width: 400, Height: 300, Fit: FitCover, Gravity: Gravity{Mode: GravityLeft}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ParseQuery(tt.query)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseQuery(%q) error = %v, want ok=%v", tt.query, err, tt.ok)
			}
			if got != tt.want {
				t.Fatalf("ParseQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
	if got := p.Quality(Options{}); got != 75 {
		t.Errorf("Quality(default) = %d, want 75", got)
	}
	if !p.Allowed(FormatOriginal) || p.Allowed(FormatPNG) {
		t.Errorf("Allowed: original must be allowed, png must not be")
	}
}

func TestNewParserRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"allowed width over max_width", Config{Limits: Limits{Widths: []int{800}, MaxWidth: 400}}},
		{"allowed width zero", Config{Limits: Limits{Widths: []int{0}}}},
		{"max_width over the hard cap", Config{Limits: Limits{MaxWidth: MaxDimension + 1}}},
		{"negative max_height", Config{Limits: Limits{MaxHeight: -1}}},
		{"auto is not a format to allow", Config{Limits: Limits{Formats: []Format{FormatAuto}}}},
		{"quality over 100", Config{Quality: 101}},
		{"allowed height over max_height", Config{Limits: Limits{Heights: []int{800}, MaxHeight: 400}}},
		{"allowed quality 0", Config{Limits: Limits{Qualities: []int{0}}}},
		{"allowed background not a colour", Config{Limits: Limits{Backgrounds: []string{"red"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewParser(tt.cfg); err == nil {
				t.Fatal("NewParser accepted a bad config")
			}
		})
	}
}

func TestErrorMessageIsBounded(t *testing.T) {
	p := mustParser(t, Config{})
	_, err := p.ParseQuery("fit=" + strings.Repeat("x", 5000))
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error %q: want a short error", err)
	}
}

func TestBackgroundColor(t *testing.T) {
	p := mustParser(t, Config{})
	o, err := p.ParseQuery("background=rgba(255,0,16,0.5)")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := o.BackgroundColor()
	if !ok || c.R != 255 || c.G != 0 || c.B != 16 || c.A != 128 {
		t.Fatalf("BackgroundColor() = %v, %v; want {255 0 16 128}, true", c, ok)
	}
	if _, ok := (Options{}).BackgroundColor(); ok {
		t.Fatal("the default background reports a colour")
	}
}
