package alert_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/repo"
)

// slowCounts holds back the counts a worker adds when it finishes a batch
// (the write after the ledger write) until release is closed.
type slowCounts struct {
	repo.Alerts
	held    chan struct{}
	release chan struct{}
}

func (s *slowCounts) AddCounts(ctx context.Context, id string, deltas map[string]int64) error {
	if deltas["batches_done"] > 0 && s.held != nil {
		close(s.held)
		s.held = nil
		<-s.release
	}
	return s.Alerts.AddCounts(ctx, id, deltas)
}

// TestSweepDoesNotCountAFinishingBatchTwice: the sweep that finds every
// ledger finished while the worker that finished the last one has not added
// its counts yet must not complete the alert with the exact counts, or that
// worker's addition counts the batch a second time (seen at 1M: 200,100 SMS
// sent of 200,000).
// settleRig runs a dispatcher over one LINE batch of 10 people whose
// finishing counts are held back; it returns once they are held.
type settleRig struct {
	st      *slowCounts
	svc     *alert.Service
	d       *alert.Dispatcher
	id      string
	release func()
}

func newSettleRig(t *testing.T) *settleRig {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &slowCounts{Alerts: repo.Alerts{B: db}, held: make(chan struct{}), release: make(chan struct{})}
	held := st.held
	svc := alert.NewService(st, nil, alert.Config{Vocabulary: vocab}, slog.New(slog.DiscardHandler))
	dir := residents.NewDirectory(repo.Residents{B: db})
	rs := make([]residents.Resident, 10)
	for i := range rs {
		rs[i] = residents.Resident{ID: fmt.Sprintf("r%02d", i), Language: "ja", Area: "shiba"}
		rs[i].Contacts.LINEUserID = fmt.Sprintf("U%032x", i+1)
	}
	if bad, err := dir.Put(context.Background(), rs); err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	d := alert.NewDispatcher(svc, dir, nil, []alert.Sender{newFakeLINE()}, alert.DispatcherConfig{Lease: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	r := &settleRig{st: st, svc: svc, d: d}
	released := false
	r.release = func() {
		if !released {
			released = true
			close(st.release)
		}
	}
	t.Cleanup(func() { r.release(); cancel(); <-done })

	a, err := svc.Create(ctx, req("line"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, a.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	r.id = a.ID
	select {
	case <-held: // the one batch's ledger is done, its counts are held
	case <-time.After(10 * time.Second):
		v, _ := svc.Get(ctx, a.ID)
		t.Fatalf("the batch never finished: %+v", v)
	}
	return r
}

func (r *settleRig) view(t *testing.T) alert.View {
	t.Helper()
	v, err := r.svc.Get(context.Background(), r.id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSweepDoesNotCountAFinishingBatchTwice: the sweep that finds every
// ledger finished while the worker that finished the last one has not added
// its counts yet must not complete the alert with the exact counts, or that
// worker's addition counts the batch a second time (seen at 1M: 200,100 SMS
// sent of 200,000).
func TestSweepDoesNotCountAFinishingBatchTwice(t *testing.T) {
	r := newSettleRig(t)
	ctx := context.Background()
	if err := r.d.CheckDone(ctx, r.id); err != nil {
		t.Fatal(err)
	}
	if r.view(t).Status == alert.StatusCompleted {
		t.Fatal("completed while a worker's counts were on their way")
	}
	r.release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := r.view(t)
		if v.Status == alert.StatusCompleted {
			if c := v.Counts["line"]; c.Sent != 10 {
				t.Fatalf("sent %d, want 10 (%+v)", c.Sent, c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s", v.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSweepSettlesAfterAWorkerDiedBeforeItsCounts: a worker that never adds
// its counts (its process died) does not keep the alert open: a quarter
// lease later the sweep completes it with the counts from the ledgers.
func TestSweepSettlesAfterAWorkerDiedBeforeItsCounts(t *testing.T) {
	r := newSettleRig(t)
	ctx := context.Background()
	if err := r.d.CheckDone(ctx, r.id); err != nil {
		t.Fatal(err)
	}
	if r.view(t).Status == alert.StatusCompleted {
		t.Fatal("completed at once")
	}
	time.Sleep(600 * time.Millisecond) // a quarter of the 2 s lease
	if err := r.d.CheckDone(ctx, r.id); err != nil {
		t.Fatal(err)
	}
	v := r.view(t)
	if v.Status != alert.StatusCompleted || v.Counts["line"].Sent != 10 {
		t.Fatalf("status %s, counts %+v", v.Status, v.Counts["line"])
	}
}

// TestCompletionReadsLedgersAcrossPages: the completion check reads
// ledgers a page (256) per store round; an alert of 300 batches in one
// channel completes with exact counts.
func TestCompletionReadsLedgersAcrossPages(t *testing.T) {
	defer alert.SetPlanSizes(2, 64)()
	h := newHarness(t, "")
	h.people(600, true, false, "shiba")
	h.start([]alert.Sender{newFakeLINE()}, nil)
	id := h.send(req("line"))
	v := h.wait(id, alert.StatusCompleted)
	if c := v.Counts["line"]; c.Sent != 600 || c.Planned != 600 {
		t.Fatalf("counts %+v", c)
	}
}
