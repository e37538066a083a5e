package resize

import (
	"testing"
)

func TestParseCloudflare(t *testing.T) {
	p := mustParser(t, Config{})
	tests := []struct {
		name    string
		path    string
		want    Options
		source  string
		escaped string
		redir   bool
	}{
		{"width", "/cdn-cgi/image/width=400/images/a.jpg", Options{Width: 400}, "/images/a.jpg", "/images/a.jpg", false},
		{"aliases resolve", "/cdn-cgi/image/w=400,h=300,q=80,f=webp,g=left,fit=crop/a.jpg",
			Options{Width: 400, Height: 300, Quality: 80, Format: FormatWebP, Gravity: Gravity{Mode: GravityLeft}, Fit: FitCrop}, "/a.jpg", "/a.jpg", false},
		{"dpr folds into width", "/cdn-cgi/image/width=400,dpr=2/a.jpg", Options{Width: 800}, "/a.jpg", "/a.jpg", false},
		{"quality=85 is the default and drops out", "/cdn-cgi/image/width=400,quality=85/a.jpg", Options{Width: 400}, "/a.jpg", "/a.jpg", false},
		{"rgba commas stay in the colour", "/cdn-cgi/image/fit=pad,width=10,height=10,background=rgba(0,0,0,0.5)/a.png",
			Options{Width: 10, Height: 10, Fit: FitPad, Background: "#00000080"}, "/a.png", "/a.png", false},
		{"escaped hash colour", "/cdn-cgi/image/background=%23FFF/a.png", Options{Background: "#ffffff"}, "/a.png", "/a.png", false},
		{"onerror=redirect is not part of the variant", "/cdn-cgi/image/width=400,onerror=redirect/a.jpg", Options{Width: 400}, "/a.jpg", "/a.jpg", true},
		{"onerror alone asks for nothing", "/cdn-cgi/image/onerror=redirect/a.jpg", Options{}, "/a.jpg", "/a.jpg", true},
		{"source is decoded once", "/cdn-cgi/image/w=4/dir/a%20b%2525.jpg", Options{Width: 4}, "/dir/a b%25.jpg", "/dir/a%20b%2525.jpg", false},
		{"a colon inside a key is not a scheme", "/cdn-cgi/image/w=4/photo:1.jpg", Options{Width: 4}, "/photo:1.jpg", "/photo:1.jpg", false},
		{"anim and metadata", "/cdn-cgi/image/anim=false,metadata=keep/a.gif", Options{Still: true, Metadata: MetadataKeep}, "/a.gif", "/a.gif", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := p.ParseCloudflare(tt.path)
			if err != nil {
				t.Fatalf("ParseCloudflare(%q): %v", tt.path, err)
			}
			if req.Options != tt.want || req.Source != tt.source || req.EscapedSource != tt.escaped || req.RedirectOnError != tt.redir {
				t.Fatalf("ParseCloudflare(%q) = %+v, want %+v source %q escaped %q redirect %v", tt.path, req, tt.want, tt.source, tt.escaped, tt.redir)
			}
		})
	}
}

