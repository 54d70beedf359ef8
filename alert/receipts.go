package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Receipt is a provider's delivery receipt for one message (a Twilio status
// callback): delivered, or undelivered/failed with the provider's code.
type Receipt struct {
	ProviderID string
	Status     string
	Code       string
}

// maxReceiptRound caps how many receipts one store round applies.
const maxReceiptRound = 512

// receiptQueue gathers the receipts that arrive concurrently so that one
// store round applies them all: 200,000 SMS bring 200,000 callbacks within a
// minute or two, and one ledger write plus one counter write each would
// queue behind each other on the embedded store's single writer (and hold
// the SMS workers' writes back). Each caller still returns only once its
// receipt is stored, so a callback is acknowledged only when it is durable.
type receiptQueue struct {
	mu      sync.Mutex
	pending []queuedReceipt
	running bool
}

type queuedReceipt struct {
	Receipt
	done chan error
}

// RecordStatus applies a provider delivery receipt (Twilio status callback)
// to the ledger: delivered, or undelivered/failed with the provider's code.
// Intermediate statuses are ignored. A receipt can overtake the worker that
// sent the message (it records message ids after the whole batch): it is
// then stashed, and whichever side finds it later applies it, exactly once.
// Concurrent calls share store rounds; each returns when its receipt is
// stored (or ctx ends; the receipt is then still applied).
func (s *Service) RecordStatus(ctx context.Context, providerID, status, code string) error {
	switch status {
	case "delivered", "undelivered", "failed":
	default:
		return nil
	}
	q := queuedReceipt{Receipt{providerID, status, code}, make(chan error, 1)}
	s.rq.mu.Lock()
	s.rq.pending = append(s.rq.pending, q)
	if !s.rq.running {
		s.rq.running = true
		go s.applyReceipts()
	}
	s.rq.mu.Unlock()
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// applyReceipts works the receipt queue in rounds until it is empty.
func (s *Service) applyReceipts() {
	for {
		s.rq.mu.Lock()
		n := min(len(s.rq.pending), maxReceiptRound)
		if n == 0 {
			s.rq.running = false
			s.rq.mu.Unlock()
			return
		}
		round := make([]queuedReceipt, n)
		copy(round, s.rq.pending)
		s.rq.pending = append(s.rq.pending[:0], s.rq.pending[n:]...)
		s.rq.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.receiptRound(ctx, round)
		cancel()
		for _, q := range round {
			q.done <- err
		}
	}
}

// receiptRound applies one round of receipts: one read finds their refs;
// those without one (the worker has not recorded the message id yet) are
// stashed and looked up once more, in case the worker recorded it
// meanwhile; then the ledgers and counts are updated in one round each.
func (s *Service) receiptRound(ctx context.Context, round []queuedReceipt) error {
	ids := make([]string, 0, len(round))
	byID := make(map[string]Receipt, len(round))
	for _, q := range round {
		if _, dup := byID[q.ProviderID]; !dup {
			ids = append(ids, q.ProviderID)
		}
		byID[q.ProviderID] = q.Receipt
	}
	refs, err := s.store.GetRefs(ctx, ids)
	if err != nil {
		return fmt.Errorf("status ref: %w", err)
	}
	var apply []refReceipt
	var early []Receipt
	for _, id := range ids {
		if ref, ok := refs[id]; ok {
			apply = append(apply, refReceipt{ref, byID[id]})
		} else {
			early = append(early, byID[id])
		}
	}
	if len(early) > 0 {
		if err := s.store.StashStatuses(ctx, early); err != nil {
			return fmt.Errorf("status stash: %w", err)
		}
		// The worker may have recorded the ids meanwhile and found nothing.
		late := make([]string, len(early))
		for i, r := range early {
			late[i] = r.ProviderID
		}
		refs, err := s.store.GetRefs(ctx, late)
		if err != nil {
			return fmt.Errorf("status ref: %w", err)
		}
		if len(refs) > 0 {
			found := make([]string, 0, len(refs))
			for id := range refs {
				found = append(found, id)
			}
			taken, err := s.store.TakeStatuses(ctx, found)
			if err != nil {
				return err
			}
			for _, r := range taken {
				apply = append(apply, refReceipt{refs[r.ProviderID], r})
			}
		}
	}
	return s.applyStatuses(ctx, apply)
}

// refReceipt is a receipt with the recipient it is for.
type refReceipt struct {
	ref Ref
	r   Receipt
}

// applyStatuses moves sent recipients to delivered or undelivered: one
// store round for all their batches, each ledger written together with its
// counts (so a crash never leaves a receipt in the ledger but not counted). A
// recipient that is not (or no longer) "sent" is left alone, so applying a
// receipt twice changes nothing.
func (s *Service) applyStatuses(ctx context.Context, rs []refReceipt) error {
	if len(rs) == 0 {
		return nil
	}
	byBatch := map[string][]refReceipt{}
	var batches []string
	for _, r := range rs {
		if batchChannel(r.ref.BatchID) == "" {
			return fmt.Errorf("status batch: malformed id %q", r.ref.BatchID)
		}
		if _, ok := byBatch[r.ref.BatchID]; !ok {
			batches = append(batches, r.ref.BatchID)
		}
		byBatch[r.ref.BatchID] = append(byBatch[r.ref.BatchID], r)
	}
	alerts := make([]string, len(batches))
	for i, b := range batches {
		alerts[i] = byBatch[b][0].ref.AlertID
	}
	errs, err := s.store.UpdateLedgers(ctx, batches, alerts, func(i int, l *Ledger) (map[string]int64, error) {
		d := map[string]int64{}
		channel := batchChannel(batches[i])
		for _, r := range byBatch[batches[i]] {
			if r.ref.Index >= len(l.R) || l.R[r.ref.Index] != RecipientSent {
				continue
			}
			if r.r.Status == "delivered" {
				l.R[r.ref.Index] = RecipientDelivered
				d[channel+countReceiptDelivered]++
				continue
			}
			l.R[r.ref.Index] = RecipientUndelivered
			d[channel+countReceiptUndelivered]++
			if l.Reasons == nil {
				l.Reasons = map[int]string{}
			}
			l.Reasons[r.ref.Index] = "undelivered (provider code " + r.r.Code + ")"
		}
		if len(d) == 0 {
			return nil, errSkip
		}
		return d, nil
	})
	if err != nil {
		return fmt.Errorf("status ledger: %w", err)
	}
	// The counts were added with their ledgers; a ledger that failed does
	// not keep the others from being written.
	var failed error
	published := map[string]bool{}
	for i := range batches {
		if errs[i] != nil {
			if !errors.Is(errs[i], errSkip) && failed == nil {
				failed = fmt.Errorf("status ledger: %w", errs[i])
			}
			continue
		}
		if id := alerts[i]; !published[id] {
			published[id] = true
			// 200k receipts in a minute must not become 200k console
			// updates.
			s.publishSoon(id)
		}
	}
	return failed
}
