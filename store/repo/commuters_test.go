package repo

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/store"
)

// commuterBackends are the engine set-ups the commuter store is tested on:
// two handles on one store, as two processes would have.
var commuterBackends = []struct {
	name     string
	backends func(t testing.TB) []store.Backend
}{
	{"bolt", func(t testing.TB) []store.Backend { b := boltBackend(t); return []store.Backend{b, b} }},
	{"redis", func(t testing.TB) []store.Backend { return redisBackends(t, 2) }},
}

func TestCommuterStaffReports(t *testing.T) {
	for _, tt := range commuterBackends {
		t.Run(tt.name, func(t *testing.T) {
			bs := tt.backends(t)
			a, b := Commuters{B: bs[0]}, Commuters{B: bs[1]}
			ctx := context.Background()
			if rs, err := a.StaffReports(ctx); err != nil || len(rs) != 0 {
				t.Fatalf("empty store: %v, %v", rs, err)
			}
			first := routing.StaffReport{Station: "100202", Count: 1200, By: "sato", At: testNow}
			if err := a.SetStaffReport(ctx, first); err != nil {
				t.Fatal(err)
			}
			later := routing.StaffReport{Station: "100202", Count: 300, By: "suzuki", At: testNow.Add(time.Minute)}
			if err := b.SetStaffReport(ctx, later); err != nil {
				t.Fatal(err)
			}
			// A report made before the stored one (a slow request) loses.
			if err := a.SetStaffReport(ctx, first); err != nil {
				t.Fatal(err)
			}
			other := routing.StaffReport{Station: "1130102", Count: 0, By: "sato", At: testNow}
			if err := a.SetStaffReport(ctx, other); err != nil {
				t.Fatal(err)
			}
			rs, err := b.StaffReports(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]routing.StaffReport{}
			for _, r := range rs {
				got[r.Station] = r
			}
			if len(got) != 2 || got["100202"].Count != 300 || got["100202"].By != "suzuki" ||
				!got["100202"].At.Equal(later.At) || got["1130102"].Count != 0 {
				t.Errorf("reports: %+v", rs)
			}
		})
	}
}

func TestCommuterSelfReportsConcurrent(t *testing.T) {
	for _, tt := range commuterBackends {
		t.Run(tt.name, func(t *testing.T) {
			bs := tt.backends(t)
			ctx := context.Background()
			const workers, each = 8, 100
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					s := Commuters{B: bs[w%len(bs)]}
					for k := range each {
						// Spread over two buckets, 3 people per report.
						at := testNow.Add(time.Duration(k%2) * routing.SelfReportResolution)
						if err := s.AddSelfReport(ctx, "100202", at, 3); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			m, err := Commuters{B: bs[0]}.SelfCounts(ctx, []string{"100202", "1130102"}, testNow.Add(-time.Hour), testNow.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if m["100202"] != workers*each*3 || m["1130102"] != 0 {
				t.Errorf("counts %v, want 100202: %d and nothing else", m, workers*each*3)
			}
		})
	}
}

func TestCommuterSelfCountsWindow(t *testing.T) {
	for _, tt := range commuterBackends {
		t.Run(tt.name, func(t *testing.T) {
			s := Commuters{B: tt.backends(t)[0]}
			ctx := context.Background()
			midnight := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
			add := func(at time.Time, n int) {
				t.Helper()
				if err := s.AddSelfReport(ctx, "S1", at, n); err != nil {
					t.Fatal(err)
				}
			}
			add(midnight.Add(-2*time.Hour), 1)      // before every window below
			add(midnight.Add(-10*time.Minute), 10)  // day 1, bucket 23:50
			add(midnight.Add(-7*time.Minute), 100)  // day 1, bucket 23:50
			add(midnight.Add(3*time.Minute), 1000)  // day 2, bucket 00:00
			add(midnight.Add(20*time.Minute), 1e4)  // day 2, bucket 00:20
			add(midnight.Add(2*time.Hour), 100_000) // after every window below
			for _, c := range []struct {
				name         string
				since, until time.Time
				want         int
			}{
				{"across midnight", midnight.Add(-15 * time.Minute), midnight.Add(30 * time.Minute), 11110},
				{"bucket of since counts", midnight.Add(-6 * time.Minute), midnight.Add(10 * time.Minute), 1110},
				{"bucket after until excluded", midnight.Add(-60 * time.Minute), midnight.Add(19 * time.Minute), 1110},
				{"bucket of until counts", midnight.Add(-60 * time.Minute), midnight.Add(20 * time.Minute), 11110},
				{"empty window", midnight.Add(40 * time.Minute), midnight.Add(time.Hour), 0},
				{"until before since", midnight, midnight.Add(-time.Hour), 0},
			} {
				m, err := s.SelfCounts(ctx, []string{"S1"}, c.since, c.until)
				if err != nil {
					t.Fatal(err)
				}
				if m["S1"] != c.want {
					t.Errorf("%s: %d, want %d", c.name, m["S1"], c.want)
				}
			}
		})
	}
}
