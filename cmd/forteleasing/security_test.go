package main

// Security tests gathered in one place (issue 8): tenant isolation, OTP abuse, JWT tampering, oversized
// and malformed bodies, path traversal. Finer-grained tests of each piece live with its package.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSecurity_EveryRouteWithAnotherCompanysIDIsNotFoundAndChangesNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, ta *testApp) {
		bin := ta.login(demoBIN, director("sec-bin")).str("access_token")
		ta.login(demoIIN, employee("sec-emp", "87010000009", "Чужой"))
		var otherEmployee int
		if err := ta.app.DB.Get(&otherEmployee, `SELECT id FROM users WHERE mobile = '87010000009'`); err != nil {
			t.Fatal(err)
		}
		var otherReport string // a status-1 task of the IIN company
		if err := ta.app.DB.Get(&otherReport, `SELECT r.ref_key FROM reports r JOIN companies c ON c.id = r.company_id
			WHERE c.biin = $1 ORDER BY r.id LIMIT 1`, demoIIN); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, ta.jsonDo(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": otherReport, "report_number": "x",
			"vehicle_guid": iinVehicle, "date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}}, onecAuth()...), 200, "")
		before := ta.count(t, `SELECT count(*) FROM uploads`) + ta.count(t, `SELECT count(*) FROM users WHERE active`)
		for _, c := range []struct {
			name    string
			do      func() answer
			errCode string
		}{
			{"vehicle select", func() answer { return ta.get("/reports/vehicle/select/"+iinVehicle, bin) }, "vehicle_not_found"},
			{"general filter by vehicle", func() answer { return ta.get("/reports/general/filter/null/null/"+iinVehicle, bin) }, "vehicle_not_found"},
			{"employee delete", func() answer {
				return ta.do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(otherEmployee), nil, "Authorization", "Bearer "+bin)
			}, "employee_not_found"},
			{"upload to another company's task", func() answer { return ta.upload(bin, meta(otherReport), makeMP4(2048), false) }, "report_not_found"},
		} {
			a := c.do()
			if a.code != 404 || a.str("error") != c.errCode {
				t.Errorf("%s: %d %s, want 404 %s", c.name, a.code, a.raw, c.errCode)
			}
		}
		if after := ta.count(t, `SELECT count(*) FROM uploads`) + ta.count(t, `SELECT count(*) FROM users WHERE active`); after != before {
			t.Errorf("cross-company calls changed something: %d rows before, %d after", before, after)
		}
		if s := ta.reportStatus(t, otherReport); s != 1 {
			t.Errorf("the other company's task is in status %d", s)
		}
	})
}

func TestSecurity_OTPBruteForceAndSendFlooding(t *testing.T) {
	ta := newTestApp(t, "")
	body := director("brute")
	wantStatus(t, ta.jsonDo(http.MethodPost, "/biin/"+demoBIN, body), 200, "")
	code := ta.lastOTP()
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	auth := func(otp string) answer {
		cred := base64.StdEncoding.EncodeToString([]byte(demoBIN + "-brute:" + otp))
		return ta.do(http.MethodPost, "/auth", nil, "Authorization", "Basic "+cred)
	}
	for i := 0; i < 5; i++ {
		if a := auth(wrong); a.code != 401 && a.code != 429 {
			t.Fatalf("wrong code %d: %d %s", i, a.code, a.raw)
		}
	}
	if a := auth(code); a.code == 200 {
		t.Fatal("the right code still works after five wrong tries")
	}
	// Flooding: the device cooldown and the hourly cap per BIN answer 429 with retry_after.
	flood := newTestApp(t, "", "FL_OTP_COOLDOWN", "1h")
	wantStatus(t, flood.jsonDo(http.MethodPost, "/biin/"+demoBIN, director("flood")), 200, "")
	a := flood.jsonDo(http.MethodPost, "/biin/"+demoBIN, director("flood"))
	wantStatus(t, a, 429, "")
	if a.hdr.Get("Retry-After") == "" || a.data()["retry_after"] == nil {
		t.Fatalf("429 without Retry-After: %v %s", a.hdr, a.raw)
	}
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		limited = flood.jsonDo(http.MethodPost, "/biin/"+demoBIN, director("dev-"+strconv.Itoa(i))).code == 429
	}
	if !limited {
		t.Fatal("40 devices asked for codes for one BIN within the hour and none was refused")
	}
}

