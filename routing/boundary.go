package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// DefaultMarginM is the served margin around the ward: a position within
// this many meters of the border is served even though it lies outside.
// Commuters stranded at 新橋, 汐留, 恵比寿 or 渋谷 stand just across the
// border, and the boundary polygon is simplified (1 %), so a strict
// point-in-polygon test would turn away people the ward must help.
const DefaultMarginM = 3000.0

// Boundary is a served area: a multipolygon (WGS84) plus a margin.
//
// The rule: a position is served when it is inside the polygon or within
// MarginM meters of its border (distance to the nearest edge, on a local
// flat projection, which is exact to well under 1 m at this scale). This is
// tighter than "within the margin of the bounding box", which would also take
// in corners of neighbouring wards far from Minato.
type Boundary struct {
	// MarginM is the served margin in meters (LoadBoundary sets
	// DefaultMarginM; 0 means the polygon only).
	MarginM float64

	polys                          [][][]lngLat // polygon → rings (first outer, then holes) → vertices
	minLat, maxLat, minLng, maxLng float64

	gridOnce sync.Once
	grid     *servedGrid // built on first use for MarginM at that time
}

type lngLat struct{ lng, lat float64 }

// LoadBoundary reads a GeoJSON FeatureCollection, Feature or bare geometry
// made of Polygon and MultiPolygon geometries (all features are merged) and
// returns the Boundary with MarginM = DefaultMarginM.
func LoadBoundary(r io.Reader) (*Boundary, error) {
	var doc geoObject
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("boundary: %w", err)
	}
	b := &Boundary{MarginM: DefaultMarginM, minLat: math.Inf(1), maxLat: math.Inf(-1), minLng: math.Inf(1), maxLng: math.Inf(-1)}
	if err := b.add(doc, "document"); err != nil {
		return nil, fmt.Errorf("boundary: %w", err)
	}
	if len(b.polys) == 0 {
		return nil, errors.New("boundary: no polygon found")
	}
	return b, nil
}

type geoObject struct {
	Type        string          `json:"type"`
	Features    []geoObject     `json:"features"`
	Geometry    *geoObject      `json:"geometry"`
	Coordinates json.RawMessage `json:"coordinates"`
}

func (b *Boundary) add(o geoObject, where string) error {
	switch o.Type {
	case "FeatureCollection":
		for i, f := range o.Features {
			if err := b.add(f, fmt.Sprintf("feature %d", i)); err != nil {
				return err
			}
		}
		return nil
	case "Feature":
		if o.Geometry == nil {
			return fmt.Errorf("%s: no geometry", where)
		}
		return b.add(*o.Geometry, where)
	case "Polygon":
		var rings [][][]float64
		if err := json.Unmarshal(o.Coordinates, &rings); err != nil {
			return fmt.Errorf("%s: polygon: %w", where, err)
		}
		return b.addPolygon(rings, where)
	case "MultiPolygon":
		var polys [][][][]float64
		if err := json.Unmarshal(o.Coordinates, &polys); err != nil {
			return fmt.Errorf("%s: multipolygon: %w", where, err)
		}
		for i, p := range polys {
			if err := b.addPolygon(p, fmt.Sprintf("%s part %d", where, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%s: unsupported type %q", where, o.Type)
	}
}

func (b *Boundary) addPolygon(rings [][][]float64, where string) error {
	if len(rings) == 0 {
		return fmt.Errorf("%s: polygon without rings", where)
	}
	poly := make([][]lngLat, 0, len(rings))
	for i, ring := range rings {
		if len(ring) < 3 {
			return fmt.Errorf("%s ring %d: %d vertices, want at least 3", where, i, len(ring))
		}
		pts := make([]lngLat, 0, len(ring))
		for j, c := range ring {
			if len(c) < 2 || !validLatLng(c[1], c[0]) {
				return fmt.Errorf("%s ring %d vertex %d: bad position %v", where, i, j, c)
			}
			p := lngLat{lng: c[0], lat: c[1]}
			pts = append(pts, p)
			if i == 0 {
				b.minLat, b.maxLat = min(b.minLat, p.lat), max(b.maxLat, p.lat)
				b.minLng, b.maxLng = min(b.minLng, p.lng), max(b.maxLng, p.lng)
			}
		}
		poly = append(poly, pts)
	}
	b.polys = append(b.polys, poly)
	return nil
}

// Contains reports whether the position lies inside the polygon itself
// (even-odd rule per polygon, so holes are outside), without the margin.
func (b *Boundary) Contains(lat, lng float64) bool {
	if lat < b.minLat || lat > b.maxLat || lng < b.minLng || lng > b.maxLng {
		return false
	}
	for _, poly := range b.polys {
		in := false
		for _, ring := range poly {
			n := len(ring)
			for i, j := 0, n-1; i < n; j, i = i, i+1 {
				pi, pj := ring[i], ring[j]
				if (pi.lat > lat) != (pj.lat > lat) &&
					lng < (pj.lng-pi.lng)*(lat-pi.lat)/(pj.lat-pi.lat)+pi.lng {
					in = !in
				}
			}
		}
		if in {
			return true
		}
	}
	return false
}

// DistanceM returns the distance in meters from the position to the area:
// 0 inside, otherwise the distance to the nearest border edge.
func (b *Boundary) DistanceM(lat, lng float64) float64 {
	if b.Contains(lat, lng) {
		return 0
	}
	// Local equirectangular projection centred on the query point.
	mLat := EarthRadiusM * degToRad
	mLng := mLat * math.Cos(lat*degToRad)
	best := math.Inf(1)
	for _, poly := range b.polys {
		for _, ring := range poly {
			n := len(ring)
			for i, j := 0, n-1; i < n; j, i = i, i+1 {
				ax, ay := (ring[j].lng-lng)*mLng, (ring[j].lat-lat)*mLat
				bx, by := (ring[i].lng-lng)*mLng, (ring[i].lat-lat)*mLat
				best = min(best, originToSegment(ax, ay, bx, by))
			}
		}
	}
	return best
}

// originToSegment is the distance from (0,0) to segment a–b.
func originToSegment(ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l2))
	}
	return math.Hypot(ax+t*dx, ay+t*dy)
}

