package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stats is what one load run measured.
type stats struct {
	ok, errs int
	elapsed  time.Duration
	p50, p99 time.Duration
	firstErr error
}

func (s stats) rate() float64 { return float64(s.ok) / s.elapsed.Seconds() }

// drive calls do from clients goroutines until d has passed or max calls were started, whichever
// comes first, and measures the latency of the calls that succeeded.
func drive(ctx context.Context, clients int, d time.Duration, max int, do func(context.Context) error) stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var started atomic.Int64
	lats := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && started.Add(1) <= int64(max) {
				t := time.Now()
				err := do(ctx)
				if ctx.Err() != nil {
					return // cut off by the deadline: neither a success nor an error of the target
				}
				if err != nil {
					errs[w]++
					firstErr.CompareAndSwap(nil, err)
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
	if e, ok := firstErr.Load().(error); ok {
		s.firstErr = e
	}
	if len(all) > 0 {
		s.p50, s.p99 = all[len(all)*50/100], all[len(all)*99/100]
	}
	return s
}

// measure warms the target up, then drives it for real.
func measure(ctx context.Context, o options, do func(context.Context) error) stats {
	if o.warmup > 0 {
		drive(ctx, o.clients, o.warmup, o.maxRequests, do)
	}
	return drive(ctx, o.clients, o.duration, o.maxRequests, do)
}

// newLoadClient keeps one connection per client open, as a pool of app users would.
func newLoadClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true,
		},
	}
}

// getter returns a call that GETs url with the bearer token and expects 200.
func getter(client *http.Client, url, token string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		// As the app's HTTP stack does; the transport does not decompress (DisableCompression), so the
		// client reads what the server sends and the shared CPU is not spent on the client's gunzip.
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return httpStatusError(resp.StatusCode, "GET "+url, nil)
		}
		return err
	}
}

// rssSampler follows a process's resident memory: VmHWM since the sampler started (the kernel's
// high-water mark is reset through clear_refs) and the largest VmRSS seen every 100 ms.
type rssSampler struct {
	pid    int
	before int64        // VmRSS when sampling began, kB
	maxRSS atomic.Int64 // kB
	stop   chan struct{}
	done   chan struct{}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // 5 resets VmHWM
	s.before = procStatus(pid, "VmRSS")
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss := procStatus(pid, "VmRSS"); rss > s.maxRSS.Load() {
				s.maxRSS.Store(rss)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns VmHWM and the largest sampled VmRSS, in kB.
func (s *rssSampler) finish() (hwm, maxRSS int64) {
	close(s.stop)
	<-s.done
	return procStatus(s.pid, "VmHWM"), s.maxRSS.Load()
}

// procStatus reads one "Name:   123 kB" line of /proc/PID/status; 0 when unreadable.
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

func mib(kB int64) string {
	if kB == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kB)/1024)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
