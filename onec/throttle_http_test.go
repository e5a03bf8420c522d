package onec_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// app.Test's connections come from 0.0.0.0: trusting it as a proxy lets a test name each client's address.
var fromAnyClient = []string{"FL_PROXY_HEADER", "X-Forwarded-For", "FL_TRUSTED_PROXIES", "0.0.0.0/32"}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func companies(t *testing.T, a *apptest.App) int {
	t.Helper()
	var n int
	if err := a.DB.Get(&n, `SELECT count(*) FROM companies`); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOneCLogin_GuessingIsThrottledPerAddressOnEveryInstance(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		{
			a := apptest.New(t, dbURL, append(fromAnyClient, "FL_ONEC_AUTH_FAILURES", "10")...)
			const guesser, other = "203.0.113.7", "198.51.100.9"
			body := `[{"biin":"200940026146","name":"Hijacked","email":"evil@example.com","director":{"first_name":"X"},"active":true}]`
			put := func(ip, auth string) apptest.Answer {
				return a.Do(http.MethodPut, "/1c/companies", strings.NewReader(body),
					"Content-Type", "application/json", "X-Forwarded-For", ip, "Authorization", auth)
			}
			password := "guess-0123456789" // never in a log
			// Requests without credentials guess nothing and are not counted.
			for i := 0; i < 12; i++ {
				apptest.WantStatus(t, a.Do(http.MethodGet, "/1c/reports?status=2", nil, "X-Forwarded-For", guesser), 401, "invalid_credentials")
			}
			for i := 0; i < 10; i++ {
				apptest.WantStatus(t, put(guesser, basic(apptest.OneCUser, password+strconv.Itoa(i))), 401, "invalid_credentials")
			}
			wrong := put(guesser, basic(apptest.OneCUser, password))
			apptest.WantStatus(t, wrong, 429, "too_many_failures")
			if s, _ := strconv.Atoi(wrong.Header.Get("Retry-After")); s < 500 || s > 600 {
				t.Fatalf("Retry-After %q, want the rest of the 10-minute window", wrong.Header.Get("Retry-After"))
			}
			// The right credentials from the blocked address are refused too, and write nothing.
			apptest.WantStatus(t, put(guesser, basic(apptest.OneCUser, apptest.OneCPass)), 429, "too_many_failures")
			apptest.WantStatus(t, a.Do(http.MethodGet, "/1c/reports?status=2", nil, append(apptest.OneCAuth(), "X-Forwarded-For", guesser)...), 429, "too_many_failures")
			var name string
			if err := a.DB.Get(&name, `SELECT name FROM companies WHERE biin = '200940026146'`); err != nil || name == "Hijacked" {
				t.Fatalf("company name %q (%v)", name, err)
			}
			// Another address is not affected.
			apptest.WantStatus(t, a.Do(http.MethodGet, "/1c/reports?status=2", nil, append(apptest.OneCAuth(), "X-Forwarded-For", other)...), 200, "")
			// A second instance on the same database refuses the guesser as well.
			if dbURL != "" {
				b := apptest.New(t, dbURL, fromAnyClient...)
				apptest.WantStatus(t, b.Do(http.MethodGet, "/1c/reports?status=2", nil, append(apptest.OneCAuth(), "X-Forwarded-For", guesser)...), 429, "too_many_failures")
				apptest.WantStatus(t, b.Do(http.MethodGet, "/1c/reports?status=2", nil, append(apptest.OneCAuth(), "X-Forwarded-For", other)...), 200, "")
			}

			logs := a.Logs.String()
			if strings.Count(logs, "too many failures from one address") != 1 || !strings.Contains(logs, guesser) {
				t.Fatalf("want one warning naming %s in the log:\n%s", guesser, logs)
			}
			if strings.Contains(logs, password) || strings.Contains(logs, apptest.OneCPass) {
				t.Fatal("the log holds a password")
			}
			rec := httptest.NewRecorder()
			promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			for _, want := range []string{"forteleasing_onec_auth_failures_total 10", "forteleasing_onec_auth_blocked_total 3"} {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("metrics lack %q", want)
				}
			}
		}
	})
}

// eachDatabase runs fn with SQLite ("") and, when FL_TEST_POSTGRES_URL is set, a PostgreSQL schema URL.
func eachDatabase(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) { fn(t, dbtest.PostgresURL(t)) })
}

// The attack of issue 12: many parallel PUT /1c/companies with wrong credentials and 31 MiB bodies.
// Each is answered 401 while its body is still being sent, so none was buffered (a server that read the
// body first could not answer before it ends), and nothing is written.
func TestOneCLogin_WrongCredentialsAreRefusedBeforeTheBodyIsRead(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dbURL string) {
		a := apptest.New(t, dbURL, "FL_ONEC_AUTH_FAILURES", "1000")
		base := strings.TrimPrefix(a.Listen(), "http://")
		before := companies(t, a)
		const bodySize = 31 << 20
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				path, auth := "/1c/companies", basic(apptest.OneCUser, "wrong-"+strconv.Itoa(i))
				if i%3 == 1 { // an app route with a bad token, chunked: no length to refuse it by
					path, auth = "/device/fcm", "Bearer not-a-token"
				}
				status, err := refusedMidBody(base, path, auth, bodySize, i%3 == 1)
				if err == nil && status != 401 {
					err = fmt.Errorf("%s: status %d, want 401", path, status)
				}
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if after := companies(t, a); after != before {
			t.Fatalf("companies %d → %d", before, after)
		}
	})
}

// refusedMidBody sends the headers and the first MiB of a body of size bytes, then waits for the answer
// before sending any more. It returns the status of the answer.
func refusedMidBody(addr, path, auth string, size int, chunked bool) (int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	method := http.MethodPut
	if strings.HasPrefix(path, "/device") {
		method = http.MethodPost
	}
	head := method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: " + auth + "\r\n"
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += "Content-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	}
	part := []byte("[" + strings.Repeat(" ", 1<<20))
	if chunked {
		part = []byte(fmt.Sprintf("%x\r\n%s\r\n", len(part), part))
	}
	if _, err := conn.Write(append([]byte(head), part...)); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, fmt.Errorf("%s: no answer while the body was unfinished: %w", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
