package alert_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/store/repo"
)

// ledgerAudit checks, after every ledger write, that an alert's counts
// agree with its ledgers: sent recipients and finished batches.
type ledgerAudit struct {
	repo.Alerts
	t      *testing.T
	writes int
}

func (s *ledgerAudit) UpdateLedgers(ctx context.Context, ids, alerts []string, fn func(int, *alert.Ledger) (map[string]int64, error)) ([]error, error) {
	errs, err := s.Alerts.UpdateLedgers(ctx, ids, alerts, fn)
	if err != nil {
		return errs, err
	}
	s.writes++
	for _, id := range alerts {
		bs, err := s.ScanBatches(ctx, id, "", 1000)
		if err != nil {
			s.t.Fatal(err)
		}
		var sent, done int64
		for _, b := range bs {
			l, err := s.GetLedger(ctx, b.ID)
			if err != nil {
				s.t.Fatal(err)
			}
			for _, r := range l.R {
				if r == alert.RecipientSent {
					sent++
				}
			}
			if l.State == alert.LedgerDone {
				done++
			}
		}
		c, err := s.Counts(ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		if c["line.sent"] != sent || c["batches_done"] != done {
			s.t.Errorf("after a ledger write: counts %v, ledgers say %d sent in %d finished batches", c, sent, done)
		}
	}
	return errs, err
}

// TestCountsNeverLagTheLedgers: every ledger write carries its counts, so
// at any moment the counts are what the ledgers say. When they were two
// writes, a completion check between them (the periodic sweep) replaced the
// counts with the ledgers' and the worker's addition then counted a batch
// twice: a 1M run showed 200,100 SMS sent of 200,000. (One worker, so that
// no other write comes between a write and its audit.)
func TestCountsNeverLagTheLedgers(t *testing.T) {
	defer alert.SetPlanSizes(4, 64)() // several batches
	h := newHarness(t, "")
	h.people(30, true, false, "shiba")
	audit := &ledgerAudit{Alerts: repo.Alerts{B: h.db}, t: t}
	h.svc = alert.NewService(audit, nil, alert.Config{Vocabulary: vocab}, slog.New(slog.DiscardHandler))
	h.start([]alert.Sender{newFakeLINE()}, map[string]alert.Limits{"line": {Workers: 1}})
	id := h.send(req("line"))
	v := h.wait(id, alert.StatusCompleted)
	if v.Counts["line"].Sent != 30 {
		t.Fatalf("sent %d", v.Counts["line"].Sent)
	}
	if audit.writes < 16 { // 8 batches: a lease and a record each
		t.Fatalf("%d ledger writes audited", audit.writes)
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
