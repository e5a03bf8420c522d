package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

// soakInterval is how often the soak samples the service.
const soakInterval = 10 * time.Second

// soakSample is one reading of the service during the soak.
type soakSample struct {
	at         time.Duration
	rssKB      int64
	heapMiB    float64 // go_memstats_heap_inuse_bytes
	goroutines int64
	fds        int
	requests   int64
	errors     int64
}

// soakDefaults gives the soak its own defaults for the flags the command line left alone: moderate
// concurrency, ten minutes, and a smaller fleet (the soak looks for growth, not for the list's cost).
func soakDefaults(o *options, set map[string]bool) {
	def := func(name string, p *int, v int) {
		if !set[name] {
			*p = v
		}
	}
	def("c", &o.clients, 8)
	def("vehicles", &o.Vehicles, 2000)
	def("reports", &o.Reports, 20_000)
	def("total", &o.Total, 100_000)
	if !set["d"] {
		o.duration = 10 * time.Minute
	}
}

// outcome names what became of one request: "ok", the HTTP status of a refusal, or the transport error.
func outcome(err error) string {
	var se *kit.StatusError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se):
		return strconv.Itoa(se.Status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "transport error"
	}
}

// runSoak drives mixed traffic for -d and samples the service's RSS and goroutines every 10 s.
func runSoak(ctx context.Context, o options) error {
	if o.Companies < 2 {
		return errors.New("soak: -companies must be at least 2 (the first takes the filters, the others log in)")
	}
	r, err := setupMailed(ctx, o)
	if err != nil {
		return err
	}
	defer r.close()
	if _, err := seedFilter(ctx, r); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	client := kit.NewLoadClient(o.clients, 30*time.Second)
	// One vehicle of the big company takes the new tasks, uploads and decisions.
	var vehicle string
	db, err := sql.Open("pgx", r.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SELECT v.guid FROM vehicles v JOIN companies c ON c.id = v.company_id
		WHERE c.biin = $1 ORDER BY v.id LIMIT 1`, kit.BIIN(0)).Scan(&vehicle); err != nil {
		return err
	}
	token, _, err := r.loginAs(ctx, client, 0, "soak-director")
	if err != nil {
		return err
	}
	// Each client rotates a refresh chain of its own device session, as an app does.
	chains := make([]string, o.clients)
	for w := range chains {
		if _, chains[w], err = r.loginAs(ctx, client, 0, fmt.Sprintf("soak-refresh-%d", w)); err != nil {
			return fmt.Errorf("login for refresh: %w", err)
		}
	}
	basic := kit.OnecBasic()
	free := make(chan int, o.Companies)
	for i := 1; i < o.Companies; i++ {
		free <- i
	}

	type tally struct {
		n     atomic.Int64
		first atomic.Value // the first error's text
	}
	var (
		requests, errs atomic.Int64
		outcomes       sync.Map // op → outcome → *tally
		taskSeq        atomic.Int64
		tasks          = make(chan string, 1024) // status 1, waiting for a video
		sent           = make(chan string, 1024) // status 2, waiting for a decision
	)
	count := func(op string, err error) {
		requests.Add(1)
		if err != nil {
			errs.Add(1)
		}
		m, _ := outcomes.LoadOrStore(op, &sync.Map{})
		t, _ := m.(*sync.Map).LoadOrStore(outcome(err), &tally{})
		t.(*tally).n.Add(1)
		if err != nil {
			t.(*tally).first.CompareAndSwap(nil, err.Error())
		}
	}
	get := func(ctx context.Context, path, auth string) error {
		return kit.Getter(client, r.svc.Base+path, auth)(ctx)
	}
	ops := []struct {
		name   string
		weight int
		do     func(ctx context.Context, w int, rnd *rand.Rand) error
	}{
		{"general filter", 35, func(ctx context.Context, _ int, _ *rand.Rand) error {
			return get(ctx, "/reports/general/filter", "Bearer "+token)
		}},
		{"vehicle filter", 15, func(ctx context.Context, _ int, _ *rand.Rand) error {
			return get(ctx, "/reports/vehicle/filter/null/1y", "Bearer "+token)
		}},
		{"1C feed page", 10, func(ctx context.Context, _ int, rnd *rand.Rand) error {
			return get(ctx, fmt.Sprintf("/1c/reports?limit=100&after=%d", rnd.IntN(o.Total)), basic)
		}},
		{"refresh", 10, func(ctx context.Context, w int, _ *rand.Rand) error {
			next, err := refreshOnce(ctx, client, r.svc.Base, chains[w])
			if err == nil {
				chains[w] = next
			}
			return err
		}},
		{"login", 5, func(ctx context.Context, _ int, rnd *rand.Rand) error {
			i := <-free // one login per company at a time: a company's codes share one mailbox
			defer func() { free <- i }()
			_, _, err := r.loginAs(ctx, client, i, fmt.Sprintf("soak-%d", rnd.Int64()))
			return err
		}},
		{"1C new task", 10, func(ctx context.Context, _ int, _ *rand.Rand) error {
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
		{"upload 1 MiB", 10, func(ctx context.Context, _ int, rnd *rand.Rand) error {
			select {
			case ref := <-tasks:
				err := postUpload(ctx, client, r.svc.Base, token, ref, kit.MP4(rnd.Uint64(), 1<<20), 1<<20)
				if err == nil {
					select {
					case sent <- ref:
					default:
					}
				}
				return err
			default:
				return errSkipped
			}
		}},
		{"1C decision", 5, func(ctx context.Context, _ int, rnd *rand.Rand) error {
			select {
			case ref := <-sent:
				body := map[string]any{"status_code": 3}
				if rnd.IntN(2) == 0 {
					body = map[string]any{"status_code": 4, "reject_reason": "Видео нечёткое"}
				}
				return r.call(ctx, http.MethodPost, "/1c/reports/"+ref+"/decision", body, basic, nil)
			default:
				return errSkipped
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
						err := op.do(ctx, w, rnd)
						if ctx.Err() == nil && !errors.Is(err, errSkipped) {
							count(op.name, err)
						}
						break
					}
				}
			}
		}()
	}

	kit.Logf("soaking for %s with %d clients; a sample every %s", o.duration, o.clients, soakInterval)
	begin := time.Now()
	var samples []soakSample
	take := func() {
		m := promValues(r.svc.Admin, "go_goroutines", "go_memstats_heap_inuse_bytes")
		s := soakSample{at: time.Since(begin), rssKB: kit.ProcStatus(r.svc.PID(), "VmRSS"), heapMiB: m["go_memstats_heap_inuse_bytes"] / (1 << 20),
			goroutines: int64(m["go_goroutines"]), fds: openFDs(r.svc.PID()), requests: requests.Load(), errors: errs.Load()}
		samples = append(samples, s)
		kit.Logf("%6s  RSS %s  heap %.1f MiB  goroutines %d  fds %d  requests %d  errors %d", s.at.Round(time.Second), kit.MiB(s.rssKB),
			s.heapMiB, s.goroutines, s.fds, s.requests, s.errors)
	}
	take()
	tick := time.NewTicker(soakInterval)
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

	fmt.Printf("\nsoak: %s of mixed traffic at %d clients against one service on PostgreSQL and MinIO; %d companies, the first with %d vehicles and %d of %d reports\n",
		o.duration, o.clients, o.Companies, o.Vehicles, o.Reports, o.Total)
	fmt.Printf("%d requests (%.0f/s), %d errors; the service ran with %s\n\n", requests.Load(),
		float64(requests.Load())/samples[len(samples)-1].at.Seconds(), errs.Load(), strings.Join(suiteEnv, " "))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "t\tVmRSS MiB\theap MiB\tgoroutines\topen fds\trequests\treq/s\terrors\t")
	for i, s := range samples {
		rate := "-"
		if i > 0 {
			rate = fmt.Sprintf("%.0f", float64(s.requests-samples[i-1].requests)/(s.at-samples[i-1].at).Seconds())
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%d\t%d\t%d\t%s\t%d\t\n", s.at.Round(time.Second), float64(s.rssKB)/1024, s.heapMiB,
			s.goroutines, s.fds, s.requests, rate, s.errors)
	}
	w.Flush()

	fmt.Println("\nrequests by operation and outcome (ok, or the HTTP status of the refusal):")
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	var firsts []string
	for _, op := range ops {
		m, ok := outcomes.Load(op.name)
		if !ok {
			fmt.Fprintf(w, "  %s\t0\t\n", op.name)
			continue
		}
		var parts []string
		m.(*sync.Map).Range(func(k, v any) bool {
			t := v.(*tally)
			parts = append(parts, fmt.Sprintf("%s %d", k, t.n.Load()))
			if first, ok := t.first.Load().(string); ok {
				firsts = append(firsts, fmt.Sprintf("  %s, %s: %.300s", op.name, k, first))
			}
			return true
		})
		slices.Sort(parts)
		fmt.Fprintf(w, "  %s\t%s\t\n", op.name, strings.Join(parts, ", "))
	}
	w.Flush()
	if len(firsts) > 0 {
		fmt.Println("first error of each kind:")
		fmt.Println(strings.Join(firsts, "\n"))
	}

	// The trend is judged on the second half: the first fills caches, pools and the heap's target.
	half := samples[len(samples)/2:]
	rssMiB := func(s soakSample) float64 { return float64(s.rssKB) / 1024 }
	gor := func(s soakSample) float64 { return float64(s.goroutines) }
	rss, rssAll := fitPerMinute(half, rssMiB), fitPerMinute(samples, rssMiB)
	grs, grsAll := fitPerMinute(half, gor), fitPerMinute(samples, gor)
	heap := fitPerMinute(half, func(s soakSample) float64 { return s.heapMiB })
	fds := fitPerMinute(half, func(s soakSample) float64 { return float64(s.fds) })
	rssFloor := 0.005 * rss.mean
	rssGrowth := rss.slope > 2*rss.se && rss.slope > rssFloor
	grGrowth := grs.slope > 2*grs.se && grs.slope > 0.5
	fmt.Printf("\nleast-squares slopes per minute, second half (%d samples from %s) and whole run:\n", len(half), half[0].at.Round(time.Second))
	fmt.Printf("  VmRSS       %+7.3f MiB/min ± %.3f (mean %.1f MiB, residual sd %.2f); whole run %+7.3f\n", rss.slope, rss.se, rss.mean, rss.sd, rssAll.slope)
	fmt.Printf("  goroutines  %+7.3f /min    ± %.3f (mean %.1f, residual sd %.2f); whole run %+7.3f\n", grs.slope, grs.se, grs.mean, grs.sd, grsAll.slope)
	fmt.Printf("  heap in use %+7.3f MiB/min ± %.3f (mean %.1f MiB); open fds %+.3f /min (mean %.1f)\n", heap.slope, heap.se, heap.mean, fds.slope, fds.mean)
	fmt.Printf("criterion: growth when a second-half slope is both above noise (more than 2 standard errors) and above a floor that\n"+
		"matters (RSS: 0.5 %% of its mean per minute = %.2f MiB/min; goroutines: 0.5 per minute)\n", rssFloor)
	fmt.Printf("verdict: RSS %s, goroutines %s: %s\n", growthWord(rssGrowth), growthWord(grGrowth),
		map[bool]string{true: "GROWTH", false: "no growth trend"}[rssGrowth || grGrowth])
	return nil
}

// errSkipped is an operation that found nothing to do (no task waiting for a video or a decision).
var errSkipped = errors.New("skipped")

func growthWord(g bool) string {
	if g {
		return "grows"
	}
	return "flat"
}

// fit is a least-squares line through samples: slope per minute, its standard error, the mean and the
// residuals' standard deviation.
type fit struct{ slope, se, mean, sd float64 }

func fitPerMinute(samples []soakSample, f func(soakSample) float64) fit {
	n := float64(len(samples))
	if n < 3 {
		return fit{}
	}
	var mx, my float64
	for _, s := range samples {
		mx, my = mx+s.at.Minutes(), my+f(s)
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for _, s := range samples {
		dx := s.at.Minutes() - mx
		sxx, sxy = sxx+dx*dx, sxy+dx*(f(s)-my)
	}
	if sxx == 0 {
		return fit{mean: my}
	}
	slope := sxy / sxx
	var ss float64
	for _, s := range samples {
		e := f(s) - (my + slope*(s.at.Minutes()-mx))
		ss += e * e
	}
	sd := math.Sqrt(ss / (n - 2))
	return fit{slope: slope, se: sd / math.Sqrt(sxx), mean: my, sd: sd}
}

// promValues reads the named metrics from the service's Prometheus endpoint on its admin address.
func promValues(admin string, names ...string) map[string]float64 {
	out := map[string]float64{}
	for _, n := range names {
		out[n] = -1
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(admin + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if _, want := out[name]; ok && want {
			out[name], _ = strconv.ParseFloat(value, 64)
		}
	}
	return out
}

// openFDs counts the process's open file descriptors (sockets included); -1 when unreadable.
func openFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(entries)
}
