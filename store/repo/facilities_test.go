package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/bolt"
	"github.com/minato-city/anpi/store/redis"
)

// boltBackend opens a fresh bolt store in a temporary directory.
func boltBackend(t testing.TB) store.Backend {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "anpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// redisBackends returns n Backends, each with its own client (as n
// processes would have), sharing one fresh key prefix on the Redis at
// ANPI_TEST_REDIS_URL; the prefix's keys are deleted after the test. It
// skips the test when the variable is unset.
func redisBackends(t testing.TB, n int) []store.Backend {
	t.Helper()
	u := os.Getenv("ANPI_TEST_REDIS_URL")
	if u == "" {
		t.Skip("ANPI_TEST_REDIS_URL not set: skipping Redis facility tests")
	}
	opts, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal("ANPI_TEST_REDIS_URL does not parse")
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "anpitest:facilities:" + hex.EncodeToString(r[:]) + ":"
	out := make([]store.Backend, n)
	for i := range out {
		c := goredis.NewClient(opts)
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("redis ping: %v", err)
		}
		out[i] = redis.New(c, prefix)
	}
	cleanup := goredis.NewClient(opts)
	t.Cleanup(func() {
		defer cleanup.Close()
		ctx := context.Background()
		iter := cleanup.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := cleanup.Unlink(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
				return
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return out
}

var testNow = time.Date(2026, 12, 1, 14, 46, 0, 0, time.UTC)

func testFacility(id string, capacity int) routing.Facility {
	return routing.Facility{ID: id, Name: "テスト避難所", Kind: routing.KindShelter, Lat: 35.6581, Lng: 139.7514,
		Capacity: capacity, Status: routing.StatusOpen, UpdatedAt: testNow}
}

// services returns one routing.Service per backend (the backends share one
// store), the first one seeded with fs.
func services(t testing.TB, now func() time.Time, bs []store.Backend, fs ...routing.Facility) []*routing.Service {
	t.Helper()
	out := make([]*routing.Service, len(bs))
	for i, b := range bs {
		s, err := routing.New(Facilities{B: b}, nil, routing.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := s.Seed(context.Background(), fs); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = s
	}
	return out
}

func TestHoldContention(t *testing.T) {
	tests := []struct {
		name     string
		backends func(t testing.TB) []store.Backend
	}{
		{"bolt", func(t testing.TB) []store.Backend { return []store.Backend{boltBackend(t)} }},
		{"redis", func(t testing.TB) []store.Backend { return redisBackends(t, 1) }},
		{"redis two services", func(t testing.TB) []store.Backend { return redisBackends(t, 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := tt.backends(t)
			ss := services(t, time.Now, bs, testFacility("F1", 100))
			for _, s := range ss[1:] {
				// The other "processes" know the facility, as if started with the same data.
				if _, err := s.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			const attempts = 10000
			var ok, refused atomic.Int64
			var other sync.Map
			var wg sync.WaitGroup
			start := make(chan struct{})
			began := time.Now()
			for i := range attempts {
				s := ss[i%len(ss)]
				wg.Go(func() {
					<-start
					_, err := s.Hold(context.Background(), "F1", 1)
					var ae *httpapi.Error
					switch {
					case err == nil:
						ok.Add(1)
					case errors.As(err, &ae) && ae.Status == http.StatusConflict:
						refused.Add(1)
					default:
						other.Store(err.Error(), true)
					}
				})
			}
			close(start)
			wg.Wait()
			t.Logf("%s: %d hold attempts in %v (%d services)", tt.name, attempts, time.Since(began).Round(time.Millisecond), len(ss))
			other.Range(func(k, _ any) bool { t.Errorf("unexpected error: %v", k); return true })
			if ok.Load() != 100 || refused.Load() != attempts-100 {
				t.Fatalf("%d holds succeeded, %d refused; want exactly 100 and %d", ok.Load(), refused.Load(), attempts-100)
			}
			recs, err := Facilities{B: bs[0]}.Records(context.Background())
			if err != nil || len(recs) != 1 {
				t.Fatalf("records %v %v", recs, err)
			}
			r := recs[0]
			ids := map[string]bool{}
			for _, h := range r.Holds {
				ids[h.ID] = true
			}
			// Rev counts store updates: holds decided together share one.
			if r.Held != 100 || len(r.Holds) != 100 || len(ids) != 100 || r.Occupancy != 0 || r.Status != routing.StatusFull || r.Rev < 1 || r.Rev > 100 {
				t.Errorf("stored held %d holds %d (distinct %d) occupancy %d status %s rev %d",
					r.Held, len(r.Holds), len(ids), r.Occupancy, r.Status, r.Rev)
			}
			for i, s := range ss {
				if _, err := s.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
				if f, _ := s.Get("F1"); f.Held != 100 || f.Free() != 0 {
					t.Errorf("service %d sees %+v", i, f)
				}
			}
		})
	}
}

// TestUpdateFacilityContention races UpdateFacility itself, without the
// Service's per-facility queue, from many goroutines over two clients (two
// processes, for Redis): the optimistic retry must still never oversell.
func TestUpdateFacilityContention(t *testing.T) {
	tests := []struct {
		name     string
		backends func(t testing.TB) []store.Backend
	}{
		{"bolt", func(t testing.TB) []store.Backend { return []store.Backend{boltBackend(t)} }},
		{"redis two clients", func(t testing.TB) []store.Backend { return redisBackends(t, 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			bs := tt.backends(t)
			if err := (Facilities{B: bs[0]}).PutFacilities(ctx, []routing.Facility{testFacility("F1", 100)}); err != nil {
				t.Fatal(err)
			}
			const attempts = 1000
			full := errors.New("full")
			var ok, refused atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			began := time.Now()
			for i := range attempts {
				st := Facilities{B: bs[i%len(bs)]}
				wg.Go(func() {
					<-start
					_, err := st.UpdateFacility(ctx, "F1", func(r *routing.Record) error {
						if r.Free() < 1 {
							return full
						}
						r.Occupancy++
						r.Rev++
						return nil
					})
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, full):
						refused.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			t.Logf("%s: %d raw updates in %v", tt.name, attempts, time.Since(began).Round(time.Millisecond))
			recs, err := Facilities{B: bs[0]}.Records(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok.Load() != 100 || refused.Load() != attempts-100 || recs[0].Occupancy != 100 || recs[0].Rev != 100 {
				t.Errorf("%d succeeded, %d refused, stored occupancy %d rev %d; want 100, %d, 100, 100",
					ok.Load(), refused.Load(), recs[0].Occupancy, recs[0].Rev, attempts-100)
			}
		})
	}
}

// TestFacilitiesStore covers the adapter itself on both backends: record
// round trip, unknown id, refusal writes nothing, old documents (written by
// PutFacilities) read with Rev 0 and no holds, expiry across services.
func TestFacilitiesStore(t *testing.T) {
	tests := []struct {
		name     string
		backends func(t testing.TB) []store.Backend
	}{
		{"bolt", func(t testing.TB) []store.Backend { b := boltBackend(t); return []store.Backend{b, b} }},
		{"redis", func(t testing.TB) []store.Backend { return redisBackends(t, 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			bs := tt.backends(t)
			st := Facilities{B: bs[0]}
			if err := st.PutFacilities(ctx, []routing.Facility{testFacility("F1", 10)}); err != nil {
				t.Fatal(err)
			}
			recs, err := st.Records(ctx)
			if err != nil || len(recs) != 1 || recs[0].Rev != 0 || recs[0].Holds != nil || recs[0].Facility != testFacility("F1", 10) {
				t.Fatalf("records %+v %v", recs, err)
			}
			if _, err := st.UpdateFacility(ctx, "NOPE", func(*routing.Record) error { return nil }); !errors.Is(err, routing.ErrNotFound) {
				t.Errorf("unknown id: %v", err)
			}
			if n, _ := bs[0].Count(ctx, collFacilities); n != 1 {
				t.Errorf("update of unknown id created something: %d facilities", n)
			}
			boom := errors.New("boom")
			if _, err := st.UpdateFacility(ctx, "F1", func(r *routing.Record) error { r.Occupancy = 9; return boom }); err != boom {
				t.Errorf("fn error: %v", err)
			}

			// Expiry with an injected clock, the hold taken by one service and
			// swept by another over the same store.
			var now atomic.Int64
			now.Store(testNow.UnixNano())
			clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
			ss := services(t, clock, bs)
			h, err := ss[0].Hold(ctx, "F1", 10)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ss[1].Hold(ctx, "F1", 1); err == nil {
				t.Fatal("second service oversold")
			}
			now.Add(int64(routing.DefaultHoldTTL))
			if n, err := ss[1].Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("sweep: %d %v", n, err)
			}
			got, _ := st.Records(ctx)
			if r := got[0]; r.Held != 0 || r.Holds != nil || r.Status != routing.StatusOpen || r.Occupancy != 0 || r.Rev != 2 {
				t.Errorf("after sweep: %+v", r)
			}
			if f, _ := ss[1].Get("F1"); f.Free() != 10 {
				t.Errorf("sweeping service sees %+v", f)
			}
			if _, err := ss[0].CheckIn(ctx, "F1", routing.CheckInRequest{Count: 1, HoldID: h.ID}); err == nil {
				t.Error("expired hold checked in")
			}
			// A new hold then check-in with it.
			h, err = ss[1].Hold(ctx, "F1", 4)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ss[0].CheckIn(ctx, "F1", routing.CheckInRequest{Count: 4, HoldID: h.ID})
			if err != nil || f.Occupancy != 4 || f.Held != 0 || f.Free() != 6 {
				t.Fatalf("check-in: %+v %v", f, err)
			}
		})
	}
}
