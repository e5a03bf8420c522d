package app_test

// Issue 12, part A, against the wired app: encoded bodies, ambiguous framing, spoofed proxy headers,
// response headers and the admin port.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

func TestEncodedBodies_AreRefusedOnEveryRouteAndChangeNothing(t *testing.T) {
	apptest.EachDialect(t, func(t *testing.T, a *apptest.App) {
		tok := a.Token(apptest.DemoBIN, apptest.Director("enc"))
		bearer := []string{"Authorization", "Bearer " + tok}
		company := gzipped([]byte(`[{"biin":"200940026146","name":"Gzipped","email":"g@example.com","director":{"first_name":"G"},"active":true}]`))
		before := apptest.Count(t, a, `SELECT count(*) FROM companies WHERE name = 'Gzipped'`)
		for _, r := range []struct {
			method, path string
			headers      []string
		}{
			{http.MethodPost, "/biin/" + apptest.DemoBIN, nil},
			{http.MethodPost, "/auth", nil},
			{http.MethodPost, "/device/fcm", bearer},
			{http.MethodPost, "/reports/upload", bearer},
			{http.MethodPut, "/1c/companies", apptest.OneCAuth()},
			{http.MethodPut, "/1c/reports", apptest.OneCAuth()},
			{http.MethodPost, "/providers/vagvin/callback", nil},
		} {
			for _, ce := range []string{"gzip", "gzip, gzip, gzip", "deflate", "br", "identity, gzip"} {
				h := append([]string{"Content-Type", "application/json", "Content-Encoding", ce}, r.headers...)
				ans := a.Do(r.method, r.path, bytes.NewReader(company), h...)
				if ans.Code != 415 || ans.Str("error") != "unsupported_encoding" {
					t.Errorf("%s %s with Content-Encoding %q: %d %.200s", r.method, r.path, ce, ans.Code, ans.Raw)
				}
			}
		}
		if after := apptest.Count(t, a, `SELECT count(*) FROM companies WHERE name = 'Gzipped'`); after != before {
			t.Fatal("a compressed 1C batch was written")
		}
		// identity is no encoding at all.
		ans := a.Do(http.MethodPost, "/device/fcm", strings.NewReader(`{"FCM":"plain"}`),
			append([]string{"Content-Type", "application/json", "Content-Encoding", "identity"}, bearer...)...)
		apptest.WantStatus(t, ans, 200, "")
	})
}

// rawExchange writes raw on a new connection to addr and reads every answer until the server closes it.
func rawExchange(t *testing.T, addr, raw string) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	var out []*http.Response
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
}

func TestFraming_TwoLengthsOrLengthAndChunkedAre400AndTheConnectionCloses(t *testing.T) {
	a := apptest.New(t, "")
	addr := strings.TrimPrefix(a.Listen(), "http://")
	tok := a.Token(apptest.DemoBIN, apptest.Director("framing"))
	smuggled := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	fcm := `{"FCM":"framing"}`
	head := "POST /device/fcm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " + tok + "\r\n"
	for name, raw := range map[string]string{
		"two different Content-Length": head + fmt.Sprintf("Content-Length: %d\r\nContent-Length: %d\r\n\r\n", len(fcm), len(fcm)+len(smuggled)) + fcm + smuggled,
		"Content-Length and chunked":   head + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(fcm), fcm) + smuggled,
		"chunked and Content-Length":   head + "Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(fcm), fcm) + smuggled,
		"to a 1C route":                "PUT /1c/companies HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[] " + smuggled,
	} {
		rs := rawExchange(t, addr, raw)
		if len(rs) != 1 || rs[0].StatusCode != 400 {
			codes := []int{}
			for _, r := range rs {
				codes = append(codes, r.StatusCode)
			}
			t.Errorf("%s: answers %v, want a single 400 and the connection closed", name, codes)
		}
	}
	// The same request with one framing is served, and the connection stays usable.
	rs := rawExchange(t, addr, head+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(fcm))+fcm+smuggled)
	if len(rs) != 2 || rs[0].StatusCode != 200 || rs[1].StatusCode != 200 {
		t.Fatalf("a well-framed request and a pipelined one: %d answers", len(rs))
	}
}

