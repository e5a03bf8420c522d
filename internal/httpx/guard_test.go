package httpx

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

const testLimit = 1024

// guardServer is a real fasthttp server with the Guard in front of two handlers that read the body the
// way the service's handlers do. It counts what no handler may ever see.
type guardServer struct {
	addr       string
	violations atomic.Int64 // a handler saw a Content-Encoding, or a body over the limit
	reads      atomic.Int64 // bodies handed to a handler
}

func newGuardServer(t testing.TB) *guardServer {
	t.Helper()
	s := &guardServer{}
	app := NewApp(slog.New(slog.DiscardHandler), AppOptions{BodyLimit: 1 << 20, StreamRequestBody: true})
	app.Use(Guard(func(path string) int {
		if path == "/stream" {
			return Streamed
		}
		return testLimit
	}))
	check := func(c *fiber.Ctx, body []byte) {
		if len(c.Request().Header.Peek(fiber.HeaderContentEncoding)) > 0 || len(body) > testLimit {
			s.violations.Add(1)
		}
		s.reads.Add(1)
	}
	app.Post("/values", func(c *fiber.Ctx) error {
		v, err := BodyValues(c)
		if err != nil {
			return err
		}
		check(c, c.Request().Body())
		return OK(c, fiber.Map{"fields": len(v)})
	})
	app.Post("/raw", func(c *fiber.Ctx) error {
		b, err := Body(c)
		if err != nil {
			return err
		}
		check(c, b)
		return OK(c, fiber.Map{"bytes": len(b)})
	})
	app.Post("/refuse", func(c *fiber.Ctx) error { // authentication failed: the body is never read
		return fiber.NewError(fiber.StatusUnauthorized, "no")
	})
	app.Get("/ping", func(c *fiber.Ctx) error { return OK(c, nil) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	s.addr = ln.Addr().String()
	return s
}

// exchange writes raw bytes on a fresh connection, half-closes it and reads every response the server
// sends back until it closes the connection.
func (s *guardServer) exchange(t testing.TB, raw []byte) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = conn.Write(raw)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	var out []*http.Response
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
}

func status(rs []*http.Response, i int) int {
	if i >= len(rs) {
		return 0
	}
	return rs[i].StatusCode
}

func TestGuard_RefusesEncodedBodiesWithoutReadingThem(t *testing.T) {
	s := newGuardServer(t)
	for _, ce := range []string{"gzip", "gzip, gzip, gzip", "br", "deflate", "identity, gzip", "x-unknown", "GZIP"} {
		raw := "POST /values HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: " + ce +
			"\r\nContent-Length: 2\r\n\r\n{}GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
		rs := s.exchange(t, []byte(raw))
		if status(rs, 0) != 415 || !strings.Contains(body(rs[0]), `"error":"unsupported_encoding"`) {
			t.Errorf("Content-Encoding %q: %d %v, want 415 unsupported_encoding", ce, status(rs, 0), rs)
		}
		if len(rs) != 1 {
			t.Errorf("Content-Encoding %q: the connection served %d answers, want it closed after the 415", ce, len(rs))
		}
	}
	rs := s.exchange(t, []byte("POST /raw HTTP/1.1\r\nHost: x\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\nok"))
	if status(rs, 0) != 200 {
		t.Errorf("identity: %d, want 200", status(rs, 0))
	}
	if s.violations.Load() != 0 {
		t.Fatalf("a handler saw an encoded body")
	}
}

func TestGuard_AmbiguousFramingIs400AndClosesTheConnection(t *testing.T) {
	s := newGuardServer(t)
	smuggled := "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
	for name, raw := range map[string]string{
		"two different lengths": "POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" + smuggled,
		"two equal lengths":     "POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smuggled,
		"a list of lengths":     "POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!" + smuggled,
		"length and chunked":    "POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"chunked and length":    "POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled,
	} {
		rs := s.exchange(t, []byte(raw))
		if status(rs, 0) != 400 || len(rs) != 1 {
			t.Errorf("%s: answers %v, want one 400 and the connection closed", name, statuses(rs))
		}
	}
	if s.reads.Load() != 0 {
		t.Fatalf("a handler read %d ambiguous bodies", s.reads.Load())
	}
	// Plain framing still keeps the connection for the next request.
	rs := s.exchange(t, []byte("POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+smuggled))
	if len(rs) != 2 || status(rs, 0) != 200 || status(rs, 1) != 200 {
		t.Fatalf("well-framed pipeline: %v, want 200 200", statuses(rs))
	}
	rs = s.exchange(t, []byte("POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+smuggled))
	if len(rs) != 2 || status(rs, 0) != 200 {
		t.Fatalf("chunked pipeline: %v, want 200 200", statuses(rs))
	}
}

func TestGuard_BodiesOverTheLimitAre413AndUnreadBodiesNeverReachTheNextRequest(t *testing.T) {
	s := newGuardServer(t)
	big := strings.Repeat("a", testLimit+1)
	cases := map[string]struct {
		raw  string
		want int
	}{
		"declared too large":          {"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n" + big, 413},
		"chunked too large":           {"POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n" + big + "\r\n0\r\n\r\n", 413},
		"form too large, chunked":     {"POST /values HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n" + big + "\r\n0\r\n\r\n", 413},
		"refused before reading, big": {"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n" + big, 413},
	}
	for name, c := range cases {
		rs := s.exchange(t, []byte(c.raw+"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"))
		if status(rs, 0) != c.want {
			t.Errorf("%s: %v, want %d", name, statuses(rs), c.want)
		}
	}
	// A body that the handler never read (authentication failed) must not be parsed as a request: the
	// smuggled GET inside it is never answered.
	inner := "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
	rs := s.exchange(t, []byte("POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(inner))+"\r\n\r\n"+inner))
	if status(rs, 0) != 401 || len(rs) != 1 {
		t.Fatalf("refused request with a request inside its body: %v, want one 401", statuses(rs))
	}
	if s.violations.Load() != 0 {
		t.Fatalf("a handler saw a body over the limit")
	}
}

func TestProxies_ClientIsTheRightmostUntrustedAddress(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	p := Proxies{Header: "X-Forwarded-For", Trusted: lb}
	addr := netip.MustParseAddr
	for _, c := range []struct {
		name   string
		p      Proxies
		peer   string
		values []string
		want   string
	}{
		{"no header configured", Proxies{Trusted: lb}, "10.0.0.5", []string{"1.2.3.4"}, "10.0.0.5"},
		{"no proxies trusted", Proxies{Header: "X-Forwarded-For"}, "10.0.0.5", []string{"1.2.3.4"}, "10.0.0.5"},
		{"untrusted peer: header ignored", p, "192.0.2.1", []string{"1.2.3.4"}, "192.0.2.1"},
		{"one hop", p, "10.0.0.5", []string{"198.51.100.9"}, "198.51.100.9"},
		{"spoofed left part ignored", p, "10.0.0.5", []string{"6.6.6.6, 7.7.7.7, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", p, "127.0.0.1", []string{"198.51.100.9, 10.1.1.1, 10.2.2.2"}, "198.51.100.9"},
		{"several header lines", p, "10.0.0.5", []string{"6.6.6.6", "198.51.100.9, 10.1.1.1"}, "198.51.100.9"},
		{"garbage stops at the last trusted hop", p, "10.0.0.5", []string{"198.51.100.9, nonsense, 10.1.1.1"}, "10.1.1.1"},
		{"port and brackets", p, "10.0.0.5", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"mapped IPv4 peer", p, "::ffff:10.0.0.5", []string{"198.51.100.9"}, "198.51.100.9"},
		{"all trusted", p, "10.0.0.5", []string{"10.9.9.9"}, "10.9.9.9"},
		{"empty header", p, "10.0.0.5", nil, "10.0.0.5"},
	} {
		var values [][]byte
		for _, v := range c.values {
			values = append(values, []byte(v))
		}
		if got := c.p.ClientIP(addr(c.peer), values); got != addr(c.want).Unmap() {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSecureHeaders_OnEveryAnswerAndAPolicyOnHTML(t *testing.T) {
	for _, hsts := range []bool{false, true} {
		app := NewApp(slog.New(slog.DiscardHandler), AppOptions{HSTS: hsts})
		app.Get("/page", func(c *fiber.Ctx) error { c.Type("html"); return c.SendString("<p>hi</p>") })
		app.Get("/json", func(c *fiber.Ctx) error { return OK(c, nil) })
		for _, path := range []string{"/page", "/json", "/missing"} {
			resp, err := app.Test(httpRequest(path), -1)
			if err != nil {
				t.Fatal(err)
			}
			h := resp.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s: %v", path, h)
			}
			if (h.Get("Strict-Transport-Security") != "") != hsts {
				t.Errorf("%s: HSTS %q with hsts=%v", path, h.Get("Strict-Transport-Security"), hsts)
			}
			isHTML := path == "/page"
			if strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") != isHTML {
				t.Errorf("%s: CSP %q", path, h.Get("Content-Security-Policy"))
			}
		}
	}
}

func body(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

func statuses(rs []*http.Response) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.StatusCode
	}
	return out
}

func httpRequest(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }
