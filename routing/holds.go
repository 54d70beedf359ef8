package routing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minato-city/anpi/httpapi"
)

// DefaultHoldTTL is how long a hold keeps its places when Options.HoldTTL is
// not set: long enough to walk to a nearby facility at a crowded pace.
const DefaultHoldTTL = 20 * time.Minute

// ErrNotFound is what a Store returns (wrapped) for an unknown facility ID.
var ErrNotFound = errors.New("facility not found")

// errNothingToDo aborts an update that would not change anything.
var errNothingToDo = errors.New("nothing to do")

// Hold is a soft reservation: party places of a facility kept for someone on
// the way until ExpiresAt. The ID is the only key to it (a bearer secret for
// the check-in), so it is never listed publicly.
type Hold struct {
	// ID is random and unguessable; it also carries the expiry time so that
	// an expired hold can be told apart from an unknown one after its record
	// is gone.
	ID string `json:"id"`
	// FacilityID is the facility the places are held at.
	FacilityID string `json:"facility_id"`
	// Party is the number of places held, 1..MaxParty.
	Party int `json:"party"`
	// ExpiresAt is when the places are freed unless checked in.
	ExpiresAt time.Time `json:"expires_at"`
}

// Record is the unit a Store changes atomically: a facility with its active
// holds and a revision. It is stored as one document (the Facility fields
// flattened, plus "rev" and "holds"), so capacity decisions that involve holds
// are made on one key. Holds never leave the store through Facility.
type Record struct {
	Facility
	// Rev counts the changes made through Store.UpdateFacility (0 for a
	// facility written by PutFacilities). Newer states have a higher Rev.
	Rev int64 `json:"rev"`
	// Holds are the holds not yet checked in; some may have expired and not
	// been purged yet.
	Holds []Hold `json:"holds,omitempty"`
}

// normalize recomputes Held from Holds, the source of truth.
func (r *Record) normalize() {
	held := 0
	for _, h := range r.Holds {
		held += h.Party
	}
	r.Held = held
}

// expire removes the holds that expired at or before now and returns how
// many it removed. Held follows.
func (r *Record) expire(now time.Time) int {
	n := len(r.Holds)
	r.Holds = slices.DeleteFunc(r.Holds, func(h Hold) bool { return !now.Before(h.ExpiresAt) })
	if len(r.Holds) == 0 {
		r.Holds = nil
	}
	r.normalize()
	return n - len(r.Holds)
}

// expireAndRecheck is expire followed by the automatic status rule when some
// hold expired: freed places may reopen a facility that was full.
func (r *Record) expireAndRecheck(now time.Time) int {
	n := r.expire(now)
	if n > 0 {
		autoStatus(&r.Facility)
	}
	return n
}

// hasExpired reports whether some hold expired at or before now.
func (r *Record) hasExpired(now time.Time) bool {
	return slices.ContainsFunc(r.Holds, func(h Hold) bool { return !now.Before(h.ExpiresAt) })
}

// autoStatus applies the automatic status rule after a change of counts: an
// open facility without free places becomes full, a full one with room again
// becomes open (see Service.Patch).
func autoStatus(f *Facility) {
	switch {
	case f.Status == StatusOpen && f.Free() == 0:
		f.Status = StatusFull
	case f.Status == StatusFull && f.Free() > 0:
		f.Status = StatusOpen
	}
}

// unavailable returns the 409 for a facility whose status refuses people.
// Codes: facility_closed, facility_checking, facility_unsafe, facility_full.
func unavailable(f Facility) *httpapi.Error {
	reason := map[string]string{
		StatusClosed:   "is closed",
		StatusChecking: "is being checked for safety and takes nobody yet",
		StatusUnsafe:   "was judged unsafe",
		StatusFull:     "is full",
	}[f.Status]
	return httpapi.Errorf(http.StatusConflict, "facility_"+f.Status, "facility %s %s", f.ID, reason)
}

func noRoom(f Facility, want int) *httpapi.Error {
	return httpapi.Errorf(http.StatusConflict, "no_room", "facility %s has %d free places, %d asked", f.ID, f.Free(), want)
}

// newHoldID returns a random hold ID that carries exp (Unix seconds, base 36).
func newHoldID(exp time.Time) string {
	return "h_" + strconv.FormatInt(exp.Unix(), 36) + "_" + strings.ToLower(rand.Text())
}

