package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func FuzzParseBasicLogin(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"Basic " + b64("200940026146-0b5a1f0e-3c1d-4c84-9c4e-3b1f7f2a0c11:1234"),
		"Basic " + b64("200940026146||864086051234567:1234"),
		"Basic " + b64(b64("200940026146-imei")+":"+b64("1234")),
		"basic " + b64("790920300817-a-b-c:0000"),
		"Basic " + b64("200940026146-:1234"),
		"Basic !!!", "Bearer x", "", "Basic " + b64(":"), "Basic " + b64("200940026146-x\x00:1234"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		l, ok := ParseBasicLogin(header, 4)
		if !ok {
			if l != (Login{}) {
				t.Fatalf("a refused login carries values: %+v", l)
			}
			return
		}
		if len(l.BIIN) != 12 || !allDigits(l.BIIN) {
			t.Fatalf("BIIN %q accepted", l.BIIN)
		}
		if len(l.OTP) != 4 || !allDigits(l.OTP) {
			t.Fatalf("OTP %q accepted", l.OTP)
		}
		if l.IMEI == "" || len(l.IMEI) > maxDeviceID || strings.ContainsAny(l.IMEI, ":\x00") {
			t.Fatalf("device id %q accepted", l.IMEI)
		}
	})
}

// FuzzVerifyToken feeds arbitrary strings to the verifier. Whatever it accepts must carry exactly the
// identity of a token this Tokens signed: the HMAC leaves no room for anything else.
func FuzzVerifyToken(f *testing.F) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tokens := NewTokens([]byte("fuzz-secret-fuzz-secret-fuzz-secret!"), "forteleasing", 5*time.Minute, 30*24*time.Hour,
		func() time.Time { return now })
	id := Identity{BIIN: "200940026146", CompanyID: 7, UserID: 42, UUID: "device-1", SessionID: 9}
	pair, err := tokens.sign(id, 11, "RTP", now)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{pair.Access, pair.Refresh,
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ1c2VyX2lkIjo0Mn0.",
		pair.Access[:len(pair.Access)-2] + "AA", strings.Replace(pair.Access, ".", "..", 1), "a.b.c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, typ := range []string{typeAccess, typeRefresh} {
			c, err := tokens.verify(raw, typ)
			if err != nil {
				continue
			}
			if c.UserID != id.UserID || c.CompanyID != id.CompanyID || c.SessionID != id.SessionID || c.Type != typ {
				t.Fatalf("accepted a token we did not sign: %+v", c)
			}
		}
	})
}
