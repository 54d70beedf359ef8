package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/minato-city/anpi/store"
	"strings"
	"time"

	"github.com/minato-city/anpi/alert"
)

// Alerts gives the broadcast engine its alert.Store over a store.Backend.
type Alerts struct{ B store.Backend }

var _ alert.Store = Alerts{}

const (
	collAlerts      = "alerts"
	collBatches     = "batches"
	collLedgers     = "ledgers"
	collAlertCounts = "alert_counts"
	collRefs        = "refs"
)

func mapNotFound(err, to error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w", to)
	}
	return err
}

// PutAlert implements alert.Store.
func (s Alerts) PutAlert(ctx context.Context, a *alert.Alert) error {
	return putJSON(ctx, s.B, collAlerts, a.ID, a)
}

// GetAlert implements alert.Store.
func (s Alerts) GetAlert(ctx context.Context, id string) (*alert.Alert, error) {
	return get[alert.Alert](ctx, s.B, collAlerts, id, alert.ErrNotFound)
}

// UpdateAlert implements alert.Store.
func (s Alerts) UpdateAlert(ctx context.Context, id string, fn func(a *alert.Alert) error) (*alert.Alert, error) {
	return update(ctx, s.B, collAlerts, id, alert.ErrNotFound, fn)
}

// ListAlerts implements alert.Store.
func (s Alerts) ListAlerts(ctx context.Context, after string, limit int) ([]*alert.Alert, error) {
	kvs, err := s.B.Scan(ctx, collAlerts, after, limit)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	out := make([]*alert.Alert, 0, len(kvs))
	for _, kv := range kvs {
		var a alert.Alert
		if err := decode(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("alert %s: %w", kv.Key, err)
		}
		out = append(out, &a)
	}
	return out, nil
}

// PutBatches implements alert.Store.
func (s Alerts) PutBatches(ctx context.Context, bs []*alert.Batch) error {
	kvs := make([]store.KV, len(bs))
	for i, b := range bs {
		v, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		kvs[i] = store.KV{Key: b.ID, Value: v}
	}
	return s.B.PutMany(ctx, collBatches, kvs)
}

// GetBatch implements alert.Store.
func (s Alerts) GetBatch(ctx context.Context, id string) (*alert.Batch, error) {
	return get[alert.Batch](ctx, s.B, collBatches, id, alert.ErrNotFound)
}

// ScanBatches implements alert.Store.
func (s Alerts) ScanBatches(ctx context.Context, alertID, after string, limit int) ([]*alert.Batch, error) {
	prefix := alertID + "/"
	if after < prefix {
		after = prefix
	}
	kvs, err := s.B.Scan(ctx, collBatches, after, limit)
	if err != nil {
		return nil, fmt.Errorf("batches: %w", err)
	}
	out := make([]*alert.Batch, 0, len(kvs))
	for _, kv := range kvs {
		if !strings.HasPrefix(kv.Key, prefix) {
			break
		}
		var b alert.Batch
		if err := decode(kv.Value, &b); err != nil {
			return nil, fmt.Errorf("batch %s: %w", kv.Key, err)
		}
		out = append(out, &b)
	}
	return out, nil
}

