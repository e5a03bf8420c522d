package app_test

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

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/golang-jwt/jwt/v5"
)

func TestSecurity_EveryRouteWithAnotherCompanysIDIsNotFoundAndChangesNothing(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, ta *apptest.App) {
		bin := ta.Login(apptest.DemoBIN, apptest.Director("sec-bin")).Str("access_token")
		ta.Login(apptest.DemoIIN, apptest.Employee("sec-emp", "87010000009", "Чужой"))
		var otherEmployee int
		if err := ta.DB.Get(&otherEmployee, `SELECT id FROM users WHERE mobile = '87010000009'`); err != nil {
			t.Fatal(err)
		}
		var otherReport string // a status-1 task of the IIN company
		if err := ta.DB.Get(&otherReport, `SELECT r.ref_key FROM reports r JOIN companies c ON c.id = r.company_id
			WHERE c.biin = $1 ORDER BY r.id LIMIT 1`, apptest.DemoIIN); err != nil {
			t.Fatal(err)
		}
		apptest.WantStatus(t, ta.JSON(http.MethodPut, "/1c/reports", []any{map[string]any{"ref_key": otherReport, "report_number": "x",
			"vehicle_guid": apptest.IINVehicle, "date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}}, apptest.OneCAuth()...), 200, "")
		before := apptest.Count(t, ta, `SELECT count(*) FROM uploads`) + apptest.Count(t, ta, `SELECT count(*) FROM users WHERE active`)
		for _, c := range []struct {
			name    string
			do      func() apptest.Answer
			errCode string
		}{
			{"vehicle select", func() apptest.Answer { return ta.Get("/reports/vehicle/select/"+apptest.IINVehicle, bin) }, "vehicle_not_found"},
			{"general filter by vehicle", func() apptest.Answer { return ta.Get("/reports/general/filter/null/null/"+apptest.IINVehicle, bin) }, "vehicle_not_found"},
			{"employee delete", func() apptest.Answer {
				return ta.Do(http.MethodDelete, "/employee/delete/"+strconv.Itoa(otherEmployee), nil, "Authorization", "Bearer "+bin)
			}, "employee_not_found"},
			{"upload to another company's task", func() apptest.Answer { return ta.Upload(bin, apptest.Meta(otherReport), apptest.MP4(2048), false) }, "report_not_found"},
		} {
			a := c.do()
			if a.Code != 404 || a.Str("error") != c.errCode {
				t.Errorf("%s: %d %s, want 404 %s", c.name, a.Code, a.Raw, c.errCode)
			}
		}
		if after := apptest.Count(t, ta, `SELECT count(*) FROM uploads`) + apptest.Count(t, ta, `SELECT count(*) FROM users WHERE active`); after != before {
			t.Errorf("cross-company calls changed something: %d rows before, %d after", before, after)
		}
		if s := reportStatus(t, ta, otherReport); s != 1 {
			t.Errorf("the other company's task is in status %d", s)
		}
	})
}

func TestSecurity_OTPBruteForceAndSendFlooding(t *testing.T) {
	ta := apptest.New(t, "")
	body := apptest.Director("brute")
	apptest.WantStatus(t, ta.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, body), 200, "")
	code := ta.LastOTP()
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	auth := func(otp string) apptest.Answer {
		cred := base64.StdEncoding.EncodeToString([]byte(apptest.DemoBIN + "-brute:" + otp))
		return ta.Do(http.MethodPost, "/auth", nil, "Authorization", "Basic "+cred)
	}
	for i := 0; i < 5; i++ {
		if a := auth(wrong); a.Code != 401 && a.Code != 429 {
			t.Fatalf("wrong code %d: %d %s", i, a.Code, a.Raw)
		}
	}
	if a := auth(code); a.Code == 200 {
		t.Fatal("the right code still works after five wrong tries")
	}
	// Flooding: the device cooldown and the hourly cap per BIN answer 429 with retry_after.
	flood := apptest.New(t, "", "FL_OTP_COOLDOWN", "1h")
	apptest.WantStatus(t, flood.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("flood")), 200, "")
	a := flood.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("flood"))
	apptest.WantStatus(t, a, 429, "")
	if a.Header.Get("Retry-After") == "" || a.Data()["retry_after"] == nil {
		t.Fatalf("429 without Retry-After: %v %s", a.Header, a.Raw)
	}
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		limited = flood.JSON(http.MethodPost, "/biin/"+apptest.DemoBIN, apptest.Director("dev-"+strconv.Itoa(i))).Code == 429
	}
	if !limited {
		t.Fatal("40 devices asked for codes for one BIN within the hour and none was refused")
	}
}

