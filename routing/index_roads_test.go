package routing

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmxml"

	"github.com/minato-city/anpi/routing/roads"
)

// Test network geometry: a street grid over the ward and around it, with a
// park (no streets: positions in its middle are off the graph) and an
// island (streets, but none leading off it).
const (
	netStepDeg             = 0.0012 // ≈ 110 m × 130 m blocks
	parkLat0, parkLat1     = 35.640, 35.650
	parkLng0, parkLng1     = 139.735, 139.747
	islandLat0, islandLat1 = 35.625, 35.640
	islandLng0, islandLng1 = 139.760, 139.785
	netMinLat, netMaxLat   = minatoMinLat - aroundDeg, minatoMaxLat + aroundDeg
	netMinLng, netMaxLng   = minatoMinLng - aroundDeg, minatoMaxLng + aroundDeg
)

func inPark(lat, lng float64) bool {
	return lat > parkLat0 && lat < parkLat1 && lng > parkLng0 && lng < parkLng1
}

func onIsland(lat, lng float64) bool {
	return lat > islandLat0 && lat < islandLat1 && lng > islandLng0 && lng < islandLng1
}

var (
	testNetOnce sync.Once
	testNet     *roads.Graph
	testNetErr  error
)

// testRoads returns the test network (built once: it takes a second).
// Streets are jittered so that road distances are not a simple function of
// the straight line; 15 % of segments are missing and 10 % are one-way
// footways.
func testRoads(t testing.TB) *roads.Graph {
	t.Helper()
	testNetOnce.Do(func() {
		rng := rand.New(rand.NewPCG(11, 12))
		spanLng, spanLat := netMaxLng-netMinLng, netMaxLat-netMinLat
		nx := int(spanLng/netStepDeg) + 1
		ny := int(spanLat/netStepDeg) + 1
		var b bytes.Buffer
		b.WriteString("<osm version=\"0.6\">\n")
		id := func(x, y int) int { return 1 + y*nx + x }
		pos := make([][2]float64, nx*ny)
		for y := range ny {
			for x := range nx {
				lat := netMinLat + float64(y)*netStepDeg + rng.Float64()*netStepDeg*0.3
				lng := netMinLng + float64(x)*netStepDeg + rng.Float64()*netStepDeg*0.3
				pos[id(x, y)-1] = [2]float64{lat, lng}
				if !inPark(lat, lng) {
					fmt.Fprintf(&b, "<node id=\"%d\" lat=\"%.7f\" lon=\"%.7f\"/>\n", id(x, y), lat, lng)
				}
			}
		}
		w := 0
		seg := func(a, c int) {
			pa, pc := pos[a-1], pos[c-1]
			if inPark(pa[0], pa[1]) || inPark(pc[0], pc[1]) || onIsland(pa[0], pa[1]) != onIsland(pc[0], pc[1]) || rng.Float64() < 0.15 {
				return
			}
			w++
			tags := `<tag k="highway" v="residential"/>`
			if rng.Float64() < 0.1 {
				tags = `<tag k="highway" v="footway"/><tag k="oneway" v="yes"/>`
			}
			fmt.Fprintf(&b, "<way id=\"%d\"><nd ref=\"%d\"/><nd ref=\"%d\"/>%s</way>\n", w, a, c, tags)
		}
		for y := range ny {
			for x := range nx {
				if x+1 < nx {
					seg(id(x, y), id(x+1, y))
				}
				if y+1 < ny {
					seg(id(x, y), id(x, y+1))
				}
			}
		}
		b.WriteString("</osm>\n")
		data := b.Bytes()
		testNet, testNetErr = roads.Build(func(roads.Pass) (osm.Scanner, error) {
			return osmxml.New(context.Background(), bytes.NewReader(data)), nil
		})
	})
	if testNetErr != nil {
		t.Fatal(testNetErr)
	}
	return testNet
}

// bruteRoadNearest is the reference for the road index: one Dijkstra from
// the position's node over the whole graph (its own heap, sharing nothing
// with the index or A*), every eligible facility costed from it, sorted by
// the documented rule. Off the graph, the great-circle reference applies.
func bruteRoadNearest(g *roads.Graph, fs []Facility, lat, lng float64, k, party int) []Match {
	from, ok := g.Snap(lat, lng, roads.DefaultMaxSnapM)
	if !ok {
		return bruteNearest(fs, lat, lng, k, party)
	}
	dist := make([]float64, g.Nodes())
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	dist[from.Node] = 0
	pq := &distHeap{{0, from.Node}}
	for pq.Len() > 0 {
		it := pq.pop()
		if it.d > dist[it.n] {
			continue
		}
		to, length := g.Out(it.n)
		for j, v := range to {
			if nd := it.d + float64(length[j]); nd < dist[v] {
				dist[v] = nd
				pq.push(distItem{nd, v})
			}
		}
	}
	type scored struct {
		i          int
		cost, dist float64
	}
	var all []scored
	for i, f := range fs {
		if f.Status != StatusOpen || f.Free() < party {
			continue
		}
		d := Haversine(lat, lng, f.Lat, f.Lng) * WalkFactor
		if to, ok := g.Snap(f.Lat, f.Lng, roads.DefaultMaxSnapM); ok && !math.IsInf(dist[to.Node], 1) {
			d = from.DistM + to.DistM + dist[to.Node]
		}
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
		out = append(out, Match{Facility: f, DistanceM: math.Round(s.dist), WalkMinutes: WalkMinutes(s.dist), Free: f.Free()})
	}
	return out
}

type distItem struct {
	d float64
	n int32
}

// distHeap is a plain binary min-heap of distItem by d.
type distHeap []distItem

func (q *distHeap) Len() int { return len(*q) }

