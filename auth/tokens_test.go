package auth_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/forteleasing/inspections/internal/database"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// claimsOf decodes a token without verifying it, to build tampered variants.
func claimsOf(t *testing.T, raw string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokens_ClaimsFollowTheContract(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		a := e.login(demoBIN, directorBody("123456789012349"))
		access, refresh := claimsOf(t, a.str("access_token")), claimsOf(t, a.str("refresh_token"))
		for _, k := range []string{"exp", "type", "iat", "iss", "biin", "company_id", "user_id", "uuid"} {
			if _, ok := access[k]; !ok {
				t.Errorf("access token lacks %s", k)
			}
			if _, ok := refresh[k]; !ok {
				t.Errorf("refresh token lacks %s", k)
			}
		}
		if access["type"] != "access" || refresh["type"] != "refresh" || refresh["rti"] == "" || refresh["rtp"] == "" {
			t.Fatalf("claims: %v / %v", access, refresh)
		}
		now := float64(e.clock.Now().Unix())
		if access["exp"].(float64)-now != 300 || refresh["exp"].(float64)-now != 30*24*3600 {
			t.Fatalf("lifetimes: access %v refresh %v", access["exp"].(float64)-now, refresh["exp"].(float64)-now)
		}
		if access["uuid"] != "123456789012349" || access["biin"] != demoBIN {
			t.Fatalf("access claims: %v", access)
		}
	})
}

func TestTokens_RejectsTamperedWrongAlgorithmTypeIssuerAndExpired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		a := e.login(demoBIN, directorBody("dev-1"))
		access, refresh := a.str("access_token"), a.str("refresh_token")
		if r := e.withBearer(http.MethodGet, "/me", access, nil); r.code != 200 {
			t.Fatalf("valid access token: %d %v", r.code, r.Data)
		}
		claims := claimsOf(t, access)
		sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
			s, err := jwt.NewWithClaims(m, c).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		with := func(k string, v any) jwt.MapClaims {
			c := jwt.MapClaims{}
			for kk, vv := range claims {
				c[kk] = vv
			}
			c[k] = v
			return c
		}
		parts := strings.Split(access, ".")
		cases := map[string]string{
			"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims),
			"HS512":             sign(jwt.SigningMethodHS512, testSecret, claims),
			"other key":         sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claims),
			"wrong issuer":      sign(jwt.SigningMethodHS256, testSecret, with("iss", "evil")),
			"refresh as access": refresh,
			"expired":           sign(jwt.SigningMethodHS256, testSecret, with("exp", float64(e.clock.Now().Add(-time.Second).Unix()))),
			"no expiry":         sign(jwt.SigningMethodHS256, testSecret, with("exp", nil)),
			"user id swapped":   parts[0] + "." + strings.TrimRight(sign(jwt.SigningMethodHS256, []byte("x"), with("user_id", 999)), "")[len(parts[0])+1:],
			"garbage":           "abc.def.ghi",
		}
		for name, tok := range cases {
			r := e.withBearer(http.MethodGet, "/me", tok, nil)
			if r.code != 401 {
				t.Errorf("%s: got %d %v", name, r.code, r.Data)
			}
		}
		wantError(t, e.withBearer(http.MethodGet, "/me", cases["expired"], nil), 401, "token_expired")
		if r := e.refresh(access); r.code != 401 {
			t.Errorf("access as refresh: %d", r.code)
		}
		e.clock.Advance(5*time.Minute + time.Second)
		wantError(t, e.withBearer(http.MethodGet, "/me", access, nil), 401, "token_expired")
	})
}

func TestRefresh_RotatesAndEachTokenWorksOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		first := e.login(demoBIN, directorBody("dev-1"))
		e.clock.Advance(time.Minute)
		second := e.refresh(first.str("refresh_token"))
		if second.code != 200 || second.str("refresh_token") == first.str("refresh_token") || second.str("user_type") != "Директор" {
			t.Fatalf("refresh: %d %v", second.code, second.Data)
		}
		if r := e.withBearer(http.MethodGet, "/me", second.str("access_token"), nil); r.code != 200 {
			t.Fatalf("new access token: %d", r.code)
		}
		e.clock.Advance(time.Minute)
		third := e.refresh(second.str("refresh_token"))
		if third.code != 200 {
			t.Fatalf("second rotation: %d %v", third.code, third.Data)
		}
	})
}

func TestRefresh_RetryWithinGraceGetsTheSamePair(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		first := e.login(demoBIN, directorBody("dev-1"))
		e.clock.Advance(time.Minute)
		second := e.refresh(first.str("refresh_token"))
		e.clock.Advance(5 * time.Second)
		retry := e.refresh(first.str("refresh_token"))
		if retry.code != 200 || retry.str("refresh_token") != second.str("refresh_token") || retry.str("access_token") != second.str("access_token") {
			t.Fatalf("retry within grace: %d, same refresh=%v", retry.code, retry.str("refresh_token") == second.str("refresh_token"))
		}
		if r := e.refresh(second.str("refresh_token")); r.code != 200 {
			t.Fatalf("the pair handed out twice still rotates: %d %v", r.code, r.Data)
		}
	})
}

