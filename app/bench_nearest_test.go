package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/routing"
)

// The nearest-facility benchmarks answer the same queries two ways, side by
// side: through anpi's public HTTP endpoint, and with Redis GEOSEARCH (the
// obvious alternative). Both use the 144 real Minato facilities with the same
// seeded random occupancy, the same seeded random positions in the ward,
// k = 3, party = 1, and the same number of concurrent keep-alive clients
// (BENCH_CLIENTS, default 32).
const (
	benchNearestK       = 3
	benchNearestPoints  = 4096
	benchDefaultClients = 32
)

// Minato's bounding box (from the boundary file).
const (
	benchMinLat, benchMaxLat = 35.6231, 35.6828
	benchMinLng, benchMaxLng = 139.7086, 139.7824
)

func benchClients() int {
	if n, _ := strconv.Atoi(os.Getenv("BENCH_CLIENTS")); n > 0 {
		return n
	}
	return benchDefaultClients
}

// benchNearestPositions returns the fixed seeded positions in the ward.
func benchNearestPositions() [][2]float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := make([][2]float64, benchNearestPoints)
	for i := range ps {
		ps[i] = [2]float64{
			benchMinLat + rng.Float64()*(benchMaxLat-benchMinLat),
			benchMinLng + rng.Float64()*(benchMaxLng-benchMinLng),
		}
	}
	return ps
}

// benchOccupancy gives each facility (by ID order) its seeded occupancy.
func benchOccupancy(fs []routing.Facility) map[string]int {
	ids := make([]string, len(fs))
	capa := map[string]int{}
	for i, f := range fs {
		ids[i] = f.ID
		capa[f.ID] = f.Capacity
	}
	slices.Sort(ids)
	rng := rand.New(rand.NewPCG(3, 4))
	occ := make(map[string]int, len(ids))
	for _, id := range ids {
		occ[id] = rng.IntN(capa[id])
	}
	return occ
}

// benchGSI loads the shipped Minato facilities as the app seeds them.
func benchGSI(b *testing.B) []routing.Facility {
	f, err := os.Open("../configs/facilities/minato_shelters_gsi.geojson")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fs, err := routing.LoadGSI(f, routing.KindShelter, 200, routing.StatusOpen)
	if err != nil {
		b.Fatal(err)
	}
	for id, o := range benchOccupancy(fs) {
		for i := range fs {
			if fs[i].ID == id {
				fs[i].Occupancy = o
			}
		}
	}
	return fs
}

// latencies collects per-request times from many goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(local []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, local...)
	l.mu.Unlock()
}

