package httpx

import (
	"bytes"
	"compress/gzip"
	"strconv"
	"strings"
	"testing"
)

// FuzzGuardedBodies sends raw requests with any mix of Content-Encoding, Content-Length (once, twice,
// as a list), Transfer-Encoding, content type and body to a real server running the Guard and the body
// readers, followed by a pipelined GET. Whatever arrives: no 5xx, no handler sees an encoded body or
// more than the limit, an encoded body is refused with 415 or 400, and ambiguous framing gets one 400
// and a closed connection, so nothing smuggled behind it is answered.
func FuzzGuardedBodies(f *testing.F) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, 64<<10))
	_ = zw.Close()
	for _, s := range []struct {
		path, ce, cl, cl2, te, ct string
		body                      []byte
	}{
		{"/values", "", "auto", "", "", "application/json", []byte(`{"FCM":"x","role_id":1}`)},
		{"/values", "gzip", "auto", "", "", "application/json", bomb.Bytes()},
		{"/values", "gzip, gzip, gzip", "auto", "", "", "application/json", bomb.Bytes()},
		{"/raw", "identity", "auto", "", "", "", []byte("plain")},
		{"/raw", "", "5", "6", "", "", []byte("hello!")},
		{"/raw", "", "5", "", "chunked", "", []byte("0\r\n\r\n")},
		{"/raw", "", "", "", "chunked", "", []byte("5\r\nhello\r\n0\r\n\r\n")},
		{"/raw", "", "", "", "chunked", "", []byte("401\r\n" + strings.Repeat("a", 1025) + "\r\n0\r\n\r\n")},
		{"/values", "", "auto", "", "", "application/x-www-form-urlencoded", []byte("a=1&b=2")},
		{"/values", "", "auto", "", "", "multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--X--\r\n")},
		{"/values", "deflate", "", "", "chunked", "multipart/form-data; boundary=X", []byte("3\r\nabc\r\n0\r\n\r\n")},
		{"/refuse", "", "auto", "", "", "", []byte("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"/raw", "", "1025", "", "", "", bytes.Repeat([]byte("a"), 1025)},
	} {
		f.Add(s.path, s.ce, s.cl, s.cl2, s.te, s.ct, s.body)
	}
	srv := newGuardServer(f)
	f.Fuzz(func(t *testing.T, path, ce, cl, cl2, te, ct string, body []byte) {
		clean := func(s string) string { return strings.Map(headerSafe, s) }
		path, ce, cl, cl2, te, ct = "/"+strings.TrimLeft(strings.Map(pathSafe, path), "/"), clean(ce), clean(cl), clean(cl2), clean(te), clean(ct)
		if cl == "auto" {
			cl = strconv.Itoa(len(body))
		}
		var req bytes.Buffer
		req.WriteString("POST " + path + " HTTP/1.1\r\nHost: x\r\n")
		for _, h := range [][2]string{{"Content-Encoding", ce}, {"Content-Length", cl}, {"Content-Length", cl2},
			{"Transfer-Encoding", te}, {"Content-Type", ct}} {
			if h[1] != "" {
				req.WriteString(h[0] + ": " + h[1] + "\r\n")
			}
		}
		req.WriteString("\r\n")
		req.Write(body)
		req.WriteString("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
		rs := srv.exchange(t, req.Bytes())

		for _, r := range rs {
			if r.StatusCode >= 500 {
				t.Fatalf("%d for %q", r.StatusCode, req.String())
			}
		}
		if n := srv.violations.Load(); n != 0 {
			t.Fatalf("a handler saw an encoded or oversized body (%q)", req.String())
		}
		encoded := false
		for _, tok := range strings.Split(ce, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "identity") {
				encoded = true
			}
		}
		if encoded && len(rs) > 0 && rs[0].StatusCode != 415 && rs[0].StatusCode != 400 {
			t.Fatalf("encoded body answered %d (%q)", rs[0].StatusCode, req.String())
		}
		lengths := 0
		for _, v := range []string{cl, cl2} {
			if v != "" {
				lengths++
			}
		}
		if (lengths > 1 || (lengths > 0 && te != "")) && (len(rs) > 1 || (len(rs) == 1 && rs[0].StatusCode != 400)) {
			t.Fatalf("ambiguous framing answered %v (%q)", statuses(rs), req.String())
		}
	})
}

func headerSafe(r rune) rune {
	if r < 0x20 || r > 0x7e {
		return -1
	}
	return r
}

func pathSafe(r rune) rune {
	if r <= 0x20 || r > 0x7e || r == '?' || r == '#' || r == '%' {
		return -1
	}
	return r
}
