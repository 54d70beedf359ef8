package sandbox

import (
	"fmt"
	"testing"
)

// TestCallbackQueueKeepsEveryCallbackInOrder: a 200,000-SMS alert queues
// callbacks far faster than an application answers them; the queue keeps
// them all (it dropped everything past 65,536 before) and hands them out
// oldest first.
func TestCallbackQueueKeepsEveryCallbackInOrder(t *testing.T) {
	tw := NewTwilio(TwilioConfig{})
	defer tw.Close()
	tw.cbOnce.Do(func() {}) // no workers: the test takes the callbacks itself
	const n = 100_000
	for i := range n {
		tw.enqueue(twCallback{sid: fmt.Sprintf("SM%032d", i)})
		if i%3 == 0 { // take some while others arrive
			cb, ok := tw.nextCallback()
			if want := fmt.Sprintf("SM%032d", i/3); !ok || cb.sid != want {
				t.Fatalf("got %q %v, want %q", cb.sid, ok, want)
			}
		}
	}
	for i := (n + 2) / 3; i < n; i++ {
		cb, ok := tw.nextCallback()
		if want := fmt.Sprintf("SM%032d", i); !ok || cb.sid != want {
			t.Fatalf("got %q %v, want %q", cb.sid, ok, want)
		}
	}
	if _, ok := tw.nextCallback(); ok {
		t.Fatal("more callbacks than queued")
	}
	if d := tw.Stats().CallbacksDropped; d != 0 {
		t.Fatalf("%d dropped", d)
	}
}
