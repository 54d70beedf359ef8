package routing

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Minato's bounding box (from the boundary file), for random positions.
const (
	minatoMinLat, minatoMaxLat = 35.6231, 35.6828
	minatoMinLng, minatoMaxLng = 139.7086, 139.7824
	// aroundDeg is about 3–4 km: "in and around the ward".
	aroundDeg = 0.035
)

// bruteNearest is the reference: filter, score every facility with the
// documented ranking rule, sort, cut. It shares nothing with the index but
// the exported formulas (Haversine, WalkFactor, LoadPenalty).
func bruteNearest(fs []Facility, lat, lng float64, k, party int) []Match {
	type scored struct {
		i          int
		cost, dist float64
	}
	all := make([]scored, 0, len(fs))
	for i, f := range fs {
		if f.Status != StatusOpen || f.Free() < party {
			continue
		}
		d := Haversine(lat, lng, f.Lat, f.Lng) * WalkFactor
		all = append(all, scored{i, d * (1 + LoadPenalty(f.Free(), f.Capacity)), d})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(a.cost, b.cost); c != 0 {
			return c
		}
		if c := cmp.Compare(a.dist, b.dist); c != 0 {
			return c
		}
		return cmp.Compare(fs[a.i].ID, fs[b.i].ID)
	})
	var out []Match
	for _, s := range all[:min(k, len(all))] {
		f := fs[s.i]
		out = append(out, Match{Facility: f, DistanceM: float64(int64(s.dist + 0.5)), WalkMinutes: WalkMinutes(s.dist), Free: f.Free()})
	}
	return out
}

var testStatuses = []string{StatusOpen, StatusOpen, StatusOpen, StatusClosed, StatusChecking, StatusFull, StatusUnsafe}

// randomFacilities makes n facilities in and around the ward with random
// statuses and counts; about 3 % share the exact position of an earlier one
// (same building, other kind) to exercise tie-breaking.
func randomFacilities(rng *rand.Rand, n int, spreadDeg float64) []Facility {
	fs := make([]Facility, n)
	for i := range fs {
		f := Facility{
			ID:     fmt.Sprintf("R%06d-%d", rng.IntN(1000000), i), // random order, unique
			Name:   "random",
			Kind:   KindShelter,
			Status: testStatuses[rng.IntN(len(testStatuses))],
			Lat:    minatoMinLat - spreadDeg + rng.Float64()*(minatoMaxLat-minatoMinLat+2*spreadDeg),
			Lng:    minatoMinLng - spreadDeg + rng.Float64()*(minatoMaxLng-minatoMinLng+2*spreadDeg),
		}
		if i > 0 && rng.IntN(33) == 0 {
			g := fs[rng.IntN(i)]
			f.Lat, f.Lng = g.Lat, g.Lng
		}
		f.Capacity = rng.IntN(500)
		if f.Capacity > 0 {
			f.Occupancy = rng.IntN(f.Capacity + 1)
			f.Held = rng.IntN(f.Capacity - f.Occupancy + 5)
			if rng.IntN(4) == 0 { // many nearly full, so the penalty matters
				f.Occupancy = f.Capacity - rng.IntN(f.Capacity/5+1)
				f.Held = 0
			}
		}
		fs[i] = f
	}
	return fs
}

type testQuery struct {
	lat, lng    float64
	k, party    int
	description string
}

func randomQueries(rng *rand.Rand, n int, fs []Facility) []testQuery {
	ks := []int{1, 2, 3, 3, 5, 10, 20, 40}
	parties := []int{1, 1, 1, 2, 5, 20, 100, 400, 1000}
	qs := make([]testQuery, 0, n+8)
	for i := range n {
		q := testQuery{
			lat:   minatoMinLat - 1.5*aroundDeg + rng.Float64()*(minatoMaxLat-minatoMinLat+3*aroundDeg),
			lng:   minatoMinLng - 1.5*aroundDeg + rng.Float64()*(minatoMaxLng-minatoMinLng+3*aroundDeg),
			k:     ks[rng.IntN(len(ks))],
			party: parties[rng.IntN(len(parties))],
		}
		if i%10 == 0 { // exactly on a facility
			f := fs[rng.IntN(len(fs))]
			q.lat, q.lng = f.Lat, f.Lng
		}
		q.description = fmt.Sprintf("query %d (%v,%v) k=%d party=%d", i, q.lat, q.lng, q.k, q.party)
		qs = append(qs, q)
	}
	// Far away (linear-scan fallback) and awkward places.
	for _, q := range []testQuery{
		{34.702485, 135.495951, 3, 1, "Osaka"},
		{35.70, 139.90, 5, 1, "Chiba, inside the far margin"},
		{35.6, 140.3, 5, 1, "beyond the far margin"},
		{0, -179.9, 3, 1, "antimeridian"},
		{-89.9, 10, 3, 1, "south pole"},
		{89.99, 139.7, 3, 1, "north pole"},
		{35.65, 139.75, 3, 100000, "party larger than any facility"},
		{35.65, 139.75, 5000, 1, "k larger than the index"},
	} {
		qs = append(qs, q)
	}
	return qs
}

