// Package roads is the walking network: the footpaths and streets of an
// OpenStreetMap extract as a compact directed graph, the snap of a position
// to its nearest graph node, and shortest walking paths by A*.
//
// # Model
//
// Nodes are the OSM nodes of walkable ways (see Walkable); an edge joins two
// consecutive nodes of a way, in both directions unless the way is one-way
// for people on foot. An edge's length is the great-circle distance between
// its ends in metres, stored as a float32 rounded up, so that a path is never
// shorter than the straight line between its ends: the haversine heuristic of
// A* stays admissible and every search is exact with respect to the graph.
// Shape nodes are kept (not contracted), so a snap lands on the street
// itself, not on the next junction.
//
// # Memory
//
// The graph is stored flat, with int32 node ids and no pointers (compressed
// sparse rows sorted by snap-grid cell, so neighbours sit close in memory):
//
//	per node           32 B  (latitude, longitude and cos(latitude) in radians as
//	                          float64, CSR offset int32, component id int32)
//	per directed edge   8 B  (target int32, length float32)
//	snap grid           4 B per 50 m × 50 m cell of the extract's bounding box
//	per running search 12 B per node (float64 distance + uint32 stamp), pooled
//
// A Minato-size extract (≈ 100k walkable nodes, ≈ 250k directed edges) takes
// ≈ 5.5 MB, plus ≈ 1.2 MB for each search running at the same time (searches
// reuse pooled state, so the steady state is one per busy core). Loading
// holds the walkable ways' node references (8 B each) and a map of their node
// ids (≈ 40 B each) on top, ≈ 10 MB for Minato, released when Load returns.
package roads

import (
	"math"
	"sync"
)

// EarthRadiusM is the mean Earth radius, the same as the routing package's.
const EarthRadiusM = 6371000.0

const degToRad = math.Pi / 180

// Graph is an immutable walking network. Any number of goroutines may use
// it at the same time.
type Graph struct {
	latR, lngR, cosLat []float64 // per node, radians
	first              []int32   // CSR: node u's edges are [first[u], first[u+1])
	to                 []int32   // per edge: target node
	length             []float32 // per edge: metres, rounded up
	comp               []int32   // per node: weakly connected component

	ways, comps int

	// Snap grid: nodes are numbered in cell order, so cell c holds nodes
	// cellStart[c] to cellStart[c+1]-1.
	cellStart          []int32
	nx, ny             int
	lat0, lng0         float64 // grid origin, degrees
	cellLat, cellLng   float64 // cell size, degrees
	cellLatR, cellLngR float64 // cell size, radians
	cosMin             float64 // smallest cos(latitude) of the nodes

	pool sync.Pool // *search
}

// Nodes returns the number of nodes.
func (g *Graph) Nodes() int { return len(g.latR) }

// Edges returns the number of directed edges (a two-way street segment
// counts twice).
func (g *Graph) Edges() int { return len(g.to) }

// Ways returns the number of walkable OSM ways the graph was built from.
func (g *Graph) Ways() int { return g.ways }

// Components returns the number of weakly connected components (pieces of
// network not joined to each other at all, such as an island without a
// bridge or a fragment cut off at the extract's edge).
func (g *Graph) Components() int { return g.comps }

// Position returns the position of node n in degrees.
func (g *Graph) Position(n int32) (lat, lng float64) {
	return g.latR[n] / degToRad, g.lngR[n] / degToRad
}

// haversine returns the great-circle distance in metres between two
// positions in radians with the cosines of their latitudes.
func haversine(p1, l1, cos1, p2, l2, cos2 float64) float64 {
	sp := math.Sin((p2 - p1) / 2)
	sl := math.Sin((l2 - l1) / 2)
	a := sp*sp + cos1*cos2*sl*sl
	return 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// lowerBoundM is a lower bound of haversine without trigonometry: in
// haversine's a = sin²(Δφ/2) + cosφ1·cosφ2·sin²(Δλ/2), sin x ≥ x − x³/6 for
// every x ≥ 0 (clamped at 0 where the polynomial turns negative), and
// d = 2R·asin(√a) ≥ 2R·√a. The factor 1 − 1e-9 absorbs float rounding.
func lowerBoundM(p1, l1, cos1, p2, l2, cos2 float64) float64 {
	hp := math.Abs(p2-p1) / 2
	hl := math.Abs(l2-l1) / 2
	sp := max(0, hp-hp*hp*hp/6)
	sl := max(0, hl-hl*hl*hl/6)
	return 2 * EarthRadiusM * math.Sqrt(sp*sp+cos1*cos2*sl*sl) * (1 - 1e-9)
}

// Out returns the edges leaving node n: their targets and lengths in
// metres (parallel slices, shared with the graph: do not modify them).
func (g *Graph) Out(n int32) (to []int32, lengthM []float32) {
	return g.to[g.first[n]:g.first[n+1]], g.length[g.first[n]:g.first[n+1]]
}
