package roads

import "math"

// DefaultMaxSnapM is the snap distance the routing package uses: a position
// farther than this from every graph node is off the network (in a park
// without paths, on water, outside the extract) and its walking distances
// fall back to the great-circle estimate.
const DefaultMaxSnapM = 250.0

// Snap is a position attached to the graph: its nearest node and the
// straight-line distance to it.
type Snap struct {
	// Node is the nearest graph node.
	Node int32
	// DistM is the great-circle distance from the position to Node, metres.
	DistM float64
}

// Snap returns the graph node nearest to the position (great-circle
// distance; ties go to the lower node id), if one lies within maxM metres.
// It scans the snap grid's cells in growing square rings around the
// position's cell and stops once no unseen cell can hold a nearer node.
func (g *Graph) Snap(lat, lng, maxM float64) (Snap, bool) {
	if len(g.latR) == 0 || !validLatLng(lat, lng) || !(maxM >= 0) {
		return Snap{}, false
	}
	// A position far outside the grid costs a few rings of clipped (empty)
	// loops: the ring bound passes maxM after about maxM / 50 m rings.
	cx, cy := g.cellOf(lat, lng)
	p := lat * degToRad
	q := qpos{latR: p, lngR: lng * degToRad, cosLat: math.Cos(p)}
	best, bestD := int32(-1), math.Inf(1)
	consider := func(x, y int) {
		c := y*g.nx + x
		for n := g.cellStart[c]; n < g.cellStart[c+1]; n++ {
			if lowerBoundM(q.latR, q.lngR, q.cosLat, g.latR[n], g.lngR[n], g.cosLat[n]) > bestD {
				continue
			}
			d := haversine(q.latR, q.lngR, q.cosLat, g.latR[n], g.lngR[n], g.cosLat[n])
			if d < bestD || (d == bestD && n < best) {
				best, bestD = n, d
			}
		}
	}
	for r := 0; ; r++ {
		x0, x1, y0, y1 := cx-r, cx+r, cy-r, cy+r
		xa, xb := max(x0, 0), min(x1, g.nx-1)
		for _, y := range [2]int{y0, y1} {
			if y >= 0 && y < g.ny {
				for x := xa; x <= xb; x++ {
					consider(x, y)
				}
			}
			if r == 0 {
				break
			}
		}
		for y := max(y0+1, 0); y <= min(y1-1, g.ny-1); y++ {
			if x0 >= 0 && x0 < g.nx {
				consider(x0, y)
			}
			if x1 >= 0 && x1 < g.nx {
				consider(x1, y)
			}
		}
		if x0 <= 0 && x1 >= g.nx-1 && y0 <= 0 && y1 >= g.ny-1 {
			break // the whole grid has been seen
		}
		lb := g.ringBound(&q, r)
		if lb > maxM || bestD < lb {
			break
		}
	}
	if best < 0 || bestD > maxM {
		return Snap{}, false
	}
	return Snap{Node: best, DistM: bestD}, true
}

type qpos struct{ latR, lngR, cosLat float64 }

// ringBound is a lower bound of the distance from q to any node more than r
// cells away from q's cell in latitude or longitude: such a node differs
// from q by more than r cells of latitude, so d ≥ R·Δφ; or by more than r
// cells of longitude, and then hav(d/R) ≥ cosφq·cosφn·hav(Δλ), so
// d ≥ 2R·asin(√(cosφq·cosMin)·sin(Δλ/2)).
func (g *Graph) ringBound(q *qpos, r int) float64 {
	byLat := EarthRadiusM * float64(r) * g.cellLatR
	dl := math.Min(math.Pi, float64(r)*g.cellLngR)
	byLng := 2 * EarthRadiusM * math.Asin(math.Min(1, math.Sqrt(q.cosLat*g.cosMin)*math.Sin(dl/2)))
	return math.Min(byLat, byLng) * (1 - 1e-9)
}
