package routing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/httpapi"
)

// memStore is a TEST FAKE of Store: a map of records behind a mutex (so
// UpdateFacility is atomic within the test process), with an injectable
// failure. The real Store lives over the storage engine, elsewhere.
type memStore struct {
	mu   sync.Mutex
	m    map[string]Record
	puts int   // successful writes (PutFacilities and UpdateFacility)
	fail error // returned by every call while set
}

func newMemStore() *memStore { return &memStore{m: map[string]Record{}} }

func (s *memStore) PutFacilities(_ context.Context, fs []Facility) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.puts++
	for _, f := range fs {
		s.m[f.ID] = Record{Facility: f}
	}
	return nil
}

func (s *memStore) Facilities(ctx context.Context) ([]Facility, error) {
	rs, err := s.Records(ctx)
	out := make([]Facility, len(rs))
	for i, r := range rs {
		out[i] = r.Facility
	}
	return out, err
}

func (s *memStore) Records(context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	out := make([]Record, 0, len(s.m))
	for _, r := range s.m {
		r.Holds = slices.Clone(r.Holds)
		out = append(out, r)
	}
	return out, nil
}

func (s *memStore) UpdateFacility(_ context.Context, id string, fn func(*Record) error) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Record{}, s.fail
	}
	r, ok := s.m[id]
	if !ok {
		return Record{}, fmt.Errorf("facility %q: %w", id, ErrNotFound)
	}
	r.Holds = slices.Clone(r.Holds)
	if err := fn(&r); err != nil {
		return Record{}, err
	}
	s.puts++
	s.m[id] = r
	r.Holds = slices.Clone(r.Holds)
	return r, nil
}

// snapshot returns the stored facilities (without holds).
func (s *memStore) snapshot() map[string]Facility {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Facility, len(s.m))
	for id, r := range s.m {
		out[id] = r.Facility
	}
	return out
}

// record returns the stored record of id.
func (s *memStore) record(id string) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[id]
	r.Holds = slices.Clone(r.Holds)
	return r
}

// recorder is a TEST FAKE of Publisher.
type recorder struct {
	mu   sync.Mutex
	msgs []published
}

type published struct {
	topic, key string
	v          any
}

func (r *recorder) Publish(topic, key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, published{topic, key, v})
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

var testNow = time.Date(2026, 12, 1, 14, 46, 0, 0, time.UTC)

// newSeeded returns a Service over a fresh fake store seeded with the real
// Minato facilities (capacity 300, open).
func newSeeded(t testing.TB, b *Boundary) (*Service, *memStore, *recorder) {
	t.Helper()
	st, pub := newMemStore(), &recorder{}
	s, err := New(st, pub, Options{Boundary: b, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(context.Background(), minatoFacilities(t)); err != nil {
		t.Fatal(err)
	}
	return s, st, pub
}

func ptr[T any](v T) *T { return &v }

func TestSeedKeepsOperatorEdits(t *testing.T) {
	ctx := context.Background()
	s, st, pub := newSeeded(t, nil)
	if n := len(s.List()); n != 144 {
		t.Fatalf("%d facilities after seeding, want 144", n)
	}
	if n := len(st.snapshot()); n != 144 {
		t.Fatalf("%d facilities stored, want 144", n)
	}
	if pub.count() != 144 {
		t.Errorf("%d publications, want 144", pub.count())
	}
	const id = "E1310300001111" // 南山小学校
	if _, err := s.Patch(ctx, id, Patch{Status: ptr(StatusClosed), Capacity: ptr(120)}); err != nil {
		t.Fatal(err)
	}

	// Restart: a new Service over the same store, seeded again from the
	// shipped data plus one new facility.
	s2, err := New(st, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	extra := Facility{ID: "TS-1", Name: "一時滞在施設テスト", Kind: KindTemporaryStay, Status: StatusOpen, Lat: 35.65, Lng: 139.75, Capacity: 50}
	if err := s2.Seed(ctx, append(minatoFacilities(t), extra)); err != nil {
		t.Fatal(err)
	}
	f, ok := s2.Get(id)
	if !ok || f.Status != StatusClosed || f.Capacity != 120 {
		t.Errorf("operator edit lost: %+v", f)
	}
	if _, ok := s2.Get("TS-1"); !ok || len(s2.List()) != 145 {
		t.Errorf("new facility not added (%d facilities)", len(s2.List()))
	}

	// Bad seeds change nothing.
	before := st.snapshot()
	bad := []struct {
		name string
		fs   []Facility
	}{
		{"twice", []Facility{{ID: "X", Name: "x", Kind: KindShelter, Status: StatusOpen}, {ID: "X", Name: "x", Kind: KindShelter, Status: StatusOpen}}},
		{"bad kind", []Facility{{ID: "Y", Name: "y", Kind: "hotel", Status: StatusOpen}}},
		{"occupancy over capacity", []Facility{{ID: "Z", Name: "z", Kind: KindShelter, Status: StatusOpen, Capacity: 1, Occupancy: 2}}},
		{"no id", []Facility{{Name: "z", Kind: KindShelter, Status: StatusOpen}}},
	}
	for _, tt := range bad {
		if err := s2.Seed(ctx, tt.fs); err == nil {
			t.Errorf("%s: seed accepted", tt.name)
		}
	}
	if !maps.Equal(before, st.snapshot()) || len(s2.List()) != 145 {
		t.Error("a refused seed changed something")
	}
}

func TestPatchValidation(t *testing.T) {
	const id = "E1310300001111"
	tests := []struct {
		name   string
		id     string
		p      Patch
		status int
	}{
		{"unknown id", "nope", Patch{Status: ptr(StatusOpen)}, http.StatusNotFound},
		{"empty patch", id, Patch{}, http.StatusBadRequest},
		{"unknown status", id, Patch{Status: ptr("half-open")}, http.StatusBadRequest},
		{"empty status", id, Patch{Status: ptr("")}, http.StatusBadRequest},
		{"negative capacity", id, Patch{Capacity: ptr(-1)}, http.StatusBadRequest},
		{"capacity too large", id, Patch{Capacity: ptr(MaxCapacity + 1)}, http.StatusBadRequest},
		{"negative occupancy", id, Patch{Occupancy: ptr(-1)}, http.StatusBadRequest},
		{"occupancy above capacity", id, Patch{Occupancy: ptr(301)}, http.StatusBadRequest},
		{"capacity below occupancy", id, Patch{Capacity: ptr(9)}, http.StatusBadRequest},
		{"both, inconsistent", id, Patch{Capacity: ptr(10), Occupancy: ptr(11)}, http.StatusBadRequest},
		{"bad status with good counts", id, Patch{Status: ptr("x"), Occupancy: ptr(1)}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, pub := newSeeded(t, nil)
			// Occupancy 10 first, so "capacity below occupancy" has something to be below.
			if _, err := s.Patch(context.Background(), id, Patch{Occupancy: ptr(10)}); err != nil {
				t.Fatal(err)
			}
			beforeF, _ := s.Get(id)
			beforeStore, beforePub, beforePuts := st.snapshot(), pub.count(), st.puts
			beforeIx := s.snap.Load().index

			_, err := s.Patch(context.Background(), tt.id, tt.p)
			var ae *httpapi.Error
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("error %v, want *httpapi.Error %d", err, tt.status)
			}
			if f, _ := s.Get(id); f != beforeF {
				t.Errorf("facility changed: %+v", f)
			}
			if !maps.Equal(beforeStore, st.snapshot()) || st.puts != beforePuts {
				t.Error("store written")
			}
			if pub.count() != beforePub {
				t.Error("published")
			}
			if s.snap.Load().index != beforeIx {
				t.Error("index rebuilt")
			}
		})
	}
}

func TestPatchAutoStatus(t *testing.T) {
	const id = "E1310300001111"
	tests := []struct {
		name   string
		start  Patch
		p      Patch
		status string
		free   int
	}{
		{"open fills up", Patch{}, Patch{Occupancy: ptr(300)}, StatusFull, 0},
		{"capacity cut to occupancy", Patch{Occupancy: ptr(50)}, Patch{Capacity: ptr(50)}, StatusFull, 0},
		{"full gets room again", Patch{Occupancy: ptr(300)}, Patch{Occupancy: ptr(299)}, StatusOpen, 1},
		{"full gets more capacity", Patch{Occupancy: ptr(300)}, Patch{Capacity: ptr(400)}, StatusOpen, 100},
		{"opened while full stays full", Patch{Occupancy: ptr(300)}, Patch{Status: ptr(StatusOpen)}, StatusFull, 0},
		{"operator sets full with room", Patch{}, Patch{Status: ptr(StatusFull)}, StatusFull, 300},
		{"zero capacity open is full", Patch{}, Patch{Capacity: ptr(0), Status: ptr(StatusOpen)}, StatusFull, 0},
		{"closed stays closed when full", Patch{Status: ptr(StatusClosed)}, Patch{Occupancy: ptr(300)}, StatusClosed, 0},
		{"unsafe stays unsafe with room", Patch{Status: ptr(StatusUnsafe)}, Patch{Occupancy: ptr(0)}, StatusUnsafe, 300},
		{"checking stays checking", Patch{Status: ptr(StatusChecking)}, Patch{Capacity: ptr(10)}, StatusChecking, 10},
		{"plain open with room", Patch{}, Patch{Occupancy: ptr(299)}, StatusOpen, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, st, pub := newSeeded(t, nil)
			if tt.start != (Patch{}) {
				if _, err := s.Patch(ctx, id, tt.start); err != nil {
					t.Fatal(err)
				}
			}
			f, err := s.Patch(ctx, id, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if f.Status != tt.status || f.Free() != tt.free {
				t.Errorf("status %s free %d, want %s %d", f.Status, f.Free(), tt.status, tt.free)
			}
			if got, _ := s.Get(id); got != f {
				t.Errorf("Get = %+v, want %+v", got, f)
			}
			if st.snapshot()[id] != f {
				t.Error("store not updated")
			}
			if !f.UpdatedAt.Equal(testNow) {
				t.Errorf("UpdatedAt %v", f.UpdatedAt)
			}
			pub.mu.Lock()
			last := pub.msgs[len(pub.msgs)-1]
			pub.mu.Unlock()
			if last.topic != Topic || last.key != id || last.v.(Facility) != f {
				t.Errorf("last publication %+v", last)
			}
			// The index follows: the facility is offered only when open with room.
			offered := false
			for _, m := range s.snap.Load().index.Nearest(f.Lat, f.Lng, MaxLimit, 1) {
				offered = offered || m.Facility.ID == id
			}
			if want := f.Status == StatusOpen && f.Free() > 0; offered != want {
				t.Errorf("offered by Nearest = %v, want %v", offered, want)
			}
		})
	}
}

func TestPatchStoreFailure(t *testing.T) {
	s, st, pub := newSeeded(t, nil)
	const id = "E1310300001111"
	before, _ := s.Get(id)
	st.fail = errors.New("disk full")
	n := pub.count()
	_, err := s.Patch(context.Background(), id, Patch{Status: ptr(StatusClosed)})
	var ae *httpapi.Error
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("error %v, want a plain (500) store error", err)
	}
	if f, _ := s.Get(id); f != before || pub.count() != n {
		t.Error("state changed although the store failed")
	}
	if _, err := New(st, nil, Options{}); err == nil {
		t.Error("New succeeded although the store failed")
	}
	if _, err := New(nil, nil, Options{}); err == nil {
		t.Error("New accepted a nil store")
	}
}