// Serves reports whether the position is in the served area: inside the
// polygon or within MarginM meters of its border.
func (b *Boundary) Serves(lat, lng float64) bool {
	if !validLatLng(lat, lng) {
		return false
	}
	// Cheap reject: beyond the bounding box grown by the margin (a generous
	// conversion of meters to degrees, so it never rejects a served point).
	dLat := b.MarginM/(EarthRadiusM*degToRad)*1.01 + 1e-9
	c := math.Cos(math.Min(89, math.Max(math.Abs(b.minLat), math.Abs(b.maxLat))+dLat) * degToRad)
	dLng := dLat / c
	if lat < b.minLat-dLat || lat > b.maxLat+dLat || lng < b.minLng-dLng || lng > b.maxLng+dLng {
		return false
	}
	b.gridOnce.Do(func() { b.grid = newServedGrid(b, b.minLat-dLat, b.minLng-dLng, b.maxLat+dLat, b.maxLng+dLng) })
	if g := b.grid; g != nil && g.margin == b.MarginM {
		switch g.at(lat, lng) {
		case cellServed:
			return true
		case cellNotServed:
			return false
		}
	}
	return b.DistanceM(lat, lng) <= b.MarginM
}

// Grid cell answers.
const (
	cellCheck     int8 = 0 // near the margin line: compute exactly
	cellServed    int8 = 1
	cellNotServed int8 = -1
)

// servedGridSize is the grid's cells per side: over Minato plus a 3 km
// margin a cell is ≈ 100 m, so only cells within ≈ 70 m of the margin
// line need the exact test (a few percent of positions), and building the
// grid takes 16k exact distances once.
const servedGridSize = 128

// servedGrid answers Serves for most positions in O(1): the distance to the
// area changes by at most the distance moved (it is 1-Lipschitz), so a cell
// whose centre is more than its half-diagonal (plus slack) inside or outside
// the margin line is served or not served throughout. Written by hand: the
// idea is three lines and no geometry library offers it for this rule.
type servedGrid struct {
	margin           float64
	lat0, lng0       float64
	stepLat, stepLng float64
	cells            []int8
}

func newServedGrid(b *Boundary, lat0, lng0, lat1, lng1 float64) *servedGrid {
	n := servedGridSize
	g := &servedGrid{margin: b.MarginM, lat0: lat0, lng0: lng0,
		stepLat: (lat1 - lat0) / float64(n), stepLng: (lng1 - lng0) / float64(n), cells: make([]int8, n*n)}
	if !(g.stepLat > 0 && g.stepLng > 0) {
		return nil
	}
	mLat := EarthRadiusM * degToRad
	for y := range n {
		lat := lat0 + (float64(y)+0.5)*g.stepLat
		// The widest the cell gets (its latitude nearest the equator).
		mLng := mLat * math.Cos(math.Min(math.Abs(lat)-g.stepLat/2, 89)*degToRad)
		half := math.Hypot(g.stepLat*mLat, g.stepLng*mLng)/2*1.02 + 1
		for x := range n {
			lng := lng0 + (float64(x)+0.5)*g.stepLng
			d := b.DistanceM(lat, lng)
			switch {
			case d+half < g.margin:
				g.cells[y*n+x] = cellServed
			case d-half > g.margin:
				g.cells[y*n+x] = cellNotServed
			}
		}
	}
	return g
}

// at returns the cell answer for a position (cellCheck outside the grid).
func (g *servedGrid) at(lat, lng float64) int8 {
	y := int(math.Floor((lat - g.lat0) / g.stepLat))
	x := int(math.Floor((lng - g.lng0) / g.stepLng))
	if x < 0 || y < 0 || x >= servedGridSize || y >= servedGridSize {
		return cellCheck
	}
	return g.cells[y*servedGridSize+x]
}
