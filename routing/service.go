package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/routing/roads"
)

// Store keeps facilities durably. It is implemented over the storage engine
// outside this package. Capacity decisions are made in UpdateFacility, so
// they hold across every process sharing the store.
type Store interface {
	// PutFacilities inserts or replaces the given facilities (by ID). A
	// replaced facility loses its holds and its Rev restarts at 0.
	PutFacilities(ctx context.Context, fs []Facility) error
	// Facilities returns every stored facility.
	Facilities(ctx context.Context) ([]Facility, error)
	// Records returns every stored facility with its revision and holds.
	Records(ctx context.Context) ([]Record, error)
	// UpdateFacility atomically reads the record of facility id, calls fn on
	// it and stores the result: no other change of that facility, by this or
	// another process, can come between the read and the write. fn may run
	// more than once (optimistic retry) and must not have side effects. If fn
	// returns an error nothing is stored and UpdateFacility returns that
	// error. An unknown id gives an error wrapping ErrNotFound. It returns
	// the record as stored.
	UpdateFacility(ctx context.Context, id string, fn func(r *Record) error) (Record, error)
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
	// HoldTTL is how long a hold keeps its places (DefaultHoldTTL when 0).
	HoldTTL time.Duration
	// Roads, when set, is the walking network: Nearest measures walking
	// distance along it (see NewRoadIndex). Nil means great-circle
	// distance × WalkFactor.
	Roads *roads.Graph
}

// Service is the facilities registry: the live list of facilities with their
// status and capacity, persisted through a Store, published to the console,
// and searchable by position. Reads (List, Get, Nearest) are lock-free on an
// immutable snapshot swapped atomically. Changes of counts and status are
// decided atomically in the store (Store.UpdateFacility); the snapshot then
// takes the stored result, under a mutex, if it is newer than what it has.
type Service struct {
	store Store
	pub   Publisher
	opts  Options

	mu   sync.Mutex // serialises snapshot swaps and Seed
	snap atomic.Pointer[snapshot]

	// stripes serialise this process's updates of one facility (by hash of
	// its ID) so that they queue here instead of racing each other in the
	// store's optimistic retry. Correctness does not depend on them: the
	// store decides atomically, also against other processes.
	stripes [64]chan struct{}

	holdMu sync.Mutex
	holdQ  map[string][]*holdReq // hold requests waiting, by facility ID
}

// snapshot is an immutable state of the registry.
type snapshot struct {
	byID  map[string]Facility
	rev   map[string]int64 // Record.Rev of each facility in byID
	list  []Facility       // sorted by ID
	index *Index
}