func TestServiceNearestValidation(t *testing.T) {
	s, _, _ := newSeeded(t, minatoBoundary(t))
	tests := []struct {
		name         string
		lat, lng     float64
		limit, party int
		code         string // "" = success
		wantN        int
	}{
		{"ok", 35.6581, 139.7454, 3, 1, "", 3},
		{"limit 20", 35.6581, 139.7454, 20, 1, "", 20},
		{"lat NaN", nanF(), 139.75, 3, 1, "bad_request", 0},
		{"lat 91", 91, 139.75, 3, 1, "bad_request", 0},
		{"lat -91", -91, 139.75, 3, 1, "bad_request", 0},
		{"lng 181", 35.65, 181, 3, 1, "bad_request", 0},
		{"lng -Inf", 35.65, negInf(), 3, 1, "bad_request", 0},
		{"limit 0", 35.65, 139.75, 0, 1, "bad_request", 0},
		{"limit 21", 35.65, 139.75, 21, 1, "bad_request", 0},
		{"party 0", 35.65, 139.75, 3, 0, "bad_request", 0},
		{"party 1001", 35.65, 139.75, 3, 1001, "bad_request", 0},
		{"Osaka", 34.702485, 135.495951, 3, 1, "outside_area", 0},
		{"Shimbashi (margin)", 35.666195, 139.758587, 3, 1, "", 3},
		{"party too big for anyone", 35.65, 139.75, 3, 301, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := s.Nearest(tt.lat, tt.lng, tt.limit, tt.party)
			if tt.code == "" {
				if err != nil || ms == nil || len(ms) != tt.wantN {
					t.Fatalf("got %d matches (nil %v), err %v; want %d", len(ms), ms == nil, err, tt.wantN)
				}
				return
			}
			var ae *httpapi.Error
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != tt.code {
				t.Fatalf("err %v, want 400 %s", err, tt.code)
			}
		})
	}
}

// TestServiceConcurrent patches and queries from many goroutines (run with
// -race) and then checks that the final snapshot's index agrees with brute
// force over the final list.
func TestServiceConcurrent(t *testing.T) {
	s, _, _ := newSeeded(t, nil)
	list := s.List()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 200 {
				f := list[rng.IntN(len(list))]
				p := Patch{Occupancy: ptr(rng.IntN(301))}
				if rng.IntN(5) == 0 {
					p.Status = ptr(testStatuses[rng.IntN(len(testStatuses))])
				}
				if _, err := s.Patch(context.Background(), f.ID, p); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			ps := benchPoints(200)
			for i, p := range ps {
				ms, err := s.Nearest(p[0], p[1], 1+i%MaxLimit, 1+i%5)
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range ms {
					if m.Facility.Status != StatusOpen || m.Free < 1+i%5 {
						t.Errorf("offered %s with status %s free %d", m.Facility.ID, m.Facility.Status, m.Free)
					}
				}
				_ = s.List()
			}
		})
	}
	wg.Wait()
	final := s.List()
	for i, p := range benchPoints(300) {
		got, err := s.Nearest(p[0], p[1], 5, 1+i%3)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteNearest(final, p[0], p[1], 5, 1+i%3)
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
			t.Fatalf("after concurrent patches: %v, brute force %v", ids(got), ids(want))
		}
	}
}
