package resumable_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forteleasing/inspections/internal/apptest"
	"github.com/forteleasing/inspections/internal/database/dbtest"
)

// badLink is a TCP proxy playing a mobile uplink: client-to-server bytes are throttled to rate bytes
// per second, and every connection is cut once cutAfter of them have passed. It counts what the
// client sent in all.
type badLink struct {
	ln       net.Listener
	target   string
	rate     int64
	cutAfter int64
	sent     atomic.Int64
	cuts     atomic.Int64
}

func startBadLink(t testing.TB, target string, rate, cutAfter int64) *badLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &badLink{ln: ln, target: strings.TrimPrefix(target, "http://"), rate: rate, cutAfter: cutAfter}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.serve(c)
		}
	}()
	return l
}

func (l *badLink) URL() string { return "http://" + l.ln.Addr().String() }

func (l *badLink) serve(client net.Conn) {
	server, err := net.Dial("tcp", l.target)
	if err != nil {
		client.Close()
		return
	}
	var once sync.Once
	cut := func() { once.Do(func() { client.Close(); server.Close() }) }
	defer cut()
	go func() { _, _ = io.Copy(client, server); cut() }()
	buf := make([]byte, 16<<10)
	var passed int64
	start := time.Now()
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if passed+int64(n) > l.cutAfter {
				n = int(l.cutAfter - passed)
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
			passed += int64(n)
			l.sent.Add(int64(n))
			if passed >= l.cutAfter {
				l.cuts.Add(1)
				return
			}
			// Hold the pace: passed bytes may not leave before passed/rate seconds (pacing a slow link,
			// not synchronisation).
			if ahead := time.Duration(passed*int64(time.Second)/l.rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		if err != nil {
			return
		}
	}
}

// tusClient is the resume loop every tus client runs: create once, then PATCH from the offset HEAD
// reports, again after every failure, until the server has every byte.
type tusClient struct {
	t     testing.TB
	base  string
	token string
	chunk int
	http  *http.Client
}

func newTusClient(t testing.TB, base, token string, chunk int) *tusClient {
	return &tusClient{t: t, base: base, token: token, chunk: chunk, http: &http.Client{Timeout: 2 * time.Minute}}
}

func (c *tusClient) do(method, url string, body []byte, headers ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// create starts an upload and returns its URL on this client's base (Location is under FL_PUBLIC_URL).
func (c *tusClient) create(video []byte, fields map[string]string) (string, error) {
	resp, err := c.do(http.MethodPost, c.base+"/reports/uploads", nil, "Upload-Length", strconv.Itoa(len(video)), "Upload-Metadata", tusMeta(fields))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 201 {
		return "", fmt.Errorf("create: %d", resp.StatusCode)
	}
	_, path, _ := strings.Cut(resp.Header.Get("Location"), "/reports/uploads/")
	return c.base + "/reports/uploads/" + path, nil
}

func (c *tusClient) offset(url string) (int, error) {
	resp, err := c.do(http.MethodHead, url, nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("HEAD: %d", resp.StatusCode)
	}
	return strconv.Atoi(resp.Header.Get("Upload-Offset"))
}

// send resumes until done or until tries failures; it returns the final PATCH's status.
func (c *tusClient) send(url string, video []byte, tries int) (int, error) {
	var lastErr error
	for try := 0; try < tries; try++ {
		off, err := c.offset(url)
		if err != nil {
			lastErr = err
			continue
		}
		for off < len(video) {
			end := min(off+c.chunk, len(video))
			resp, err := c.do(http.MethodPatch, url, video[off:end], "Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off))
			if err != nil {
				lastErr = err
				break
			}
			if resp.StatusCode != 204 {
				if end == len(video) || resp.StatusCode < 500 {
					return resp.StatusCode, nil
				}
				lastErr = fmt.Errorf("PATCH: %d", resp.StatusCode)
				break
			}
			off, _ = strconv.Atoi(resp.Header.Get("Upload-Offset"))
			if off == len(video) {
				return 204, nil
			}
		}
	}
	return 0, fmt.Errorf("gave up after %d tries: %w", tries, lastErr)
}

// A 12 MiB video over ~2 Mbit/s that drops every 3 MiB arrives whole, resending little.
func TestTus_BadLinkCompletesWithLittleResent(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of throttled upload")
	}
	env := []string{}
	if bucket := s3OrEmpty(t); bucket != "" {
		env = append(env, "FL_MEDIA_URL", bucket)
	}
	ta := apptest.New(t, "", env...)
	link := startBadLink(t, ta.Listen(), 256<<10, 3<<20)
	tok := ta.Token(apptest.DemoBIN, apptest.Director("bad-link"))
	video := realVideo(t, 12<<20)
	c := newTusClient(t, link.URL(), tok, 4<<20)
	url, err := c.create(video, tusFields(taskRef))
	if err != nil {
		t.Fatal(err)
	}
	status, err := c.send(url, video, 20)
	if err != nil || status != 204 {
		t.Fatalf("upload: %d %v", status, err)
	}
	if s := reportStatus(t, ta, taskRef); s != 2 {
		t.Fatalf("report status %d", s)
	}
	assertStored(t, ta, video)
	ratio := float64(link.sent.Load()) / float64(len(video))
	t.Logf("sent %d bytes for a %d-byte video (%.3f×), %d cuts", link.sent.Load(), len(video), ratio, link.cuts.Load())
	if link.cuts.Load() < 3 || ratio > 1.3 {
		t.Fatalf("sent %.3f× the video over %d cut connections, want ≤ 1.3× over ≥ 3", ratio, link.cuts.Load())
	}
}

// s3OrEmpty is a fresh bucket URL when MinIO is configured, else "".
func s3OrEmpty(t *testing.T) string {
	if os.Getenv(apptest.S3URLEnv) != "" {
		return apptest.BucketURL(t)
	}
	return ""
}

// resumeToEnd sends the rest of video from where the server's offset stands and checks that the
// upload committed: the task report in status 2, pointing at exactly video's bytes.
func resumeToEnd(t *testing.T, c *tusClient, ta *apptest.App, url string, video []byte) {
	t.Helper()
	if status, err := c.send(url, video, 3); err != nil || status != 204 {
		t.Fatalf("resume: %d %v", status, err)
	}
	if st := reportStatus(t, ta, taskRef); st != 2 {
		t.Fatalf("report status %d", st)
	}
	assertStored(t, ta, video)
}

// assertStored checks that the upload row of the task report points at exactly video's bytes.
func assertStored(t *testing.T, ta *apptest.App, video []byte) {
	t.Helper()
	var key string
	if err := ta.DB.Get(&key, `SELECT u.object_key FROM uploads u JOIN reports r ON r.id = u.report_id WHERE r.ref_key = $1 ORDER BY u.id DESC LIMIT 1`, taskRef); err != nil {
		t.Fatal(err)
	}
	rc, _, err := ta.Media.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, video) {
		t.Fatalf("stored %d bytes that differ from the %d-byte upload", len(got), len(video))
	}
}

// cutPATCH sends a PATCH of body but closes the connection after n bytes of it, as a dropped link does.
func cutPATCH(t *testing.T, base, token, url string, offset int, body []byte, n int) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	path := url[strings.Index(url, "/reports/uploads/"):]
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		path, token, offset, len(body))
	if _, err := conn.Write(body[:n]); err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// shared is a database and a media store that two app instances (or one, restarted) use together.
