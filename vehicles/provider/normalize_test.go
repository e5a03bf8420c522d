package provider

import (
	"errors"
	"testing"
)

func TestNormalizeVIN(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"JTHBG262282011458", "JTHBG262282011458", true},
		{"jthbg262282011458", "JTHBG262282011458", true},
		{" WVW-ZZZ 31Z-LE147331 ", "WVWZZZ31ZLE147331", true},
		{"JH4KA7630PC00764", "", false},   // 16
		{"JH4KA7630PC0076490", "", false}, // 18
		{"JH4KA763OPC007649", "", false},  // O
		{"IH4KA7630PC007649", "", false},  // I
		{"QH4KA7630PC007649", "", false},  // Q
		{"KMHVA31JPPU******", "", false},  // masked
		{"JН4KA7630PC007649", "", false},  // Cyrillic Н
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeVIN(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("NormalizeVIN(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("NormalizeVIN(%q) error %v is not ErrBadRequest", tt.in, err)
		}
	}
}

func TestVINCheckDigit(t *testing.T) {
	tests := []struct {
		vin            string
		applies, valid bool
	}{
		{"1M8GDM9AXKP042788", true, true}, // check digit X
		{"11111111111111111", true, true},
		{"JH4KA7630PC007649", true, true},
		{"1HGCM82633A004352", true, true},
		{"1HGCM82633A004353", true, false},
		{"5YJ3E1EA7KF317000", true, false},
		{"WVWZZZ31ZLE147331", false, false}, // European: Z at position 9
		{"wvwzzz31zle147331", false, false},
		{"KMHVA31JPPU******", false, false},
		{"short", false, false},
	}
	for _, tt := range tests {
		applies, valid := VINCheckDigit(tt.vin)
		if applies != tt.applies || valid != tt.valid {
			t.Errorf("VINCheckDigit(%q) = %v, %v; want %v, %v", tt.vin, applies, valid, tt.applies, tt.valid)
		}
	}
}

func TestNormalizePlate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A929YLO", "A929YLO"},
		{"058 FUA 14", "058FUA14"},
		{"058-fua-14", "058FUA14"},
		{"а 123 вс-02", "A123BC02"},           // lower-case Cyrillic look-alikes
		{"АВЕКМНОРСТУХ", "ABEKMHOPCTYX"},      // every upper-case one
		{"авекмнорстух", "ABEKMHOPCTYX"},      // every lower-case one
		{"Д 777 ЖЖ", "Д777ЖЖ"},                // no Latin twin: kept
		{"\tKZ 01\u00a0ABC\u2013", "KZ01ABC"}, // tab, no-break space, en dash
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizePlate(tt.in); got != tt.want {
			t.Errorf("NormalizePlate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMatchVIN(t *testing.T) {
	tests := []struct {
		expected, found string
		want            bool
	}{
		{"JTHBG262282011458", "JTHBG262282011458", true},
		{"JTHBG262282011458", "jthbg-262282011458", true},
		{"KMHVA31JPPU123456", "KMHVA31JPPU******", true},
		{"KMHVA31JPPV123456", "KMHVA31JPPU******", false},
		{"JTHBG262282011458", "JTHBG262282011459", false},
		{"JTHBG262282011458", "JTHBG26228201145", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := MatchVIN(tt.expected, tt.found); got != tt.want {
			t.Errorf("MatchVIN(%q, %q) = %v, want %v", tt.expected, tt.found, got, tt.want)
		}
	}
}

func FuzzNormalizeVIN(f *testing.F) {
	for _, s := range []string{"JTHBG262282011458", "wvw-zzz 31zle147331", "KMHVA31JPPU******", "IOQ", "", "ſ\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := NormalizeVIN(s)
		if err != nil {
			if v != "" {
				t.Fatalf("NormalizeVIN(%q) = %q with error %v", s, v, err)
			}
			return
		}
		if len(v) != 17 {
			t.Fatalf("NormalizeVIN(%q) = %q: length %d", s, v, len(v))
		}
		for _, c := range v {
			if (c < 'A' || c > 'Z') && (c < '0' || c > '9') || c == 'I' || c == 'O' || c == 'Q' {
				t.Fatalf("NormalizeVIN(%q) = %q: bad character %q", s, v, c)
			}
		}
		if again, err := NormalizeVIN(v); err != nil || again != v {
			t.Fatalf("NormalizeVIN not idempotent on %q: %q, %v", v, again, err)
		}
		VINCheckDigit(v)
	})
}
