// Package auth is the mobile login: OTP by BIN/IIN e-mail, basic-auth login with the OTP,
// JWT access and refresh tokens with rotation, device sessions and the access middleware.
package auth

import (
	"encoding/base64"
	"strings"
)

// ValidBIIN reports whether s is a 12-digit Kazakh BIN/IIN with a correct check digit:
// weights 1..11 over the first 11 digits, and when that sum mod 11 is 10, weights 3..11,1,2.
func ValidBIIN(s string) bool {
	if len(s) != 12 {
		return false
	}
	var d [12]int
	for i := 0; i < 12; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		d[i] = int(s[i] - '0')
	}
	sum := 0
	for i := 0; i < 11; i++ {
		sum += (i + 1) * d[i]
	}
	check := sum % 11
	if check == 10 {
		weights := [11]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2}
		sum = 0
		for i := 0; i < 11; i++ {
			sum += weights[i] * d[i]
		}
		check = sum % 11
		if check == 10 {
			return false
		}
	}
	return check == d[11]
}

// Login is what a client presents to POST /auth.
type Login struct {
	BIIN string
	IMEI string // the device uuid the OTP was requested with
	OTP  string
}

const maxDeviceID = 128

// ParseBasicLogin reads "Basic base64(LOGIN:PASSWORD)" where LOGIN is BIN-IMEI or BIN||IMEI and
// PASSWORD the OTP; LOGIN and PASSWORD may each be base64-encoded once more (the seed document says so).
func ParseBasicLogin(header string, otpDigits int) (Login, bool) {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return Login{}, false
	}
	raw, ok := decodeBase64(strings.TrimSpace(header[len(prefix):]))
	if !ok {
		return Login{}, false
	}
	user, pass, found := strings.Cut(raw, ":")
	if !found {
		return Login{}, false
	}
	biin, imei, ok := splitLogin(user)
	if !ok {
		decoded, ok2 := decodeBase64(user)
		if !ok2 {
			return Login{}, false
		}
		if biin, imei, ok = splitLogin(decoded); !ok {
			return Login{}, false
		}
	}
	otp, ok := otpOf(pass, otpDigits)
	if !ok {
		return Login{}, false
	}
	return Login{BIIN: biin, IMEI: imei, OTP: otp}, true
}

// splitLogin splits BIN-IMEI or BIN||IMEI; the BIN is always 12 digits, so an IMEI may itself contain dashes.
func splitLogin(s string) (biin, imei string, ok bool) {
	if len(s) < 14 || !allDigits(s[:12]) {
		return "", "", false
	}
	rest := s[12:]
	switch {
	case strings.HasPrefix(rest, "||"):
		imei = rest[2:]
	case strings.HasPrefix(rest, "-"):
		imei = rest[1:]
	default:
		return "", "", false
	}
	if imei == "" || len(imei) > maxDeviceID || strings.ContainsAny(imei, ":\x00") {
		return "", "", false
	}
	return s[:12], imei, true
}

// otpOf accepts the code itself or its base64 form. A plain digit string is never read as base64.
func otpOf(s string, digits int) (string, bool) {
	if len(s) == digits && allDigits(s) {
		return s, true
	}
	if d, ok := decodeBase64(s); ok && len(d) == digits && allDigits(d) {
		return d, true
	}
	return "", false
}

func decodeBase64(s string) (string, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), true
		}
	}
	return "", false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