type shared struct{ env []string }

func eachShared(t *testing.T, fn func(t *testing.T, s shared)) {
	t.Run("sqlite+disk", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, shared{env: []string{"FL_DATABASE_URL", "sqlite://" + dir + "/db.sqlite", "FL_MEDIA_URL", "file://" + dir + "/media"}})
	})
	t.Run("postgres+minio", func(t *testing.T) {
		bucket := apptest.BucketURL(t)
		fn(t, shared{env: []string{"FL_DATABASE_URL", dbtest.PostgresURL(t), "FL_MEDIA_URL", bucket}})
	})
}

func (s shared) open(t *testing.T) *apptest.App { return apptest.New(t, "", s.env...) }

// An upload cut in the middle of a PATCH keeps what arrived; after a restart of the service, HEAD says
// where to resume and the rest completes it.
func TestTus_SurvivesARestartInTheMiddle(t *testing.T) {
	eachShared(t, func(t *testing.T, s shared) {
		video := realVideo(t, 10<<20)
		first := s.open(t)
		base := first.Listen()
		tok := first.Token(apptest.DemoBIN, apptest.Director("restart"))
		c := newTusClient(t, base, tok, 16<<20)
		url, err := c.create(video, tusFields(taskRef))
		if err != nil {
			t.Fatal(err)
		}
		cutPATCH(t, base, tok, url, 0, video, 6<<20+777)
		var stored int
		apptest.Eventually(t, func() bool {
			stored, err = c.offset(url)
			return err == nil && stored > 0
		}, "no bytes of the cut PATCH were kept (%v)", err)
		if err := first.HTTP.Shutdown(); err != nil {
			t.Fatal(err)
		}
		first.Close()

		second := s.open(t)
		c.base = second.Listen()
		url = c.base + url[strings.Index(url, "/reports/uploads/"):]
		if off, err := c.offset(url); err != nil || off != stored {
			t.Fatalf("after the restart HEAD says %d (%v), before it %d", off, err, stored)
		}
		resumeToEnd(t, c, second, url, video)
	})
}

// Two instances share the database and the bucket: an upload begun on one is continued on the other,
// and the lock holds across them — a PATCH on the second interrupts the first's.
func TestTus_SecondInstanceContinuesAndLocksHoldAcrossInstances(t *testing.T) {
	eachShared(t, func(t *testing.T, s shared) {
		a, b := s.open(t), s.open(t)
		concurrentPATCHes(t, a, a.Listen(), b, b.Listen())
	})
}