// newSnapshot builds a snapshot, indexed over g (nil: great-circle only);
// prev, when not nil, lends the road snaps of facilities that did not move.
func newSnapshot(byID map[string]Facility, rev map[string]int64, g *roads.Graph, prev *snapshot) *snapshot {
	list := make([]Facility, 0, len(byID))
	for _, f := range byID {
		list = append(list, f)
	}
	slices.SortFunc(list, func(a, b Facility) int { return cmp.Compare(a.ID, b.ID) })
	var prevIx *Index
	if prev != nil {
		prevIx = prev.index
	}
	return &snapshot{byID: byID, rev: rev, list: list, index: newRoadIndex(list, g, prevIx)}
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
	if opts.HoldTTL <= 0 {
		opts.HoldTTL = DefaultHoldTTL
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.LoadTimeout)
	defer cancel()
	recs, err := store.Records(ctx)
	if err != nil {
		return nil, fmt.Errorf("load facilities: %w", err)
	}
	byID := make(map[string]Facility, len(recs))
	rev := make(map[string]int64, len(recs))
	for _, r := range recs {
		r.normalize()
		byID[r.ID], rev[r.ID] = r.Facility, r.Rev
	}
	s := &Service{store: store, pub: pub, opts: opts}
	for i := range s.stripes {
		s.stripes[i] = make(chan struct{}, 1)
	}
	s.holdQ = map[string][]*holdReq{}
	s.snap.Store(newSnapshot(byID, rev, opts.Roads, nil))
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
	byID, rev := maps.Clone(cur.byID), maps.Clone(cur.rev)
	for _, f := range added {
		byID[f.ID], rev[f.ID] = f, 0
	}
	s.snap.Store(newSnapshot(byID, rev, s.opts.Roads, cur))
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
// unknown id a 404 one, occupancy + held places above capacity a 409 no_room
// one; in all cases nothing changes. Expired holds are purged first.
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
	now := s.opts.Now()
	rec, err := s.update(ctx, id, now, func(r *Record) error {
		r.expire(now)
		f := &r.Facility
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
		if f.Occupancy+f.Held > f.Capacity {
			return httpapi.Errorf(http.StatusConflict, "no_room",
				"occupancy %d plus %d held places would exceed capacity %d; holds end when checked in or expired",
				f.Occupancy, f.Held, f.Capacity)
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
	return rec.Facility, err
}

// update changes facility id atomically in the store with change (which sees
// the stored record with Held recomputed), stamps Rev and UpdatedAt, then
// takes the result into the snapshot and publishes it. An error from change
// is returned as is and nothing is stored; an unknown id gives a 404
// *httpapi.Error. The state that change saw is taken into the snapshot even on
// error, so a refusal caused by another process's change is reflected here.
func (s *Service) update(ctx context.Context, id string, now time.Time, change func(*Record) error) (Record, error) {
	stripe := s.stripe(id)
	select {
	case stripe <- struct{}{}:
		defer func() { <-stripe }()
	case <-ctx.Done():
		return Record{}, fmt.Errorf("store facility: %w", ctx.Err())
	}
	return s.updateLocked(ctx, id, now, change)
}

// stripe returns the lock (a channel of capacity 1) of facility id.
func (s *Service) stripe(id string) chan struct{} {
	h := fnv.New32a()
	h.Write([]byte(id))
	return s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

// updateLocked is update for a caller that holds the stripe of id.
func (s *Service) updateLocked(ctx context.Context, id string, now time.Time, change func(*Record) error) (Record, error) {
	var seen Record
	seenOK := false
	rec, err := s.store.UpdateFacility(ctx, id, func(r *Record) error {
		r.normalize()
		seen, seenOK = Record{Facility: r.Facility, Rev: r.Rev}, true
		if err := change(r); err != nil {
			return err
		}
		if r.Occupancy < 0 || r.Held < 0 || r.Occupancy+r.Held > r.Capacity {
			// Never stored: the invariant is checked here whatever change did.
			return httpapi.Errorf(http.StatusConflict, "no_room", "facility %s: occupancy %d + held %d above capacity %d", id, r.Occupancy, r.Held, r.Capacity)
		}
		r.Rev++
		r.UpdatedAt = now
		return nil
	})
	if err != nil {
		if seenOK {
			for _, f := range s.apply(seen) {
				s.publish(f)
			}
		}
		var ae *httpapi.Error
		switch {
		case errors.Is(err, ErrNotFound):
			return Record{}, httpapi.NotFound("no facility %q", id)
		case errors.As(err, &ae), errors.Is(err, errNothingToDo):
			return Record{}, err
		}
		return Record{}, fmt.Errorf("store facility: %w", err)
	}
	for _, f := range s.apply(rec) {
		s.publish(f)
	}
	return rec, nil
}

// apply takes the given records into the snapshot where they are newer than
// what it holds (higher Rev, or a later UpdatedAt: PutFacilities restarts Rev)
// or unknown, and returns the facilities it changed.
func (s *Service) apply(recs ...Record) []Facility {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	var byID map[string]Facility
	var rev map[string]int64
	var changed []Facility
	for _, r := range recs {
		if old, ok := cur.byID[r.ID]; ok {
			newer := r.Rev > cur.rev[r.ID] || r.UpdatedAt.After(old.UpdatedAt)
			if !newer || (old == r.Facility && cur.rev[r.ID] == r.Rev) {
				continue
			}
		}
		if byID == nil {
			byID, rev = maps.Clone(cur.byID), maps.Clone(cur.rev)
		}
		byID[r.ID], rev[r.ID] = r.Facility, r.Rev
		changed = append(changed, r.Facility)
	}
	if changed != nil {
		s.snap.Store(newSnapshot(byID, rev, s.opts.Roads, cur))
	}
	return changed
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
