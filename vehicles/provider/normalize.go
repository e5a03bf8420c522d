package provider

import (
	"fmt"
	"strings"
	"unicode"
)

// NormalizeVIN upper-cases s, drops spaces and dashes and checks the ISO 3779 alphabet and length.
func NormalizeVIN(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case isSeparator(r):
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		switch {
		case r == 'I', r == 'O', r == 'Q':
			return "", fmt.Errorf("%w: vin must not contain I, O or Q", ErrBadRequest)
		case (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("%w: vin may hold only letters A-Z and digits", ErrBadRequest)
		}
	}
	if b.Len() != 17 {
		return "", fmt.Errorf("%w: vin must be 17 characters, got %d", ErrBadRequest, b.Len())
	}
	return b.String(), nil
}

// VINCheckDigit verifies position 9. Only North-American VINs must carry it, so a VIN whose
// position 9 is neither a digit nor X is reported as not applying rather than as wrong.
func VINCheckDigit(vin string) (applies bool, valid bool) {
	v, err := NormalizeVIN(vin)
	if err != nil {
		return false, false
	}
	check := v[8]
	if check != 'X' && (check < '0' || check > '9') {
		return false, false
	}
	weights := [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}
	sum := 0
	for i := 0; i < len(v); i++ {
		sum += vinValue(v[i]) * weights[i]
	}
	want := byte('0' + sum%11)
	if sum%11 == 10 {
		want = 'X'
	}
	return true, check == want
}

func vinValue(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	// I, O and Q never reach here; the table skips them the way ISO 3779 does.
	return [26]int{1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 0, 7, 0, 9, 2, 3, 4, 5, 6, 7, 8, 9}[c-'A']
}

// MatchVIN reports whether a VIN found by a registry is the expected one. Some registries mask the
// tail ("KMHVA31JPPU******"); a '*' matches any character.
func MatchVIN(expected, found string) bool {
	e, f := []rune(strings.ToUpper(stripSeparators(expected))), []rune(strings.ToUpper(stripSeparators(found)))
	if len(e) == 0 || len(e) != len(f) {
		return false
	}
	for i := range e {
		if f[i] != '*' && f[i] != e[i] {
			return false
		}
	}
	return true
}

// NormalizePlate upper-cases s, drops spaces and dashes and turns Cyrillic look-alikes into
// Latin letters, so "а 123 вс-02" typed on a Russian keyboard equals "A123BC02".
func NormalizePlate(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isSeparator(r) {
			continue
		}
		b.WriteRune(latinLookalike(unicode.ToUpper(r)))
	}
	return b.String()
}

// latinLookalike maps the Cyrillic capitals that share a glyph with a Latin plate letter.
func latinLookalike(r rune) rune {
	switch r {
	case 'А':
		return 'A'
	case 'В':
		return 'B'
	case 'Е':
		return 'E'
	case 'К':
		return 'K'
	case 'М':
		return 'M'
	case 'Н':
		return 'H'
	case 'О':
		return 'O'
	case 'Р':
		return 'P'
	case 'С':
		return 'C'
	case 'Т':
		return 'T'
	case 'У':
		return 'Y'
	case 'Х':
		return 'X'
	}
	return r
}

func isSeparator(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) }

func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		if isSeparator(r) {
			return -1
		}
		return r
	}, s)
}

// looseVIN prepares a VIN for a registry that may hold non-standard numbers: it is only cleaned.
func looseVIN(s string) string { return strings.ToUpper(stripSeparators(s)) }

// factsVIN keeps a registry's VIN normalised when it is standard and as sent otherwise.
func factsVIN(raw string, extra map[string]any) string {
	if v, err := NormalizeVIN(raw); err == nil {
		return v
	}
	v := looseVIN(raw)
	if strings.Contains(v, "*") {
		extra["vin_masked"] = true
	} else if v != "" {
		extra["vin_nonstandard"] = true
	}
	return v
}
