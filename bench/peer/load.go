package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stats is what one measured run of one side saw.
type stats struct {
	ok, errs int
	elapsed  time.Duration
	p50, p99 time.Duration
	firstErr error
}

func (s stats) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.ok) / s.elapsed.Seconds()
}

// drive calls do from clients goroutines until d has passed or max calls were started. A call started
// before the end runs to completion (a refresh cut off halfway would lose its chain's new token), so the
// run ends when the last one returns.
func drive(clients int, d time.Duration, max int, do func(context.Context) error) stats {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	var started atomic.Int64
	lats := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && started.Add(1) <= int64(max) {
				t := time.Now()
				if err := do(ctx); err != nil {
					errs[w]++
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	s := stats{elapsed: time.Since(begin)}
	all := slices.Concat(lats...)
	slices.Sort(all)
	s.ok = len(all)
	for _, e := range errs {
		s.errs += e
	}
	if e := firstErr.Load(); e != nil {
		s.firstErr = *e
	}
	if len(all) > 0 {
		s.p50, s.p99 = all[len(all)*50/100], all[len(all)*99/100]
	}
	return s
}

// newClient keeps one connection per client open; it does not decompress, so that the shared CPU is not
// spent on the client's gunzip (the refresh reads only the head of its answer).
func newClient(clients int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true,
	}}
}

// getter GETs url with the Authorization header and expects 200, reading the whole answer.
func getter(client *http.Client, url, auth string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Accept-Encoding", "gzip") // as the app's HTTP stack sends
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return err
	}
}

var (
	refreshTokenField = regexp.MustCompile(`"refresh_token":"([^"]+)"`)
	pbTokenField      = regexp.MustCompile(`"token":"([^"]+)"`)
)

// refreshCall POSTs to url with the token and returns the next token found by field in the answer; the
// answer is read whole, only its head decompressed.
func refreshCall(ctx context.Context, client *http.Client, url, auth string, field *regexp.Regexp) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d %.300s", url, resp.StatusCode, raw)
	}
	head := raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", err
		}
		head, _ = io.ReadAll(io.LimitReader(zr, 8192))
	}
	m := field.FindSubmatch(head)
	if m == nil {
		return "", fmt.Errorf("POST %s: no token in the first 8 KB of the answer", url)
	}
	return string(m[1]), nil
}

// writer starts one write every interval until stopped, as 1C's upserts would arrive; up to 8 run at
// once, so that a write slower than the interval (a loaded machine) does not lower the rate.
type writer struct {
	stop     chan struct{}
	done     chan struct{}
	ok, errs atomic.Int64
	firstErr atomic.Pointer[error] // of any type: atomic.Value would panic on a second type
}

func startWriter(interval time.Duration, write func(ctx context.Context, n int64) error) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		slots := make(chan struct{}, 8)
		t := time.NewTicker(interval)
		defer t.Stop()
		for n := int64(0); ; n++ {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				w.errs.Add(1) // 8 writes still running: this one is skipped and counted as failed
				skipped := fmt.Errorf("8 writes in flight: one skipped")
				w.firstErr.CompareAndSwap(nil, &skipped)
				continue
			}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := write(ctx, n); err != nil {
					w.errs.Add(1)
					w.firstErr.CompareAndSwap(nil, &err)
				} else {
					w.ok.Add(1)
				}
			}()
		}
	}()
	return w
}

func (w *writer) finish() { close(w.stop); <-w.done }

// mp4File streams a size-byte MP4 (a 24-byte ftyp box, then mdat of seeded random bytes), as bench/upload.go.
func mp4File(seed uint64, size int64) io.Reader {
	h := make([]byte, 0, 32)
	h = binary.BigEndian.AppendUint32(h, 24)
	h = append(h, "ftypisom"...)
	h = binary.BigEndian.AppendUint32(h, 0x00000200)
	h = append(h, "isommp41"...)
	h = binary.BigEndian.AppendUint32(h, uint32(size-24))
	h = append(h, "mdat"...)
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.MultiReader(bytes.NewReader(h), io.LimitReader(rand.NewChaCha8(s), size-32))
}

// postMultipart streams fields and then the file as one multipart POST with an exact Content-Length.
func postMultipart(ctx context.Context, client *http.Client, url, auth, fileField string, fields [][2]string,
	file io.Reader, size int64, want int) error {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+fileField+`"; filename="inspection.mp4"`)
	h.Set("Content-Type", "video/mp4")
	if _, err := mw.CreatePart(h); err != nil {
		return err
	}
	prelude := bytes.Clone(head.Bytes())
	head.Reset()
	if err := mw.Close(); err != nil {
		return err
	}
	trailer := head.Bytes()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.MultiReader(bytes.NewReader(prelude), file, bytes.NewReader(trailer)))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(prelude)) + size + int64(len(trailer))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", auth)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	if resp.StatusCode != want {
		return fmt.Errorf("upload to %s: %d %.300s", url, resp.StatusCode, answer)
	}
	return nil
}

// rssSampler follows a process's VmHWM (reset through clear_refs when sampling starts).
func resetHWM(pid int) { _ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) }

// procStatus reads one "Name:   123 kB" line of /proc/PID/status in kB; 0 when unreadable.
func procStatus(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
