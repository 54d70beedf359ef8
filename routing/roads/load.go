package roads

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"
	"github.com/paulmach/osm/osmxml"
)

// walkableHighways are the highway values people may walk along (unless
// access=no or foot=no says otherwise). motorway and motorway_link are left
// out on purpose, as are construction, proposed, platform and the like.
var walkableHighways = map[string]bool{
	"footway": true, "pedestrian": true, "path": true, "steps": true, "corridor": true,
	"living_street": true, "residential": true, "service": true, "unclassified": true, "road": true,
	"track": true, "cycleway": true, "bridleway": true,
	"tertiary": true, "tertiary_link": true, "secondary": true, "secondary_link": true,
	"primary": true, "primary_link": true, "trunk": true, "trunk_link": true,
}

// footOnly are the highway values made for people on foot, where a plain
// oneway=* applies to them too (escalators, one-way exits). On roads, oneway
// binds vehicles only; oneway:foot binds pedestrians everywhere.
var footOnly = map[string]bool{"footway": true, "pedestrian": true, "path": true, "steps": true, "corridor": true}

// Walkable reports whether a way with these tags can be walked and in which
// directions (forward is the order of the way's nodes). A way is walkable if
// its highway value is a street or path (motorway and motorway_link are not),
// unless foot=no or foot=use_sidepath, or access=no without a foot=yes,
// designated or permissive to override it. It is one-way on foot if
// oneway:foot says so, or, on footway, pedestrian, path, steps and corridor,
// if oneway does ("yes", "true", "1" forward; "-1", "reverse" backward).
func Walkable(tags osm.Tags) (forward, backward bool) {
	hw := tags.Find("highway")
	if !walkableHighways[hw] {
		return false, false
	}
	switch foot := tags.Find("foot"); foot {
	case "no", "use_sidepath":
		return false, false
	case "yes", "designated", "permissive":
	default:
		if tags.Find("access") == "no" {
			return false, false
		}
	}
	ow := tags.Find("oneway:foot")
	if ow == "" && footOnly[hw] {
		ow = tags.Find("oneway")
	}
	switch ow {
	case "yes", "true", "1":
		return true, false
	case "-1", "reverse":
		return false, true
	}
	return true, true
}

// Load reads the walkable network from an OpenStreetMap file: .osm.pbf (or
// any name ending in .pbf) through osmpbf, anything else as OSM XML through
// osmxml. The file is read twice (ways first, then only the nodes they use),
// which keeps memory to the walkable part of the extract.
func Load(path string) (*Graph, error) {
	pbf := strings.HasSuffix(strings.ToLower(path), ".pbf")
	g, err := Build(func(pass Pass) (osm.Scanner, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		var s osm.Scanner
		if pbf {
			ps := osmpbf.New(context.Background(), f, max(1, runtime.GOMAXPROCS(0)))
			ps.SkipRelations = true
			ps.SkipNodes = pass.Ways
			ps.SkipWays = !pass.Ways
			if !pass.Ways {
				ps.FilterNode = func(n *osm.Node) bool { return pass.NeedNode(n.ID) }
			}
			s = ps
		} else {
			s = osmxml.New(context.Background(), f)
		}
		return closeBoth{s, f}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("road graph %s: %w", path, err)
	}
	return g, nil
}

// closeBoth closes the scanner, then the file under it.
type closeBoth struct {
	osm.Scanner
	f *os.File
}

func (c closeBoth) Close() error { return errors.Join(c.Scanner.Close(), c.f.Close()) }

// Pass tells the opener given to Build which pass is starting, so that a
// scanner able to skip data (osmpbf) decodes only what the pass needs.
// Build ignores what a pass does not need, so an opener may ignore Pass.
type Pass struct {
	// Ways is true for the first pass (ways) and false for the second
	// (nodes).
	Ways bool
	need map[osm.NodeID]int32
}

// NeedNode reports, in the nodes pass, whether node id is used by a
// walkable way. It is safe for concurrent use.
func (p Pass) NeedNode(id osm.NodeID) bool {
	_, ok := p.need[id]
	return ok
}

// Build builds a Graph from OSM data read twice through open: first for the
// walkable ways, then for the nodes they use. Segments whose nodes are
// missing from the data (ways cut at the extract's edge) are left out.
func Build(open func(Pass) (osm.Scanner, error)) (*Graph, error) {
	var b builder
	if err := scan(open, Pass{Ways: true}, b.addObject); err != nil {
		return nil, fmt.Errorf("ways: %w", err)
	}
	b.need = make(map[osm.NodeID]int32, len(b.refs))
	for _, id := range b.refs {
		b.need[id] = -1
	}
	if err := scan(open, Pass{need: b.need}, b.addObject); err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	g := b.build()
	if g.Edges() == 0 {
		return nil, fmt.Errorf("no walkable way (of %d found) has its nodes in the data", len(b.ways))
	}
	return g, nil
}

func scan(open func(Pass) (osm.Scanner, error), pass Pass, add func(osm.Object, bool)) (err error) {
	s, err := open(pass)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	for s.Scan() {
		add(s.Object(), pass.Ways)
	}
	return s.Err()
}

// builder collects ways, then node positions, then makes the graph.
type builder struct {
	refs  []osm.NodeID // node refs of walkable ways, concatenated
	ways  []way
	need  map[osm.NodeID]int32 // node id → index in lat/lng, -1 until seen
	lat   []float64            // degrees, by index
	lng   []float64
	edges []edge
}

type way struct {
	start, end      int32 // refs[start:end]
	forward, backwd bool
}

type edge struct{ from, to int32 }

func (b *builder) addObject(o osm.Object, waysPass bool) {
	switch o := o.(type) {
	case *osm.Way:
		if !waysPass || len(o.Nodes) < 2 {
			return
		}
		fwd, back := Walkable(o.Tags)
		if !fwd && !back {
			return
		}
		w := way{start: int32(len(b.refs)), forward: fwd, backwd: back}
		for _, n := range o.Nodes {
			b.refs = append(b.refs, n.ID)
		}
		w.end = int32(len(b.refs))
		b.ways = append(b.ways, w)
	case *osm.Node:
		if waysPass {
			return
		}
		if i, ok := b.need[o.ID]; ok && i < 0 && validLatLng(o.Lat, o.Lon) {
			b.need[o.ID] = int32(len(b.lat))
			b.lat = append(b.lat, o.Lat)
			b.lng = append(b.lng, o.Lon)
		}
	}
}

func validLatLng(lat, lng float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lng) && lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}

