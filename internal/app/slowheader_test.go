package app_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
)

// The header itself must arrive within the header timeout: a client that trickles its header is cut.
func TestHTTP_SlowHeaderIsCut(t *testing.T) {
	ta := apptest.New(t, "", "FL_HEADER_TIMEOUT", "1s", "FL_BODY_IDLE_TIMEOUT", "30s")
	base := ta.Listen()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	header := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 40)
	var werr error
	for i := 0; i < len(header) && werr == nil && time.Since(start) < 10*time.Second; i++ {
		_, werr = conn.Write([]byte{header[i]})
		time.Sleep(100 * time.Millisecond) // a byte every 100 ms keeps moving, but the header has a total bound
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, rerr := io.ReadAll(conn)
	took := time.Since(start)
	t.Logf("header trickled at 10 B/s: connection ended after %s (write %v, read %v, %.40q)", took.Round(time.Millisecond), werr, rerr, got)
	if isTimeout(rerr) || took > 8*time.Second {
		t.Fatalf("a header trickled for %s was still being read", took)
	}
	if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) {
		t.Fatalf("a cut header answered %q", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
