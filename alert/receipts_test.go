package alert_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
)

// receiptSMS sends every message and names it "SM"+address; early, when
// set, is called with the batch's message ids before Send returns (a
// receipt that overtakes the worker's bookkeeping).
type receiptSMS struct {
	early func(ids []string)
}

func (f *receiptSMS) Channel() string         { return alert.ChannelSMS }
func (f *receiptSMS) Cost(b *alert.Batch) int { return len(b.Recipients) }
func (f *receiptSMS) Send(ctx context.Context, b *alert.Batch) ([]alert.Outcome, error) {
	out := make([]alert.Outcome, len(b.Recipients))
	ids := make([]string, len(b.Recipients))
	for i, r := range b.Recipients {
		out[i].ProviderID = "SM" + r.Address[1:]
		ids[i] = out[i].ProviderID
	}
	if f.early != nil {
		f.early(ids)
	}
	return out, nil
}

func deliveryStates(t *testing.T, h *harness, id string) map[string]int {
	t.Helper()
	ds, _, err := h.svc.Deliveries(context.Background(), id, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, d := range ds {
		states[d.State]++
	}
	return states
}

// TestReceiptsAreCountedOnceEach: 300 receipts (every third undelivered),
// from 32 callers at once, each sent twice (providers repeat callbacks),
// plus intermediate statuses that change nothing: every recipient moves
// once, and counts and ledger agree.
func TestReceiptsAreCountedOnceEach(t *testing.T) {
	h := newHarness(t, "")
	h.people(300, false, true, "shiba")
	h.start([]alert.Sender{&receiptSMS{}}, nil)
	id := h.send(req("sms"))
	h.wait(id, alert.StatusCompleted)

	ctx := context.Background()
	work := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 600)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				sid := fmt.Sprintf("SM8190%08d", i%300)
				status, code := "delivered", ""
				if i%300%3 == 0 {
					status, code = "undelivered", "30003"
				}
				if i >= 600 {
					status = "sent" // intermediate: ignored
				}
				if err := h.svc.RecordStatus(ctx, sid, status, code); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range 900 {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, err := h.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Counts["sms"]; c.Delivered != 200 || c.Failed != 100 || c.Sent != 200 {
		t.Fatalf("counts %+v, want 200 delivered, 100 failed (undelivered), 200 sent", c)
	}
	if st := deliveryStates(t, h, id); st["delivered"] != 200 || st["undelivered"] != 100 {
		t.Fatalf("ledger states %v", st)
	}
	ds, _, _ := h.svc.Deliveries(ctx, id, "undelivered", "", 10)
	if len(ds) == 0 || ds[0].Reason != "undelivered (provider code 30003)" {
		t.Fatalf("undelivered reason: %+v", ds)
	}
}

// TestReceiptThatOvertakesTheWorkerIsAppliedOnce: the provider's callback
// arrives before the worker has recorded which recipient the message id
// belongs to; it is kept and applied when the worker records it.
func TestReceiptThatOvertakesTheWorkerIsAppliedOnce(t *testing.T) {
	h := newHarness(t, "")
	h.people(150, false, true, "shiba")
	var sms receiptSMS
	sms.early = func(ids []string) {
		for _, sid := range ids {
			if err := h.svc.RecordStatus(context.Background(), sid, "delivered", ""); err != nil {
				t.Error(err)
			}
		}
	}
	h.start([]alert.Sender{&sms}, nil)
	id := h.send(req("sms"))
	h.wait(id, alert.StatusCompleted)
	// Completion does not wait for receipts (they may come hours later):
	// the alert can complete between the worker's ledger write and its
	// pick-up of the stashed receipts. Wait for them, then look for
	// double counting.
	var c alert.Counts
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v, err := h.svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c = v.Counts["sms"]; c.Delivered >= 150 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	v, err := h.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c = v.Counts["sms"]; c.Delivered != 150 || c.Sent != 150 {
		t.Fatalf("counts %+v", c)
	}
	if st := deliveryStates(t, h, id); st["delivered"] != 150 {
		t.Fatalf("ledger states %v", st)
	}
}
