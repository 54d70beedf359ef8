package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/minato-city/anpi/alert/signage"
	"github.com/minato-city/anpi/store"
)

// Signage gives the signage channel its signage.Store over a store.Backend:
// one JSON value per screen.
type Signage struct{ B store.Backend }

var _ signage.Store = Signage{}

const collSignage = "signage_screens"

// errUnchanged aborts an update that changes nothing, so nothing is written.
var errUnchanged = errors.New("unchanged")

// GetScreen implements signage.Store.
func (s Signage) GetScreen(ctx context.Context, id string) (signage.State, error) {
	var st signage.State
	err := getJSON(ctx, s.B, collSignage, id, &st)
	if errors.Is(err, store.ErrNotFound) {
		return signage.State{}, nil
	}
	return st, err
}

// UpdateScreen implements signage.Store.
func (s Signage) UpdateScreen(ctx context.Context, id string, fn func(st *signage.State) bool) (signage.State, error) {
	var out signage.State
	err := s.B.Update(ctx, collSignage, id, func(old []byte) ([]byte, error) {
		out = signage.State{}
		if old != nil {
			if err := json.Unmarshal(old, &out); err != nil {
				return nil, fmt.Errorf("%s %q: decode: %w", collSignage, id, err)
			}
		}
		if !fn(&out) {
			return nil, errUnchanged
		}
		return json.Marshal(out)
	})
	if errors.Is(err, errUnchanged) {
		return out, nil
	}
	if err != nil {
		return signage.State{}, fmt.Errorf("%s: %w", collSignage, err)
	}
	return out, nil
}
