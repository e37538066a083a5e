package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var update = flag.Bool("update", false, "rewrite the JSON half of the adapt tests")

// TestCaddyfileAdapt compares each testdata/caddyfile_adapt/*.caddyfiletest
// (a Caddyfile, a line of dashes, the JSON it must adapt to), as Caddy's own
// adapt tests do.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt tests found: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		caddyfileText, want, ok := strings.Cut(string(data), "----------")
		if !ok {
			t.Fatalf("%s: no ---------- separator", f)
		}
		if *update {
			out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte(caddyfileText+"----------\n"+pretty.String()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !caddytest.CompareAdapt(t, f, caddyfileText, "caddyfile", strings.TrimSpace(want)) {
			t.Errorf("%s: adapted JSON differs (diff above)", f)
		}
	}
}

func TestCaddyfileErrors(t *testing.T) {
	cases := map[string]string{
		"unknown subdirective":       "r2gate {\n bucket b\n colour blue\n}",
		"duplicate bucket":           "r2gate {\n bucket a\n bucket b\n}",
		"bucket without a name":      "r2gate {\n bucket\n}",
		"bucket with two names":      "r2gate {\n bucket a b\n}",
		"bad timeout":                "r2gate {\n bucket a\n timeout soon\n}",
		"index without names":        "r2gate {\n dir d\n index\n}",
		"cache_control three args":   "r2gate {\n dir d\n cache_control a b c\n}",
		"two default cache_control":  "r2gate {\n dir d\n cache_control a\n cache_control b\n}",
		"pass_thru with an arg":      "r2gate {\n dir d\n pass_thru yes\n}",
		"inline argument":            "r2gate somewhere",
		"unknown cache subdirective": "r2gate {\n dir d\n cache {\n colour red\n }\n}",
		"cache disk without a size":  "r2gate {\n dir d\n cache {\n disk /tmp/x\n }\n}",
		"cache bad size":             "r2gate {\n dir d\n cache {\n memory lots\n }\n}",
		"cache negative duration":    "r2gate {\n dir d\n cache {\n ttl -1s\n }\n}",
		"cache duplicate":            "r2gate {\n dir d\n cache {\n ttl 1s\n ttl 2s\n }\n}",
		"honor_no_cache with an arg": "r2gate {\n dir d\n cache {\n honor_no_cache yes\n }\n}",
		"resize with an argument":    "r2gate {\n dir d\n resize on\n}",
		"resize unknown":             "r2gate {\n dir d\n resize {\n sharpen 2\n }\n}",
		"resize bad width":           "r2gate {\n dir d\n resize {\n widths 100 wide\n }\n}",
		"resize widths empty":        "r2gate {\n dir d\n resize {\n widths\n }\n}",
		"resize queue one argument":  "r2gate {\n dir d\n resize {\n queue 5\n }\n}",
		"resize bad pixels":          "r2gate {\n dir d\n resize {\n max_source_pixels many\n }\n}",
		"resize duplicate":           "r2gate {\n dir d\n resize {\n quality 80\n quality 90\n }\n}",
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
				t.Errorf("no error for:\n%s", input)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		h    Handler
		ok   bool
	}{
		{"bucket only", Handler{Bucket: "b"}, true},
		{"dir only", Handler{Dir: "d"}, true},
		{"bucket with a fallback folder", Handler{Bucket: "b", FallbackDir: "d"}, true},
		{"neither bucket nor dir", Handler{}, false},
		{"both bucket and dir", Handler{Bucket: "b", Dir: "d"}, false},
		{"rule without value", Handler{Dir: "d", CacheControlRules: []CacheControlRule{{Path: "/x"}}}, false},
		{"index name with a slash", Handler{Dir: "d", IndexNames: []string{"a/index.html"}}, false},
		{"index name dot-dot", Handler{Dir: "d", IndexNames: []string{".."}}, false},
	}
	for _, c := range cases {
		if err := c.h.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