// Two PATCHes of one upload at once on one instance: the newer interrupts the older, which keeps what
// it received; the upload then completes intact.
func TestTus_ConcurrentPATCHesOnOneInstance(t *testing.T) {
	apptest.EachStore(t, func(t *testing.T, ta *apptest.App) {
		base := ta.Listen()
		concurrentPATCHes(t, ta, base, ta, base)
	})
}

// concurrentPATCHes holds an upload with a slow PATCH on a and sends a second PATCH to b.
func concurrentPATCHes(t *testing.T, a *apptest.App, baseA string, b *apptest.App, baseB string) {
	t.Helper()
	tok := a.Token(apptest.DemoBIN, apptest.Director("two"))
	video := realVideo(t, 9<<20)
	ca, cb := newTusClient(t, baseA, tok, 16<<20), newTusClient(t, baseB, tok, 16<<20)
	url, err := ca.create(video, tusFields(taskRef))
	if err != nil {
		t.Fatal(err)
	}
	id := url[strings.LastIndex(url, "/")+1:]
	urlB := baseB + "/reports/uploads/" + id

	// A slow PATCH holds the upload on instance A...
	pr, pw := io.Pipe()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, url, pr)
		req.ContentLength = int64(len(video))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", "0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	if _, err := pw.Write(video[:1<<20]); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, func() bool {
		return apptest.Count(t, a, `SELECT count(*) FROM resumable_locks WHERE upload_id = $1`, id) == 1
	}, "the slow PATCH took no lock")

	// ...until a PATCH on instance B asks for the lock: A's PATCH stops and keeps what it had, B's
	// is then told the offset moved.
	resp, err := cb.do(http.MethodPatch, urlB, video[:100], "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")
	if err != nil {
		t.Fatal(err)
	}
	var first int
	select {
	case first = <-slow:
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted PATCH did not end")
	}
	pw.CloseWithError(errors.New("client gone"))
	t.Logf("interrupted PATCH on A: %d; PATCH on B: %d", first, resp.StatusCode)
	if first == 204 && resp.StatusCode == 204 {
		t.Fatal("both concurrent PATCHes succeeded")
	}
	if first == 204 || (resp.StatusCode != 409 && resp.StatusCode != 204) {
		t.Fatalf("A answered %d, B %d: want A interrupted and B refused (409) or done", first, resp.StatusCode)
	}
	// B continues from where A stopped.
	resumeToEnd(t, cb, b, urlB, video)
}

// The per-user upload cap counts tus PATCHes with plain uploads: with two PATCHes of one user in
// flight, the third is refused (429) before its body is read, and a freed slot lets it go on.
func TestTus_ThirdConcurrentPATCHOfOneUserIs429(t *testing.T) {
	ta := apptest.New(t, "", "FL_UPLOAD_CONCURRENCY_PER_USER", "2")
	base := ta.Listen()
	tok := ta.Token(apptest.DemoBIN, apptest.Director("capped"))
	video := realVideo(t, 4<<20)
	c := newTusClient(t, base, tok, 8<<20)
	urls := make([]string, 3)
	for i := range urls {
		u, err := c.create(video, tusFields(taskRef))
		if err != nil {
			t.Fatal(err)
		}
		urls[i] = u
	}
	held := make([]*io.PipeWriter, 2)
	done := make(chan int, 2)
	for i := range held {
		pr, pw := io.Pipe()
		held[i] = pw
		t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
		go func(url string) {
			req, _ := http.NewRequest(http.MethodPatch, url, pr)
			req.ContentLength = int64(len(video))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Content-Type", "application/offset+octet-stream")
			req.Header.Set("Upload-Offset", "0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}(urls[i])
		if _, err := pw.Write(video[:64<<10]); err != nil {
			t.Fatal(err)
		}
	}
	userID := func() int64 {
		p, err := ta.Auth.Authenticate(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		return p.UserID
	}()
	apptest.Eventually(t, func() bool { return ta.UploadSlots.Held(userID) == 2 }, "two PATCHes in flight")

	resp, err := c.do(http.MethodPatch, urls[2], video[:100], "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("third PATCH: %d %v", resp.StatusCode, resp.Header)
	}
	if off, err := c.offset(urls[2]); err != nil || off != 0 {
		t.Fatalf("refused PATCH moved the offset: %d %v", off, err)
	}
	// One held PATCH ends; its slot is freed and the third upload goes through.
	held[0].CloseWithError(errors.New("client gone"))
	<-done
	apptest.Eventually(t, func() bool { return ta.UploadSlots.Held(userID) == 1 }, "a slot freed")
	if status, err := c.send(urls[2], video, 3); err != nil || status != 204 {
		t.Fatalf("third upload after a slot was freed: %d %v", status, err)
	}
	held[1].CloseWithError(errors.New("client gone"))
	<-done
}
