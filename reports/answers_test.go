package reports

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/forteleasing/inspections/internal/wait"
)

// waiting is how many callers wait for the running call of key (0 when none runs).
func (f *flights[K, V]) waiting(key K) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		return c.waiters
	}
	return 0
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	wait.Until(t, cond, "condition not met")
}

func TestFlights_OneBuildForConcurrentCallersOfAKey(t *testing.T) {
	f := flights[string, int]{calls: map[string]*flight[int]{}}
	var builds atomic.Int32
	release := make(chan struct{})
	build := func() (int, error) {
		builds.Add(1)
		<-release
		return 42, nil
	}
	const callers = 16
	results := make([]int, callers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0], _ = f.do(context.Background(), "k", build) }()
	eventually(t, func() bool { return builds.Load() == 1 })
	for i := 1; i < callers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], _ = f.do(context.Background(), "k", build) }()
	}
	eventually(t, func() bool { return f.waiting("k") == callers-1 })
	// Another key is not held up by the first.
	if v, err := f.do(context.Background(), "other", func() (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Fatalf("other key: %d, %v", v, err)
	}
	close(release)
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d builds for %d concurrent callers, want 1", n, callers)
	}
	for i, r := range results {
		if r != 42 {
			t.Fatalf("caller %d got %d", i, r)
		}
	}
	// Once it ended, the next call builds again (the cache, not the flight, keeps results).
	if _, _ = f.do(context.Background(), "k", func() (int, error) { builds.Add(1); return 1, nil }); builds.Load() != 2 {
		t.Fatalf("a call after the flight ended did not build")
	}
}

func TestFlights_WaiterBuildsItselfWhenTheLeaderFails(t *testing.T) {
	f := flights[string, int]{calls: map[string]*flight[int]{}}
	release := make(chan struct{})
	leaderErr := make(chan error, 1)
	go func() {
		_, err := f.do(context.Background(), "k", func() (int, error) { <-release; return 0, context.Canceled })
		leaderErr <- err
	}()
	eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.calls["k"] != nil })
	got := make(chan int, 1)
	go func() {
		v, _ := f.do(context.Background(), "k", func() (int, error) { return 5, nil })
		got <- v
	}()
	eventually(t, func() bool { return f.waiting("k") == 1 })
	close(release)
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	if v := <-got; v != 5 {
		t.Fatalf("waiter got %d after the leader failed, want its own build (5)", v)
	}
}

func TestFlights_WaiterGivesUpWithItsContext(t *testing.T) {
	f := flights[string, int]{calls: map[string]*flight[int]{}}
	release := make(chan struct{})
	defer close(release)
	go func() { _, _ = f.do(context.Background(), "k", func() (int, error) { <-release; return 1, nil }) }()
	eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.calls["k"] != nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := f.do(ctx, "k", func() (int, error) { return 2, nil }); done <- err }()
	eventually(t, func() bool { return f.waiting("k") == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: %v, want context.Canceled", err)
	}
}
