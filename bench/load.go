package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/forteleasing/inspections/bench/kit"
)

// load is a run of a filter or suite target at -c clients, up to -n requests, for d; the deadline
// cancels the calls in flight.
func (o options) load(d time.Duration) kit.Load {
	return kit.Load{Clients: o.clients, Duration: d, Max: o.maxRequests}
}

// measure warms the target up, then drives it for real.
func measure(ctx context.Context, o options, do func(context.Context) error) kit.Stats {
	if o.warmup > 0 {
		o.load(o.warmup).Drive(ctx, do)
	}
	return o.load(o.duration).Drive(ctx, do)
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
	kit.ResetHWM(pid)
	s.before = kit.ProcStatus(pid, "VmRSS")
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss := kit.ProcStatus(pid, "VmRSS"); rss > s.maxRSS.Load() {
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
	return kit.ProcStatus(s.pid, "VmHWM"), s.maxRSS.Load()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
