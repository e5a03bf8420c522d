package reports_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
)

// trickle sends b in n pieces spread over d: a client on a slow but working link.
func trickle(conn net.Conn, b []byte, n int, d time.Duration) error {
	tick := time.NewTicker(d / time.Duration(n))
	defer tick.Stop()
	step := (len(b) + n - 1) / n
	for off := 0; off < len(b); off += step {
		<-tick.C
		if _, err := conn.Write(b[off:min(off+step, len(b))]); err != nil {
			return err
		}
	}
	return nil
}

// Issue 12: a body arriving steadily but slowly was cut at the 120 s ReadTimeout. With the header
// timeout at 1 s and the idle timeout at 2 s, a body trickled over 5 s (longer than either, as the old
// total timeout was shorter than the slowest real uploads) is served.
func TestUpload_SlowButMovingBodyIsServed(t *testing.T) {
	ta := apptest.New(t, "", "FL_HEADER_TIMEOUT", "1s", "FL_BODY_IDLE_TIMEOUT", "2s")
	base := ta.Listen()
	tok := ta.Login(apptest.DemoBIN, apptest.Director("slow")).Str("access_token")
	body, ct := apptest.UploadBody(apptest.Meta(apptest.TaskRef), apptest.MP4(48<<10), false)
	raw, _ := io.ReadAll(body)
	conn := apptest.RawUpload(t, base, tok, ct, len(raw))
	start := time.Now()
	if err := trickle(conn, raw, 25, 5*time.Second); err != nil {
		t.Fatalf("the server stopped reading after %s: %v", time.Since(start), err)
	}
	resp, b, err := apptest.ReadAnswer(conn, 10*time.Second)
	if err != nil {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	t.Logf("body of %d bytes over %s: %d", len(raw), time.Since(start).Round(time.Millisecond), resp.StatusCode)
	if resp.StatusCode != 201 {
		t.Fatalf("slow upload: %d %s", resp.StatusCode, b)
	}
	if reportStatus(t, ta, apptest.TaskRef) != 2 {
		t.Fatal("the report did not move to status 2")
	}
}

// A body that stops arriving is cut after the idle timeout, and nothing is stored.
func TestUpload_StalledBodyIsCutAfterTheIdleTimeout(t *testing.T) {
	ta := apptest.New(t, "", "FL_HEADER_TIMEOUT", "1s", "FL_BODY_IDLE_TIMEOUT", "2s")
	base := ta.Listen()
	tok := ta.Login(apptest.DemoBIN, apptest.Director("stall")).Str("access_token")
	body, ct := apptest.UploadBody(apptest.Meta(apptest.TaskRef), apptest.MP4(256<<10), false)
	raw, _ := io.ReadAll(body)
	conn := apptest.RawUpload(t, base, tok, ct, len(raw))
	if _, err := conn.Write(raw[:64<<10]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, b, err := apptest.ReadAnswer(conn, 15*time.Second)
	took := time.Since(start)
	t.Logf("stalled after 64 KiB: cut after %s (%v, %v %s)", took.Round(time.Millisecond), err, statusOf(resp), b)
	if err != nil && (isTimeout(err) || took > 10*time.Second) {
		t.Fatalf("the stalled connection was still open after %s", took)
	}
	if took < 1500*time.Millisecond || took > 8*time.Second {
		t.Fatalf("cut after %s, want about the 2 s idle timeout", took)
	}
	if resp != nil && resp.StatusCode < 400 {
		t.Fatalf("a stalled upload answered %d", resp.StatusCode)
	}
	if reportStatus(t, ta, apptest.TaskRef) != 1 || len(videos(t, ta)) != 0 {
		t.Fatal("a stalled upload changed the report or left a video")
	}
}

// Issue 12: one user could run any number of uploads at once (10 × 50 MiB spooled). The third
// concurrent upload of a user is refused with 429 and Retry-After before its body is read; other
// users are unaffected and a slot is free again once an upload ends.
func TestUpload_ThirdConcurrentUploadOfOneUserIs429(t *testing.T) {
	ta := apptest.New(t, "", "FL_BODY_IDLE_TIMEOUT", "30s")
	base := ta.Listen()
	tok := ta.Login(apptest.DemoBIN, apptest.Director("many")).Str("access_token")
	other := ta.Login(apptest.DemoBIN, apptest.Employee("many-e", "+77010000009", "Другой")).Str("access_token")
	body, ct := apptest.UploadBody(apptest.Meta(apptest.TaskRef), apptest.MP4(1<<20), false)
	raw, _ := io.ReadAll(body)
	held := make([]net.Conn, 2)
	for i := range held {
		held[i] = apptest.RawUpload(t, base, tok, ct, len(raw))
		if _, err := held[i].Write(raw[:32<<10]); err != nil {
			t.Fatal(err)
		}
	}
	// The two held uploads are inside the handler once the store has their first bytes spooled.
	apptest.Eventually(t, func() bool { return ta.UploadSlots.Held(userID(t, ta, tok)) == 2 }, "two uploads in progress")

	// Only the first 8 KiB of the third body are sent (fasthttp reads that much with the header before
	// any handler runs); the rest is never sent and must not be awaited.
	third := apptest.RawUpload(t, base, tok, ct, len(raw))
	if _, err := third.Write(raw[:8<<10]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, b, err := apptest.ReadAnswer(third, 5*time.Second)
	if err != nil {
		t.Fatalf("third upload: %v", err)
	}
	t.Logf("third concurrent upload: %d after %s, Retry-After %q", resp.StatusCode, time.Since(start).Round(time.Millisecond), resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !bytes.Contains(b, []byte(`"upload_concurrency_limit"`)) {
		t.Fatalf("third upload: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// Another user of the same company is not held up by this one's uploads.
	a := ta.Upload(other, apptest.Meta("no-such-report"), apptest.MP4(4096), false)
	if a.Code == 429 {
		t.Fatalf("another user's upload: %d %s", a.Code, a.Raw)
	}
	// Hanging up one held upload frees its slot.
	held[0].Close()
	apptest.Eventually(t, func() bool { return ta.UploadSlots.Held(userID(t, ta, tok)) == 1 }, "a slot freed")
	if a := ta.Upload(tok, apptest.Meta(apptest.TaskRef), apptest.MP4(8192), false); a.Code != 201 {
		t.Fatalf("upload after a slot was freed: %d %s", a.Code, a.Raw)
	}
}

func userID(t *testing.T, ta *apptest.App, token string) int64 {
	t.Helper()
	p, err := ta.Auth.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	return p.UserID
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return nil
	}
	return resp.StatusCode
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
