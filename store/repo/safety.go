package repo

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/minato-city/anpi/store"
	"strings"
	"time"

	"github.com/minato-city/anpi/safety"
)

// Safety gives safety checks their safety.Store over a store.Backend.
type Safety struct{ B store.Backend }

var (
	_ safety.Store        = Safety{}
	_ safety.CheckUpdater = Safety{}
)

const (
	collChecks      = "checks"
	collStatuses    = "statuses"
	collCheckCounts = "check_counts"
	collTriage      = "triage"
	queueReplies    = "replies"
)

// PutCheck implements safety.Store.
func (s Safety) PutCheck(ctx context.Context, c *safety.Check) error {
	return putJSON(ctx, s.B, collChecks, c.ID, c)
}

// GetCheck implements safety.Store.
func (s Safety) GetCheck(ctx context.Context, id string) (*safety.Check, error) {
	return get[safety.Check](ctx, s.B, collChecks, id, safety.ErrNotFound)
}

// UpdateCheck implements safety.CheckUpdater.
func (s Safety) UpdateCheck(ctx context.Context, id string, fn func(c *safety.Check) error) (*safety.Check, error) {
	return update(ctx, s.B, collChecks, id, safety.ErrNotFound, fn)
}

// ListChecks implements safety.Store (oldest first).
func (s Safety) ListChecks(ctx context.Context) ([]*safety.Check, error) {
	var out []*safety.Check
	err := scanAll(ctx, s.B, collChecks, "", func(kv store.KV) error {
		var c safety.Check
		if err := decode(kv.Value, &c); err != nil {
			return fmt.Errorf("check %s: %w", kv.Key, err)
		}
		out = append(out, &c)
		return nil
	})
	return out, err
}

// UpdateStatus implements safety.Store.
func (s Safety) UpdateStatus(ctx context.Context, checkID, residentID string, fn func(old *safety.PersonStatus) (*safety.PersonStatus, error)) error {
	return s.B.Update(ctx, collStatuses, checkID+"/"+residentID, func(old []byte) ([]byte, error) {
		var o *safety.PersonStatus
		if old != nil {
			o = new(safety.PersonStatus)
			if err := decode(old, o); err != nil {
				return nil, fmt.Errorf("status: decode: %w", err)
			}
		}
		n, err := fn(o)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return old, nil
		}
		return json.Marshal(n)
	})
}

// UpdateStatuses implements safety.Store: one UpdateMany over the pairs.
func (s Safety) UpdateStatuses(ctx context.Context, ids []safety.StatusID, fn func(i int, old *safety.PersonStatus) (*safety.PersonStatus, error)) ([]error, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = id.CheckID + "/" + id.ResidentID
	}
	errs, err := s.B.UpdateMany(ctx, collStatuses, keys, func(i int, old []byte) ([]byte, error) {
		var o *safety.PersonStatus
		if old != nil {
			o = new(safety.PersonStatus)
			if err := decode(old, o); err != nil {
				return nil, fmt.Errorf("status: decode: %w", err)
			}
		}
		n, err := fn(i, o)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return old, nil
		}
		return json.Marshal(n)
	})
	if err != nil {
		return nil, fmt.Errorf("statuses: %w", err)
	}
	return errs, nil
}