func checkAgainstBrute(t *testing.T, ix *Index, fs []Facility, qs []testQuery) {
	t.Helper()
	for _, q := range qs {
		got := ix.Nearest(q.lat, q.lng, q.k, q.party)
		want := bruteNearest(fs, q.lat, q.lng, q.k, q.party)
		if len(got) != len(want) {
			t.Fatalf("%s: %d matches, brute force %d", q.description, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.Facility != w.Facility || g.DistanceM != w.DistanceM || g.WalkMinutes != w.WalkMinutes || g.Free != w.Free {
				t.Fatalf("%s: match %d = %s %.0f m %d min free %d; brute force %s %.0f m %d min free %d",
					q.description, i, g.Facility.ID, g.DistanceM, g.WalkMinutes, g.Free,
					w.Facility.ID, w.DistanceM, w.WalkMinutes, w.Free)
			}
			if g.Facility.Status != StatusOpen || g.Free < q.party || g.Facility.Free() != g.Free {
				t.Fatalf("%s: match %d is %s with %d free", q.description, i, g.Facility.Status, g.Free)
			}
		}
	}
}

func TestIndexMatchesBruteForce(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		spreadDeg float64
		queries   int
	}{
		{"5000 in and around the ward", 5000, aroundDeg, 1000},
		{"200 in and around the ward", 200, aroundDeg, 3000},
		{"10000 dense", 10000, 0, 300},
		{"3 facilities", 3, 0, 500},
		{"1 facility", 1, 0, 200},
		{"spread over 40° (linear mode)", 2000, 20, 500},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(42, uint64(i)))
			fs := randomFacilities(rng, tt.n, tt.spreadDeg)
			ix := NewIndex(fs)
			nOpen := 0
			for _, f := range fs {
				if f.Status == StatusOpen && f.Free() > 0 {
					nOpen++
				}
			}
			if ix.Len() != nOpen {
				t.Errorf("Len = %d, want %d open with room", ix.Len(), nOpen)
			}
			checkAgainstBrute(t, ix, fs, randomQueries(rng, tt.queries, fs))
		})
	}
}

func TestIndexRealFacilities(t *testing.T) {
	fs := minatoFacilities(t)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range fs {
		fs[i].Status = testStatuses[rng.IntN(len(testStatuses))]
		fs[i].Occupancy = rng.IntN(fs[i].Capacity + 1)
	}
	checkAgainstBrute(t, NewIndex(fs), fs, randomQueries(rng, 5000, fs))
}

func TestIndexLoadSpreading(t *testing.T) {
	// Two facilities north of the query: A at 500 m walking with 5 % free,
	// B at 700 m with plenty of room. A's cost is 500 × (1 + 0.75) = 875, so
	// B ranks first; the distances reported are the real ones.
	const lat, lng = 35.65, 139.75
	dLat := func(walkM float64) float64 { return walkM / WalkFactor / (EarthRadiusM * degToRad) }
	fs := []Facility{
		{ID: "A", Name: "A", Kind: KindShelter, Status: StatusOpen, Lat: lat + dLat(500), Lng: lng, Capacity: 100, Occupancy: 95},
		{ID: "B", Name: "B", Kind: KindShelter, Status: StatusOpen, Lat: lat + dLat(700), Lng: lng, Capacity: 100, Occupancy: 10},
		{ID: "C", Name: "C", Kind: KindShelter, Status: StatusFull, Lat: lat, Lng: lng, Capacity: 100, Occupancy: 100},
		{ID: "D", Name: "D", Kind: KindShelter, Status: StatusClosed, Lat: lat, Lng: lng, Capacity: 100},
		{ID: "E", Name: "E", Kind: KindShelter, Status: StatusOpen, Lat: lat, Lng: lng, Capacity: 10, Occupancy: 5, Held: 5},
	}
	got := NewIndex(fs).Nearest(lat, lng, 5, 1)
	if len(got) != 2 || got[0].Facility.ID != "B" || got[1].Facility.ID != "A" {
		t.Fatalf("got %v, want B then A", ids(got))
	}
	if got[0].DistanceM != 700 || got[1].DistanceM != 500 || got[0].WalkMinutes != 11 || got[1].WalkMinutes != 8 {
		t.Errorf("distances %v/%v m, %v/%v min; want 700/500 m, 11/8 min",
			got[0].DistanceM, got[1].DistanceM, got[0].WalkMinutes, got[1].WalkMinutes)
	}
	if got[0].Free != 90 || got[1].Free != 5 {
		t.Errorf("free %d/%d, want 90/5", got[0].Free, got[1].Free)
	}
	// A party of 6 does not fit in A.
	if got := NewIndex(fs).Nearest(lat, lng, 5, 6); len(got) != 1 || got[0].Facility.ID != "B" {
		t.Errorf("party 6: got %v, want [B]", ids(got))
	}
}

