package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-city/anpi/httpapi"
)

// clock is a settable clock for Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time                  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration)         { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)                 { c.ns.Store(t.UnixNano()) }
func (c *clock) opts() Options                   { return Options{Now: c.Now} }
func (c *clock) optsTTL(d time.Duration) Options { return Options{Now: c.Now, HoldTTL: d} }

// holdFacility is one open facility in Minato with the given capacity.
func holdFacility(id string, capacity int) Facility {
	return Facility{ID: id, Name: "テスト避難所 " + id, Kind: KindShelter, Lat: 35.6581, Lng: 139.7514,
		Capacity: capacity, Status: StatusOpen, UpdatedAt: testNow}
}

// newHoldService returns a Service over a fresh fake store holding fs.
func newHoldService(t testing.TB, opts Options, fs ...Facility) (*Service, *memStore, *recorder) {
	t.Helper()
	st, pub := newMemStore(), &recorder{}
	s, err := New(st, pub, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
	return s, st, pub
}

func apiErr(t testing.TB, err error) *httpapi.Error {
	t.Helper()
	var ae *httpapi.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want *httpapi.Error", err)
	}
	return ae
}

func TestHoldAndCheckIn(t *testing.T) {
	ctx := context.Background()
	clk := newClock(testNow)
	s, st, pub := newHoldService(t, clk.opts(), holdFacility("F1", 10), holdFacility("F2", 10))

	h, err := s.Hold(ctx, "F1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if h.FacilityID != "F1" || h.Party != 3 || !h.ExpiresAt.Equal(testNow.Add(DefaultHoldTTL)) || !strings.HasPrefix(h.ID, "h_") {
		t.Fatalf("hold %+v", h)
	}
	if f, _ := s.Get("F1"); f.Held != 3 || f.Free() != 7 || f.Occupancy != 0 {
		t.Fatalf("after hold: %+v", f)
	}
	if r := st.record("F1"); r.Held != 3 || len(r.Holds) != 1 || r.Holds[0] != h || r.Rev != 1 {
		t.Fatalf("stored %+v", r)
	}
	// Nearest counts the hold: a party of 8 no longer fits.
	for _, m := range s.snap.Load().index.Nearest(35.6581, 139.7514, MaxLimit, 8) {
		if m.Facility.ID == "F1" {
			t.Error("F1 offered for 8 with 7 free")
		}
	}

	// Check-in with the hold, one more person than held: needs one free place.
	f, err := s.CheckIn(ctx, "F1", CheckInRequest{Count: 4, HoldID: h.ID})
	if err != nil {
		t.Fatal(err)
	}
	if f.Occupancy != 4 || f.Held != 0 || f.Free() != 6 || f.Status != StatusOpen {
		t.Fatalf("after check-in: %+v", f)
	}
	if got, _ := s.Get("F1"); got != f {
		t.Errorf("Get %+v, want %+v", got, f)
	}
	if r := st.record("F1"); r.Facility != f || len(r.Holds) != 0 {
		t.Errorf("stored %+v", r)
	}
	pub.mu.Lock()
	last := pub.msgs[len(pub.msgs)-1]
	pub.mu.Unlock()
	if last.topic != Topic || last.key != "F1" || last.v.(Facility) != f {
		t.Errorf("last publication %+v", last)
	}

	// The hold is used up.
	_, err = s.CheckIn(ctx, "F1", CheckInRequest{Count: 1, HoldID: h.ID})
	if ae := apiErr(t, err); ae.Status != http.StatusNotFound || ae.Code != "hold_not_found" {
		t.Errorf("second use: %v", err)
	}

	// Walk-ins up to capacity, then full; check-outs reopen.
	if f, err = s.CheckIn(ctx, "F1", CheckInRequest{Count: 6}); err != nil || f.Status != StatusFull {
		t.Fatalf("fill up: %+v %v", f, err)
	}
	if f, err = s.CheckOut(ctx, "F1", CheckOutRequest{Count: 2}); err != nil || f.Status != StatusOpen || f.Occupancy != 8 {
		t.Fatalf("check-out: %+v %v", f, err)
	}
}

