package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/minato-city/anpi/store"

	"github.com/minato-city/anpi/residents"
)

// Residents gives the directory its residents.Store over a store.Backend. It keeps
// an index from LINE user id to resident id; an entry left behind when a
// resident's LINE id changes is harmless because lookups check that the
// resident still has that id.
type Residents struct{ B store.Backend }

var _ residents.Store = Residents{}

const (
	collResidents = "residents"
	collLINEIndex = "residents_by_line"
)

// PutResidents implements residents.Store.
func (s Residents) PutResidents(ctx context.Context, rs []residents.Resident) error {
	kvs := make([]store.KV, 0, len(rs))
	var idx []store.KV
	for _, r := range rs {
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("residents: %w", err)
		}
		kvs = append(kvs, store.KV{Key: r.ID, Value: v})
		if r.Contacts.LINEUserID != "" {
			idx = append(idx, store.KV{Key: r.Contacts.LINEUserID, Value: []byte(r.ID)})
		}
	}
	if err := s.B.PutMany(ctx, collResidents, kvs); err != nil {
		return fmt.Errorf("residents: %w", err)
	}
	if len(idx) > 0 {
		if err := s.B.PutMany(ctx, collLINEIndex, idx); err != nil {
			return fmt.Errorf("residents index: %w", err)
		}
	}
	return nil
}

// Resident implements residents.Store.
func (s Residents) Resident(ctx context.Context, id string) (residents.Resident, error) {
	var r residents.Resident
	if err := getJSON(ctx, s.B, collResidents, id, &r); err != nil {
		return r, mapNotFound(err, residents.ErrNotFound)
	}
	return r, nil
}

// DeleteResident implements residents.Store.
func (s Residents) DeleteResident(ctx context.Context, id string) error {
	r, err := s.Resident(ctx, id)
	if err != nil {
		return nil
	}
	if r.Contacts.LINEUserID != "" {
		if err := s.B.Delete(ctx, collLINEIndex, r.Contacts.LINEUserID); err != nil {
			return fmt.Errorf("residents index: %w", err)
		}
	}
	return s.B.Delete(ctx, collResidents, id)
}

// ScanResidents implements residents.Store.
func (s Residents) ScanResidents(ctx context.Context, after string, limit int) ([]residents.Resident, error) {
	kvs, err := s.B.Scan(ctx, collResidents, after, limit)
	if err != nil {
		return nil, fmt.Errorf("residents: %w", err)
	}
	out := make([]residents.Resident, len(kvs))
	for i, kv := range kvs {
		if err := decode(kv.Value, &out[i]); err != nil {
			return nil, fmt.Errorf("resident %s: %w", kv.Key, err)
		}
	}
	return out, nil
}

// ResidentByLINE implements residents.Store.
func (s Residents) ResidentByLINE(ctx context.Context, lineUserID string) (string, error) {
	v, err := s.B.Get(ctx, collLINEIndex, lineUserID)
	if err != nil {
		return "", mapNotFound(err, residents.ErrNotFound)
	}
	r, err := s.Resident(ctx, string(v))
	if err != nil {
		return "", err
	}
	if r.Contacts.LINEUserID != lineUserID {
		return "", fmt.Errorf("LINE user: %w", residents.ErrNotFound)
	}
	return r.ID, nil
}

// ResidentsByID implements residents.Store; an empty id is not found.
func (s Residents) ResidentsByID(ctx context.Context, ids []string) ([]residents.Resident, []bool, error) {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			keys = append(keys, id)
		}
	}
	vals, err := s.B.GetMany(ctx, collResidents, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("residents: %w", err)
	}
	rs, found := make([]residents.Resident, len(ids)), make([]bool, len(ids))
	j := 0
	for i, id := range ids {
		if id == "" {
			continue
		}
		v := vals[j]
		j++
		if v == nil {
			continue
		}
		if err := decode(v, &rs[i]); err != nil {
			return nil, nil, fmt.Errorf("resident %s: %w", id, err)
		}
		found[i] = true
	}
	return rs, found, nil
}

// ResidentIDsByLINE implements residents.Store.
func (s Residents) ResidentIDsByLINE(ctx context.Context, lineUserIDs []string) ([]string, error) {
	vals, err := s.B.GetMany(ctx, collLINEIndex, lineUserIDs)
	if err != nil {
		return nil, fmt.Errorf("residents index: %w", err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out, nil
}

// CountResidents implements residents.Store.
func (s Residents) CountResidents(ctx context.Context) (int, error) {
	return s.B.Count(ctx, collResidents)
}