func TestForwardedFor_RotatingItDoesNotDodgeThePerIPOTPCap(t *testing.T) {
	const capPerIP = 5
	send := func(a *apptest.App, base, xff string, i int) int {
		body := fmt.Sprintf(`{"role_id":1,"uuid":"xff-%d","FCM":"f"}`, i)
		biin := apptest.DemoBIN
		if i%2 == 1 {
			biin = apptest.DemoIIN // two companies, so the per-BIN cap (10) is not what stops the sends
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/biin/"+biin, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, c := range map[string]struct {
		env    []string
		client func(i int) string // the header the attacker sends
		warn   bool
	}{
		// Behind a trusted load balancer that appends the real peer: only the left part is the attacker's.
		"trusted proxy": {[]string{"FL_TRUSTED_PROXIES", "127.0.0.0/8"},
			func(i int) string { return fmt.Sprintf("10.9.%d.%d, 198.51.100.9", i/250, i%250) }, false},
		// The direct peer is not a proxy the service trusts: the header is ignored.
		"untrusted peer": {[]string{"FL_TRUSTED_PROXIES", "10.0.0.0/8"},
			func(i int) string { return fmt.Sprintf("10.9.%d.%d", i/250, i%250) }, false},
		// No proxies configured: the header is ignored, with a warning at start.
		"no trusted proxies": {nil, func(i int) string { return fmt.Sprintf("10.9.%d.%d", i/250, i%250) }, true},
	} {
		t.Run(name, func(t *testing.T) {
			eachDatabase(t, func(t *testing.T, dbURL string) {
				env := append([]string{"FL_PROXY_HEADER", "X-Forwarded-For", "FL_OTP_HOURLY_PER_IP", fmt.Sprint(capPerIP)}, c.env...)
				a := apptest.New(t, dbURL, env...)
				base := a.Listen()
				sent := 0
				for i := 0; i < 3*capPerIP; i++ {
					switch code := send(a, base, c.client(i), i); code {
					case 200:
						sent++
					case 429:
					default:
						t.Fatalf("send %d: %d", i, code)
					}
				}
				if sent != capPerIP {
					t.Fatalf("%d of %d OTPs sent with a rotating X-Forwarded-For; the per-IP cap is %d", sent, 3*capPerIP, capPerIP)
				}
				if name == "trusted proxy" {
					// Another client behind the same balancer has its own allowance.
					if code := send(a, base, "10.9.9.9, 198.51.100.10", 100); code != 200 {
						t.Fatalf("another client behind the proxy: %d", code)
					}
				}
				if warned := strings.Contains(a.Logs.String(), "FL_PROXY_HEADER is ignored"); warned != c.warn {
					t.Fatalf("start-up warning logged: %v, want %v", warned, c.warn)
				}
			})
		})
	}
}

func TestResponses_CarrySecurityHeadersAndRandomRequestIDs(t *testing.T) {
	a := apptest.New(t, "") // FL_PUBLIC_URL is https
	tok := a.Token(apptest.DemoBIN, apptest.Director("headers"))
	seen := map[string]bool{}
	var ids []string
	for _, r := range []struct{ method, path, token string }{
		{"GET", "/healthz", ""}, {"GET", "/docs", ""}, {"GET", "/openapi.json", ""}, {"GET", "/nope", ""},
		{"GET", "/employee/list", tok}, {"GET", "/employee/list", "bad"}, {"DELETE", "/healthz", ""},
		{"GET", "/images/" + apptest.CarType + "/image.png", ""},
	} {
		for i := 0; i < 3; i++ {
			h, code := headersOf(t, a, r.method, r.path, r.token)
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
				h.Get("Strict-Transport-Security") == "" {
				t.Errorf("%s %s (%d): headers %v", r.method, r.path, code, h)
			}
			if strings.HasPrefix(h.Get("Content-Type"), "text/html") && !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%s: HTML without frame-ancestors 'none': %q", r.path, h.Get("Content-Security-Policy"))
			}
			id := h.Get("X-Request-Id")
			if seen[id] || len(id) != 36 || id[14] != '4' {
				t.Errorf("request id %q: repeated or not a random UUID", id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if h, _ := headersOf(t, a, "GET", "/docs", ""); !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatal("/docs is not HTML")
	}
	// A counter keeps all but a few bytes of consecutive ids; random ids share none of their tails.
	for i := 1; i < len(ids); i++ {
		if ids[i][24:] == ids[i-1][24:] {
			t.Fatalf("consecutive request ids %s and %s share their last 12 digits: sequential", ids[i-1], ids[i])
		}
	}
	plain := apptest.New(t, "", "FL_PUBLIC_URL", "http://localhost:8080")
	if h, _ := headersOf(t, plain, "GET", "/healthz", ""); h.Get("Strict-Transport-Security") != "" {
		hsts := h.Get("Strict-Transport-Security")
		t.Fatalf("HSTS %q over plain http", hsts)
	}
}

// eachDatabase runs fn with SQLite ("") and, when FL_TEST_POSTGRES_URL is set, a PostgreSQL schema URL.
func eachDatabase(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) { fn(t, dbtest.PostgresURL(t)) })
}

// headersOf sends one request through the app and returns the answer's headers and status.
func headersOf(t *testing.T, a *apptest.App, method, path, token string) (http.Header, int) {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.HTTP.Test(r, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header, resp.StatusCode
}

func TestAdminPort_MetricsAndProfilesNeedTheToken(t *testing.T) {
	const token = "admin-token-for-tests-0123456789"
	for _, withToken := range []bool{true, false} {
		env := []string{}
		if withToken {
			env = []string{"FL_ADMIN_TOKEN", token}
		}
		a := apptest.New(t, "", env...)
		srv := httptest.NewServer(a.AdminHandler())
		get := func(path, auth string) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		for _, path := range []string{"/metrics", "/debug/pprof/"} {
			for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token} {
				resp := get(path, auth)
				if want := map[bool]int{true: 401, false: 200}[withToken]; resp.StatusCode != want {
					t.Errorf("token set %v: %s with %q: %d, want %d", withToken, path, auth, resp.StatusCode, want)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s: no nosniff", path)
				}
			}
			if resp := get(path, "Bearer "+token); resp.StatusCode != 200 {
				t.Errorf("%s with the token: %d", path, resp.StatusCode)
			}
		}
		if resp := get("/healthz", ""); resp.StatusCode != 200 {
			t.Errorf("/healthz needs no token: %d", resp.StatusCode)
		}
		srv.Close()
	}
}
