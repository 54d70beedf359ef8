package alert

import (
	"testing"
	"time"
)

func TestAlertCacheKeepsTheLaterRead(t *testing.T) {
	var c alertCache
	t0 := time.Now()
	c.put(&Alert{ID: "a", Status: StatusCancelled}, t0)
	// A read that began earlier but ended later must not replace it.
	c.put(&Alert{ID: "a", Status: StatusDispatching}, t0.Add(-time.Millisecond))
	if a := c.get("a"); a == nil || a.Status != StatusCancelled {
		t.Fatalf("got %+v, want the cancelled copy", a)
	}
	c.put(&Alert{ID: "a", Status: StatusCompleted}, t0.Add(time.Millisecond))
	if a := c.get("a"); a == nil || a.Status != StatusCompleted {
		t.Fatalf("got %+v, want the later read", a)
	}
}

func TestAlertCacheForgetsOldAlerts(t *testing.T) {
	var c alertCache
	old := time.Now().Add(-2 * alertCacheAge)
	for _, id := range []string{"a", "b", "c"} {
		c.put(&Alert{ID: id}, old)
	}
	if c.get("a") != nil {
		t.Fatal("an expired alert was served")
	}
	c.pruned = time.Time{} // let the next put prune
	c.put(&Alert{ID: "d"}, time.Now())
	if n := len(c.m); n != 1 {
		t.Fatalf("%d alerts cached after pruning, want 1", n)
	}
}