func TestRefresh_RacingRetriesAllGetOnePair(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		first := e.login(demoBIN, directorBody("dev-1"))
		var wg sync.WaitGroup
		got := make(chan answer, 5)
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); got <- e.refresh(first.str("refresh_token")) }()
		}
		wg.Wait()
		close(got)
		tokens := map[string]bool{}
		for a := range got {
			if a.code != 200 {
				t.Fatalf("racing refresh: %d %v", a.code, a.Data)
			}
			tokens[a.str("refresh_token")] = true
		}
		if len(tokens) != 1 {
			t.Fatalf("racing refreshes issued %d different pairs", len(tokens))
		}
		var children int
		if err := db.Get(&children, `SELECT count(*) FROM refresh_tokens WHERE parent_id IS NOT NULL`); err != nil || children != 1 {
			t.Fatalf("children rows: %d %v", children, err)
		}
	})
}

func TestRefresh_ReuseAfterGraceRevokesTheFamily(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		first := e.login(demoBIN, directorBody("dev-1"))
		second := e.refresh(first.str("refresh_token"))
		e.clock.Advance(11 * time.Second)
		wantError(t, e.refresh(first.str("refresh_token")), 401, "invalid_refresh_token")
		wantError(t, e.refresh(second.str("refresh_token")), 401, "invalid_refresh_token")
		wantError(t, e.withBearer(http.MethodGet, "/me", second.str("access_token"), nil), 401, "session_revoked")
		if strings.Contains(e.log.String(), first.str("refresh_token")) || strings.Contains(e.log.String(), second.str("access_token")) {
			t.Fatal("a token was written to the log")
		}
	})
}

func TestRefresh_RejectsForgedSecretAndExpiredToken(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		first := e.login(demoBIN, directorBody("dev-1"))
		c := claimsOf(t, first.str("refresh_token"))
		c["rtp"] = "00000000000000000000000000000000"
		forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testSecret)
		wantError(t, e.refresh(forged), 401, "invalid_refresh_token")
		// The forged secret rotated nothing: the genuine token still works, once.
		second := e.refresh(first.str("refresh_token"))
		if second.code != 200 {
			t.Fatalf("the genuine refresh token after a forged one: %d %v", second.code, second.Data)
		}
		e.clock.Advance(30*24*time.Hour + time.Second)
		wantError(t, e.refresh(second.str("refresh_token")), 401, "invalid_refresh_token")
	})
}

func TestSession_DeactivatedUserAndLogoutAreRefusedAtOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		emp := e.login(demoBIN, employeeBody("emp-dev", "87781578800", "Иван"))
		if _, err := db.Exec(`UPDATE users SET active = FALSE WHERE role = 2`); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.withBearer(http.MethodGet, "/me", emp.str("access_token"), nil), 401, "session_revoked")
		wantError(t, e.refresh(emp.str("refresh_token")), 401, "invalid_refresh_token")

		dir := e.login(demoBIN, directorBody("dir-dev"))
		if r := e.withBearer(http.MethodPost, "/logout", dir.str("access_token"), nil); r.code != 200 {
			t.Fatalf("logout: %d %v", r.code, r.Data)
		}
		wantError(t, e.withBearer(http.MethodGet, "/me", dir.str("access_token"), nil), 401, "session_revoked")
		wantError(t, e.refresh(dir.str("refresh_token")), 401, "invalid_refresh_token")
	})
}

func TestSession_NewLoginOnSameDeviceEndsTheOldOne(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		old := e.login(demoBIN, directorBody("dev-1"))
		e.clock.Advance(2 * time.Minute)
		e.login(demoBIN, directorBody("dev-1"))
		wantError(t, e.withBearer(http.MethodGet, "/me", old.str("access_token"), nil), 401, "session_revoked")
	})
}

func TestDeviceFCM_ReplacesThePushToken(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		a := e.login(demoBIN, directorBody("dev-1"))
		wantError(t, e.withBearer(http.MethodPost, "/device/fcm", a.str("access_token"), strings.NewReader(`{}`)), 400, "invalid")
		if r := e.withBearer(http.MethodPost, "/device/fcm", a.str("access_token"), strings.NewReader(`{"FCM":"new-token"}`)); r.code != 200 {
			t.Fatalf("fcm: %d %v", r.code, r.Data)
		}
		var tok string
		if err := db.Get(&tok, `SELECT fcm_token FROM sessions WHERE revoked_at IS NULL`); err != nil || tok != "new-token" {
			t.Fatalf("stored token %q %v", tok, err)
		}
	})
}