// holdIDExpiry returns the expiry carried by a hold ID, if it has one. It
// only serves to word an error: it is not trusted for anything else.
func holdIDExpiry(id string) (time.Time, bool) {
	parts := strings.Split(id, "_")
	if len(parts) != 3 || parts[0] != "h" {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(parts[1], 36, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// HoldRequest is the body of POST /api/v1/holds.
type HoldRequest struct {
	FacilityID string `json:"facility_id"`
	Party      int    `json:"party"`
}

// CheckInRequest is the body of POST /api/v1/facilities/{id}/checkins.
type CheckInRequest struct {
	// Count is the number of people checked in, 1..MaxCapacity.
	Count int `json:"count"`
	// HoldID, when set, is a hold at this facility that the check-in uses.
	HoldID string `json:"hold_id,omitempty"`
}

// CheckOutRequest is the body of POST /api/v1/facilities/{id}/checkouts.
type CheckOutRequest struct {
	// Count is the number of people leaving, 1..MaxCapacity.
	Count int `json:"count"`
}

// Hold reserves party places at facility id for Options.HoldTTL. The
// decision is made atomically in the store, so occupancy + held never exceeds
// capacity, also with many processes on one store. Expired holds of the
// facility are purged first.
//
// Errors (nothing changes): 400 for an empty id or a party outside
// 1..MaxParty; 404 for an unknown facility; 409 facility_<status> when the
// facility is closed, checking, unsafe or full; 409 no_room when fewer than
// party places are free.
func (s *Service) Hold(ctx context.Context, id string, party int) (Hold, error) {
	switch {
	case id == "":
		return Hold{}, httpapi.BadRequest("facility_id is required")
	case party < 1 || party > MaxParty:
		return Hold{}, httpapi.BadRequest("party must be between 1 and %d", MaxParty)
	}
	now := s.opts.Now()
	exp := now.Add(s.opts.HoldTTL)
	req := &holdReq{h: Hold{ID: newHoldID(exp), FacilityID: id, Party: party, ExpiresAt: exp}, done: make(chan struct{})}
	s.holdMu.Lock()
	s.holdQ[id] = append(s.holdQ[id], req)
	s.holdMu.Unlock()

	// Whoever gets the facility's stripe decides every hold queued for it so
	// far in one store update (a combining queue): a crowd asking for one
	// facility costs a few store round trips, not one each.
	stripe := s.stripe(id)
	select {
	case <-req.done:
	case stripe <- struct{}{}:
		s.decideHolds(ctx, id)
		<-stripe
		<-req.done
	}
	if req.err != nil {
		return Hold{}, req.err
	}
	return req.h, nil
}

// holdReq is one Hold call waiting for a decision.
type holdReq struct {
	h    Hold
	err  error
	done chan struct{} // closed when err is final
}

// errAllRefused aborts a batch of holds of which none was granted.
var errAllRefused = errors.New("all holds refused")

// decideHolds takes every queued hold request of facility id and decides
// them, in order, in one atomic store update. The caller holds the stripe.
func (s *Service) decideHolds(ctx context.Context, id string) {
	s.holdMu.Lock()
	batch := s.holdQ[id]
	delete(s.holdQ, id)
	s.holdMu.Unlock()
	if len(batch) == 0 {
		return
	}
	// The batch is not only the caller's: its cancellation must not fail
	// the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	now := s.opts.Now()
	errs := make([]error, len(batch))
	_, err := s.updateLocked(ctx, id, now, func(r *Record) error {
		r.expireAndRecheck(now)
		granted := 0
		for i, q := range batch {
			errs[i] = grantHold(r, q.h)
			if errs[i] == nil {
				granted++
			}
		}
		if granted == 0 {
			return errAllRefused
		}
		return nil
	})
	for i, q := range batch {
		switch {
		case errors.Is(err, errAllRefused) || err == nil:
			q.err = errs[i]
		default:
			q.err = err
		}
		close(q.done)
	}
}

// grantHold adds h to r if the facility is open with room for it, and
// returns why not otherwise (leaving r as it was).
func grantHold(r *Record, h Hold) error {
	if r.Status != StatusOpen {
		return unavailable(r.Facility)
	}
	if r.Free() < h.Party {
		return noRoom(r.Facility, h.Party)
	}
	r.Holds = append(r.Holds, h)
	r.Held += h.Party
	autoStatus(&r.Facility)
	return nil
}

// CheckIn records count people arriving at facility id. With a hold ID, the
// hold's places are released and the check-in may take them even when the
// facility is full; count may differ from the hold's party (more needs free
// places for the difference). Without one, the facility must be open with
// count free places. Expired holds are purged first.
//
// Errors (nothing changes): 400 for count outside 1..MaxCapacity; 404 for an
// unknown facility or hold (also one already used); 410 hold_expired; 409
// facility_<status> when the facility refuses people; 409 no_room.
func (s *Service) CheckIn(ctx context.Context, id string, in CheckInRequest) (Facility, error) {
	if in.Count < 1 || in.Count > MaxCapacity {
		return Facility{}, httpapi.BadRequest("count must be between 1 and %d", MaxCapacity)
	}
	now := s.opts.Now()
	rec, err := s.update(ctx, id, now, func(r *Record) error {
		if in.HoldID != "" {
			i := slices.IndexFunc(r.Holds, func(h Hold) bool { return h.ID == in.HoldID })
			if i < 0 || !now.Before(r.Holds[i].ExpiresAt) {
				return holdGone(in.HoldID, id, now)
			}
			if r.Status != StatusOpen && r.Status != StatusFull {
				return unavailable(r.Facility)
			}
			r.Holds = slices.Delete(r.Holds, i, i+1)
			r.expire(now)
		} else if r.expireAndRecheck(now); r.Status != StatusOpen {
			return unavailable(r.Facility)
		}
		if r.Free() < in.Count {
			return noRoom(r.Facility, in.Count)
		}
		r.Occupancy += in.Count
		autoStatus(&r.Facility)
		return nil
	})
	return rec.Facility, err
}

// holdGone is the error for a hold ID that is not active at facility id.
func holdGone(holdID, id string, now time.Time) *httpapi.Error {
	if exp, ok := holdIDExpiry(holdID); ok && !now.Before(exp) {
		return httpapi.Errorf(http.StatusGone, "hold_expired", "hold %s expired at %s", holdID, exp.UTC().Format(time.RFC3339))
	}
	return httpapi.Errorf(http.StatusNotFound, "hold_not_found", "no active hold %s at facility %s", holdID, id)
}

// CheckOut records count people leaving facility id, in any status. Expired
// holds are purged first.
//
// Errors (nothing changes): 400 for count outside 1..MaxCapacity; 404 for an
// unknown facility; 409 below_zero when fewer than count people are checked
// in.
func (s *Service) CheckOut(ctx context.Context, id string, in CheckOutRequest) (Facility, error) {
	if in.Count < 1 || in.Count > MaxCapacity {
		return Facility{}, httpapi.BadRequest("count must be between 1 and %d", MaxCapacity)
	}
	now := s.opts.Now()
	rec, err := s.update(ctx, id, now, func(r *Record) error {
		if in.Count > r.Occupancy {
			return httpapi.Errorf(http.StatusConflict, "below_zero", "only %d people are checked in at facility %s", r.Occupancy, id)
		}
		r.expire(now)
		r.Occupancy -= in.Count
		autoStatus(&r.Facility)
		return nil
	})
	return rec.Facility, err
}

// Sweep frees the places of expired holds in every facility and brings the
// in-memory view (List, Get, Nearest) up to date with the store, taking in
// changes other processes made. It returns the number of holds it expired.
// Run it now and then (SweepEvery); between sweeps, expiry also happens on
// every change of a facility.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	recs, err := s.store.Records(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	now := s.opts.Now()
	total := 0
	for i, r := range recs {
		if !r.hasExpired(now) {
			continue
		}
		n := 0
		rec, err := s.update(ctx, r.ID, now, func(r *Record) error {
			if n = r.expireAndRecheck(now); n == 0 {
				return errNothingToDo
			}
			return nil
		})
		switch {
		case errors.Is(err, errNothingToDo):
			continue
		case err != nil:
			return total, fmt.Errorf("sweep: %w", err)
		}
		total += n
		recs[i] = rec
	}
	for _, f := range s.apply(recs...) {
		s.publish(f)
	}
	return total, nil
}

// SweepEvery calls Sweep every interval until ctx is done, passing errors
// to onErr (may be nil).
func (s *Service) SweepEvery(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}
