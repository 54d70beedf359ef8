package throttle

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of requests for one key runs once at once and once at the end of
// the interval (never more), and the trailing run sees the latest state.
func TestBurstRunsLeadingAndTrailing(t *testing.T) {
	k := &Keyed{Every: 50 * time.Millisecond}
	var runs atomic.Int32
	var mu sync.Mutex
	state, seen := 0, 0
	for i := range 1000 {
		mu.Lock()
		state = i
		mu.Unlock()
		k.Do("a", func() {
			runs.Add(1)
			mu.Lock()
			seen = state
			mu.Unlock()
		})
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs during the burst, want 1 (the leading one)", n)
	}
	time.Sleep(150 * time.Millisecond)
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs after the interval, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != 999 {
		t.Fatalf("trailing run saw state %d, want the latest (999)", seen)
	}
}

// Keys are throttled independently.
func TestKeysAreIndependent(t *testing.T) {
	k := &Keyed{Every: time.Hour}
	var runs atomic.Int32
	for _, key := range []string{"a", "b", "c", "a"} {
		k.Do(key, func() { runs.Add(1) })
	}
	if n := runs.Load(); n != 3 {
		t.Fatalf("%d runs, want one per key (3)", n)
	}
}