func TestParseCloudflareErrors(t *testing.T) {
	p := mustParser(t, Config{Limits: Limits{Widths: []int{400, 800}}})
	tests := []struct {
		name string
		path string
	}{
		{"unknown cdn-cgi option is an error", "/cdn-cgi/image/width=400,blur=5/a.jpg"},
		{"supported-elsewhere option is an error", "/cdn-cgi/image/width=400,sharpen=1/a.jpg"},
		{"repeated option is an error", "/cdn-cgi/image/width=400,width=400/a.jpg"},
		{"repeated through an alias is an error", "/cdn-cgi/image/width=400,w=400/a.jpg"},
		{"option without a value is an error", "/cdn-cgi/image/width/a.jpg"},
		{"empty entry is an error", "/cdn-cgi/image/width=400,,q=80/a.jpg"},
		{"no options is an error", "/cdn-cgi/image//a.jpg"},
		{"no source is an error", "/cdn-cgi/image/width=400/"},
		{"no slash after options is an error", "/cdn-cgi/image/width=400"},
		{"absolute source URL is refused", "/cdn-cgi/image/width=400/https://other.example/x.jpg"},
		{"http source URL is refused", "/cdn-cgi/image/width=400/http://other.example/x.jpg"},
		{"collapsed slashes of a URL are refused", "/cdn-cgi/image/width=400/https:/other.example/x.jpg"},
		{"escaped absolute URL is refused", "/cdn-cgi/image/width=400/https%3A%2F%2Fother.example%2Fx.jpg"},
		{"protocol-relative source is refused", "/cdn-cgi/image/width=400//other.example/x.jpg"},
		{"escaped protocol-relative source is refused", "/cdn-cgi/image/width=400/%2Fother.example/x.jpg"},
		{"backslash host is refused", "/cdn-cgi/image/width=400/%5Cother.example/x.jpg"},
		{"dot-dot source is refused", "/cdn-cgi/image/width=400/a/../../secret"},
		{"escaped dot-dot source is refused", "/cdn-cgi/image/width=400/a/%2E%2E/secret"},
		{"NUL in source is refused", "/cdn-cgi/image/width=400/a%00.jpg"},
		{"bad escape in source is refused", "/cdn-cgi/image/width=400/a%zz.jpg"},
		{"width off the allowed list is an error", "/cdn-cgi/image/width=500/a.jpg"},
		{"onerror other than redirect is an error", "/cdn-cgi/image/width=400,onerror=ignore/a.jpg"},
		{"width auto is an error", "/cdn-cgi/image/width=auto/a.jpg"},
		{"baseline-jpeg is an error", "/cdn-cgi/image/width=400,format=baseline-jpeg/a.jpg"},
		{"not a cdn-cgi path", "/images/a.jpg"},
		{"too many options is an error", "/cdn-cgi/image/a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s/a.jpg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := p.ParseCloudflare(tt.path)
			if err == nil {
				t.Fatalf("ParseCloudflare(%q) = %+v, want an error", tt.path, req)
			}
		})
	}
}

// TestFormsAreOneVariant checks that the query form and the Cloudflare form
// give the same Options, hence one canonical variant.
func TestFormsAreOneVariant(t *testing.T) {
	p := mustParser(t, Config{})
	tests := []struct {
		name       string
		queries    []string
		cloudflare []string
		canonical  string
	}{
		{"width and quality in any order", []string{"q=80&w=400", "w=400&q=80", "w=400&q=80&v=3"},
			[]string{"/cdn-cgi/image/width=400,quality=80/a.jpg", "/cdn-cgi/image/q=80,w=400/a.jpg"}, "q=80&w=400"},
		{"dpr in either form", []string{"w=800", "w=400&dpr=2"},
			[]string{"/cdn-cgi/image/width=400,dpr=2/a.jpg", "/cdn-cgi/image/w=800/a.jpg"}, "w=800"},
		{"defaults in either form", []string{"w=400", "w=400&q=85&fit=scale-down&anim=true&metadata=none&gravity=auto"},
			[]string{"/cdn-cgi/image/width=400,quality=85,fit=scale-down,anim=true,metadata=none/a.jpg"}, "w=400"},
		{"format alias", []string{"format=webp&h=300&fit=cover&w=400"},
			[]string{"/cdn-cgi/image/f=webp,height=300,fit=cover,width=400/a.jpg"}, "fit=cover&format=webp&h=300&w=400"},
		{"colour spellings", []string{"background=%23FFF&fit=pad&w=1&h=1", "background=rgb(255,255,255)&fit=pad&w=1&h=1"},
			[]string{"/cdn-cgi/image/background=%23ffffff,fit=pad,w=1,h=1/a.jpg", "/cdn-cgi/image/background=rgba(255,255,255,1),fit=pad,w=1,h=1/a.jpg"},
			"background=%23ffffff&fit=pad&h=1&w=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, q := range tt.queries {
				o, err := p.ParseQuery(q)
				if err != nil {
					t.Fatalf("ParseQuery(%q): %v", q, err)
				}
				if c := o.Canonical(); c != tt.canonical {
					t.Errorf("ParseQuery(%q).Canonical() = %q, want %q", q, c, tt.canonical)
				}
			}
			for _, path := range tt.cloudflare {
				req, err := p.ParseCloudflare(path)
				if err != nil {
					t.Fatalf("ParseCloudflare(%q): %v", path, err)
				}
				if c := req.Options.Canonical(); c != tt.canonical {
					t.Errorf("ParseCloudflare(%q).Canonical() = %q, want %q", path, c, tt.canonical)
				}
			}
		})
	}
}
