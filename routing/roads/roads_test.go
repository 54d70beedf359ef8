package roads

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmxml"
)

// refHaversine is the test's own great-circle distance (metres).
func refHaversine(lat1, lng1, lat2, lng2 float64) float64 {
	const r = math.Pi / 180
	dp, dl := (lat2-lat1)*r, (lng2-lng1)*r
	a := math.Pow(math.Sin(dp/2), 2) + math.Cos(lat1*r)*math.Cos(lat2*r)*math.Pow(math.Sin(dl/2), 2)
	return 2 * 6371000 * math.Asin(math.Sqrt(a))
}

// gridPos is the position of fixture node 1YX.
func gridPos(x, y int) (float64, float64) {
	return 35.650 + 0.001*float64(y), 139.750 + 0.001*float64(x)
}

// pathLen sums refHaversine along fixture grid nodes given as (x, y) pairs.
func pathLen(pts ...[2]int) float64 {
	d := 0.0
	for i := 1; i < len(pts); i++ {
		la, lo := gridPos(pts[i-1][0], pts[i-1][1])
		lb, lob := gridPos(pts[i][0], pts[i][1])
		d += refHaversine(la, lo, lb, lob)
	}
	return d
}

func loadFixture(t testing.TB) *Graph {
	t.Helper()
	g, err := Load("testdata/grid.osm")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// node returns the graph node at a fixture position.
func node(t testing.TB, g *Graph, lat, lng float64) int32 {
	t.Helper()
	s, ok := g.Snap(lat, lng, 0.01)
	if !ok {
		t.Fatalf("no node at %v,%v", lat, lng)
	}
	return s.Node
}

func gridNode(t testing.TB, g *Graph, x, y int) int32 {
	lat, lng := gridPos(x, y)
	return node(t, g, lat, lng)
}

func TestFixtureShape(t *testing.T) {
	g := loadFixture(t)
	// 16 grid nodes + 3 island nodes; the river's nodes and the clipped
	// way's missing node are not in the graph.
	if g.Nodes() != 19 {
		t.Errorf("%d nodes, want 19", g.Nodes())
	}
	// Two-way: 8 row halves + 12 column segments + bridge + 3 island
	// segments = 24 → 48 directed; plus the one-way steps.
	if g.Edges() != 49 {
		t.Errorf("%d edges, want 49", g.Edges())
	}
	if g.Components() != 2 {
		t.Errorf("%d components, want 2 (town, island)", g.Components())
	}
	// The walkable ways: 8 rows + 4 columns + bridge + steps + island +
	// the clipped tertiary (kept as a way, its segment dropped).
	if g.Ways() != 16 {
		t.Errorf("%d ways, want 16", g.Ways())
	}
}

func TestFixtureDistances(t *testing.T) {
	g := loadFixture(t)
	type pt = [2]int
	tests := []struct {
		name     string
		from, to pt
		want     float64
	}{
		// Across the river eastwards: the steps go west only and rows
		// 1 and 2 cross on ways nobody may walk, so the way is over the
		// footbridge; the row-3 streets are a few mm shorter than the
		// lower ones (higher latitude), so the shortest goes all along.
		{"east across the river", pt{0, 0}, pt{3, 0}, pathLen(pt{0, 0}, pt{0, 1}, pt{0, 2}, pt{0, 3}, pt{1, 3}, pt{2, 3}, pt{3, 3}, pt{3, 2}, pt{3, 1}, pt{3, 0})},
		// Westwards the one-way steps are open.
		{"west down the steps", pt{3, 0}, pt{0, 0}, pathLen(pt{3, 0}, pt{2, 0}, pt{1, 0}, pt{0, 0})},
		// Motorway, foot=no and access=no do not count.
		{"not over the motorway", pt{1, 1}, pt{2, 1}, pathLen(pt{1, 1}, pt{1, 2}, pt{1, 3}, pt{2, 3}, pt{2, 2}, pt{2, 1})},
		{"not along access=no", pt{1, 2}, pt{2, 2}, pathLen(pt{1, 2}, pt{1, 3}, pt{2, 3}, pt{2, 2})},
		{"same bank", pt{0, 0}, pt{1, 2}, pathLen(pt{0, 0}, pt{0, 1}, pt{0, 2}, pt{1, 2})},
		{"itself", pt{2, 2}, pt{2, 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, res := g.PathM(gridNode(t, g, tt.from[0], tt.from[1]), gridNode(t, g, tt.to[0], tt.to[1]), 0)
			if res != Found || math.Abs(d-tt.want) > 1e-4 {
				t.Errorf("got %.6f m (%v), want %.6f m", d, res, tt.want)
			}
			if dj := dijkstra(g, gridNode(t, g, tt.from[0], tt.from[1]), gridNode(t, g, tt.to[0], tt.to[1])); math.Abs(dj-d) > 1e-6 {
				t.Errorf("Dijkstra %.6f, A* %.6f", dj, d)
			}
		})
	}
	// Road distance is not the straight line.
	la, lo := gridPos(0, 0)
	lb, lob := gridPos(3, 0)
	d, ok := g.DistanceM(la, lo, lb, lob, DefaultMaxSnapM)
	if !ok || d < 3*refHaversine(la, lo, lb, lob) {
		t.Errorf("DistanceM = %v, %v; want more than 3 × the straight line %v", d, ok, refHaversine(la, lo, lb, lob))
	}
}

func TestFixtureIsland(t *testing.T) {
	g := loadFixture(t)
	a, b := node(t, g, 35.66, 139.75), node(t, g, 35.661, 139.7505)
	if d, res := g.PathM(a, b, 0); res != Found || math.Abs(d-refHaversine(35.66, 139.75, 35.661, 139.7505)) > 1e-4 {
		t.Errorf("on the island: %v %v", d, res)
	}
	town := gridNode(t, g, 0, 3)
	if d, res := g.PathM(town, a, 0); res != Unreachable || !math.IsInf(d, 1) {
		t.Errorf("town → island: %v %v, want Unreachable", d, res)
	}
	if _, ok := g.DistanceM(35.653, 139.750, 35.66, 139.75, DefaultMaxSnapM); ok {
		t.Error("DistanceM to the island is ok, want not (callers fall back)")
	}
}

func TestSnap(t *testing.T) {
	g := loadFixture(t)
	// 10 m south-east of node 111: snaps to it, at the straight-line distance.
	lat, lng := 35.651-0.00007, 139.751+0.00007
	s, ok := g.Snap(lat, lng, DefaultMaxSnapM)
	if !ok || s.Node != gridNode(t, g, 1, 1) || math.Abs(s.DistM-refHaversine(lat, lng, 35.651, 139.751)) > 1e-6 {
		t.Errorf("Snap = %+v %v", s, ok)
	}
	// A river node is not a graph node: the point on the river between
	// 101 and 102 snaps to one of them.
	s, ok = g.Snap(35.6495, 139.7515, DefaultMaxSnapM)
	if !ok || (s.Node != gridNode(t, g, 1, 0) && s.Node != gridNode(t, g, 2, 0)) {
		t.Errorf("river point snapped to %+v", s)
	}
	// 1 km east of the grid: off the network with the default reach...
	if s, ok := g.Snap(35.650, 139.764, DefaultMaxSnapM); ok {
		t.Errorf("far point snapped to %+v", s)
	}
	// ... and on it with a longer one, to the nearest corner.
	if s, ok := g.Snap(35.650, 139.764, 2000); !ok || s.Node != gridNode(t, g, 3, 0) {
		t.Errorf("far point with 2 km reach: %+v %v", s, ok)
	}
	if _, ok := g.DistanceM(35.650, 139.764, 35.650, 139.750, DefaultMaxSnapM); ok {
		t.Error("DistanceM from off the network is ok, want not")
	}
	for _, p := range [][2]float64{{math.NaN(), 0}, {91, 0}, {0, 181}, {-35.65, -40.25}} {
		if _, ok := g.Snap(p[0], p[1], DefaultMaxSnapM); ok {
			t.Errorf("Snap(%v) ok", p)
		}
	}
}

// TestSnapEqualsBrute compares Snap with a scan of every node on a random
// network, at random points in and around it and at random reaches.
func TestSnapEqualsBrute(t *testing.T) {
	g := randomGraph(t, rand.New(rand.NewPCG(7, 8)), 30)
	rng := rand.New(rand.NewPCG(9, 10))
	for range 5000 {
		lat := 35.64 + rng.Float64()*0.05
		lng := 139.74 + rng.Float64()*0.05
		maxM := []float64{0, 5, 50, 250, 5000}[rng.IntN(5)]
		got, ok := g.Snap(lat, lng, maxM)
		best, bestD := int32(-1), math.Inf(1)
		for n := range int32(g.Nodes()) {
			nl, ng := g.Position(n)
			if d := refHaversine(lat, lng, nl, ng); d < bestD {
				best, bestD = n, d
			}
		}
		wantOK := bestD <= maxM
		if ok != wantOK || (ok && math.Abs(got.DistM-bestD) > 1e-6) {
			t.Fatalf("Snap(%v,%v,%v) = %+v %v; brute force %d at %v m", lat, lng, maxM, got, ok, best, bestD)
		}
	}
}

// TestAStarEqualsDijkstra compares A* with a plain Dijkstra on random pairs
// of a random network with one-way paths and gaps, and checks the limit.
func TestAStarEqualsDijkstra(t *testing.T) {
	g := randomGraph(t, rand.New(rand.NewPCG(1, 2)), 40)
	rng := rand.New(rand.NewPCG(3, 4))
	found := 0
	for range 2000 {
		a, b := int32(rng.IntN(g.Nodes())), int32(rng.IntN(g.Nodes()))
		want := dijkstra(g, a, b)
		got, res := g.PathM(a, b, 0)
		if math.IsInf(want, 1) {
			if res != Unreachable {
				t.Fatalf("%d→%d: A* %v %v, Dijkstra none", a, b, got, res)
			}
			continue
		}
		found++
		if res != Found || math.Abs(got-want) > 1e-9*want+1e-9 {
			t.Fatalf("%d→%d: A* %v %v, Dijkstra %v", a, b, got, res, want)
		}
		if want > 1 {
			if d, res := g.PathM(a, b, want*0.999); res != Beyond || !math.IsInf(d, 1) {
				t.Fatalf("%d→%d with a limit below the distance: %v %v", a, b, d, res)
			}
		}
		if d, res := g.PathM(a, b, want*1.001+1e-6); res != Found || math.Abs(d-got) > 1e-9 {
			t.Fatalf("%d→%d with a limit above the distance: %v %v, want %v", a, b, d, res, got)
		}
	}
	if found < 1000 {
		t.Fatalf("only %d of 2000 pairs connected: the random network is too sparse to test much", found)
	}
}

func TestAStarAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops entries at random under the race detector")
	}
	g := randomGraph(t, rand.New(rand.NewPCG(1, 2)), 40)
	g.PathM(0, int32(g.Nodes()-1), 0) // warm the pool
	allocs := testing.AllocsPerRun(200, func() { g.PathM(0, int32(g.Nodes()-1), 0) })
	if allocs > 0 {
		t.Errorf("%.1f allocations per search", allocs)
	}
}

