package resize

import (
	"strings"
	"testing"
)

// fuzzConfig has limits, so the round trip also covers their checks.
var fuzzConfig = Config{Limits: Limits{MaxWidth: 4000, MaxHeight: 4000, Formats: []Format{FormatJPEG, FormatWebP, FormatAVIF}}, Quality: 80}

// checkRoundTrip asserts that o's canonical form parses back to o in both
// forms and is stable.
func checkRoundTrip(t *testing.T, p *Parser, o Options) {
	t.Helper()
	c := o.Canonical()
	back, err := p.ParseQuery(c)
	if err != nil {
		t.Fatalf("canonical %q does not parse: %v", c, err)
	}
	if back != o {
		t.Fatalf("canonical %q parses to %+v, want %+v", c, back, o)
	}
	if c2 := back.Canonical(); c2 != c {
		t.Fatalf("canonical not stable: %q then %q", c, c2)
	}
	if o.IsZero() {
		if c != "" {
			t.Fatalf("zero options have canonical %q", c)
		}
		return
	}
	req, err := p.ParseCloudflare(CloudflarePrefix + strings.ReplaceAll(c, "&", ",") + "/x.jpg")
	if err != nil {
		t.Fatalf("canonical %q does not parse in the Cloudflare form: %v", c, err)
	}
	if req.Options != o {
		t.Fatalf("canonical %q parses in the Cloudflare form to %+v, want %+v", c, req.Options, o)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "w=400", "w=400&q=80&fit=cover", "q=80&w=400&v=3", "w=400&dpr=1.5", "w=400&w=400",
		"fit=crop&w=4&h=4&gravity=0.3333x0.5", "background=%23ABC&fit=pad&w=1&h=1",
		"background=rgba(1,2,3,0.25)", "anim=false&metadata=keep&format=auto", "sig=x&exp=1&w=%34",
		"w=%zz", "x=%zz&h=9", "format=avif&q=100", "dpr=3&h=1333",
	} {
		f.Add(s)
	}
	p := mustParser(f, fuzzConfig)
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := p.ParseQuery(raw)
		if err != nil {
			if o != (Options{}) {
				t.Fatalf("an error came with options %+v", o)
			}
			return
		}
		checkRoundTrip(t, p, o)
	})
}

func FuzzParseCloudflare(f *testing.F) {
	for _, s := range []string{
		"/cdn-cgi/image/width=400/a.jpg", "/cdn-cgi/image/w=400,q=80,f=webp/dir/a.jpg",
		"/cdn-cgi/image/width=400/https://other/x.jpg", "/cdn-cgi/image/width=400//other/x.jpg",
		"/cdn-cgi/image/background=rgba(0,0,0,0.5),fit=pad,w=9,h=9/a.png", "/cdn-cgi/image/onerror=redirect,g=0.1x0.9,fit=cover,w=5/a",
		"/cdn-cgi/image/dpr=2.5,height=100/a%20b.jpg", "/cdn-cgi/image//a.jpg", "/cdn-cgi/image/w=1/a/%2E%2E/b",
	} {
		f.Add(s)
	}
	p := mustParser(f, fuzzConfig)
	f.Fuzz(func(t *testing.T, path string) {
		req, err := p.ParseCloudflare(path)
		if err != nil {
			return
		}
		if !strings.HasPrefix(req.Source, "/") || strings.HasPrefix(req.Source, "//") || strings.HasPrefix(req.Source, "/\\") {
			t.Fatalf("source %q is not a path in this site", req.Source)
		}
		checkRoundTrip(t, p, req.Options)
	})
}