func TestIndexEdgeCases(t *testing.T) {
	fs := minatoFacilities(t)
	ix := NewIndex(fs)
	tests := []struct {
		name          string
		lat, lng      float64
		k, party, len int
	}{
		{"k 0", 35.65, 139.75, 0, 1, 0},
		{"party 0", 35.65, 139.75, 3, 0, 0},
		{"NaN", nanF(), 139.75, 3, 1, 0},
		{"lat 91", 91, 139.75, 3, 1, 0},
		{"normal", 35.65, 139.75, 3, 1, 3},
	}
	for _, tt := range tests {
		if got := ix.Nearest(tt.lat, tt.lng, tt.k, tt.party); len(got) != tt.len {
			t.Errorf("%s: %d matches, want %d", tt.name, len(got), tt.len)
		}
	}
	if got := NewIndex(nil).Nearest(35.65, 139.75, 3, 1); got != nil {
		t.Errorf("empty index gave %v", got)
	}
}

func TestIndexAllocations(t *testing.T) {
	ix := NewIndex(minatoFacilities(t))
	allocs := testing.AllocsPerRun(1000, func() {
		if len(ix.Nearest(35.65, 139.75, 3, 1)) != 3 {
			t.Fatal("want 3")
		}
	})
	if allocs > 1 {
		t.Errorf("%.1f allocations per query, want 1 (the result)", allocs)
	}
}

func ids(ms []Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Facility.ID
	}
	return out
}

// benchPoints returns n random positions inside the ward's bounding box.
func benchPoints(n int) [][2]float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := make([][2]float64, n)
	for i := range ps {
		ps[i] = [2]float64{
			minatoMinLat + rng.Float64()*(minatoMaxLat-minatoMinLat),
			minatoMinLng + rng.Float64()*(minatoMaxLng-minatoMinLng),
		}
	}
	return ps
}

// BenchmarkNearest measures k=3 queries at random positions in the ward over
// the 144 real facilities (all open, random occupancy), and over 5,000
// random ones, from parallel goroutines.
func BenchmarkNearest(b *testing.B) {
	minato := minatoFacilities(b)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range minato {
		minato[i].Occupancy = rng.IntN(minato[i].Capacity)
	}
	sets := []struct {
		name string
		fs   []Facility
	}{
		{"minato144", minato},
		{"random5000", randomFacilities(rng, 5000, aroundDeg)},
	}
	ps := benchPoints(4096)
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			ix := NewIndex(set.fs)
			b.ReportAllocs()
			cpu0, _ := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(ps))
				for pb.Next() {
					p := ps[i%len(ps)]
					i++
					if len(ix.Nearest(p[0], p[1], 3, 1)) == 0 {
						panic("no match")
					}
				}
			})
			reportThroughput(b, cpu0)
		})
	}
}

// reportThroughput reports queries/s (wall clock) and, where the platform
// tells, queries per CPU-second of this process (includes the benchmark
// loop and GC; on an idle 2-core machine queries/s ≈ 2 × queries/cpu-s).
func reportThroughput(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	if cpu1, ok := processCPU(); ok && cpu1 > cpu0 {
		b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "queries/cpu-s")
	}
}

// BenchmarkNearestBrute is the reference the index is meant to beat.
func BenchmarkNearestBrute(b *testing.B) {
	fs := minatoFacilities(b)
	ps := benchPoints(4096)
	b.ReportAllocs()
	cpu0, _ := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p := ps[i%len(ps)]
			i++
			bruteNearest(fs, p[0], p[1], 3, 1)
		}
	})
	reportThroughput(b, cpu0)
}

// TestCheapCostIsALowerBound checks the trig-free pruning bound against the
// real cost on random pairs of positions anywhere on Earth.
func TestCheapCostIsALowerBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 200000 {
		lat1, lng1 := rng.Float64()*180-90, rng.Float64()*360-180
		lat2, lng2 := rng.Float64()*180-90, rng.Float64()*360-180
		if i%2 == 0 { // nearby pairs, where the bound is tight
			lat2, lng2 = min(90, lat1+rng.Float64()*0.05), lng1+rng.Float64()*0.05-0.025
		}
		f := Facility{Lat: lat2, Lng: lng2, Capacity: 100, Occupancy: rng.IntN(101)}
		e := newEntry(f)
		p := lat1 * degToRad
		q := query{latR: p, lngR: lng1 * degToRad, cosLat: math.Cos(p)}
		real := Haversine(lat1, lng1, lat2, lng2) * WalkFactor * e.mult
		if c := cheapCost(&q, &e); c*(1-1e-9) > real {
			t.Fatalf("(%v,%v)→(%v,%v): cheap %v > real %v", lat1, lng1, lat2, lng2, c, real)
		}
	}
}
