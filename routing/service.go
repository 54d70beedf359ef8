package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-city/anpi/httpapi"
)

// Store keeps facilities durably. It is implemented over the storage engine
// outside this package.
type Store interface {
	// PutFacilities inserts or replaces the given facilities (by ID).
	PutFacilities(ctx context.Context, fs []Facility) error
	// Facilities returns every stored facility.
	Facilities(ctx context.Context) ([]Facility, error)
}

// Publisher sends change notifications to the console bus.
type Publisher interface {
	// Publish sends v under topic, keyed by key.
	Publish(topic, key string, v any)
}

// Topic is the console topic facility changes are published on, keyed by
// facility ID with the whole Facility as value.
const Topic = "facilities"

// Query limits of Service.Nearest.
const (
	// DefaultLimit is the number of facilities returned when none is asked.
	DefaultLimit = 3
	// MaxLimit is the largest number of facilities one query returns.
	MaxLimit = 20
	// MaxParty is the largest party one query may ask room for.
	MaxParty = 1000
)

// Options configures a Service.
type Options struct {
	// Boundary, when set, limits Nearest to positions it Serves.
	Boundary *Boundary
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// LoadTimeout bounds the initial load from the store (30 s when 0).
	LoadTimeout time.Duration
}

// Service is the facilities registry: the live list of facilities with their
// status and capacity, persisted through a Store, published to the console,
// and searchable by position. Reads (List, Get, Nearest) are lock-free on an
// immutable snapshot swapped atomically; writes are serialised by a mutex.
type Service struct {
	store Store
	pub   Publisher
	opts  Options

	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[snapshot]
}

// snapshot is an immutable state of the registry.
type snapshot struct {
	byID  map[string]Facility
	list  []Facility // sorted by ID
	index *Index
}

func newSnapshot(byID map[string]Facility) *snapshot {
	list := make([]Facility, 0, len(byID))
	for _, f := range byID {
		list = append(list, f)
	}
	slices.SortFunc(list, func(a, b Facility) int { return cmp.Compare(a.ID, b.ID) })
	return &snapshot{byID: byID, list: list, index: NewIndex(list)}
}

// New returns a Service holding the facilities found in store. pub may be
// nil (no notifications).
func New(store Store, pub Publisher, opts Options) (*Service, error) {
	if store == nil {
		return nil, errors.New("facilities: nil store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.LoadTimeout)
	defer cancel()
	fs, err := store.Facilities(ctx)
	if err != nil {
		return nil, fmt.Errorf("load facilities: %w", err)
	}
	byID := make(map[string]Facility, len(fs))
	for _, f := range fs {
		byID[f.ID] = f
	}
	s := &Service{store: store, pub: pub, opts: opts}
	s.snap.Store(newSnapshot(byID))
	return s, nil
}

// Seed adds the facilities whose ID is not yet known and leaves known ones
// untouched, so operator edits (status, capacity, occupancy) survive a
// restart that seeds from the shipped data again. Every facility is
// validated first; on any error nothing is added. A zero UpdatedAt is set to
// now. Added facilities are stored, indexed and published.
func (s *Service) Seed(ctx context.Context, fs []Facility) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	seen := make(map[string]bool, len(fs))
	var added []Facility
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if seen[f.ID] {
			return fmt.Errorf("seed: facility %s given twice", f.ID)
		}
		seen[f.ID] = true
		if _, ok := cur.byID[f.ID]; ok {
			continue
		}
		if f.UpdatedAt.IsZero() {
			f.UpdatedAt = s.opts.Now()
		}
		added = append(added, f)
	}
	if len(added) == 0 {
		return nil
	}
	if err := s.store.PutFacilities(ctx, added); err != nil {
		return fmt.Errorf("seed: store facilities: %w", err)
	}
	byID := maps.Clone(cur.byID)
	for _, f := range added {
		byID[f.ID] = f
	}
	s.snap.Store(newSnapshot(byID))
	for _, f := range added {
		s.publish(f)
	}
	return nil
}

// List returns all facilities sorted by ID. The slice is shared: do not
// modify it.
func (s *Service) List() []Facility { return s.snap.Load().list }

// Get returns the facility with the given ID.
func (s *Service) Get(id string) (Facility, bool) {
	f, ok := s.snap.Load().byID[id]
	return f, ok
}

// Patch is a partial update of a facility by staff. Nil fields are left as
// they are.
type Patch struct {
	// Status is one of the Status* constants.
	Status *string `json:"status,omitempty"`
	// Capacity is 0..MaxCapacity and not below the occupancy.
	Capacity *int `json:"capacity,omitempty"`
	// Occupancy is 0..capacity.
	Occupancy *int `json:"occupancy,omitempty"`
}