func TestSecurity_TamperedTokensAreRefused(t *testing.T) {
	ta := newTestApp(t, "")
	login := ta.login(demoBIN, director("jwt"))
	access, refresh := login.str("access_token"), login.str("refresh_token")
	if a := ta.get("/employee/list", access); a.code != 200 {
		t.Fatalf("the genuine token: %d", a.code)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(access, claims); err != nil {
		t.Fatal(err)
	}
	sign := func(m jwt.SigningMethod, key any, edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		edit(c)
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	same := func(jwt.MapClaims) {}
	parts := strings.Split(access, ".")
	swappedPayload := func() string {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["company_id"] = m["company_id"].(float64) + 1
		b, _ := json.Marshal(m)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}
	for name, tok := range map[string]string{
		"alg none":                   sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, same),
		"HS384 with the same secret": sign(jwt.SigningMethodHS384, []byte(secretForIT), same),
		"another secret":             sign(jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-123"), same),
		"company changed, old sig":   swappedPayload(),
		"session changed, re-signed": sign(jwt.SigningMethodHS256, []byte("wrong"), func(c jwt.MapClaims) { c["sid"] = 999999 }),
		"refresh used as access":     refresh,
		"wrong issuer":               sign(jwt.SigningMethodHS256, []byte(secretForIT), func(c jwt.MapClaims) { c["iss"] = "evil" }),
		"expired":                    sign(jwt.SigningMethodHS256, []byte(secretForIT), func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"no expiry":                  sign(jwt.SigningMethodHS256, []byte(secretForIT), func(c jwt.MapClaims) { delete(c, "exp") }),
		"signature cut off":          parts[0] + "." + parts[1] + ".",
		"header and payload only":    parts[0] + "." + parts[1],
	} {
		if a := ta.get("/employee/list", tok); a.code != 401 {
			t.Errorf("%s: %d %s", name, a.code, a.raw)
		}
	}
	// A correctly signed token for a session that does not exist is refused by the session check.
	ghost := sign(jwt.SigningMethodHS256, []byte(secretForIT), func(c jwt.MapClaims) { c["sid"] = 999999 })
	wantStatus(t, ta.get("/employee/list", ghost), 401, "session_revoked")
	// And the access token does not refresh.
	wantStatus(t, ta.do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+access), 401, "invalid_refresh_token")
}

func TestSecurity_OversizedAndMalformedBodiesOnEveryEndpoint(t *testing.T) {
	ta := newTestApp(t, "", "FL_UPLOAD_MAX_BYTES", "65536")
	tok := ta.login(demoBIN, director("bodies")).str("access_token")
	bearer := []string{"Authorization", "Bearer " + tok}
	before := ta.count(t, `SELECT count(*) FROM companies`) + ta.count(t, `SELECT count(*) FROM reports`) + ta.count(t, `SELECT count(*) FROM uploads`)
	for _, r := range []struct {
		method, path string
		limit        int
		headers      []string
	}{
		{http.MethodPost, "/biin/" + demoBIN, 64 << 10, nil},
		{http.MethodPost, "/device/fcm", 64 << 10, bearer},
		{http.MethodPost, "/1c/reports/" + taskRef + "/decision", 32 << 20, onecAuth()},
		{http.MethodPut, "/1c/companies", 32 << 20, onecAuth()},
		{http.MethodPut, "/1c/vehicle-types", 32 << 20, onecAuth()},
		{http.MethodPut, "/1c/vehicles", 32 << 20, onecAuth()},
		{http.MethodPut, "/1c/reports", 32 << 20, onecAuth()},
	} {
		h := append([]string{"Content-Type", "application/json"}, r.headers...)
		over := bytes.Repeat([]byte(" "), r.limit+1)
		if a := ta.do(r.method, r.path, bytes.NewReader(over), h...); a.code != 413 || a.str("error") != "too_large" {
			t.Errorf("%s %s, one byte over %d: %d %.200s", r.method, r.path, r.limit, a.code, a.raw)
		}
		for _, bad := range []string{`{`, `[{"a":`, `"just a string"`, "\x00\xff"} {
			if a := ta.do(r.method, r.path, strings.NewReader(bad), h...); a.code != 400 && a.code != 422 {
				t.Errorf("%s %s with %q: %d %.200s", r.method, r.path, bad, a.code, a.raw)
			}
		}
	}
	// The upload: one byte over the configured limit plus the form's overhead, and garbage multipart.
	wantStatus(t, ta.upload(tok, meta(taskRef), makeMP4(65536+1), false), 413, "")
	wantStatus(t, ta.do(http.MethodPost, "/reports/upload", strings.NewReader("garbage"), append(bearer, "Content-Type", "multipart/form-data; boundary=x")...), 400, "")
	after := ta.count(t, `SELECT count(*) FROM companies`) + ta.count(t, `SELECT count(*) FROM reports`) + ta.count(t, `SELECT count(*) FROM uploads`)
	if after != before || ta.reportStatus(t, taskRef) != 1 {
		t.Fatalf("refused bodies changed something: %d rows before, %d after", before, after)
	}
}

func TestSecurity_MediaKeysCannotLeaveTheMediaDirectory(t *testing.T) {
	ta := newTestApp(t, "")
	secret := filepath.Join(ta.dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("root:x:0:0"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../secret.txt", "..%2fsecret.txt", "%2e%2e/secret.txt", "videos/../../secret.txt",
		"/etc/passwd", "%2fetc%2fpasswd", "videos/%00/x", "..\\secret.txt", "videos/....//....//secret.txt"} {
		a := ta.do(http.MethodGet, "/media/"+key+"?expires="+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+"&signature=00", nil)
		if a.code != 403 && a.code != 404 && a.code != 400 {
			t.Errorf("%s: %d", key, a.code)
		}
		if strings.Contains(string(a.raw), "root:") {
			t.Fatalf("%s: served a file outside the media directory", key)
		}
	}
	// Even with a genuine signature the store refuses a key that climbs out.
	u, err := ta.app.Media.URL(t.Context(), "../secret.txt", time.Hour)
	if err == nil {
		parsed, _ := url.Parse(u)
		if a := ta.do(http.MethodGet, parsed.RequestURI(), nil); strings.Contains(string(a.raw), "root:") {
			t.Fatal("a signed traversal key was served")
		}
	}
}