func (q *distHeap) push(it distItem) {
	h := append(*q, it)
	for j := len(h) - 1; j > 0 && h[(j-1)/2].d > h[j].d; j = (j - 1) / 2 {
		h[j], h[(j-1)/2] = h[(j-1)/2], h[j]
	}
	*q = h
}

func (q *distHeap) pop() distItem {
	h := *q
	top, n := h[0], len(h)-1
	h[0] = h[n]
	h = h[:n]
	for j := 0; ; {
		m := 2*j + 1
		if m >= n {
			break
		}
		if m+1 < n && h[m+1].d < h[m].d {
			m++
		}
		if h[j].d <= h[m].d {
			break
		}
		h[j], h[m] = h[m], h[j]
		j = m
	}
	*q = h
	return top
}

// TestRoadNearestEqualsBrute checks the road index against brute force for
// thousands of random positions in the ward (some in the park, off the
// graph; some on the island, cut off), over random facilities with every
// status, random k and party sizes.
func TestRoadNearestEqualsBrute(t *testing.T) {
	g := testRoads(t)
	rng := rand.New(rand.NewPCG(13, 14))
	fs := append(randomFacilities(rng, 300, aroundDeg), minatoFacilities(t)...)
	ix := NewRoadIndex(fs, g)
	var offGraph, island int
	for q := range 2000 {
		lat := minatoMinLat + rng.Float64()*(minatoMaxLat-minatoMinLat)
		lng := minatoMinLng + rng.Float64()*(minatoMaxLng-minatoMinLng)
		if q%10 == 0 { // aim some at the park and the island
			lat = parkLat0 + rng.Float64()*(parkLat1-parkLat0)
			lng = parkLng0 + rng.Float64()*(parkLng1-parkLng0)
		}
		if q%10 == 1 {
			lat = islandLat0 + rng.Float64()*(islandLat1-islandLat0)
			lng = islandLng0 + rng.Float64()*(islandLng1-islandLng0)
		}
		if _, ok := g.Snap(lat, lng, roads.DefaultMaxSnapM); !ok {
			offGraph++
		} else if onIsland(lat, lng) {
			island++
		}
		k := 1 + rng.IntN(8)
		party := []int{1, 1, 1, 4, 30}[rng.IntN(5)]
		got := ix.Nearest(lat, lng, k, party)
		want := bruteRoadNearest(g, fs, lat, lng, k, party)
		if len(got) != len(want) {
			t.Fatalf("q%d (%v,%v) k=%d party=%d: %d results, want %d", q, lat, lng, k, party, len(got), len(want))
		}
		for j := range got {
			if got[j].Facility.ID != want[j].Facility.ID || got[j].DistanceM != want[j].DistanceM || got[j].WalkMinutes != want[j].WalkMinutes {
				t.Fatalf("q%d (%v,%v) k=%d party=%d #%d: %s %v m, want %s %v m",
					q, lat, lng, k, party, j, got[j].Facility.ID, got[j].DistanceM, want[j].Facility.ID, want[j].DistanceM)
			}
			if f := got[j].Facility; f.Status != StatusOpen || f.Free() < party {
				t.Fatalf("q%d: %s is %s with %d free", q, f.ID, f.Status, f.Free())
			}
		}
	}
	if offGraph < 50 || island < 50 {
		t.Fatalf("only %d queries off the graph and %d on the island: the fallbacks are not exercised", offGraph, island)
	}
}

// TestRoadDistanceIsNotStraightLine: on the road graph the distances are
// the graph's, not great-circle × WalkFactor.
func TestRoadDistanceIsNotStraightLine(t *testing.T) {
	g := testRoads(t)
	fs := minatoFacilities(t)
	ix := NewRoadIndex(fs, g)
	differ := 0
	for _, p := range benchPoints(200) {
		for _, m := range ix.Nearest(p[0], p[1], 3, 1) {
			gc := math.Round(Haversine(p[0], p[1], m.Facility.Lat, m.Facility.Lng) * WalkFactor)
			if gc != m.DistanceM {
				differ++
			}
			if m.DistanceM < math.Floor(Haversine(p[0], p[1], m.Facility.Lat, m.Facility.Lng)) {
				t.Fatalf("%s at %v m by road, less than the straight line", m.Facility.ID, m.DistanceM)
			}
		}
	}
	if differ < 300 {
		t.Errorf("only %d of 600 distances differ from the great-circle estimate", differ)
	}
}

// TestServiceUsesRoads: Options.Roads reaches Service.Nearest, and the
// snaps survive a change of counts (reused from the previous snapshot).
func TestServiceUsesRoads(t *testing.T) {
	g := testRoads(t)
	st := newMemStore()
	s, err := New(st, nil, Options{Roads: g, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	fs := minatoFacilities(t)
	if err := s.Seed(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
	lat, lng := 35.6581, 139.7514
	got, err := s.Nearest(lat, lng, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := bruteRoadNearest(g, s.List(), lat, lng, 5, 1)
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) || got[0].DistanceM != want[0].DistanceM {
		t.Fatalf("Nearest = %v, want %v", ids(got), ids(want))
	}
	// Fill the nearest: it disappears, the rest keep their road distances.
	full := got[0].Facility
	if _, err := s.Patch(context.Background(), full.ID, Patch{Occupancy: ptr(full.Capacity)}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Nearest(lat, lng, 5, 1)
	want = bruteRoadNearest(g, s.List(), lat, lng, 5, 1)
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) || slices.Contains(ids(got), full.ID) {
		t.Fatalf("after filling %s: %v, want %v", full.ID, ids(got), ids(want))
	}
	for j := range got {
		if got[j].DistanceM != want[j].DistanceM {
			t.Errorf("#%d: %v m, want %v m", j, got[j].DistanceM, want[j].DistanceM)
		}
	}
}
