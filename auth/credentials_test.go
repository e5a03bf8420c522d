package auth

import (
	"encoding/base64"
	"testing"
)

func TestValidBIIN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"200940026146", true},  // the seed's demo BIN
		{"790920300817", true},  // the seed's demo IIN
		{"200940026147", false}, // wrong check digit
		{"20094002614", false},  // 11 digits
		{"2009400261460", false},
		{"20094002614a", false},
		{"", false},
		{"000000000000", true},
	} {
		if got := ValidBIIN(tc.in); got != tc.want {
			t.Errorf("ValidBIIN(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// The seed's BIN and IIN are real numbers, so valid; a number that differs from one of them in its
// check digit alone is not (a check digit admits one value per prefix), and neither does another
// length. The oracle is the real numbers, not a second copy of the weights.
func TestValidBIIN_RealNumbersAndEveryOtherCheckDigit(t *testing.T) {
	for _, real := range []string{"200940026146", "790920300817"} {
		if !ValidBIIN(real) {
			t.Fatalf("ValidBIIN(%q) = false for a real number", real)
		}
		for d := byte('0'); d <= '9'; d++ {
			if d == real[11] {
				continue
			}
			if wrong := real[:11] + string(d); ValidBIIN(wrong) {
				t.Errorf("ValidBIIN(%q) = true: %s with its check digit changed", wrong, real)
			}
		}
		for _, wrong := range []string{real[:11], real + "0", "0" + real} {
			if ValidBIIN(wrong) {
				t.Errorf("ValidBIIN(%q) = true for %d digits", wrong, len(wrong))
			}
		}
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseBasicLogin_EveryAcceptedForm(t *testing.T) {
	want := Login{BIIN: "200940026146", IMEI: "123456789012349", OTP: "0588"}
	for name, header := range map[string]string{
		"dash plain":             basic("200940026146-123456789012349", "0588"),
		"double bar plain":       basic("200940026146||123456789012349", "0588"),
		"login base64":           basic(b64("200940026146-123456789012349"), "0588"),
		"password base64":        basic("200940026146-123456789012349", b64("0588")),
		"both base64":            basic(b64("200940026146||123456789012349"), b64("0588")),
		"lower-case scheme":      "basic " + b64("200940026146-123456789012349:0588"),
		"raw base64 without pad": "Basic " + base64.RawStdEncoding.EncodeToString([]byte("200940026146-123456789012349:0588")),
	} {
		got, ok := ParseBasicLogin(header, 4)
		if !ok || got != want {
			t.Errorf("%s: got %+v ok=%v, want %+v", name, got, ok, want)
		}
	}
}

func TestParseBasicLogin_UUIDWithDashes(t *testing.T) {
	got, ok := ParseBasicLogin(basic("200940026146-6f1c2a4e-8b7d-4c1e-9a3b-2d5e7f9a1b3c", "1234"), 4)
	if !ok || got.IMEI != "6f1c2a4e-8b7d-4c1e-9a3b-2d5e7f9a1b3c" {
		t.Fatalf("got %+v ok=%v", got, ok)
	}
}

func TestParseBasicLogin_Rejects(t *testing.T) {
	for name, header := range map[string]string{
		"no header":        "",
		"bearer":           "Bearer abc",
		"not base64":       "Basic !!!",
		"no colon":         "Basic " + b64("200940026146-123"),
		"short bin":        basic("20094002614-123", "0588"),
		"no separator":     basic("200940026146123", "0588"),
		"empty imei":       basic("200940026146-", "0588"),
		"otp wrong length": basic("200940026146-1", "05880"),
		"otp letters":      basic("200940026146-1", "05a8"),
		"huge imei":        basic("200940026146-"+string(make([]byte, 300)), "0588"),
	} {
		if got, ok := ParseBasicLogin(header, 4); ok {
			t.Errorf("%s: accepted as %+v", name, got)
		}
	}
}
