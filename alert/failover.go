package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Delivery modes.
//
// ModeAllChannels (the default for alerts) sends on every channel of the
// alert where the person has an address. ModeFirstReachable sends on the
// first of the alert's channels where the person has an address; when that
// delivery fails for good (permanent provider error, retries exhausted at
// the deadline), the person is tried on their next channel: when the alert
// has finished, one failover alert per failed channel is created for the
// failed people with the remaining channels, in the same mode, so the chain
// continues (LINE → SMS → voice) until someone is reached or the channels run
// out. A failover alert has a deterministic id and retry-key salt derived from
// its parent, so creating it twice (a crash, two processes) cannot send
// anything twice.
const (
	ModeAllChannels    = "all_channels"
	ModeFirstReachable = "first_reachable"
)

// FailoverID is the id of the failover alert of parent for the people whose
// delivery on channel failed.
func FailoverID(parent, channel string) string {
	return parent + ".fo-" + channel
}

// failover creates the failover alerts of a finished first_reachable alert.
// It is idempotent.
func (d *Dispatcher) failover(ctx context.Context, a *Alert) error {
	if a.Mode != ModeFirstReachable || a.Status == StatusCancelled {
		return nil
	}
	failed := map[string][]string{} // channel → resident ids
	err := d.eachLedger(ctx, a, func(id, ch string, l *Ledger) error {
		var idx []int
		for i, s := range l.R {
			if s == RecipientFailed || s == RecipientUndelivered {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return nil
		}
		b, err := d.store.GetBatch(ctx, id)
		if err != nil {
			return err
		}
		for _, i := range idx {
			if i < len(b.Recipients) && !strings.HasPrefix(b.Recipients[i].ResidentID, "screen:") {
				failed[ch] = append(failed[ch], b.Recipients[i].ResidentID)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	for k, ch := range a.Channels {
		ids := failed[ch]
		if len(ids) == 0 || k+1 >= len(a.Channels) {
			continue
		}
		child := FailoverID(a.ID, ch)
		if _, err := d.store.GetAlert(ctx, child); err == nil {
			continue // made before a crash or by another process
		} else if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("failover: %w", err)
		}
		t := a.Target
		t.ResidentIDs = ids
		salt := uuid.NewSHA1(uuid.NameSpaceOID, []byte(a.Salt+"/failover/"+ch)).String()
		f := &Alert{
			ID: child, Kind: a.Kind, Severity: a.Severity, Title: a.Title, Body: a.Body, Target: t,
			Channels: slices.Clone(a.Channels[k+1:]), Mode: ModeFirstReachable, FailoverOf: a.ID,
			Drill: a.Drill, SafetyCheckID: a.SafetyCheckID, QuickReplies: a.QuickReplies,
			CreatedBy: a.CreatedBy, ApprovedBy: a.ApprovedBy, ExpiresAt: a.ExpiresAt, Salt: salt,
		}
		if !d.now().Before(f.ExpiresAt) {
			continue
		}
		if _, err := d.svc.CreateApproved(ctx, f); err != nil {
			return fmt.Errorf("failover: %w", err)
		}
		d.log.Info("failover alert created", "alert", a.ID, "failover", child, "channel", ch, "people", len(ids))
	}
	return nil
}
