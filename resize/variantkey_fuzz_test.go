package resize

import (
	"strings"
	"testing"
)

// FuzzVariantKey: for any requested options (parsed from a hostile query)
// and any object key, the default variant key is the key, "?" and the
// canonical options, which parse back to the same options; it is never the
// source's key; and two different variants of one key never share one,
// under the default template and a width-only {key}/w{w} one.
func FuzzVariantKey(f *testing.F) {
	for _, s := range []struct{ key, q1, q2 string }{
		{"img/cat.jpg", "w=400", "w=400&q=80"},
		{"a?w=400", "w=400", "w=800"},
		{"", "w=1", "h=1"},
		{"dir/", "fit=cover&w=4&h=4", "fit=crop&w=4&h=4"},
		{"x&w=1", "background=%23ffffff", "format=png&w=2"},
		{"photo.jpg?w=400", "w=400&dpr=2", "w=800"},
	} {
		f.Add(s.key, s.q1, s.q2)
	}
	p := mustParser(f, fuzzConfig)
	f.Fuzz(func(t *testing.T, key, q1, q2 string) {
		o1, err1 := p.ParseQuery(q1)
		o2, err2 := p.ParseQuery(q2)
		for _, tc := range []struct {
			o   Options
			err error
		}{{o1, err1}, {o2, err2}} {
			if tc.err != nil {
				continue
			}
			k, err := VariantKey("", key, tc.o)
			if tc.o.IsZero() {
				if err == nil {
					t.Fatalf("a variant key %q for no options", k)
				}
				continue
			}
			if err != nil {
				t.Fatalf("VariantKey(%q, %+v): %v", key, tc.o, err)
			}
			if k == key || !strings.HasPrefix(k, key+"?") {
				t.Fatalf("VariantKey(%q) = %q", key, k)
			}
			back, err := p.ParseQuery(strings.TrimPrefix(k, key+"?"))
			if err != nil || back != tc.o {
				t.Fatalf("variant key %q parses back to %+v, %v; want %+v", k, back, err, tc.o)
			}
		}
		if err1 != nil || err2 != nil || o1 == o2 || o1.IsZero() || o2.IsZero() {
			return
		}
		for _, tmpl := range []string{"", "{key}/w{w}", "_variants/{w}_{h}/{key}"} {
			k1, e1 := VariantKey(tmpl, key, o1)
			k2, e2 := VariantKey(tmpl, key, o2)
			if e1 == nil && e2 == nil && k1 == k2 {
				t.Fatalf("template %q: %+v and %+v of %q share the key %q", tmpl, o1, o2, key, k1)
			}
		}
	})
}
