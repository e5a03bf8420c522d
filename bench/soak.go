package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// soakSample is one reading of the service during the soak.
type soakSample struct {
	at         time.Duration
	rssKB      int64
	goroutines int64
	requests   int64
	errors     int64
}

// runSoak drives mixed traffic for -d and samples the service's RSS and goroutines every 10 s.
func runSoak(ctx context.Context, o options) error {
	mb, err := startMailbox()
	if err != nil {
		return err
	}
	defer mb.close()
	r, err := setup(ctx, o, "FL_MAIL_URL=smtp://"+mb.addr, "FL_OTP_HOURLY_PER_BIN=100000000",
		"FL_OTP_HOURLY_PER_IP=100000000", "FL_OTP_DAILY_FAILURES=100000000", "FL_UPLOAD_MAX_BYTES=67108864")
	if err != nil {
		return err
	}
	defer r.close()
	logf("seeding %d companies, %d vehicles, %d reports…", o.companies, o.vehicles, o.totalReports)
	if _, err := seedFilter(ctx, r); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	client := newLoadClient(o.clients)
	// One vehicle of the big company takes the new tasks, uploads and decisions.
	var vehicle string
	db, err := sql.Open("pgx", r.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SELECT v.guid FROM vehicles v JOIN companies c ON c.id = v.company_id
		WHERE c.biin = $1 ORDER BY v.id LIMIT 1`, benchBIIN(0)).Scan(&vehicle); err != nil {
		return err
	}
	token, refresh, err := r.loginAs(ctx, client, mb, 0, "soak-director")
	if err != nil {
		return err
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(onecUser+":"+onecPass))
	free := make(chan int, o.companies)
	for i := 1; i < o.companies; i++ {
		free <- i
	}

	var (
		requests, errs atomic.Int64
		byStatus       sync.Map // "op status" → *atomic.Int64
		taskSeq        atomic.Int64
		tasks          = make(chan string, 1024) // status 1, waiting for a video
		sent           = make(chan string, 1024) // status 2, waiting for a decision
		refreshMu      sync.Mutex
	)
	count := func(op string, err error) {
		requests.Add(1)
		key := op + " ok"
		if err != nil {
			errs.Add(1)
			key = op + " " + err.Error()
			if len(key) > 90 {
				key = key[:90]
			}
		}
		v, _ := byStatus.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	get := func(ctx context.Context, path, auth string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
		req.Header.Set("Authorization", auth)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	ops := []struct {
		name   string
		weight int
		do     func(ctx context.Context, rnd *rand.Rand) error
	}{
		{"general filter", 35, func(ctx context.Context, _ *rand.Rand) error {
			return get(ctx, "/reports/general/filter", "Bearer "+token)
		}},
		{"vehicle filter", 15, func(ctx context.Context, _ *rand.Rand) error {
			return get(ctx, "/reports/vehicle/filter/null/1y", "Bearer "+token)
		}},
		{"1C feed", 10, func(ctx context.Context, rnd *rand.Rand) error {
			return get(ctx, fmt.Sprintf("/1c/reports?limit=100&after=%d", rnd.IntN(o.totalReports)), basic)
		}},
		{"refresh", 10, func(ctx context.Context, _ *rand.Rand) error {
			refreshMu.Lock()
			defer refreshMu.Unlock()
			next, err := refreshOnce(ctx, client, r.base, refresh)
			if err == nil {
				refresh = next
			}
			return err
		}},
		{"login", 5, func(ctx context.Context, rnd *rand.Rand) error {
			i := <-free // one login per company at a time: a company's codes share one mailbox
			defer func() { free <- i }()
			_, _, err := r.loginAs(ctx, client, mb, i, fmt.Sprintf("soak-%d", rnd.Int64()))
			return err
		}},
		{"1C new task", 10, func(ctx context.Context, _ *rand.Rand) error {
			ref := fmt.Sprintf("soak-%d", taskSeq.Add(1))
			err := r.onec(ctx, "/1c/reports", []map[string]any{{"ref_key": ref, "report_number": ref, "vehicle_guid": vehicle,
				"date_start": "2099-01-01T00:00:00", "date_finish": "2099-01-08T00:00:00", "status_code": 1}})
			if err == nil {
				select {
				case tasks <- ref:
				default:
				}
			}
			return err
		}},
		{"upload 1 MiB", 10, func(ctx context.Context, rnd *rand.Rand) error {
			select {
			case ref := <-tasks:
				err := postUpload(ctx, client, r.base, token, ref, mp4File(rnd.Uint64(), 1<<20), 1<<20)
				if err == nil {
					select {
					case sent <- ref:
					default:
					}
				}
				return err
			default:
				return nil
			}
		}},
		{"1C decision", 5, func(ctx context.Context, rnd *rand.Rand) error {
			select {
			case ref := <-sent:
				body := map[string]any{"status_code": 3}
				if rnd.IntN(2) == 0 {
					body = map[string]any{"status_code": 4, "reject_reason": "Видео нечёткое"}
				}
				return r.call(ctx, http.MethodPost, "/1c/reports/"+ref+"/decision", body, basic, nil)
			default:
				return nil
			}
		}},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}

	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 42))
			for ctx.Err() == nil {
				n := rnd.IntN(total)
				for _, op := range ops {
					if n -= op.weight; n < 0 {
						err := op.do(ctx, rnd)
						if ctx.Err() == nil {
							count(op.name, err)
						}
						break
					}
				}
			}
		}()
	}

	logf("soaking for %s with %d clients; a sample every 10 s", o.duration, o.clients)
	begin := time.Now()
	var samples []soakSample
	take := func() {
		samples = append(samples, soakSample{at: time.Since(begin), rssKB: procStatus(r.svc.pid(), "VmRSS"),
			goroutines: goroutines(r.admin), requests: requests.Load(), errors: errs.Load()})
		s := samples[len(samples)-1]
		logf("%6s  RSS %s  goroutines %d  requests %d  errors %d", s.at.Round(time.Second), mib(s.rssKB), s.goroutines, s.requests, s.errors)
	}
	take()
	tick := time.NewTicker(10 * time.Second)
	for done := false; !done; {
		select {
		case <-tick.C:
			take()
		case <-ctx.Done():
			done = true
		}
	}
	tick.Stop()
	wg.Wait()
	take()

	fmt.Printf("\nsoak: %s of mixed traffic, %d clients, PostgreSQL and MinIO; %d requests, %d errors\n\n",
		o.duration, o.clients, requests.Load(), errs.Load())
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "t\tVmRSS\tgoroutines\trequests\terrors\t")
	for _, s := range samples {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t\n", s.at.Round(time.Second), mib(s.rssKB), s.goroutines, s.requests, s.errors)
	}
	w.Flush()
	fmt.Println("\nrequests by operation and outcome:")
	byStatus.Range(func(k, v any) bool {
		fmt.Printf("  %-60s %d\n", k, v.(*atomic.Int64).Load())
		return true
	})
	// The trend is judged on the second half: the first fills caches, pools and the heap's target.
	half := samples[len(samples)/2:]
	rssSlope := slopePerMinute(half, func(s soakSample) float64 { return float64(s.rssKB) / 1024 })
	grSlope := slopePerMinute(half, func(s soakSample) float64 { return float64(s.goroutines) })
	meanRSS := 0.0
	for _, s := range half {
		meanRSS += float64(s.rssKB) / 1024
	}
	meanRSS /= float64(len(half))
	growth := rssSlope > 0.01*meanRSS || grSlope > 1
	fmt.Printf("\nsecond half: RSS slope %+.2f MiB/min (mean %.1f MiB), goroutine slope %+.2f/min\n", rssSlope, meanRSS, grSlope)
	fmt.Printf("criterion: growth when RSS rises by more than 1%% of its mean per minute or goroutines by more than 1 per minute: %s\n",
		map[bool]string{true: "GROWTH", false: "no growth trend"}[growth])
	return nil
}

// slopePerMinute is the least-squares slope of f over the samples, per minute.
func slopePerMinute(samples []soakSample, f func(soakSample) float64) float64 {
	if len(samples) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(samples))
	for _, s := range samples {
		x, y := s.at.Minutes(), f(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// goroutines reads go_goroutines from the service's Prometheus metrics on its admin address.
func goroutines(admin string) int64 {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int64(n)
		}
	}
	return -1
}