// ScanStatuses implements safety.Store; after is a resident id.
func (s Safety) ScanStatuses(ctx context.Context, checkID, after string, limit int) ([]safety.PersonStatus, error) {
	prefix := checkID + "/"
	kvs, err := s.B.Scan(ctx, collStatuses, prefix+after, limit)
	if err != nil {
		return nil, fmt.Errorf("statuses: %w", err)
	}
	out := make([]safety.PersonStatus, 0, len(kvs))
	for _, kv := range kvs {
		if !strings.HasPrefix(kv.Key, prefix) {
			break
		}
		var p safety.PersonStatus
		if err := decode(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("status %s: %w", kv.Key, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// AddCounts implements safety.Store.
func (s Safety) AddCounts(ctx context.Context, checkID string, deltas map[string]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	return s.B.IncrMany(ctx, collCheckCounts, checkID, deltas)
}

// Counts implements safety.Store.
func (s Safety) Counts(ctx context.Context, checkID string) (map[string]int64, error) {
	return s.B.Counters(ctx, collCheckCounts, checkID)
}

// PutTriage implements safety.Store: an existing item is kept as it is.
func (s Safety) PutTriage(ctx context.Context, t *safety.TriageItem) error {
	return s.B.Update(ctx, collTriage, t.ID, func(old []byte) ([]byte, error) {
		if old != nil {
			return old, nil
		}
		return json.Marshal(t)
	})
}

// PutTriages implements safety.Store: one UpdateMany that keeps existing
// items as they are.
func (s Safety) PutTriages(ctx context.Context, ts []*safety.TriageItem) error {
	keys, vals := make([]string, len(ts)), make([][]byte, len(ts))
	for i, t := range ts {
		v, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("triage: %w", err)
		}
		keys[i], vals[i] = t.ID, v
	}
	// Encoded before, not inside the update (bolt's committer runs it).
	errs, err := s.B.UpdateMany(ctx, collTriage, keys, func(i int, old []byte) ([]byte, error) {
		if old != nil {
			return old, nil
		}
		return vals[i], nil
	})
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		return fmt.Errorf("triage: %w", err)
	}
	return nil
}

// GetTriage implements safety.Store.
func (s Safety) GetTriage(ctx context.Context, id string) (*safety.TriageItem, error) {
	return get[safety.TriageItem](ctx, s.B, collTriage, id, safety.ErrNotFound)
}

// UpdateTriage implements safety.Store.
func (s Safety) UpdateTriage(ctx context.Context, id string, fn func(t *safety.TriageItem) error) (*safety.TriageItem, error) {
	return update(ctx, s.B, collTriage, id, safety.ErrNotFound, fn)
}

// ListTriage implements safety.Store.
func (s Safety) ListTriage(ctx context.Context) ([]*safety.TriageItem, error) {
	var out []*safety.TriageItem
	err := scanAll(ctx, s.B, collTriage, "", func(kv store.KV) error {
		var t safety.TriageItem
		if err := decode(kv.Value, &t); err != nil {
			return fmt.Errorf("triage %s: %w", kv.Key, err)
		}
		out = append(out, &t)
		return nil
	})
	return out, err
}

const collSeen = "seen_events"

// errTaken and errLeased abort a claim: the event was processed already, or
// another consumer holds a lease on it.
var (
	errTaken  = errors.New("taken")
	errLeased = errors.New("leased")
)

// ClaimEvents implements safety.Store with one UpdateMany. A value is 8
// bytes of expiry (seen) or 9 bytes: the expiry of a processing lease and a
// trailing 'p'.
func (s Safety) ClaimEvents(ctx context.Context, keys []string, lease time.Duration) ([]safety.EventClaim, error) {
	now := time.Now()
	lv := append(binary.BigEndian.AppendUint64(nil, uint64(now.Add(lease).UnixNano())), 'p')
	errs, err := s.B.UpdateMany(ctx, collSeen, keys, func(_ int, old []byte) ([]byte, error) {
		if len(old) >= 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(old)) {
			if len(old) > 8 && old[8] == 'p' {
				return nil, errLeased
			}
			return nil, errTaken
		}
		return lv, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	out := make([]safety.EventClaim, len(keys))
	for i, e := range errs {
		switch {
		case e == nil:
			out[i] = safety.EventMine
		case errors.Is(e, errLeased):
			out[i] = safety.EventLeased
		case errors.Is(e, errTaken):
			out[i] = safety.EventSeen
		default:
			return nil, fmt.Errorf("claim events: %w", e)
		}
	}
	return out, nil
}

// MarkSeen implements safety.Store.
func (s Safety) MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error {
	exp := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(ttl).UnixNano()))
	kvs := make([]store.KV, len(keys))
	for i, k := range keys {
		kvs[i] = store.KV{Key: k, Value: exp}
	}
	return s.B.PutMany(ctx, collSeen, kvs)
}

// EnqueueReplies implements safety.Store.
func (s Safety) EnqueueReplies(ctx context.Context, rs ...safety.Reply) error {
	data := make([][]byte, len(rs))
	for i, r := range rs {
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		data[i] = v
	}
	return s.B.Enqueue(ctx, queueReplies, data...)
}

// ClaimReplies implements safety.Store.
func (s Safety) ClaimReplies(ctx context.Context, consumer string, max int, minIdle, block time.Duration) ([]safety.QueuedReply, error) {
	ms, err := s.B.Claim(ctx, queueReplies, consumer, max, minIdle, block)
	if err != nil {
		return nil, err
	}
	out := make([]safety.QueuedReply, 0, len(ms))
	for _, m := range ms {
		var r safety.Reply
		if err := decode(m.Data, &r); err != nil {
			// A message that cannot be decoded can never be processed.
			_ = s.B.Ack(ctx, queueReplies, m.ID)
			continue
		}
		out = append(out, safety.QueuedReply{ID: m.ID, Reply: r})
	}
	return out, nil
}

// AckReplies implements safety.Store.
func (s Safety) AckReplies(ctx context.Context, ids ...string) error {
	return s.B.Ack(ctx, queueReplies, ids...)
}

// scanAll calls fn for every pair of coll after after, in key order.
func scanAll(ctx context.Context, b store.Backend, coll, after string, fn func(store.KV) error) error {
	for {
		kvs, err := b.Scan(ctx, coll, after, 500)
		if err != nil {
			return fmt.Errorf("%s: %w", coll, err)
		}
		if len(kvs) == 0 {
			return nil
		}
		for _, kv := range kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		after = kvs[len(kvs)-1].Key
	}
}
