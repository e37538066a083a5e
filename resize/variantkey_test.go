package resize

import "testing"

func TestVariantKey(t *testing.T) {
	tests := []struct {
		name     string
		template string
		key      string
		o        Options
		want     string
	}{
		{"default for width-only is the seed scheme", "", "photo.jpg", Options{Width: 400}, "photo.jpg?w=400"},
		{"default for the rest is the canonical query", "", "a/photo.jpg", Options{Width: 400, Height: 300, Fit: FitCover}, "a/photo.jpg?fit=cover&h=300&w=400"},
		{"explicit seed template", "{key}?w={w}", "photo.jpg", Options{Width: 400}, "photo.jpg?w=400"},
		{"variants folder", "_variants/{key}/{options}", "a/photo.jpg", Options{Width: 400, Quality: 80}, "_variants/a/photo.jpg/q=80&w=400"},
		{"width and height template", "{key}@{w}_{h}", "p.jpg", Options{Width: 4, Height: 3}, "p.jpg@4_3"},
		{"key holding a placeholder is not expanded", "", "{w}.jpg", Options{Width: 4}, "{w}.jpg?w=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VariantKey(tt.template, tt.key, tt.o)
			if err != nil {
				t.Fatalf("VariantKey: %v", err)
			}
			if got != tt.want {
				t.Fatalf("VariantKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVariantKeyRefuses(t *testing.T) {
	tests := []struct {
		name     string
		template string
		o        Options
	}{
		{"no variant for zero options", "", Options{}},
		{"template without key collides across sources", "_variants/{options}", Options{Width: 4}},
		{"template with key twice", "{key}/{key}?{options}", Options{Width: 4}},
		{"template that is only the key gives the source key", "{key}", Options{Width: 4}},
		{"template with only the height could be the source key", "{key}?h={h}", Options{Height: 4}},
		{"unknown placeholder", "{key}?{opts}", Options{Width: 4}},
		{"unclosed brace", "{key}?{options", Options{Width: 4}},
		{"stray closing brace", "{key}}?{options}", Options{Width: 4}},
		{"adjacent placeholders collide", "{key}{options}", Options{Width: 4}},
		{"placeholders apart by option characters collide", "{key}.w={w}", Options{Width: 4}},
		{"width template cannot hold quality", "{key}?w={w}", Options{Width: 4, Quality: 80}},
		{"width template cannot hold a height", "{key}?w={w}", Options{Width: 4, Height: 3}},
		{"width template cannot hold a height-only variant", "{key}@{w}_{h}", Options{Height: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := VariantKey(tt.template, "a.jpg", tt.o); err == nil {
				t.Fatalf("VariantKey = %q, want an error", got)
			}
		})
	}
}

func TestCheckVariantKey(t *testing.T) {
	for _, ok := range []string{"", DefaultVariantKey, "{key}?w={w}", "_variants/{key}/{options}", "{options}/{key}", "{key}@{w}w"} {
		if err := CheckVariantKey(ok); err != nil {
			t.Errorf("CheckVariantKey(%q): %v", ok, err)
		}
	}
}