func TestWalkable(t *testing.T) {
	tests := []struct {
		tags      string
		fwd, back bool
	}{
		{"highway=residential", true, true},
		{"highway=footway", true, true},
		{"highway=trunk", true, true},
		{"highway=motorway", false, false},
		{"highway=motorway_link", false, false},
		{"highway=construction", false, false},
		{"building=yes", false, false},
		{"highway=service access=no", false, false},
		{"highway=service access=no foot=yes", true, true},
		{"highway=primary foot=no", false, false},
		{"highway=primary foot=use_sidepath", false, false},
		{"highway=residential oneway=yes", true, true}, // binds cars, not people
		{"highway=footway oneway=yes", true, false},
		{"highway=steps oneway=-1", false, true},
		{"highway=residential oneway:foot=yes", true, false},
		{"highway=footway oneway=yes oneway:foot=no", true, true},
	}
	for _, tt := range tests {
		var tags osm.Tags
		for _, kv := range strings.Fields(tt.tags) {
			k, v, _ := strings.Cut(kv, "=")
			tags = append(tags, osm.Tag{Key: k, Value: v})
		}
		if f, b := Walkable(tags); f != tt.fwd || b != tt.back {
			t.Errorf("%s: %v %v, want %v %v", tt.tags, f, b, tt.fwd, tt.back)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("testdata/nope.osm"); err == nil || !strings.Contains(err.Error(), "nope.osm") {
		t.Errorf("missing file: %v", err)
	}
	empty := []byte(`<osm version="0.6"><node id="1" lat="35" lon="139"/><way id="2"><nd ref="1"/><nd ref="3"/><tag k="highway" v="footway"/></way></osm>`)
	if _, err := Build(xmlOpener(empty)); err == nil || !strings.Contains(err.Error(), "no walkable way") {
		t.Errorf("no usable way: %v", err)
	}
	if _, err := Build(xmlOpener([]byte(`<osm><node id="1" lat="35"`))); err == nil {
		t.Error("truncated XML: no error")
	}
}

// xmlOpener opens OSM XML held in memory for both passes of Build.
func xmlOpener(data []byte) func(Pass) (osm.Scanner, error) {
	return func(Pass) (osm.Scanner, error) {
		return osmxml.New(context.Background(), bytes.NewReader(data)), nil
	}
}

// randomOSM writes a random walking network as OSM XML: an n × n grid of
// jittered nodes about 70 m apart near Minato, each street segment present
// with probability 0.8, a fifth of them one-way footways (either
// direction), a few diagonals.
func randomOSM(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<osm version="0.6">` + "\n")
	id := func(x, y int) int { return 1 + y*n + x }
	for y := range n {
		for x := range n {
			fmt.Fprintf(&b, `<node id="%d" lat="%.7f" lon="%.7f"/>`+"\n", id(x, y),
				35.64+0.0006*float64(y)+rng.Float64()*0.0003, 139.74+0.0008*float64(x)+rng.Float64()*0.0003)
		}
	}
	wid := 0
	seg := func(a, c int) {
		if rng.Float64() > 0.8 {
			return
		}
		wid++
		tags := `<tag k="highway" v="residential"/>`
		switch r := rng.Float64(); {
		case r < 0.1:
			tags = `<tag k="highway" v="footway"/><tag k="oneway" v="yes"/>`
		case r < 0.2:
			tags = `<tag k="highway" v="steps"/><tag k="oneway" v="-1"/>`
		}
		fmt.Fprintf(&b, `<way id="%d"><nd ref="%d"/><nd ref="%d"/>%s</way>`+"\n", wid, a, c, tags)
	}
	for y := range n {
		for x := range n {
			if x+1 < n {
				seg(id(x, y), id(x+1, y))
			}
			if y+1 < n {
				seg(id(x, y), id(x, y+1))
			}
			if x+1 < n && y+1 < n && rng.IntN(10) == 0 {
				seg(id(x, y), id(x+1, y+1))
			}
		}
	}
	b.WriteString("</osm>\n")
	return b.Bytes()
}

func randomGraph(t testing.TB, rng *rand.Rand, n int) *Graph {
	t.Helper()
	g, err := Build(xmlOpener(randomOSM(rng, n)))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// dijkstra is the reference shortest path (container/heap, no heuristic).
func dijkstra(g *Graph, from, to int32) float64 {
	dist := map[int32]float64{from: 0}
	pq := &pqueue{{0, from}}
	for pq.Len() > 0 {
		it := heap.Pop(pq).(pqItem)
		if it.d > dist[it.n] {
			continue
		}
		if it.n == to {
			return it.d
		}
		for e := g.first[it.n]; e < g.first[it.n+1]; e++ {
			v, nd := g.to[e], it.d+float64(g.length[e])
			if old, ok := dist[v]; !ok || nd < old {
				dist[v] = nd
				heap.Push(pq, pqItem{nd, v})
			}
		}
	}
	return math.Inf(1)
}

type pqItem struct {
	d float64
	n int32
}

type pqueue []pqItem

func (q pqueue) Len() int           { return len(q) }
func (q pqueue) Less(i, j int) bool { return q[i].d < q[j].d }
func (q pqueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pqueue) Push(x any)        { *q = append(*q, x.(pqItem)) }
func (q *pqueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// TestEdgeLengthsNeverShort checks the invariant A*'s exactness rests on:
// every edge is at least the straight line between its ends.
func TestEdgeLengthsNeverShort(t *testing.T) {
	g := randomGraph(t, rand.New(rand.NewPCG(5, 6)), 30)
	for u := range int32(g.Nodes()) {
		for e := g.first[u]; e < g.first[u+1]; e++ {
			v := g.to[e]
			straight := haversine(g.latR[u], g.lngR[u], g.cosLat[u], g.latR[v], g.lngR[v], g.cosLat[v])
			if float64(g.length[e]) < straight {
				t.Fatalf("edge %d→%d: %v < %v", u, v, g.length[e], straight)
			}
		}
	}
}