func TestSecurity_TamperedTokensAreRefused(t *testing.T) {
	ta := apptest.New(t, "")
	login := ta.Login(apptest.DemoBIN, apptest.Director("jwt"))
	access, refresh := login.Str("access_token"), login.Str("refresh_token")
	if a := ta.Get("/employee/list", access); a.Code != 200 {
		t.Fatalf("the genuine token: %d", a.Code)
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
		"HS384 with the same secret": sign(jwt.SigningMethodHS384, []byte(apptest.JWTSecret), same),
		"another secret":             sign(jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-123"), same),
		"company changed, old sig":   swappedPayload(),
		"session changed, re-signed": sign(jwt.SigningMethodHS256, []byte("wrong"), func(c jwt.MapClaims) { c["sid"] = 999999 }),
		"refresh used as access":     refresh,
		"wrong issuer":               sign(jwt.SigningMethodHS256, []byte(apptest.JWTSecret), func(c jwt.MapClaims) { c["iss"] = "evil" }),
		"expired":                    sign(jwt.SigningMethodHS256, []byte(apptest.JWTSecret), func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"no expiry":                  sign(jwt.SigningMethodHS256, []byte(apptest.JWTSecret), func(c jwt.MapClaims) { delete(c, "exp") }),
		"signature cut off":          parts[0] + "." + parts[1] + ".",
		"header and payload only":    parts[0] + "." + parts[1],
	} {
		if a := ta.Get("/employee/list", tok); a.Code != 401 {
			t.Errorf("%s: %d %s", name, a.Code, a.Raw)
		}
	}
	// A correctly signed token for a session that does not exist is refused by the session check.
	ghost := sign(jwt.SigningMethodHS256, []byte(apptest.JWTSecret), func(c jwt.MapClaims) { c["sid"] = 999999 })
	apptest.WantStatus(t, ta.Get("/employee/list", ghost), 401, "session_revoked")
	// And the access token does not refresh.
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/refresh_token", nil, "Authorization", "Bearer "+access), 401, "invalid_refresh_token")
}

func TestSecurity_OversizedAndMalformedBodiesOnEveryEndpoint(t *testing.T) {
	ta := apptest.New(t, "", "FL_UPLOAD_MAX_BYTES", "65536")
	tok := ta.Login(apptest.DemoBIN, apptest.Director("bodies")).Str("access_token")
	bearer := []string{"Authorization", "Bearer " + tok}
	before := apptest.Count(t, ta, `SELECT count(*) FROM companies`) + apptest.Count(t, ta, `SELECT count(*) FROM reports`) + apptest.Count(t, ta, `SELECT count(*) FROM uploads`)
	for _, r := range []struct {
		method, path string
		limit        int
		headers      []string
	}{
		{http.MethodPost, "/biin/" + apptest.DemoBIN, 64 << 10, nil},
		{http.MethodPost, "/device/fcm", 64 << 10, bearer},
		{http.MethodPost, "/1c/reports/" + apptest.TaskRef + "/decision", 32 << 20, apptest.OneCAuth()},
		{http.MethodPut, "/1c/companies", 32 << 20, apptest.OneCAuth()},
		{http.MethodPut, "/1c/vehicle-types", 32 << 20, apptest.OneCAuth()},
		{http.MethodPut, "/1c/vehicles", 32 << 20, apptest.OneCAuth()},
		{http.MethodPut, "/1c/reports", 32 << 20, apptest.OneCAuth()},
	} {
		h := append([]string{"Content-Type", "application/json"}, r.headers...)
		over := bytes.Repeat([]byte(" "), r.limit+1)
		if a := ta.Do(r.method, r.path, bytes.NewReader(over), h...); a.Code != 413 || a.Str("error") != "too_large" {
			t.Errorf("%s %s, one byte over %d: %d %.200s", r.method, r.path, r.limit, a.Code, a.Raw)
		}
		for _, bad := range []string{`{`, `[{"a":`, `"just a string"`, "\x00\xff"} {
			if a := ta.Do(r.method, r.path, strings.NewReader(bad), h...); a.Code != 400 && a.Code != 422 {
				t.Errorf("%s %s with %q: %d %.200s", r.method, r.path, bad, a.Code, a.Raw)
			}
		}
	}
	// The upload: one byte over the configured limit plus the form's overhead, and garbage multipart.
	apptest.WantStatus(t, ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(65536+1), false), 413, "")
	apptest.WantStatus(t, ta.Do(http.MethodPost, "/reports/upload", strings.NewReader("garbage"), append(bearer, "Content-Type", "multipart/form-data; boundary=x")...), 400, "")
	after := apptest.Count(t, ta, `SELECT count(*) FROM companies`) + apptest.Count(t, ta, `SELECT count(*) FROM reports`) + apptest.Count(t, ta, `SELECT count(*) FROM uploads`)
	if after != before || reportStatus(t, ta, apptest.TaskRef) != 1 {
		t.Fatalf("refused bodies changed something: %d rows before, %d after", before, after)
	}
}

func TestSecurity_MediaKeysCannotLeaveTheMediaDirectory(t *testing.T) {
	ta := apptest.New(t, "")
	secret := filepath.Join(ta.Dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("root:x:0:0"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../secret.txt", "..%2fsecret.txt", "%2e%2e/secret.txt", "videos/../../secret.txt",
		"/etc/passwd", "%2fetc%2fpasswd", "videos/%00/x", "..\\secret.txt", "videos/....//....//secret.txt"} {
		a := ta.Do(http.MethodGet, "/media/"+key+"?expires="+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+"&signature=00", nil)
		if a.Code != 403 && a.Code != 404 && a.Code != 400 {
			t.Errorf("%s: %d", key, a.Code)
		}
		if strings.Contains(string(a.Raw), "root:") {
			t.Fatalf("%s: served a file outside the media directory", key)
		}
	}
	// Even with a genuine signature the store refuses a key that climbs out.
	u, err := ta.Media.URL(t.Context(), "../secret.txt", time.Hour)
	if err == nil {
		parsed, _ := url.Parse(u)
		if a := ta.Do(http.MethodGet, parsed.RequestURI(), nil); strings.Contains(string(a.Raw), "root:") {
			t.Fatal("a signed traversal key was served")
		}
	}
}
