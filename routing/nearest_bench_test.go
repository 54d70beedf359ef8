package routing

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/minato-city/anpi/routing/roads"
)

// BenchmarkNearestInProcess measures Service.Nearest (validation, boundary
// check, index) for k=3 at fixed seeded random positions in the ward, over
// the 144 real facilities with random occupancy, from parallel goroutines:
// the in-process figure (≥ 500,000 queries/s).
func BenchmarkNearestInProcess(b *testing.B) {
	s, err := New(newMemStore(), nil, Options{Boundary: minatoBoundary(b), Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	benchSeed(b, s)
	benchService(b, s)
}

// BenchmarkNearestRoad is BenchmarkNearestInProcess with walking distances
// along a road graph: ANPI_BENCH_ROAD_GRAPH names an OpenStreetMap extract
// (e.g. a Minato .osm.pbf); without it, the synthetic test network over the
// ward (≈ 110 m blocks, one-way paths, a park, an island) is used.
func BenchmarkNearestRoad(b *testing.B) {
	var g *roads.Graph
	if p := os.Getenv("ANPI_BENCH_ROAD_GRAPH"); p != "" {
		var err error
		if g, err = roads.Load(p); err != nil {
			b.Fatal(err)
		}
	} else {
		g = testRoads(b)
	}
	b.ReportMetric(float64(g.Nodes()), "graph-nodes")
	s, err := New(newMemStore(), nil, Options{Boundary: minatoBoundary(b), Now: func() time.Time { return testNow }, Roads: g})
	if err != nil {
		b.Fatal(err)
	}
	benchSeed(b, s)
	benchService(b, s)
}

func benchSeed(b *testing.B, s *Service) {
	fs := minatoFacilities(b)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range fs {
		fs[i].Occupancy = rng.IntN(fs[i].Capacity)
	}
	if err := s.Seed(b.Context(), fs); err != nil {
		b.Fatal(err)
	}
}

func benchService(b *testing.B, s *Service) {
	ps := benchPoints(4096)
	b.ReportAllocs()
	cpu0, _ := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(ps))
		for pb.Next() {
			p := ps[i%len(ps)]
			i++
			if ms, err := s.Nearest(p[0], p[1], 3, 1); err != nil || len(ms) == 0 {
				panic("no match")
			}
		}
	})
	reportThroughput(b, cpu0)
}
