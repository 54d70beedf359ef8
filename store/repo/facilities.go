package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/minato-city/anpi/store"

	"github.com/minato-city/anpi/routing"
)

// Facilities gives the facility registry its routing.Store over a store.Backend.
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
	var out []routing.Facility
	err := scanAll(ctx, s.B, collFacilities, "", func(kv store.KV) error {
		var f routing.Facility
		if err := json.Unmarshal(kv.Value, &f); err != nil {
			return fmt.Errorf("facility %s: %w", kv.Key, err)
		}
		out = append(out, f)
		return nil
	})
	return out, err
}