// gridCellM is the snap grid's target cell size; gridMaxCells bounds its
// memory (cells double until the grid fits).
const (
	gridCellM    = 50.0
	gridMaxCells = 1 << 22
)

func (b *builder) build() *Graph {
	// Edges between known nodes.
	for _, w := range b.ways {
		for i := w.start; i+1 < w.end; i++ {
			u, v := b.need[b.refs[i]], b.need[b.refs[i+1]]
			if u < 0 || v < 0 || u == v {
				continue
			}
			if w.forward {
				b.edges = append(b.edges, edge{u, v})
			}
			if w.backwd {
				b.edges = append(b.edges, edge{v, u})
			}
		}
	}
	g := &Graph{ways: len(b.ways)}
	// Keep only nodes with an edge.
	used := make([]bool, len(b.lat))
	for _, e := range b.edges {
		used[e.from], used[e.to] = true, true
	}
	var keep []int32
	minLat, maxLat, minLng, maxLng := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, u := range used {
		if u {
			keep = append(keep, int32(i))
			minLat, maxLat = min(minLat, b.lat[i]), max(maxLat, b.lat[i])
			minLng, maxLng = min(minLng, b.lng[i]), max(maxLng, b.lng[i])
		}
	}
	if len(b.edges) == 0 {
		return g
	}
	// Snap grid over the nodes; nodes are renumbered in cell order.
	mPerDeg := EarthRadiusM * degToRad
	maxAbsLat := min(89.0, max(math.Abs(minLat), math.Abs(maxLat)))
	cellM := gridCellM
	for {
		g.cellLat = cellM / mPerDeg
		g.cellLng = cellM / (mPerDeg * math.Cos(maxAbsLat*degToRad))
		g.nx = int((maxLng-minLng)/g.cellLng) + 2
		g.ny = int((maxLat-minLat)/g.cellLat) + 2
		if g.nx*g.ny <= gridMaxCells {
			break
		}
		cellM *= 2
	}
	g.lat0, g.lng0 = minLat, minLng
	g.cellLatR, g.cellLngR = g.cellLat*degToRad, g.cellLng*degToRad
	cellOf := make([]int32, len(keep))
	g.cellStart = make([]int32, g.nx*g.ny+1)
	for j, i := range keep {
		cx, cy := g.cellOf(b.lat[i], b.lng[i])
		c := int32(cy*g.nx + cx)
		cellOf[j] = c
		g.cellStart[c+1]++
	}
	for c := 1; c < len(g.cellStart); c++ {
		g.cellStart[c] += g.cellStart[c-1]
	}
	next := slices.Clone(g.cellStart[:len(g.cellStart)-1])
	newID := make([]int32, len(b.lat)) // old index → new id
	n := len(keep)
	g.latR, g.lngR, g.cosLat = make([]float64, n), make([]float64, n), make([]float64, n)
	g.cosMin = 1
	for j, i := range keep {
		id := next[cellOf[j]]
		next[cellOf[j]]++
		newID[i] = id
		g.latR[id], g.lngR[id] = b.lat[i]*degToRad, b.lng[i]*degToRad
		g.cosLat[id] = math.Cos(g.latR[id])
		g.cosMin = min(g.cosMin, g.cosLat[id])
	}
	// CSR by source node.
	g.first = make([]int32, n+1)
	for _, e := range b.edges {
		g.first[newID[e.from]+1]++
	}
	for u := 1; u <= n; u++ {
		g.first[u] += g.first[u-1]
	}
	pos := slices.Clone(g.first[:n])
	g.to = make([]int32, len(b.edges))
	g.length = make([]float32, len(b.edges))
	for _, e := range b.edges {
		u, v := newID[e.from], newID[e.to]
		k := pos[u]
		pos[u]++
		g.to[k] = v
		g.length[k] = roundUp(haversine(g.latR[u], g.lngR[u], g.cosLat[u], g.latR[v], g.lngR[v], g.cosLat[v]))
	}
	g.components()
	return g
}

// roundUp returns the smallest float32 not below x.
func roundUp(x float64) float32 {
	f := float32(x)
	if float64(f) < x {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// components labels weakly connected components (union-find over edges).
func (g *Graph) components() {
	n := len(g.latR)
	parent := make([]int32, n)
	for i := range parent {
		parent[i] = int32(i)
	}
	var find func(int32) int32
	find = func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for u := range n {
		for e := g.first[u]; e < g.first[u+1]; e++ {
			a, b := find(int32(u)), find(g.to[e])
			if a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	g.comp = make([]int32, n)
	label := map[int32]int32{}
	for u := range n {
		r := find(int32(u))
		l, ok := label[r]
		if !ok {
			l = int32(len(label))
			label[r] = l
		}
		g.comp[u] = l
	}
	g.comps = len(label)
}

func (g *Graph) cellOf(lat, lng float64) (int, int) {
	return int(math.Floor((lng - g.lng0) / g.cellLng)), int(math.Floor((lat - g.lat0) / g.cellLat))
}