// Patch applies p to facility id, stores it, rebuilds the index and
// publishes the new facility. Bad input gives a 400 *httpapi.Error, an
// unknown id a 404 one; in both cases nothing changes.
//
// Automatic status: after the change, an open facility with no free place
// becomes full, and a full one with room again becomes open, unless the
// patch itself set the status to full (an operator may close intake before
// the count says so; the next change of counts re-evaluates). closed,
// checking and unsafe are never changed automatically.
func (s *Service) Patch(ctx context.Context, id string, p Patch) (Facility, error) {
	if p.Status == nil && p.Capacity == nil && p.Occupancy == nil {
		return Facility{}, httpapi.BadRequest("nothing to change: give status, capacity or occupancy")
	}
	if p.Status != nil && !ValidStatus(*p.Status) {
		return Facility{}, httpapi.BadRequest("status %q is not one of closed, checking, open, full, unsafe", *p.Status)
	}
	if p.Capacity != nil && (*p.Capacity < 0 || *p.Capacity > MaxCapacity) {
		return Facility{}, httpapi.BadRequest("capacity must be between 0 and %d", MaxCapacity)
	}
	if p.Occupancy != nil && *p.Occupancy < 0 {
		return Facility{}, httpapi.BadRequest("occupancy must not be negative")
	}
	return s.update(ctx, id, func(f *Facility) error {
		if p.Capacity != nil {
			f.Capacity = *p.Capacity
		}
		if p.Occupancy != nil {
			f.Occupancy = *p.Occupancy
		}
		if f.Occupancy > f.Capacity {
			if p.Capacity != nil && p.Occupancy == nil {
				return httpapi.BadRequest("capacity below occupancy (%d)", f.Occupancy)
			}
			return httpapi.BadRequest("occupancy above capacity (%d)", f.Capacity)
		}
		if p.Status != nil {
			f.Status = *p.Status
		}
		switch {
		case f.Status == StatusOpen && f.Free() == 0:
			f.Status = StatusFull
		case f.Status == StatusFull && f.Free() > 0 && p.Status == nil:
			f.Status = StatusOpen
		}
		return nil
	})
}

// update runs change on a copy of facility id under the write lock, then
// stores, swaps the snapshot and publishes. An error from change leaves
// everything as it was.
func (s *Service) update(ctx context.Context, id string, change func(*Facility) error) (Facility, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	f, ok := cur.byID[id]
	if !ok {
		return Facility{}, httpapi.NotFound("no facility %q", id)
	}
	if err := change(&f); err != nil {
		return Facility{}, err
	}
	f.UpdatedAt = s.opts.Now()
	if err := s.store.PutFacilities(ctx, []Facility{f}); err != nil {
		return Facility{}, fmt.Errorf("store facility: %w", err)
	}
	byID := maps.Clone(cur.byID)
	byID[id] = f
	s.snap.Store(newSnapshot(byID))
	s.publish(f)
	return f, nil
}

func (s *Service) publish(f Facility) {
	if s.pub != nil {
		s.pub.Publish(Topic, f.ID, f)
	}
}

// Nearest returns up to limit facilities that are open with room for party,
// best first (see Index.Nearest). lat must be in [-90, 90], lng in
// [-180, 180], the position served by Options.Boundary (when set), limit in
// 1..MaxLimit and party in 1..MaxParty; otherwise a 400 *httpapi.Error says
// why. No match gives an empty, non-nil slice.
func (s *Service) Nearest(lat, lng float64, limit, party int) ([]Match, error) {
	switch {
	case math.IsNaN(lat) || lat < -90 || lat > 90:
		return nil, httpapi.BadRequest("lat must be a number between -90 and 90")
	case math.IsNaN(lng) || lng < -180 || lng > 180:
		return nil, httpapi.BadRequest("lng must be a number between -180 and 180")
	case limit < 1 || limit > MaxLimit:
		return nil, httpapi.BadRequest("limit must be between 1 and %d", MaxLimit)
	case party < 1 || party > MaxParty:
		return nil, httpapi.BadRequest("party must be between 1 and %d", MaxParty)
	case s.opts.Boundary != nil && !s.opts.Boundary.Serves(lat, lng):
		return nil, httpapi.Errorf(http.StatusBadRequest, "outside_area",
			"position is outside the served area (Minato City and %.0f km around it)", s.opts.Boundary.MarginM/1000)
	}
	ms := s.snap.Load().index.Nearest(lat, lng, limit, party)
	if ms == nil {
		ms = []Match{}
	}
	return ms, nil
}
