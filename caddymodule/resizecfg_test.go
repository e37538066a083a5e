package caddymodule

import (
	"strings"
	"testing"

	"github.com/r2gate/r2gate/resize"
)

func TestResizeConfigProvision(t *testing.T) {
	webpOK := resize.CanEncode(resize.FormatWebP)
	cases := []struct {
		name   string
		c      ResizeConfig
		signed bool
		errHas string // "" = must provision
	}{
		{"widths", ResizeConfig{Widths: []int{100, 200}}, false, ""},
		{"signed URLs instead of widths", ResizeConfig{}, true, ""},
		{"neither widths nor signed URLs", ResizeConfig{}, false, "signed_url"},
		{"width over max_width", ResizeConfig{Widths: []int{3000}, MaxWidth: 2000}, false, "max_width"},
		{"quality out of range", ResizeConfig{Widths: []int{100}, Quality: 101}, false, "quality"},
		{"unknown format", ResizeConfig{Widths: []int{100}, Formats: []string{"bmp"}}, false, "bmp"},
		{"auto is no output format", ResizeConfig{Widths: []int{100}, Formats: []string{"auto"}}, false, "auto"},
		{"avif has no encoder", ResizeConfig{Widths: []int{100}, Formats: []string{"avif"}}, false, "cannot encode"},
		{"variant_key without {key}", ResizeConfig{Widths: []int{100}, VariantKey: "v/{options}"}, false, "variant_key"},
		{"negative concurrency", ResizeConfig{Widths: []int{100}, Concurrency: -1}, false, "negative"},
		{"heights, qualities, backgrounds", ResizeConfig{Widths: []int{100}, Heights: []int{50}, Qualities: []int{60, 90},
			Backgrounds: []string{"ffffff", "#00000080"}}, false, ""},
		{"height over max_height", ResizeConfig{Widths: []int{100}, Heights: []int{3000}, MaxHeight: 2000}, false, "max_height"},
		{"quality list out of range", ResizeConfig{Widths: []int{100}, Qualities: []int{101}}, false, "quality"},
		{"background not a colour", ResizeConfig{Widths: []int{100}, Backgrounds: []string{"white"}}, false, "background"},
	}
	if webpOK {
		cases = append(cases, struct {
			name   string
			c      ResizeConfig
			signed bool
			errHas string
		}{"webp with the nodynamic tag", ResizeConfig{Widths: []int{100}, Formats: []string{"webp"}}, false, ""})
	} else {
		cases = append(cases, struct {
			name   string
			c      ResizeConfig
			signed bool
			errHas string
		}{"webp without the nodynamic tag", ResizeConfig{Widths: []int{100}, Formats: []string{"webp"}}, false, "nodynamic"})
	}
	for _, c := range cases {
		app := &App{state: newAppState()}
		z, err := c.c.provision(app, c.signed)
		switch {
		case c.errHas == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)):
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.errHas)
		case err == nil && z.parser == nil:
			t.Errorf("%s: no parser", c.name)
		}
	}
}

func TestResizeQueuesAreSharedByBounds(t *testing.T) {
	app := &App{state: newAppState()}
	a, _ := (&ResizeConfig{Widths: []int{100}}).provision(app, false)
	b, _ := (&ResizeConfig{Widths: []int{200}, Quality: 70}).provision(app, false)
	c, _ := (&ResizeConfig{Widths: []int{100}, Concurrency: 7}).provision(app, false)
	if a.proc.Queue != b.proc.Queue {
		t.Error("two routes with equal resize bounds have two queues: the process would run twice the resizes")
	}
	if a.proc.Queue == c.proc.Queue {
		t.Error("routes with different concurrency share a queue")
	}
}

func TestParsePixels(t *testing.T) {
	for in, want := range map[string]int64{"50MP": 50_000_000, "12mp": 12_000_000, "4000000": 4_000_000} {
		if got, err := parsePixels(in); err != nil || got != want {
			t.Errorf("parsePixels(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MP", "-1", "0", "lots", "99999999999MP"} {
		if _, err := parsePixels(in); err == nil {
			t.Errorf("parsePixels(%q) gave no error", in)
		}
	}
}
