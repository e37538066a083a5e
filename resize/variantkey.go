package resize

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultVariantKey is the variant_key template used when none is set: the
// object key, "?" and the canonical options. For a width-only variant that is
// "{key}?w={w}" (photo.jpg?w=400, the seed's scheme); otherwise, for example,
// photo.jpg?fit=cover&h=300&w=400.
const DefaultVariantKey = "{key}?{options}"

// The placeholders a variant_key template may use.
const (
	placeholderKey     = "{key}"     // the source's object key
	placeholderOptions = "{options}" // Options.Canonical()
	placeholderW       = "{w}"       // Options.Width
	placeholderH       = "{h}"       // Options.Height
)

// CheckVariantKey checks a variant_key template (config validation). The
// template may use {key} (the source's object key), {options} (the canonical
// options), {w} and {h} (output width and height), and no other braces. It
// must use {key} exactly once and {options} or {w}; and any two placeholders
// must be apart by literal text holding a separator, a character that never
// occurs in an option value (anything but a-z, 0-9, '=', '&', '%', '.', '-':
// for example '/', '?', '@' or '_'). Under these rules different variants,
// of one source or of two, never share a key, and no variant key is its
// source's key. (A variant key may still equal some other uploaded object's
// key, such as an object named "a.jpg?w=400": the variant metadata tells
// them apart, and an object without it is never overwritten.) A template
// without {options} holds only the variants its placeholders name: with {w}
// (and {h}), width-only (or width-and-height-only) variants; VariantKey
// refuses the others.
func CheckVariantKey(template string) error {
	if template == "" {
		return nil
	}
	rest := template
	prevPlaceholder := false
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			break
		}
		if rest[i] == '}' {
			return fmt.Errorf("resize: variant_key %q: a '}' outside a placeholder", template)
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("resize: variant_key %q: an unclosed '{'", template)
		}
		switch ph := rest[i : i+j+1]; ph {
		case placeholderKey, placeholderOptions, placeholderW, placeholderH:
		default:
			return fmt.Errorf("resize: variant_key %q: unknown placeholder %s (use {key}, {options}, {w}, {h})", template, ph)
		}
		literal := rest[:i]
		if prevPlaceholder && !strings.ContainsFunc(literal, isSeparator) {
			return fmt.Errorf("resize: variant_key %q: placeholders need a separator such as '/' or '?' between them (else keys collide)", template)
		}
		prevPlaceholder = true
		rest = rest[i+j+1:]
	}
	if strings.Count(template, placeholderKey) != 1 {
		return fmt.Errorf("resize: variant_key %q must use {key} exactly once (else variants of different sources collide)", template)
	}
	if !strings.Contains(template, placeholderOptions) && !strings.Contains(template, placeholderW) {
		return fmt.Errorf("resize: variant_key %q must use {options} or {w} (else a variant's key could be its source's key)", template)
	}
	return nil
}

// isSeparator reports whether r never occurs in a placeholder's value other
// than {key}'s (canonical options and sizes).
func isSeparator(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return false
	case r == '=', r == '&', r == '%', r == '.', r == '-':
		return false
	}
	return true
}

// VariantKey returns the bucket key of objectKey's variant o under template
// ("" is DefaultVariantKey). It refuses a zero o (that is the source itself),
// a template CheckVariantKey refuses, and options the template cannot hold
// (a template without {options} holds only the sizes it names), so two
// different variants never share a key and no variant key is its source's.
func VariantKey(template, objectKey string, o Options) (string, error) {
	if template == "" {
		template = DefaultVariantKey
	}
	if err := CheckVariantKey(template); err != nil {
		return "", err
	}
	if o.IsZero() {
		return "", errors.New("resize: no variant: the options ask for nothing")
	}
	if !strings.Contains(template, placeholderOptions) {
		held := Options{Width: o.Width}
		if strings.Contains(template, placeholderH) {
			held.Height = o.Height
		}
		if o != held || o.Width == 0 {
			return "", fmt.Errorf("resize: variant_key %q cannot hold the variant %q (use {options})", template, o.Canonical())
		}
	}
	w, h := "", ""
	if o.Width > 0 {
		w = strconv.Itoa(o.Width)
	}
	if o.Height > 0 {
		h = strconv.Itoa(o.Height)
	}
	key := strings.NewReplacer(
		placeholderKey, objectKey,
		placeholderOptions, o.Canonical(),
		placeholderW, w,
		placeholderH, h,
	).Replace(template)
	if key == objectKey {
		return "", fmt.Errorf("resize: variant_key %q gives the source's own key", template)
	}
	return key, nil
}
