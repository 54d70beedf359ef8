package residents

import (
	"context"
	"errors"
	"fmt"
)

// Directory is the residents service used by the API, the importer and the
// audience resolver.
type Directory struct {
	store Store
}

// NewDirectory returns a directory over store.
func NewDirectory(store Store) *Directory { return &Directory{store: store} }

// RowError is a problem with one input item (an array index or a CSV line).
type RowError struct {
	// Row is the 0-based array index or the 1-based CSV line number.
	Row int `json:"row"`
	// Field is the field at fault, empty for the whole row.
	Field string `json:"field,omitempty"`
	// Reason says what is wrong.
	Reason string `json:"reason"`
}

// Error implements error.
func (e RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d: %s: %s", e.Row, e.Field, e.Reason)
}

// Check normalises and validates rs in place and returns one RowError per bad
// item (Row is the index in rs) plus duplicate ids within rs.
func Check(rs []Resident) []RowError {
	var bad []RowError
	seen := make(map[string]int, len(rs))
	for i := range rs {
		rs[i].Normalize()
		if err := rs[i].Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				bad = append(bad, RowError{Row: i, Field: fe.Field, Reason: fe.Reason})
			} else {
				bad = append(bad, RowError{Row: i, Reason: err.Error()})
			}
			continue
		}
		if j, dup := seen[rs[i].ID]; dup {
			bad = append(bad, RowError{Row: i, Field: "id", Reason: fmt.Sprintf("duplicate of row %d", j)})
			continue
		}
		seen[rs[i].ID] = i
	}
	return bad
}

// Put validates and stores residents. If any item is invalid nothing is
// stored and the RowErrors are returned.
func (d *Directory) Put(ctx context.Context, rs []Resident) ([]RowError, error) {
	if bad := Check(rs); len(bad) > 0 {
		return bad, nil
	}
	if err := d.store.PutResidents(ctx, rs); err != nil {
		return nil, fmt.Errorf("residents: %w", err)
	}
	return nil, nil
}

// Get returns one resident.
func (d *Directory) Get(ctx context.Context, id string) (Resident, error) {
	r, err := d.store.Resident(ctx, id)
	if err != nil {
		return Resident{}, fmt.Errorf("resident %q: %w", id, err)
	}
	return r, nil
}

// ByLINE returns the resident that owns a LINE user id.
func (d *Directory) ByLINE(ctx context.Context, lineUserID string) (Resident, error) {
	id, err := d.store.ResidentByLINE(ctx, lineUserID)
	if err != nil {
		return Resident{}, fmt.Errorf("resident by LINE id: %w", err)
	}
	return d.Get(ctx, id)
}

// GetMany returns the residents with ids in one store read, lined up with
// ids; found[i] is false for an unknown id.
func (d *Directory) GetMany(ctx context.Context, ids []string) ([]Resident, []bool, error) {
	rs, found, err := d.store.ResidentsByID(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("residents: %w", err)
	}
	return rs, found, nil
}

// ByLINEMany returns the residents that own LINE user ids, lined up with
// them, in two store reads; found[i] is false when nobody has that id.
func (d *Directory) ByLINEMany(ctx context.Context, lineUserIDs []string) ([]Resident, []bool, error) {
	ids, err := d.store.ResidentIDsByLINE(ctx, lineUserIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("residents by LINE id: %w", err)
	}
	rs, found, err := d.GetMany(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for i := range rs {
		// A stale index entry (the resident's LINE id changed) is no match.
		if found[i] && rs[i].Contacts.LINEUserID != lineUserIDs[i] {
			rs[i], found[i] = Resident{}, false
		}
	}
	return rs, found, nil
}

// Delete removes a resident.
func (d *Directory) Delete(ctx context.Context, id string) error {
	if err := d.store.DeleteResident(ctx, id); err != nil {
		return fmt.Errorf("resident %q: %w", id, err)
	}
	return nil
}

// Count returns the number of residents.
func (d *Directory) Count(ctx context.Context) (int, error) {
	n, err := d.store.CountResidents(ctx)
	if err != nil {
		return 0, fmt.Errorf("residents: %w", err)
	}
	return n, nil
}

// Each calls fn for every resident in id order, reading pages of eachPage.
// It stops at the first error fn returns.
func (d *Directory) Each(ctx context.Context, fn func(Resident) error) error {
	return d.EachAfter(ctx, "", fn)
}

// EachAfter is Each for the residents whose ids sort after after. The next
// page is read while fn works on the current one, so that the store's time
// and fn's overlap (planning a ward-wide alert reads 1,000 pages).
func (d *Directory) EachAfter(ctx context.Context, after string, fn func(Resident) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		rs  []Resident
		err error
	}
	pages := make(chan page) // unbuffered: one page read ahead, no more
	go func() {
		defer close(pages)
		for {
			rs, err := d.store.ScanResidents(ctx, after, eachPage)
			select {
			case pages <- page{rs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(rs) == 0 {
				return
			}
			after = rs[len(rs)-1].ID
		}
	}()
	for p := range pages {
		if p.err != nil {
			return fmt.Errorf("residents: %w", p.err)
		}
		for _, r := range p.rs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// eachPage is how many residents Each reads per store round.
const eachPage = 1000
