package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

// runHostile replays the attacks of issue 12 (part A) against the service and prints what each did:
// statuses, the service's peak RSS growth, guesses per second. Run it once with -bin of an older build
// and once without to get before → after.
func runHostile(ctx context.Context, o options) error {
	r, err := setup(ctx, o, "FL_PROXY_HEADER=X-Forwarded-For", "FL_TRUSTED_PROXIES=127.0.0.1/32", "FL_OTP_HOURLY_PER_IP=30")
	if err != nil {
		return err
	}
	defer r.close()
	const companies = 40
	items := make([]kit.Company, companies)
	for i := range items {
		items[i] = kit.SeedCompany(i)
	}
	if err := r.onec(ctx, "/1c/companies", items); err != nil {
		return fmt.Errorf("seed companies: %w", err)
	}
	addr := strings.TrimPrefix(r.svc.Base, "http://")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "attack\tanswers\tpeak RSS growth\telapsed")

	kit.Logf("12 × 31 MiB PUT /1c/companies with wrong credentials")
	codes, grew, took := r.attack(12, func(i int) (int, error) {
		auth := base64.StdEncoding.EncodeToString([]byte(kit.OnecUser + ":wrong-" + strconv.Itoa(i)))
		return rawStatus(addr, "PUT /1c/companies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Basic "+auth+
			"\r\nX-Forwarded-For: 10.77.0."+strconv.Itoa(i)+"\r\nContent-Length: "+strconv.Itoa(31<<20)+"\r\n\r\n", []byte("["), 31<<20-1)
	})
	fmt.Fprintf(tw, "PUT /1c/companies 31 MiB, wrong password ×12\t%s\t%s\t%s\n", codes, grew, took.Round(time.Millisecond))

	kit.Logf("guessing the 1C password for 5 s from one address")
	told, refused, elapsed := r.guess(ctx, 5*time.Second, 20000)
	fmt.Fprintf(tw, "1C password guesses, one address, 5 s\t%d × 401 (%.1f/s told wrong), %d × 429\t-\t%s\n",
		told, float64(told)/elapsed.Seconds(), refused, elapsed.Round(time.Millisecond))

	kit.Logf("40 OTP requests with a rotating left-most X-Forwarded-For")
	sent := 0
	for i := 0; i < companies; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.svc.Base+"/biin/"+kit.BIIN(i), strings.NewReader(`{"role_id":1,"uuid":"xff-`+strconv.Itoa(i)+`","FCM":"f"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d, 198.51.100.9", i/65536%256, i/256%256, i%256))
		if resp, err := r.client.Do(req); err == nil {
			if resp.StatusCode == 200 {
				sent++
			}
			resp.Body.Close()
		}
	}
	fmt.Fprintf(tw, "OTP sends, rotating X-Forwarded-For (per-IP cap 30)\t%d of %d sent\t-\t-\n", sent, companies)

	for _, f := range []struct{ name, head, body string }{
		{"two different Content-Length", "POST /device/fcm HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nContent-Length: 2\r\n\r\n", "{}"},
		{"Content-Length + chunked", "POST /device/fcm HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n", "0\r\n\r\n"},
	} {
		answers := pipelined(addr, f.head+f.body+"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		fmt.Fprintf(tw, "%s, then a pipelined GET\t%s\t-\t-\n", f.name, answers)
	}
	// Last: a bomb leaves the heap grown, which would hide the growth of any attack after it.
	bomb := threeLayerGzipBomb()
	for _, n := range []int{1, 8} {
		kit.Logf("gzip bomb ×%d (%d bytes each)", n, len(bomb))
		codes, grew, took := r.attack(n, func(int) (int, error) {
			return rawStatus(addr, "POST /biin/"+kit.BIIN(0)+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				"Content-Encoding: gzip, gzip, gzip\r\nContent-Length: "+strconv.Itoa(len(bomb))+"\r\n\r\n", bomb, 0)
		})
		fmt.Fprintf(tw, "POST /biin, %d B gzip×3 bomb ×%d\t%s\t%s\t%s\n", len(bomb), n, codes, grew, took.Round(time.Millisecond))
	}

	return tw.Flush()
}

// attack runs n copies of one at once and reports their statuses, the service's peak RSS growth and the time.
func (r *rig) attack(n int, one func(i int) (int, error)) (string, string, time.Duration) {
	s := sampleRSS(r.svc.PID())
	start := time.Now()
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			code, err := one(i)
			codes[i] = strconv.Itoa(code)
			if err != nil {
				codes[i] = "error: " + err.Error()
			}
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	hwm, _ := s.finish()
	tally := map[string]int{}
	for _, c := range codes {
		tally[c]++
	}
	var parts []string
	for c, k := range tally {
		parts = append(parts, fmt.Sprintf("%d × %s", k, c))
	}
	return strings.Join(parts, ", "), kit.MiB(hwm - s.before), took
}

// guess sends wrong 1C passwords one after another from one address until d or max have passed.
func (r *rig) guess(ctx context.Context, d time.Duration, max int) (told, refused int, elapsed time.Duration) {
	start := time.Now()
	for i := 0; i < max && time.Since(start) < d && ctx.Err() == nil; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.svc.Base+"/1c/reports?status=2", nil)
		req.SetBasicAuth(kit.OnecUser, "guess-"+strconv.Itoa(i))
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := r.client.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 401:
			told++
		case 429:
			refused++
		}
	}
	return told, refused, time.Since(start)
}

// rawStatus writes head and body, then pad more bytes of body while reading the answer; it returns its status.
func rawStatus(addr, head string, body []byte, pad int) (int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	go func() {
		if _, err := conn.Write(append([]byte(head), body...)); err != nil {
			return
		}
		chunk := bytes.Repeat([]byte(" "), 256<<10)
		for sent := 0; sent < pad; sent += len(chunk) {
			if _, err := conn.Write(chunk[:min(len(chunk), pad-sent)]); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// pipelined sends raw on one connection and lists the statuses answered before the server closed it.
func pipelined(addr, raw string) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, raw)
	_ = conn.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(conn)
	var out []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, strconv.Itoa(resp.StatusCode))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " then ")
}

// threeLayerGzipBomb is 256 MiB of zeros gzipped three times.
func threeLayerGzipBomb() []byte {
	var out bytes.Buffer
	w1, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	w2, _ := gzip.NewWriterLevel(w1, gzip.BestCompression)
	w3, _ := gzip.NewWriterLevel(w2, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 256; i++ {
		_, _ = w3.Write(zeros)
	}
	_ = w3.Close()
	_ = w2.Close()
	_ = w1.Close()
	return out.Bytes()
}