// TestHoldOnFullFacilityChecksIn: a hold may be used when its own places made
// the facility full.
func TestHoldOnFullFacilityChecksIn(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newHoldService(t, newClock(testNow).opts(), holdFacility("F1", 5))
	h, err := s.Hold(ctx, "F1", 5)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Get("F1"); f.Status != StatusFull {
		t.Fatalf("status %s after holding every place", f.Status)
	}
	_, err = s.Hold(ctx, "F1", 1)
	if ae := apiErr(t, err); ae.Code != "facility_full" {
		t.Errorf("hold on full: %v", err)
	}
	f, err := s.CheckIn(ctx, "F1", CheckInRequest{Count: 5, HoldID: h.ID})
	if err != nil || f.Occupancy != 5 || f.Held != 0 || f.Status != StatusFull {
		t.Fatalf("check-in: %+v %v", f, err)
	}
}

func TestHoldExpiry(t *testing.T) {
	ctx := context.Background()
	clk := newClock(testNow)
	s, st, _ := newHoldService(t, clk.optsTTL(10*time.Minute), holdFacility("F1", 100))
	var holds []Hold
	for range 4 {
		h, err := s.Hold(ctx, "F1", 25)
		if err != nil {
			t.Fatal(err)
		}
		holds = append(holds, h)
		clk.Advance(time.Minute)
	}
	if f, _ := s.Get("F1"); f.Free() != 0 || f.Status != StatusFull {
		t.Fatalf("after 4×25 holds: %+v", f)
	}
	if ms, _ := s.Nearest(35.6581, 139.7514, MaxLimit, 1); len(ms) != 0 {
		t.Fatalf("full facility offered: %+v", ms)
	}

	// At 10 min the first hold has expired; one more minute and the second.
	clk.Set(testNow.Add(10 * time.Minute))
	_, err := s.CheckIn(ctx, "F1", CheckInRequest{Count: 25, HoldID: holds[0].ID})
	if ae := apiErr(t, err); ae.Status != http.StatusGone || ae.Code != "hold_expired" {
		t.Errorf("expired hold: %v", err)
	}
	// Lazy expiry: the next hold finds the places of the expired one.
	if _, err := s.Hold(ctx, "F1", 25); err != nil {
		t.Fatalf("hold after expiry: %v", err)
	}
	if r := st.record("F1"); r.Held != 100 || len(r.Holds) != 4 || slices.ContainsFunc(r.Holds, func(h Hold) bool { return h.ID == holds[0].ID }) {
		t.Fatalf("stored after lazy expiry: held %d, %d holds", r.Held, len(r.Holds))
	}
	// Purged: the expired hold is told apart from an unknown one by its ID.
	_, err = s.CheckIn(ctx, "F1", CheckInRequest{Count: 1, HoldID: holds[0].ID})
	if ae := apiErr(t, err); ae.Status != http.StatusGone {
		t.Errorf("purged expired hold: %v", err)
	}

	// Sweep: holds 2..4 expire at 11, 12, 13 min.
	clk.Set(testNow.Add(12*time.Minute + time.Second))
	n, err := s.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v; want 2", n, err)
	}
	f, _ := s.Get("F1")
	if f.Held != 50 || f.Free() != 50 || f.Status != StatusOpen {
		t.Fatalf("after sweep: %+v", f)
	}
	if ms, _ := s.Nearest(35.6581, 139.7514, MaxLimit, 50); len(ms) != 1 {
		t.Errorf("reopened facility not offered: %+v", ms)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v", n, err)
	}
	// The remaining holds still check in.
	if _, err := s.CheckIn(ctx, "F1", CheckInRequest{Count: 25, HoldID: holds[3].ID}); err != nil {
		t.Errorf("valid hold: %v", err)
	}
}

