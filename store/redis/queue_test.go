package redis

import (
	"context"
	"errors"
	"testing"
)

// TestEnqueueAfterClose: Close stops the enqueue flusher; a later Enqueue
// fails instead of waiting for it, and the client stays usable for its owner.
func TestEnqueueAfterClose(t *testing.T) {
	c := testClient(t)
	b := New(c, testPrefix(t, c))
	ctx := context.Background()
	if err := b.Enqueue(ctx, "q", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Enqueue(ctx, "q", []byte("after")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if n, err := b.QueueLen(ctx, "q"); err != nil || n != 1 {
		t.Fatalf("QueueLen = %d, %v; want 1", n, err)
	}
}
