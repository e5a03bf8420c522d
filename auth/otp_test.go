package auth_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

func TestRequestOTP_AcceptsJSONFormAndMultipart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		for i, r := range []*http.Request{
			jsonReq(http.MethodPost, "/biin/"+demoBIN, directorBody("dev-json")),
			formReq("/biin/"+demoBIN, map[string]string{"role_id": "1", "uuid": "dev-form", "FCM": "f"}),
			multipartReq("/biin/"+demoBIN, map[string]string{"role_id": "2", "uuid": "dev-multi", "FCM": "f", "mobile": "87781578800", "first_name": "Иван"}),
		} {
			a := e.do(r)
			if a.code != 200 || a.Status != "ok" || a.str("message") != "OTP is sent to your email." || a.str("email") != "e****l@mail.ru" {
				t.Fatalf("request %d: %d %v", i, a.code, a.Data)
			}
		}
		if e.mail.count() != 3 || e.mail.msgs[0].To != "email@mail.ru" {
			t.Fatalf("mails: %d, first to %q", e.mail.count(), e.mail.msgs[0].To)
		}
		code := e.mail.lastOTP(t)
		if len(code) != 4 {
			t.Fatalf("OTP %q is not 4 digits", code)
		}
	})
}

func TestRequestOTP_RejectsBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		wantError(t, e.do(jsonReq(http.MethodPost, "/biin/200940026147", directorBody("d"))), 400, "invalid_biin")
		wantError(t, e.do(jsonReq(http.MethodPost, "/biin/12345", directorBody("d"))), 400, "invalid_biin")
		wantError(t, e.do(jsonReq(http.MethodPost, "/biin/000000000000", directorBody("d"))), 404, "company_not_found")
		a := e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, map[string]any{"role_id": 3}))
		wantError(t, a, 400, "invalid")
		fields := a.Data["fields"].([]any)
		got := map[string]bool{}
		for _, f := range fields {
			got[f.(map[string]any)["field"].(string)] = true
		}
		for _, want := range []string{"role_id", "uuid", "FCM"} {
			if !got[want] {
				t.Errorf("no field error for %s in %v", want, fields)
			}
		}
		a = e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, map[string]any{"role_id": 2, "uuid": "d", "FCM": "f", "mobile": "abc"}))
		wantError(t, a, 400, "invalid")
		if !strings.Contains(toJSON(a.Data["fields"]), "first_name") || !strings.Contains(toJSON(a.Data["fields"]), "mobile") {
			t.Fatalf("fields: %v", a.Data["fields"])
		}
		wantError(t, e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, "not an object")), 400, "invalid_json")
		if e.mail.count() != 0 {
			t.Fatalf("bad requests sent %d e-mails", e.mail.count())
		}
	})
}

func TestRequestOTP_RateLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		e.requestOTP(demoBIN, directorBody("dev-1"))
		a := e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, directorBody("dev-1")))
		wantError(t, a, 429, "otp_cooldown")
		if ra, _ := strconv.Atoi(a.header.Get("Retry-After")); ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q", a.header.Get("Retry-After"))
		}
		e.clock.Advance(61 * time.Second)
		e.requestOTP(demoBIN, directorBody("dev-1")) // cooldown over

		// Hourly cap per BIN (10): eight more devices are fine, the next is refused.
		for i := 0; i < 8; i++ {
			e.requestOTP(demoBIN, directorBody("bin-dev-"+strconv.Itoa(i)))
		}
		wantError(t, e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, directorBody("one-too-many"))), 429, "otp_bin_hourly_limit")
		e.clock.Advance(time.Hour)
		e.requestOTP(demoBIN, directorBody("after-an-hour"))
	})
}

func TestRequestOTP_HourlyCapPerClientIP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e2 := newEnv(t, db, func(o *config.OTPConfig) { o.HourlyPerIP = 3; o.HourlyPerBIN = 100 })
		for i := 0; i < 3; i++ {
			biin := demoBIN
			if i%2 == 1 {
				biin = demoIIN
			}
			e2.requestOTP(biin, directorBody("ip-dev-"+strconv.Itoa(i)))
		}
		wantError(t, e2.do(jsonReq(http.MethodPost, "/biin/"+demoIIN, directorBody("ip-dev-x"))), 429, "otp_ip_hourly_limit")
		r := jsonReq(http.MethodPost, "/biin/"+demoIIN, directorBody("ip-dev-y"))
		r.Header.Set("X-Forwarded-For", "198.51.100.9")
		if a := e2.do(r); a.code != 200 {
			t.Fatalf("another address: %d %v", a.code, a.Data)
		}
	})
}

func TestRequestOTP_MailFailureLeavesNoUsableCode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		e.mail.fail = true
		a := e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, directorBody("dev-1")))
		wantError(t, a, 503, "unavailable")
		code := e.mail.lastOTP(t) // the message the server refused still shows the code it carried
		wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", code)), 401, "invalid_otp")
		// The failed send neither counts toward the cooldown nor blocks a retry.
		e.mail.fail = false
		e.requestOTP(demoBIN, directorBody("dev-1"))
	})
}

func TestRequestOTP_NewCodeReplacesOld(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		first := e.requestOTP(demoBIN, directorBody("dev-1"))
		e.clock.Advance(2 * time.Minute)
		second := e.requestOTP(demoBIN, directorBody("dev-1"))
		if first != second {
			wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", first)), 401, "invalid_otp")
		}
		if a := e.loginReq(basicLogin(demoBIN+"-dev-1", second)); a.code != 200 {
			t.Fatalf("new code: %d %v", a.code, a.Data)
		}
	})
}