// TestTwoServicesShareTheStore: two Services (two processes) over one store
// never oversell, and Sweep brings each up to date with the other's changes.
func TestTwoServicesShareTheStore(t *testing.T) {
	ctx := context.Background()
	clk := newClock(testNow)
	a, st, _ := newHoldService(t, clk.opts(), holdFacility("F1", 10))
	b, err := New(st, nil, clk.opts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Hold(ctx, "F1", 6); err != nil {
		t.Fatal(err)
	}
	// b's snapshot is stale (10 free), but the store decides.
	if f, _ := b.Get("F1"); f.Free() != 10 {
		t.Fatalf("b sees %+v before any sync", f)
	}
	_, err = b.Hold(ctx, "F1", 5)
	if ae := apiErr(t, err); ae.Code != "no_room" {
		t.Fatalf("b oversold: %v", err)
	}
	// The refusal brought b up to date.
	if f, _ := b.Get("F1"); f.Free() != 4 {
		t.Errorf("b after refusal: %+v", f)
	}
	if _, err := b.Hold(ctx, "F1", 4); err != nil {
		t.Fatal(err)
	}
	if f, _ := a.Get("F1"); f.Free() != 4 {
		t.Fatalf("a before sweep: %+v", f)
	}
	if _, err := a.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := a.Get("F1"); f.Free() != 0 || f.Status != StatusFull {
		t.Errorf("a after sweep: %+v", f)
	}
}

func TestHoldContentionFakeStore(t *testing.T) {
	s, st, _ := newHoldService(t, newClock(testNow).opts(), holdFacility("F1", 100))
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 10000 {
		wg.Go(func() {
			_, err := s.Hold(context.Background(), "F1", 1)
			if err == nil {
				ok.Add(1)
				return
			}
			if ae := apiErr(t, err); ae.Status == http.StatusConflict {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 100 || refused.Load() != 9900 {
		t.Fatalf("%d holds, %d refused; want 100, 9900", ok.Load(), refused.Load())
	}
	if r := st.record("F1"); r.Held != 100 || len(r.Holds) != 100 || r.Status != StatusFull {
		t.Errorf("stored held %d holds %d status %s", r.Held, len(r.Holds), r.Status)
	}
}

// TestHoldValidation: every refusal is a clear 4xx and changes nothing.
func TestHoldValidation(t *testing.T) {
	type op func(s *Service, held Hold) error
	hold := func(id string, party int) op {
		return func(s *Service, _ Hold) error { _, err := s.Hold(context.Background(), id, party); return err }
	}
	checkIn := func(id string, in CheckInRequest) op {
		return func(s *Service, _ Hold) error { _, err := s.CheckIn(context.Background(), id, in); return err }
	}
	checkInHeld := func(id string, count int) op {
		return func(s *Service, h Hold) error {
			_, err := s.CheckIn(context.Background(), id, CheckInRequest{Count: count, HoldID: h.ID})
			return err
		}
	}
	checkOut := func(id string, count int) op {
		return func(s *Service, _ Hold) error {
			_, err := s.CheckOut(context.Background(), id, CheckOutRequest{Count: count})
			return err
		}
	}
	patch := func(id string, p Patch) op {
		return func(s *Service, _ Hold) error { _, err := s.Patch(context.Background(), id, p); return err }
	}
	expired := "h_" + "1" + "_abcdefghijklmnopqrstuvwxyz" // expiry in 1970
	future := newHoldID(testNow.Add(time.Hour))
	tests := []struct {
		name   string
		do     op
		status int
		code   string
	}{
		{"hold party 0", hold("OPEN", 0), 400, "bad_request"},
		{"hold party -1", hold("OPEN", -1), 400, "bad_request"},
		{"hold party 1001", hold("OPEN", MaxParty+1), 400, "bad_request"},
		{"hold no facility id", hold("", 1), 400, "bad_request"},
		{"hold unknown facility", hold("NOPE", 1), 404, "not_found"},
		{"hold closed", hold("CLOSED", 1), 409, "facility_closed"},
		{"hold checking", hold("CHECKING", 1), 409, "facility_checking"},
		{"hold unsafe", hold("UNSAFE", 1), 409, "facility_unsafe"},
		{"hold operator-full", hold("FULL", 1), 409, "facility_full"},
		{"hold more than free", hold("OPEN", 6), 409, "no_room"},
		{"check-in count 0", checkIn("OPEN", CheckInRequest{}), 400, "bad_request"},
		{"check-in count huge", checkIn("OPEN", CheckInRequest{Count: MaxCapacity + 1}), 400, "bad_request"},
		{"check-in unknown facility", checkIn("NOPE", CheckInRequest{Count: 1}), 404, "not_found"},
		{"check-in unknown hold", checkIn("OPEN", CheckInRequest{Count: 1, HoldID: future}), 404, "hold_not_found"},
		{"check-in garbage hold", checkIn("OPEN", CheckInRequest{Count: 1, HoldID: "x"}), 404, "hold_not_found"},
		{"check-in expired hold", checkIn("OPEN", CheckInRequest{Count: 1, HoldID: expired}), 410, "hold_expired"},
		{"check-in hold of other facility", checkInHeld("CLOSED", 1), 404, "hold_not_found"},
		{"check-in hold, too many", checkInHeld("OPEN", 9), 409, "no_room"},
		{"check-in walk-in no room", checkIn("OPEN", CheckInRequest{Count: 6}), 409, "no_room"},
		{"check-in closed", checkIn("CLOSED", CheckInRequest{Count: 1}), 409, "facility_closed"},
		{"check-in unsafe", checkIn("UNSAFE", CheckInRequest{Count: 1}), 409, "facility_unsafe"},
		{"check-in operator-full walk-in", checkIn("FULL", CheckInRequest{Count: 1}), 409, "facility_full"},
		{"check-out count 0", checkOut("OPEN", 0), 400, "bad_request"},
		{"check-out below zero", checkOut("OPEN", 3), 409, "below_zero"},
		{"check-out unknown facility", checkOut("NOPE", 1), 404, "not_found"},
		{"patch capacity below occupancy+held", patch("OPEN", Patch{Capacity: ptr(4)}), 409, "no_room"},
		{"patch occupancy into held places", patch("OPEN", Patch{Occupancy: ptr(8)}), 409, "no_room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := func(id, status string) Facility {
				f := holdFacility(id, 10)
				f.Status = status
				return f
			}
			s, store, pub := newHoldService(t, newClock(testNow).opts(),
				st("OPEN", StatusOpen), st("CLOSED", StatusClosed), st("CHECKING", StatusChecking),
				st("UNSAFE", StatusUnsafe), st("FULL", StatusFull))
			// OPEN: 2 checked in, 3 held, 5 free.
			if _, err := s.CheckIn(ctx, "OPEN", CheckInRequest{Count: 2}); err != nil {
				t.Fatal(err)
			}
			h, err := s.Hold(ctx, "OPEN", 3)
			if err != nil {
				t.Fatal(err)
			}
			beforeList, beforeStore, beforePuts, beforePub := s.List(), store.snapshot(), store.puts, pub.count()
			beforeRec := store.record("OPEN")

			err = tt.do(s, h)
			if ae := apiErr(t, err); ae.Status != tt.status || ae.Code != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", ae.Status, ae.Code, ae.Message, tt.status, tt.code)
			}
			if !slices.Equal(beforeList, s.List()) {
				t.Error("snapshot changed")
			}
			if !maps.Equal(beforeStore, store.snapshot()) || store.puts != beforePuts {
				t.Error("store written")
			}
			if r := store.record("OPEN"); !slices.Equal(r.Holds, beforeRec.Holds) {
				t.Error("holds changed")
			}
			if pub.count() != beforePub {
				t.Error("published")
			}
		})
	}
}

func TestHoldIDExpiry(t *testing.T) {
	exp := testNow.Add(DefaultHoldTTL)
	id := newHoldID(exp)
	got, ok := holdIDExpiry(id)
	if !ok || !got.Equal(exp.Truncate(time.Second)) {
		t.Errorf("holdIDExpiry(%s) = %v, %v; want %v", id, got, ok, exp)
	}
	if id2 := newHoldID(exp); id2 == id || len(id) < 30 {
		t.Errorf("ids not random enough: %s %s", id, id2)
	}
	for _, bad := range []string{"", "x", "h__", "h_zz!_a", "g_1_a", "h_1_a_b"} {
		if _, ok := holdIDExpiry(bad); ok {
			t.Errorf("holdIDExpiry(%q) ok", bad)
		}
	}
}

func TestHoldHTTP(t *testing.T) {
	s, _, _ := newHoldService(t, newClock(testNow).opts(), holdFacility("F1", 5))
	pub, staff := s.PublicHandler(), s.StaffHandler()

	w := do(t, pub, "POST", "/api/v1/holds", `{"facility_id":"F1","party":2}`)
	if w.Code != http.StatusCreated || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("hold: %d %s", w.Code, w.Body)
	}
	var h map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if h["facility_id"] != "F1" || h["party"] != 2.0 || h["id"] == "" || h["expires_at"] != testNow.Add(DefaultHoldTTL).Format(time.RFC3339Nano) {
		t.Fatalf("hold body %v", h)
	}
	// Holds never show on the public facility.
	if w := do(t, pub, "GET", "/api/v1/facilities/F1", ""); strings.Contains(w.Body.String(), h["id"].(string)) {
		t.Errorf("hold id leaked: %s", w.Body)
	}

	tests := []struct {
		name    string
		h       http.Handler
		target  string
		body    string
		status  int
		code    string
		wantOcc int // -1: not checked
	}{
		{"hold no room", pub, "/api/v1/holds", `{"facility_id":"F1","party":4}`, 409, "no_room", -1},
		{"hold unknown field", pub, "/api/v1/holds", `{"facility_id":"F1","party":1,"x":1}`, 400, "bad_request", -1},
		{"hold party string", pub, "/api/v1/holds", `{"facility_id":"F1","party":"1"}`, 400, "bad_request", -1},
		{"hold unknown facility", pub, "/api/v1/holds", `{"facility_id":"F9","party":1}`, 404, "not_found", -1},
		{"check-in bad json", staff, "/api/v1/facilities/F1/checkins", `{"count":`, 400, "bad_request", -1},
		{"check-in unknown hold", staff, "/api/v1/facilities/F1/checkins", `{"count":1,"hold_id":"h_zzzzzz_x"}`, 404, "hold_not_found", -1},
		{"check-in with hold", staff, "/api/v1/facilities/F1/checkins", fmt.Sprintf(`{"count":2,"hold_id":%q}`, h["id"]), 200, "", 2},
		{"check-out", staff, "/api/v1/facilities/F1/checkouts", `{"count":1}`, 200, "", 1},
		{"check-out too many", staff, "/api/v1/facilities/F1/checkouts", `{"count":2}`, 409, "below_zero", -1},
	}
	for _, tt := range tests {
		w := do(t, tt.h, "POST", tt.target, tt.body)
		if w.Code != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.status)
			continue
		}
		if tt.code != "" {
			var e apiError
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Code != tt.code {
				t.Errorf("%s: body %s, want code %s", tt.name, w.Body, tt.code)
			}
			continue
		}
		var f Facility
		if err := json.Unmarshal(w.Body.Bytes(), &f); err != nil || f.Occupancy != tt.wantOcc || f.Held != 0 {
			t.Errorf("%s: %s", tt.name, w.Body)
		}
	}
}
