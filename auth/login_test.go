package auth_test

import (
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/config"
	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestLogin_EveryAcceptedForm(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		forms := map[string]func(login, code string) string{
			"BIN-IMEI":           func(l, c string) string { return basicLogin(l, c) },
			"BIN||IMEI":          nil,
			"base64 login":       func(l, c string) string { return basicLogin(b64(l), c) },
			"base64 password":    func(l, c string) string { return basicLogin(l, b64(c)) },
			"base64 both, BIN||": nil,
		}
		i := 0
		for name, build := range forms {
			i++
			device := "123456789012" + string(rune('a'+i))
			code := e.requestOTP(demoBIN, directorBody(device))
			var header string
			switch name {
			case "BIN||IMEI":
				header = basicLogin(demoBIN+"||"+device, code)
			case "base64 both, BIN||":
				header = basicLogin(b64(demoBIN+"||"+device), b64(code))
			default:
				header = build(demoBIN+"-"+device, code)
			}
			a := e.loginReq(header)
			if a.code != 200 || a.str("access_token") == "" || a.str("refresh_token") == "" {
				t.Fatalf("%s: %d %v", name, a.code, a.Data)
			}
		}
	})
}

func TestLogin_DirectorAnswerHasSeedShape(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		a := e.login(demoBIN, directorBody("123456789012349"))
		for _, key := range []string{"message", "code", "access_token", "refresh_token", "mobile", "email", "first_name", "last_name",
			"patronic_name", "biin", "company_name", "user_type", "employees", "reports", "info", "filter"} {
			if _, ok := a.Data[key]; !ok {
				t.Errorf("answer lacks %q", key)
			}
		}
		if a.str("user_type") != "Директор" || a.str("biin") != demoBIN || a.str("company_name") != "Alpha AJI Gruppe ТОО" ||
			a.str("first_name") != "Нурмуханов" || a.str("mobile") != "+77021234567" || a.str("message") != "success" {
			t.Fatalf("answer: %v", a.Data)
		}
	})
}

func TestLogin_EmployeeCreatedOnFirstLoginAndReactivated(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		a := e.login(demoBIN, employeeBody("emp-dev", "8 778 157-88-00", "Иван"))
		if a.str("user_type") != "Сотрудник" || a.str("first_name") != "Иван" || a.str("mobile") != "87781578800" {
			t.Fatalf("answer: %v", a.Data)
		}
		if _, has := a.Data["employees"]; has {
			t.Fatal("an employee's answer lists employees")
		}
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM users WHERE role = 2 AND mobile = '87781578800'`); err != nil || n != 1 {
			t.Fatalf("employees: %d %v", n, err)
		}
		// Deactivated by the director, then logged in again with a new code from the company's e-mail.
		if _, err := db.Exec(`UPDATE users SET active = FALSE WHERE role = 2`); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute)
		e.login(demoBIN, employeeBody("emp-dev", "87781578800", "Иван"))
		if err := db.Get(&n, `SELECT count(*) FROM users WHERE role = 2 AND active`); err != nil || n != 1 {
			t.Fatalf("active employees after re-login: %d %v", n, err)
		}
	})
}

func TestLogin_RejectsWrongExpiredAndReusedCodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		code := e.requestOTP(demoBIN, directorBody("dev-1"))
		wrong := "0000"
		if code == wrong {
			wrong = "1111"
		}
		wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", wrong)), 401, "invalid_otp")
		wantError(t, e.loginReq(basicLogin(demoBIN+"-other-device", code)), 401, "invalid_otp") // bound to the device
		wantError(t, e.loginReq(basicLogin(demoIIN+"-dev-1", code)), 401, "invalid_otp")        // bound to the BIN
		wantError(t, e.loginReq("Basic !!"), 401, "invalid_credentials")
		if a := e.loginReq(basicLogin(demoBIN+"-dev-1", code)); a.code != 200 {
			t.Fatalf("right code after a wrong one: %d %v", a.code, a.Data)
		}
		wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", code)), 401, "otp_used")

		e.clock.Advance(2 * time.Minute)
		code = e.requestOTP(demoBIN, directorBody("dev-1"))
		e.clock.Advance(10*time.Minute + time.Second)
		wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", code)), 401, "otp_expired")
	})
}

func TestLogin_FiveWrongTriesBurnTheCode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		code := e.requestOTP(demoBIN, directorBody("dev-1"))
		wrong := "0000"
		if code == wrong {
			wrong = "1111"
		}
		for i := 0; i < 4; i++ {
			wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", wrong)), 401, "invalid_otp")
		}
		wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", wrong)), 429, "otp_attempts_exceeded")
		wantError(t, e.loginReq(basicLogin(demoBIN+"-dev-1", code)), 429, "otp_attempts_exceeded")
	})
}

func TestLogin_ConcurrentUseOfOneCodeWinsOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		code := e.requestOTP(demoBIN, directorBody("dev-1"))
		var wg sync.WaitGroup
		codes := make(chan int, 6)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- e.loginReq(basicLogin(demoBIN+"-dev-1", code)).code
			}()
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			if c == 200 {
				ok++
			} else if c != 401 {
				t.Errorf("unexpected status %d", c)
			}
		}
		if ok != 1 {
			t.Fatalf("%d logins succeeded with one code", ok)
		}
	})
}

func TestLogin_DailyFailureCapLocksTheBINAndMailsOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, func(o *config.OTPConfig) { o.DailyFailures = 6; o.Cooldown = time.Second })
		wrongOnce := func(device string) answer {
			code := e.requestOTP(demoBIN, directorBody(device))
			wrong := "0000"
			if code == wrong {
				wrong = "1111"
			}
			return e.loginReq(basicLogin(demoBIN+"-"+device, wrong))
		}
		for i := 0; i < 5; i++ {
			wantError(t, wrongOnce("d"+string(rune('a'+i))), 401, "invalid_otp")
		}
		sentBefore := e.mail.count()
		wantError(t, wrongOnce("df"), 401, "invalid_otp") // the 6th failure locks the BIN
		if got := e.mail.count() - sentBefore; got != 2 { // the code for df, then one lockout notice
			t.Fatalf("e-mails after the locking failure: %d, want 2", got)
		}
		if e.mail.msgs[len(e.mail.msgs)-1].Subject != "ForteLeasing: вход по коду временно заблокирован" {
			t.Fatalf("last mail: %q", e.mail.msgs[len(e.mail.msgs)-1].Subject)
		}
		a := e.do(jsonReq(http.MethodPost, "/biin/"+demoBIN, directorBody("dg")))
		wantError(t, a, 429, "otp_locked")
		if a.header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After on lockout")
		}
		wantError(t, e.loginReq(basicLogin(demoBIN+"-df", "1234")), 429, "otp_locked")
		// Another company is unaffected; after the window the BIN works again.
		e.requestOTP(demoIIN, directorBody("iin-dev"))
		e.clock.Advance(24*time.Hour + time.Minute)
		e.login(demoBIN, directorBody("dh"))
	})
}
