package resize

import (
	"errors"
	"image/color"
	"strconv"
	"strings"
)

// maxDigits bounds the integer part of a number: no option needs more than
// 99999, and the bound keeps every conversion far from overflow.
const maxDigits = 5

// maxNumberLen bounds a whole decimal ("0.3333…"): longer values are refused
// rather than scanned.
const maxNumberLen = 16

var (
	errNotWhole   = errors.New("not a whole number")
	errNotDecimal = errors.New("not a decimal number")
)

// parseWhole parses a non-negative whole number written with digits only (no
// sign, no spaces), at most maxDigits of them.
func parseWhole(s string) (int, error) {
	if s == "" || len(s) > maxDigits {
		return 0, errNotWhole
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errNotWhole
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// parseMilli parses a non-negative decimal such as "2", "1.5", ".25" or
// "0.3333" into thousandths, rounding half up at the fourth decimal, so
// "0.3333" is 333 and "0.9996" is 1000. Only digits and one '.' are accepted
// (no sign, exponent, hex, Inf or NaN).
func parseMilli(s string) (int, error) {
	if s == "" || len(s) > maxNumberLen {
		return 0, errNotDecimal
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if (intPart == "" && frac == "") || (hasDot && frac == "") || len(intPart) > maxDigits {
		return 0, errNotDecimal
	}
	n := 0
	if intPart != "" {
		v, err := parseWhole(intPart)
		if err != nil {
			return 0, errNotDecimal
		}
		n = v * 1000
	}
	scale := 100
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, errNotDecimal
		}
		d := int(c - '0')
		switch {
		case i < 3:
			n += d * scale
			scale /= 10
		case i == 3 && d >= 5:
			n++
		}
	}
	return n, nil
}

// formatMilli writes thousandths as the shortest decimal: 500 is "0.5", 1000
// is "1", 333 is "0.333".
func formatMilli(m int) string {
	s := strconv.Itoa(m / 1000)
	frac := m % 1000
	if frac == 0 {
		return s
	}
	f := strconv.Itoa(1000 + frac)[1:] // three digits, leading zeros kept
	return s + "." + strings.TrimRight(f, "0")
}

// parseColor parses the CSS colour subset r2gate accepts: "#rgb", "#rgba",
// "#rrggbb", "#rrggbbaa" (hex digits in either case), and "rgb(r,g,b)" or
// "rgba(r,g,b,a)" with r, g, b whole numbers 0–255 and a a decimal 0–1
// (either function name takes three or four arguments; spaces around the
// arguments are allowed). Names, percentages and hsl() are not accepted.
func parseColor(s string) (color.NRGBA, error) {
	if len(s) > 64 {
		return color.NRGBA{}, errors.New("too long for a colour")
	}
	if hex, ok := strings.CutPrefix(s, "#"); ok {
		return parseHexColor(hex)
	}
	lower := strings.ToLower(s)
	var args string
	switch {
	case strings.HasPrefix(lower, "rgba(") && strings.HasSuffix(lower, ")"):
		args = s[len("rgba(") : len(s)-1]
	case strings.HasPrefix(lower, "rgb(") && strings.HasSuffix(lower, ")"):
		args = s[len("rgb(") : len(s)-1]
	default:
		return color.NRGBA{}, errors.New("not #rgb, #rgba, #rrggbb, #rrggbbaa, rgb() or rgba()")
	}
	parts := strings.Split(args, ",")
	if len(parts) != 3 && len(parts) != 4 {
		return color.NRGBA{}, errors.New("rgb() takes 3 or 4 arguments")
	}
	var ch [4]uint8
	ch[3] = 255
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if i == 3 {
			m, err := parseMilli(p)
			if err != nil || m > 1000 {
				return color.NRGBA{}, errors.New("alpha is not a decimal in [0,1]")
			}
			ch[3] = uint8((m*255 + 500) / 1000)
			continue
		}
		v, err := parseWhole(p)
		if err != nil || v > 255 {
			return color.NRGBA{}, errors.New("a channel is not a whole number in [0,255]")
		}
		ch[i] = uint8(v)
	}
	return color.NRGBA{R: ch[0], G: ch[1], B: ch[2], A: ch[3]}, nil
}

func parseHexColor(hex string) (color.NRGBA, error) {
	var digits [8]byte
	switch len(hex) {
	case 3, 4:
		for i := 0; i < len(hex); i++ {
			digits[2*i], digits[2*i+1] = hex[i], hex[i]
		}
	case 6, 8:
		copy(digits[:], hex)
	default:
		return color.NRGBA{}, errors.New("a hex colour has 3, 4, 6 or 8 digits")
	}
	if len(hex) == 3 || len(hex) == 6 {
		digits[6], digits[7] = 'f', 'f'
	}
	var ch [4]uint8
	for i := range ch {
		hi, ok1 := hexVal(digits[2*i])
		lo, ok2 := hexVal(digits[2*i+1])
		if !ok1 || !ok2 {
			return color.NRGBA{}, errors.New("not a hex digit")
		}
		ch[i] = hi<<4 | lo
	}
	return color.NRGBA{R: ch[0], G: ch[1], B: ch[2], A: ch[3]}, nil
}

func hexVal(c byte) (uint8, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// canonicalColor writes c as lowercase "#rrggbb", or "#rrggbbaa" when it is
// not opaque.
func canonicalColor(c color.NRGBA) string {
	const hexDigits = "0123456789abcdef"
	b := []byte{'#', 0, 0, 0, 0, 0, 0}
	for i, v := range []uint8{c.R, c.G, c.B} {
		b[1+2*i], b[2+2*i] = hexDigits[v>>4], hexDigits[v&15]
	}
	if c.A != 255 {
		b = append(b, hexDigits[c.A>>4], hexDigits[c.A&15])
	}
	return string(b)
}
