package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store"
)

// Facilities gives the facility registry its routing.Store over a store.Backend.
// Each facility is one document (a routing.Record: the facility, its revision
// and its holds) under its ID, so UpdateFacility is one store.Backend.Update:
// one transaction on bolt, an optimistic compare-and-set with retry on Redis.
type Facilities struct{ B store.Backend }

var _ routing.Store = Facilities{}

const collFacilities = "facilities"

// PutFacilities implements routing.Store.
func (s Facilities) PutFacilities(ctx context.Context, fs []routing.Facility) error {
	kvs := make([]store.KV, len(fs))
	for i, f := range fs {
		v, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("facility: %w", err)
		}
		kvs[i] = store.KV{Key: f.ID, Value: v}
	}
	return s.B.PutMany(ctx, collFacilities, kvs)
}

// Facilities implements routing.Store.
func (s Facilities) Facilities(ctx context.Context) ([]routing.Facility, error) {
	rs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]routing.Facility, len(rs))
	for i, r := range rs {
		out[i] = r.Facility
	}
	return out, nil
}

// Records implements routing.Store.
func (s Facilities) Records(ctx context.Context) ([]routing.Record, error) {
	var out []routing.Record
	err := scanAll(ctx, s.B, collFacilities, "", func(kv store.KV) error {
		var r routing.Record
		if err := decode(kv.Value, &r); err != nil {
			return fmt.Errorf("facility %s: %w", kv.Key, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// UpdateFacility implements routing.Store with store.Backend.Update. A
// missing facility gives an error wrapping routing.ErrNotFound.
func (s Facilities) UpdateFacility(ctx context.Context, id string, fn func(*routing.Record) error) (routing.Record, error) {
	var out routing.Record
	err := s.B.Update(ctx, collFacilities, id, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, fmt.Errorf("facility %q: %w", id, routing.ErrNotFound)
		}
		var r routing.Record
		if err := decode(old, &r); err != nil {
			return nil, fmt.Errorf("facility %q: decode: %w", id, err)
		}
		if err := fn(&r); err != nil {
			return nil, err
		}
		v, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("facility %q: encode: %w", id, err)
		}
		out = r
		return v, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("facility %q: %w", id, routing.ErrNotFound)
	}
	return out, err
}
