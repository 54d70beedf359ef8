package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/minato-city/anpi/store"
)

// busWait bounds every wait for an event, so a broken bus fails instead of
// hanging; it is not a speed requirement.
const busWait = 10 * time.Second

// RunBus runs the conformance suite for a store.Bus. newBus must return a new
// bus for each call (isolated from other calls) and may arrange cleanup with
// t.Cleanup; the suite closes the bus itself as well.
func RunBus(t *testing.T, newBus func(t *testing.T) store.Bus) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Bus)
	}{
		{"Topics", testBusTopics},
		{"Unsubscribe", testBusUnsubscribe},
		{"SlowSubscriber", testBusSlow},
		{"Close", testBusClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBus(t)
			t.Cleanup(func() { _ = b.Close() })
			tc.fn(t, b)
		})
	}
}

func subscribe(t *testing.T, b store.Bus, topic string) (<-chan []byte, func()) {
	t.Helper()
	ch, cancel, err := b.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", topic, err)
	}
	t.Cleanup(cancel)
	return ch, cancel
}

func publish(t *testing.T, b store.Bus, topic, data string) {
	t.Helper()
	if err := b.Publish(t.Context(), topic, []byte(data)); err != nil {
		t.Fatalf("Publish(%s): %v", topic, err)
	}
}

func next(t *testing.T, ch <-chan []byte) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return string(m)
	case <-time.After(busWait):
		t.Fatal("no event")
		return ""
	}
}

func testBusTopics(t *testing.T, b store.Bus) {
	publish(t, b, "alerts", "before anyone listens")
	a1, _ := subscribe(t, b, "alerts")
	a2, _ := subscribe(t, b, "alerts")
	s1, _ := subscribe(t, b, "safety")

	publish(t, b, "alerts", "a-1")
	publish(t, b, "alerts", "a-2")
	publish(t, b, "triage", "nobody")
	publish(t, b, "safety", "s-1")
	for i, ch := range []<-chan []byte{a1, a2} {
		for _, want := range []string{"a-1", "a-2"} {
			if got := next(t, ch); got != want {
				t.Fatalf("alerts subscriber %d got %q, want %q", i, got, want)
			}
		}
	}
	// The first event on safety is its own: nothing leaked from other topics.
	if got := next(t, s1); got != "s-1" {
		t.Fatalf("safety subscriber got %q, want s-1", got)
	}
}

func testBusUnsubscribe(t *testing.T, b store.Bus) {
	ch1, cancel1 := subscribe(t, b, "feed")
	ch2, _ := subscribe(t, b, "feed")
	cancel1()
	cancel1() // idempotent
	select {
	case _, ok := <-ch1:
		if ok {
			t.Fatal("event on a cancelled subscription")
		}
	case <-time.After(busWait):
		t.Fatal("unsubscribe did not close the channel")
	}
	publish(t, b, "feed", "after")
	if got := next(t, ch2); got != "after" {
		t.Fatalf("remaining subscriber got %q", got)
	}
	// Subscribing again after the last one left works.
	_, cancel2 := subscribe(t, b, "feed2")
	cancel2()
	ch3, _ := subscribe(t, b, "feed2")
	publish(t, b, "feed2", "again")
	if got := next(t, ch3); got != "again" {
		t.Fatalf("resubscriber got %q", got)
	}
}

func testBusSlow(t *testing.T, b store.Bus) {
	const total, step = 1200, 100
	slow, _ := subscribe(t, b, "deliveries")
	fast, _ := subscribe(t, b, "deliveries")
	got := make(chan int, total)
	go func() {
		for m := range fast {
			var i int
			if _, err := fmt.Sscanf(string(m), "d%d", &i); err == nil {
				got <- i
			}
		}
	}()
	// The slow subscriber never reads. Publishing must go on, and the fast
	// subscriber (which never has more than step events outstanding) must
	// receive everything in order.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			if err := b.Publish(t.Context(), "deliveries", fmt.Appendf(nil, "d%d", i)); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
			if (i+1)%step == 0 {
				for j := i + 1 - step; j <= i; j++ {
					select {
					case v := <-got:
						if v != j {
							t.Errorf("fast subscriber got d%d, want d%d", v, j)
							return
						}
					case <-time.After(busWait):
						t.Errorf("fast subscriber stuck at d%d", j)
						return
					}
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * busWait):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	if t.Failed() {
		return
	}
	// The slow subscriber kept the oldest events, in order, and lost the rest.
	n := 0
	for prev := -1; ; n++ {
		select {
		case m := <-slow:
			var i int
			if _, err := fmt.Sscanf(string(m), "d%d", &i); err != nil || i <= prev {
				t.Fatalf("slow subscriber got %q after d%d", m, prev)
			}
			prev = i
			continue
		default:
		}
		break
	}
	if n == 0 || n >= total {
		t.Fatalf("slow subscriber buffered %d of %d events; want some, not all", n, total)
	}
}

func testBusClose(t *testing.T, b store.Bus) {
	ch, _ := subscribe(t, b, "commuters")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after Close")
		}
	case <-time.After(busWait):
		t.Fatal("Close did not close subscriber channels")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