// report reports requests/s over elapsed and the p50/p99 in ms.
func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	ms := func(q float64) float64 {
		return float64(l.all[min(len(l.all)-1, int(float64(len(l.all))*q))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(l.all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// runClients runs b.N requests spread over n goroutines, each timing its
// own requests with do(i) for the i-th request overall.
func runClients(b *testing.B, n int, do func(i int) error) {
	var lat latencies
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/n+1)
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					break
				}
				t0 := time.Now()
				if err := do(i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				local = append(local, time.Since(t0))
			}
			lat.add(local)
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d requests failed, first: %v", failed.Load(), b.N, firstErr.Load())
	}
	lat.report(b, el)
}

// BenchmarkNearestHTTP measures GET /api/v1/facilities/nearest through the
// whole App as `anpi serve` runs it (embedded store, every route and
// middleware of app/http.go, the in-process sandbox), listening on loopback,
// with BENCH_CLIENTS concurrent keep-alive clients. The per-client rate limit
// of the public endpoints is turned off (public_rate_limit.rps: 0): all
// clients come from 127.0.0.1. ANPI_BENCH_ROAD_GRAPH (an .osm.pbf) measures
// it with walking distances by road.
func BenchmarkNearestHTTP(b *testing.B) {
	cfg, err := LoadConfig("../configs/anpi.yaml", env(map[string]string{
		"ANPI_ADMIN_TOKEN": testAdmin, "ANPI_DATA_DIR": b.TempDir(),
	}))
	if err != nil {
		b.Fatal(err)
	}
	cfg.Facilities.Shelters = "../" + cfg.Facilities.Shelters
	cfg.Facilities.Boundary = "../" + cfg.Facilities.Boundary
	cfg.Demo.Residents = ""
	cfg.PublicRateLimit.RPS = 0
	cfg.Routing.RoadGraph = os.Getenv("ANPI_BENCH_ROAD_GRAPH")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = "http://" + cfg.Listen
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		ln.Close()
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Errorf("serve: %v", err)
		}
		a.Close(context.Background())
	}()
	for id, o := range benchOccupancy(a.Facilities.List()) {
		if _, err := a.Facilities.Patch(ctx, id, routing.Patch{Occupancy: &o}); err != nil {
			b.Fatal(err)
		}
	}

	ps := benchNearestPositions()
	urls := make([]string, len(ps))
	for i, p := range ps {
		urls[i] = fmt.Sprintf("%s/api/v1/facilities/nearest?lat=%.6f&lng=%.6f&limit=%d&party=1", cfg.PublicURL, p[0], p[1], benchNearestK)
	}
	n := benchClients()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, DisableCompression: true}}
	defer client.CloseIdleConnections()
	reqs := make([]*http.Request, len(urls))
	for i, u := range urls {
		if reqs[i], err = http.NewRequest("GET", u, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	runClients(b, n, func(i int) error {
		resp, err := client.Do(reqs[i%len(reqs)])
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	})
}

// BenchmarkNearestRedisGEOSEARCH answers the same queries with Redis: the
// same facilities GEOADDed into one key, each query
//
//	GEOSEARCH key FROMLONLAT lng lat BYRADIUS 5 km ASC COUNT 12 WITHDIST
//
// (k × 4 candidates) through go-redis from the same number of clients, then
// filtered client-side to open facilities with room from a local map and
// cut to k, the fair equivalent of what the index does. Redis is at
// ANPI_TEST_REDIS_URL; skipped without it.
func BenchmarkNearestRedisGEOSEARCH(b *testing.B) {
	u := os.Getenv("ANPI_TEST_REDIS_URL")
	if u == "" {
		b.Skip("ANPI_TEST_REDIS_URL not set: skipping the Redis benchmark")
	}
	opt, err := goredis.ParseURL(u)
	if err != nil {
		b.Fatal("ANPI_TEST_REDIS_URL is not a Redis URL")
	}
	n := benchClients()
	opt.PoolSize = n
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	key := fmt.Sprintf("anpibench:%d:geo", time.Now().UnixNano())
	defer c.Del(context.Background(), key)

	fs := benchGSI(b)
	type state struct {
		open bool
		free int
	}
	states := make(map[string]state, len(fs))
	locs := make([]*goredis.GeoLocation, len(fs))
	for i, f := range fs {
		states[f.ID] = state{open: f.Status == routing.StatusOpen, free: f.Free()}
		locs[i] = &goredis.GeoLocation{Name: f.ID, Longitude: f.Lng, Latitude: f.Lat}
	}
	if err := c.GeoAdd(ctx, key, locs...).Err(); err != nil {
		b.Fatal(err)
	}
	ps := benchNearestPositions()
	b.ReportAllocs()
	runClients(b, n, func(i int) error {
		p := ps[i%len(ps)]
		res, err := c.GeoSearchLocation(ctx, key, &goredis.GeoSearchLocationQuery{
			GeoSearchQuery: goredis.GeoSearchQuery{
				Longitude: p[1], Latitude: p[0], Radius: 5, RadiusUnit: "km", Sort: "ASC", Count: benchNearestK * 4,
			},
			WithDist: true,
		}).Result()
		if err != nil {
			return err
		}
		found := 0
		for _, r := range res {
			if s := states[r.Name]; s.open && s.free >= 1 {
				found++
				if found == benchNearestK {
					break
				}
			}
		}
		if found == 0 {
			return fmt.Errorf("no open facility near %v", p)
		}
		return nil
	})
}
