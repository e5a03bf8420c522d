package kit

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is what one load run measured.
type Stats struct {
	OK, Errs int
	Elapsed  time.Duration
	P50, P99 time.Duration // of the calls that succeeded
	FirstErr error
}

// Rate is successes per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

// Load is one load run: Clients goroutines call the target until Duration has passed or Max calls were
// started, whichever comes first.
type Load struct {
	Clients  int
	Duration time.Duration
	Max      int
	// Finish lets a call started before the end run to completion and counts it, so the run ends when the
	// last one returns (a refresh cut off halfway would lose its chain's new token). Without it the end
	// cancels the calls in flight, which count neither as successes nor as errors.
	Finish bool
}

// Drive runs the load on do and measures the latency of the calls that succeeded.
func (l Load) Drive(ctx context.Context, do func(context.Context) error) Stats {
	var stopped func() bool
	var cancel context.CancelFunc
	if l.Finish {
		var stop atomic.Bool
		timer := time.AfterFunc(l.Duration, func() { stop.Store(true) })
		defer timer.Stop()
		stopped = stop.Load
		ctx, cancel = context.WithTimeout(ctx, l.Duration+time.Minute)
	} else {
		ctx, cancel = context.WithTimeout(ctx, l.Duration)
		stopped = func() bool { return ctx.Err() != nil }
	}
	defer cancel()
	var started atomic.Int64
	lats := make([][]time.Duration, l.Clients)
	errs := make([]int, l.Clients)
	var firstErr atomic.Pointer[error] // of any type: atomic.Value would panic on a second type
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range l.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() && started.Add(1) <= int64(l.Max) {
				t := time.Now()
				err := do(ctx)
				if !l.Finish && ctx.Err() != nil {
					return // cut off by the deadline: neither a success nor an error of the target
				}
				if err != nil {
					errs[w]++
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	s := Stats{Elapsed: time.Since(begin)}
	all := slices.Concat(lats...)
	slices.Sort(all)
	s.OK = len(all)
	for _, e := range errs {
		s.Errs += e
	}
	if e := firstErr.Load(); e != nil {
		s.FirstErr = *e
	}
	if len(all) > 0 {
		s.P50, s.P99 = all[len(all)*50/100], all[len(all)*99/100]
	}
	return s
}

// Uploads is one path's upload rounds: each round sends its files at once and is timed from the first
// byte to the last answer.
type Uploads struct {
	Bytes    int64
	Wall     time.Duration
	Rounds   []float64 // MB/s of each round
	Errs     int
	FirstErr error
}

// MBps is all bytes over the summed wall time of the rounds, in 10^6 bytes a second.
func (u *Uploads) MBps() float64 {
	if u.Wall <= 0 {
		return 0
	}
	return float64(u.Bytes) / 1e6 / u.Wall.Seconds()
}

// PerRound is the MB/s of each round, space-separated.
func (u *Uploads) PerRound() string {
	rs := make([]string, len(u.Rounds))
	for i, r := range u.Rounds {
		rs[i] = fmt.Sprintf("%.0f", r)
	}
	return strings.Join(rs, " ")
}

// Round runs send for 0..n-1 at once, each sending size bytes, and adds the round.
func (u *Uploads) Round(n int, size int64, send func(i int) error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := send(i); err != nil {
				mu.Lock()
				u.Errs++
				if u.FirstErr == nil {
					u.FirstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	u.Bytes += int64(n) * size
	u.Wall += wall
	u.Rounds = append(u.Rounds, float64(int64(n)*size)/1e6/wall.Seconds())
}

// ProcStatus reads one "Name:   123 kB" line of /proc/PID/status, in kB; 0 when unreadable.
func ProcStatus(pid int, name string) int64 {
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

// ResetHWM resets the process's VmHWM (the kernel's high-water mark of its resident memory) to its VmRSS.
func ResetHWM(pid int) { _ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) }

// Logf reports progress on stderr, so that stdout holds only the table.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// MiB formats kB as MiB; 0 (unread) is a dash.
func MiB(kB int64) string {
	if kB == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kB)/1024)
}

// Ms formats a latency in milliseconds.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// Verdict is a target's "met" or "NOT met".
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// Slug is s in lower case with every run of other characters than letters and digits a dash: a file name.
func Slug(s string) string {
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
}