// GetLedger implements alert.Store; a batch without a ledger gets a zero one.
func (s Alerts) GetLedger(ctx context.Context, batchID string) (*alert.Ledger, error) {
	var l alert.Ledger
	err := getJSON(ctx, s.B, collLedgers, batchID, &l)
	if errors.Is(err, store.ErrNotFound) {
		return &alert.Ledger{State: alert.LedgerPending}, nil
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// GetLedgers implements alert.Store: one read for all ids.
func (s Alerts) GetLedgers(ctx context.Context, batchIDs []string) ([]*alert.Ledger, error) {
	vals, err := s.B.GetMany(ctx, collLedgers, batchIDs)
	if err != nil {
		return nil, fmt.Errorf("ledgers: %w", err)
	}
	out := make([]*alert.Ledger, len(vals))
	for i, v := range vals {
		out[i] = &alert.Ledger{State: alert.LedgerPending}
		if v != nil {
			if err := decode(v, out[i]); err != nil {
				return nil, fmt.Errorf("ledger %s: %w", batchIDs[i], err)
			}
		}
	}
	return out, nil
}

// Counts implements alert.Store.
func (s Alerts) Counts(ctx context.Context, alertID string) (map[string]int64, error) {
	return s.B.Counters(ctx, collAlertCounts, alertID)
}

// SetCounts implements alert.Store by adding the difference to the current
// values of the named counts; callers use it when no other writer changes
// them.
func (s Alerts) SetCounts(ctx context.Context, alertID string, counts map[string]int64) error {
	cur, err := s.B.Counters(ctx, collAlertCounts, alertID)
	if err != nil {
		return err
	}
	diff := map[string]int64{}
	for k, v := range counts {
		if d := v - cur[k]; d != 0 {
			diff[k] = d
		}
	}
	if len(diff) == 0 {
		return nil
	}
	return s.B.IncrMany(ctx, collAlertCounts, alertID, diff)
}

// PutRefs implements alert.Store.
func (s Alerts) PutRefs(ctx context.Context, refs map[string]alert.Ref) error {
	kvs := make([]store.KV, 0, len(refs))
	for id, r := range refs {
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		kvs = append(kvs, store.KV{Key: id, Value: v})
	}
	return s.B.PutMany(ctx, collRefs, kvs)
}

// GetRefs implements alert.Store.
func (s Alerts) GetRefs(ctx context.Context, providerIDs []string) (map[string]alert.Ref, error) {
	vals, err := s.B.GetMany(ctx, collRefs, providerIDs)
	if err != nil {
		return nil, fmt.Errorf("refs: %w", err)
	}
	out := make(map[string]alert.Ref, len(vals))
	for i, v := range vals {
		if v == nil {
			continue
		}
		var r alert.Ref
		if err := decode(v, &r); err != nil {
			return nil, fmt.Errorf("ref %s: %w", providerIDs[i], err)
		}
		out[providerIDs[i]] = r
	}
	return out, nil
}

const collEarlyStatus = "early_status"

// StashStatuses implements alert.Store.
func (s Alerts) StashStatuses(ctx context.Context, rs []alert.Receipt) error {
	kvs := make([]store.KV, len(rs))
	for i, r := range rs {
		kvs[i] = store.KV{Key: r.ProviderID, Value: []byte(r.Status + "|" + r.Code)}
	}
	return s.B.PutMany(ctx, collEarlyStatus, kvs)
}

// TakeStatuses implements alert.Store: one read finds the stashed receipts
// (usually none), and only those found are removed, each atomically, so
// that of two takers exactly one gets a receipt.
func (s Alerts) TakeStatuses(ctx context.Context, providerIDs []string) ([]alert.Receipt, error) {
	vals, err := s.B.GetMany(ctx, collEarlyStatus, providerIDs)
	if err != nil {
		return nil, fmt.Errorf("stashed statuses: %w", err)
	}
	var keys []string
	for i, v := range vals {
		if v != nil {
			keys = append(keys, providerIDs[i])
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	got := make([][]byte, len(keys))
	if _, err := s.B.UpdateMany(ctx, collEarlyStatus, keys, func(i int, old []byte) ([]byte, error) {
		got[i] = old
		return nil, nil
	}); err != nil {
		return nil, fmt.Errorf("stashed statuses: %w", err)
	}
	var out []alert.Receipt
	for i, v := range got {
		if v != nil {
			st, code, _ := strings.Cut(string(v), "|")
			out = append(out, alert.Receipt{ProviderID: keys[i], Status: st, Code: code})
		}
	}
	return out, nil
}

// UpdateLedgers implements alert.Store.
func (s Alerts) UpdateLedgers(ctx context.Context, batchIDs, alertIDs []string, fn func(i int, l *alert.Ledger) (map[string]int64, error)) ([]error, error) {
	if len(alertIDs) != len(batchIDs) {
		return nil, fmt.Errorf("ledgers: %d batches, %d alerts", len(batchIDs), len(alertIDs))
	}
	return s.B.UpdateManyCount(ctx, collLedgers, batchIDs, collAlertCounts, func(i int, old []byte) ([]byte, store.Count, error) {
		l := &alert.Ledger{State: alert.LedgerPending}
		if old != nil {
			if err := decode(old, l); err != nil {
				return nil, store.Count{}, fmt.Errorf("%s %q: decode: %w", collLedgers, batchIDs[i], err)
			}
		}
		deltas, err := fn(i, l)
		if err != nil {
			return nil, store.Count{}, err
		}
		for k, v := range deltas {
			if v == 0 {
				delete(deltas, k)
			}
		}
		v, err := json.Marshal(l)
		return v, store.Count{Set: alertIDs[i], Deltas: deltas}, err
	})
}

// Enqueue implements alert.Store.
func (s Alerts) Enqueue(ctx context.Context, queue string, batchIDs ...string) error {
	data := make([][]byte, len(batchIDs))
	for i, id := range batchIDs {
		data[i] = []byte(id)
	}
	return s.B.Enqueue(ctx, queue, data...)
}

// Claim implements alert.Store.
func (s Alerts) Claim(ctx context.Context, queue, consumer string, max int, minIdle, block time.Duration) ([]alert.Job, error) {
	ms, err := s.B.Claim(ctx, queue, consumer, max, minIdle, block)
	if err != nil {
		return nil, err
	}
	out := make([]alert.Job, len(ms))
	for i, m := range ms {
		out[i] = alert.Job{ID: m.ID, BatchID: string(m.Data), Deliveries: m.Deliveries}
	}
	return out, nil
}

// Ack implements alert.Store.
func (s Alerts) Ack(ctx context.Context, queue string, jobIDs ...string) error {
	return s.B.Ack(ctx, queue, jobIDs...)
}

// Release implements alert.Store.
func (s Alerts) Release(ctx context.Context, queue string, dead func(consumer string) bool) (int, error) {
	return s.B.Release(ctx, queue, dead)
}
